# An option popcorn.reserve= does not know: the primary still boots, without any reservation, and says why.
# cmdline: popcorn.reserve=512M,colour=blue
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: ignoring malformed popcorn\.reserve=512M,colour=blue
. /usr/share/popcorn/lib.sh
check_no_reservation
check_value /sys/devices/system/cpu/online 0-3
echo "reserve-bad-unknown-option: all checks passed"
