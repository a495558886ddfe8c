# Runs inside secondary kernel 1 (msg-peer-crash): receives the primary's
# stress stream slowly and panics in the middle of it.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
echo 1000 >/sys/kernel/popcorn/msgtest/rx_delay_us
wait_peer 0
wait_until 300 "the primary's stream never started" \
	at_least /sys/kernel/popcorn/msgtest/stress_received 500
echo "inside: crashing in the middle of the stream"
# Let the console show the line before the panic stops everything.
sleep 1
echo c >/proc/sysrq-trigger
