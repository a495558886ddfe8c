# A pool too small to hold a kernel: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=16M
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: popcorn\.reserve=16M not reserved: pool smaller than 32M; booting without it
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-too-small: all checks passed"
