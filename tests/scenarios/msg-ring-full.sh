# Back-pressure: a receiver that handles a message every 2 ms; the sender
# fills the ring, waits for room (peers/1/ring_full counts it) and loses
# nothing. The other send modes: `nowait` fails with EAGAIN when the ring
# is full, `besteffort` drops and counts. Bad stress requests are refused.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=900
# secondary: slow inside/msg-slow.sh
# expect ttyS1: inside: all checks passed
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1 0"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1 x"
# Numbers have one spelling (number.rs): no sign, leading zero or extra space.
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1 +10"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "01 10"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1  10"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress "1 10 "
check_fails "No route to host" write_to /sys/kernel/popcorn/msgtest/stress "1 10"
boot_request "cpus=2-3 mem=256M initrd=/extra/slow.cpio.gz"
wait_peer 1
echo "1 3000 11" >/sys/kernel/popcorn/msgtest/stress
full=$(cat /sys/kernel/popcorn/peers/1/ring_full)
[ "$full" -gt 0 ] || fail "the sender never found the ring full"
echo "ok: the sender found the ring full $full times and waited"
check_value /sys/kernel/popcorn/peers/1/sent 3000
check_value /sys/kernel/popcorn/peers/1/dropped 0
# The secondary checked that all 3000 arrived; now the other modes.
wait_until 300 "kernel 1 did not finish its checks" at_least /sys/kernel/popcorn/peers/1/received 1
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/stress_mode sometimes
echo nowait >/sys/kernel/popcorn/msgtest/stress_mode
check_value /sys/kernel/popcorn/msgtest/stress_mode nowait
check_fails "Resource temporarily unavailable" write_to /sys/kernel/popcorn/msgtest/stress "1 3000 12"
check_value /sys/kernel/popcorn/peers/1/dropped 0
echo besteffort >/sys/kernel/popcorn/msgtest/stress_mode
echo "1 3000 13" >/sys/kernel/popcorn/msgtest/stress
dropped=$(cat /sys/kernel/popcorn/peers/1/dropped)
[ "$dropped" -gt 0 ] || fail "best effort into a full ring dropped nothing"
echo "ok: best effort dropped $dropped of 3000 messages and said so"
echo wait >/sys/kernel/popcorn/msgtest/stress_mode
# A long write ends at a signal: EINTR inside, one log line, the writer
# dies of its signal instead of sending 10 million messages.
sent=$(cat /sys/kernel/popcorn/peers/1/sent)
(echo "1 10000000 21" >/sys/kernel/popcorn/msgtest/stress) &
writer=$!
wait_until 120 "the long stress did not start" at_least /sys/kernel/popcorn/peers/1/sent $((sent + 100))
kill $writer
status=0
wait $writer || status=$?
[ $status = 143 ] || fail "the interrupted stress writer ended with $status, expected 143 (SIGTERM)"
dmesg | grep -q "msgtest/stress: interrupted by a signal after" || fail "no log line for the interrupted stress"
echo "ok: a long stress write ends at SIGTERM"
stop_kernel 1
rmmod popcorn_msg
echo "msg-ring-full: all checks passed"
