# A shared window beyond its limit: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=512M,shared=512M
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: popcorn\.reserve=512M not reserved: shared window outside 1M\.\.256M; booting without it
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-shared: all checks passed"
