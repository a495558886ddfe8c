# Garbage in a ring: a secondary scribbles over its ring to the primary
# (frames of random bytes, then a random head). The primary logs it, drops
# what was in the ring, keeps running, and the channel works again.
# Then it forges its kernel table entry (notify APIC ID 0xff, a broadcast;
# kernel id 0, the primary's; generation 99) and pings the primary: the
# primary sends no interrupt there (ipis_refused), still calls it kernel 1
# in generation 1 (no peers/0, counters not reset), and writes its own
# values back. It maps the window's header page and every other kernel's
# table entry read-only (msgtest/table_access shows the page tables'
# write permission): forging the primary's entry or an empty slot's fails
# with EACCES and a log line, and the primary's own mapping is all
# writable.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=900
# secondary: garbage inside/msg-garbage.sh
# expect ttyS1: wrote garbage into the ring to kernel 0
# expect ttyS1: inside: all checks passed
# expect ttyS1: message layer: ring to kernel 0 had head .*; restarted at its tail
# expect ttyS0: message layer: ring from kernel 1: .*dropped .* slots and resynced
# expect ttyS1: forging slot 1's table entry: notify APIC ID 0xff, kernel id 0, generation 99
# expect ttyS1: slot 0's table entry is mapped read-only here: not forged \(test\)
# expect ttyS1: slot 2's table entry is mapped read-only here: not forged \(test\)
# expect ttyS0: message layer: slot 1's table entry was overwritten \(kernel id 0, generation 99, notify APIC ID 0xff\); the primary ignores it and restores kernel 1's
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=256M initrd=/extra/garbage.cpio.gz"
wait_peer 1
check_value /sys/kernel/popcorn/msgtest/table_access \
	"header:rw 0:rw 1:rw 2:rw 3:rw 4:rw 5:rw 6:rw 7:rw 8:rw"
wait_until 300 "the primary never saw the garbage" at_least /sys/kernel/popcorn/peers/1/corrupt 1
# After the garbage the secondary sends a stream; it arrives intact.
wait_until 300 "kernel 1's stream after the garbage did not arrive" \
	at_least /sys/kernel/popcorn/msgtest/stress_received 5000
check_value /sys/kernel/popcorn/msgtest/stress_received 5000
check_value /sys/kernel/popcorn/msgtest/stress_errors 0
popcornctl ping 1 -c 3 -i 0.1
corrupt=$(cat /sys/kernel/popcorn/peers/1/corrupt)
echo "ok: $corrupt corrupt rings detected, $(cat /sys/kernel/popcorn/peers/1/dropped) slots dropped"
# Our stream to it; the secondary checks it and powers off.
echo "1 5000 4" >/sys/kernel/popcorn/msgtest/stress
wait_state 1 stopped 120
at_least /sys/kernel/popcorn/peers/1/ipis_refused 1 ||
	fail "the primary never refused the forged notify APIC ID"
at_least /sys/kernel/popcorn/peers/1/received 5000 ||
	fail "kernel 1's counters were reset: the forged generation was taken"
[ ! -e /sys/kernel/popcorn/peers/0 ] || fail "the forged kernel id 0 got a peers/0 directory"
echo "ok: forged entry: $(cat /sys/kernel/popcorn/peers/1/ipis_refused) interrupts refused"
check_value /sys/devices/system/cpu/online 0-3
rmmod popcorn_msg
echo "msg-garbage: all checks passed"
