# A pool larger than the machine's RAM: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=4G
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: popcorn\.reserve=4096M not reserved: not enough free memory below 4G for the pool; booting without it
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-too-large: all checks passed"
