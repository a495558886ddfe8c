# The secondary's side of the message-layer benchmark (tests/bench/run):
# answers requests and sinks messages; the primary flips it into polling
# mode and back by sending it one stress message each time.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
wait_until 600 "no signal to poll" at_least /sys/kernel/popcorn/msgtest/stress_received 1
echo 1 >/sys/kernel/popcorn/msg/poll
echo "bench-peer: polling"
wait_until 600 "no signal to stop polling" at_least /sys/kernel/popcorn/msgtest/stress_received 2
echo 0 >/sys/kernel/popcorn/msg/poll
echo "bench-peer: interrupts"
while :; do sleep 1; done
