# Runs inside secondary kernel 1 (msg-ring-full): a slow receiver that
# sleeps 2 ms per stress message, so the primary's sender runs into a full
# ring; every message must still arrive, in order.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
echo 2000 >/sys/kernel/popcorn/msgtest/rx_delay_us
check_value /sys/kernel/popcorn/msgtest/rx_delay_us 2000
check_fails "Invalid argument" write_to /sys/kernel/popcorn/msgtest/rx_delay_us 2000000
wait_peer 0
wait_until 300 "the primary's messages did not all arrive" \
	at_least /sys/kernel/popcorn/msgtest/stress_received 3000
check_value /sys/kernel/popcorn/msgtest/stress_received 3000
check_value /sys/kernel/popcorn/msgtest/stress_errors 0
check_value /sys/kernel/popcorn/peers/0/dropped 0
echo "inside: all checks passed"
# Tell the primary (it waits for a message from us), which then tries the
# other send modes against this slow receiver and shuts it down.
popcornctl ping 0 -c 1
while :; do sleep 1; done
