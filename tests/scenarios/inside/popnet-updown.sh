# Runs inside secondary kernel 1 (popnet-updown): serves iperf3 while the
# primary changes its device; then, when the primary says so, unloads
# popcorn_msg in the middle of an iperf3 run of its own, loads it again
# and pings the primary.
. /usr/share/popcorn/lib.sh

up_as_kernel_1() {
	insmod popcorn_msg.ko
	ip link set popnet0 mtu 9000 up
	ip addr add 192.0.2.2/24 dev popnet0
}
up_as_kernel_1
iperf3 -s -D
wait_peer 0
wait_until 600 "the primary never asked for the unload" sh -c 'wget -q -O /dev/null http://192.0.2.1:8080/rmmod'
iperf3 -c 192.0.2.1 -t 60 -f m --snd-timeout 5000 >/tmp/iperf.out 2>&1 &
iperf=$!
sent=$(cat /sys/class/net/popnet0/statistics/tx_bytes)
wait_until 120 "the iperf3 run never started" \
	at_least /sys/class/net/popnet0/statistics/tx_bytes $((sent + 20000000))
rmmod popcorn_msg
echo "inside: popcorn_msg unloaded with traffic running"
[ ! -e /sys/class/net/popnet0 ] || fail "popnet0 is still there"
# The run cannot go on: no device, no route. It ends by itself (its data
# times out) or is stopped here.
kill $iperf 2>/dev/null || true
wait $iperf || true
up_as_kernel_1
wait_peer 0
wait_until 60 "the primary never answered again" ping -n -c 1 -W 1 192.0.2.1
ping -n -c 3 -i 0.2 192.0.2.1
echo "inside: all checks passed"
