# Runs inside secondary kernel 1 (popnet-crash): serves iperf3 on
# popnet0 and panics once the run is well under way.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add 192.0.2.2/24 dev popnet0
iperf3 -s -D
wait_peer 0
wait_until 300 "the primary's iperf3 run never started" \
	at_least /sys/class/net/popnet0/statistics/rx_bytes 50000000
echo "inside: crashing during iperf3"
# Let the polled console drain before the panic report takes it over.
sleep 1
echo c >/proc/sysrq-trigger
