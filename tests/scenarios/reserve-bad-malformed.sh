# A pool size that is not a size: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=lots
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: ignoring malformed popcorn\.reserve=lots \(expected POOL\[,shared=SIZE\]\[,kernels=N\]\)
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-malformed: all checks passed"
