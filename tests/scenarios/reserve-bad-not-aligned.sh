# A pool size that is not a multiple of 2M: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=33M
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: popcorn\.reserve=33M not reserved: pool size not a multiple of 2M; booting without it
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-not-aligned: all checks passed"
