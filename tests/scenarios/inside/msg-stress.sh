# Runs inside secondary kernel 1 (msg-stress): sends 100,000 stress
# messages to the primary while the primary sends as many here, and checks
# that all of the primary's arrived intact and in order.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
echo "0 100000 7" >/sys/kernel/popcorn/msgtest/stress
echo "ok: 100000 messages sent to kernel 0"
wait_until 600 "the primary's messages did not all arrive" \
	at_least /sys/kernel/popcorn/msgtest/stress_received 100000
check_value /sys/kernel/popcorn/msgtest/stress_received 100000
check_value /sys/kernel/popcorn/msgtest/stress_errors 0
check_value /sys/kernel/popcorn/peers/0/dropped 0
check_value /sys/kernel/popcorn/peers/0/corrupt 0
echo "ring full $(cat /sys/kernel/popcorn/peers/0/ring_full) times, $(cat /sys/kernel/popcorn/peers/0/ipis_sent) interrupts sent"
echo "inside: all checks passed"
