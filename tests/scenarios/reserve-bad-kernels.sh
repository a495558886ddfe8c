# More secondaries than low windows can exist: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=512M,kernels=9
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: popcorn\.reserve=512M not reserved: kernels= outside 1\.\.8; booting without it
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-kernels: all checks passed"
