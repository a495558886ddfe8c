# popnet0 while traffic flows: an iperf3 run both ways at once survives
# MTU changes (9000 -> 1500 -> 9000) and a down/up of the primary's
# device; then the secondary unloads popcorn_msg in the middle of its own
# iperf3 run, loads it again and is reachable.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=900
# secondary: updown inside/popnet-updown.sh
# expect ttyS1: inside: popcorn_msg unloaded with traffic running
# expect ttyS1: inside: all checks passed
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 mtu 9000 up
ip addr add 192.0.2.1/24 dev popnet0
iperf3 -s -D
boot_request "cpus=2-3 mem=256M initrd=/extra/updown.cpio.gz"
wait_peer 1
wait_until 60 "no iperf3 server on 192.0.2.2" iperf3 -c 192.0.2.2 -t 1 -f m
iperf3 -c 192.0.2.2 -t 20 -f m --bidir >/tmp/iperf.out 2>&1 &
iperf=$!
for step in "mtu 1500" "mtu 9000" down up; do
	# A deliberate 3 s of traffic before each step, all within the 20 s run.
	sleep 3
	ip link set popnet0 $step
	echo "ok: ip link set popnet0 $step, $(cat /sys/class/net/popnet0/statistics/tx_packets) frames sent so far"
done
check_value /sys/class/net/popnet0/carrier 1
status=0
wait $iperf || status=$?
cat /tmp/iperf.out
[ "$status" = 0 ] || fail "iperf3 failed (status $status) across the MTU changes and down/up"
grep -q "iperf Done." /tmp/iperf.out || fail "iperf3 did not finish"
echo "ok: iperf3 ran through MTU changes and down/up"
ping -n -c 3 -i 0.2 192.0.2.2
ip -s link show popnet0

# Now the secondary's turn: it unloads its module under traffic.
mkdir -p /tmp/www
touch /tmp/www/rmmod
httpd -p 8080 -h /tmp/www
wait_state 1 stopped 600
check_value /sys/class/net/popnet0/statistics/rx_errors 0
ip link set popnet0 down
rmmod popcorn_msg
echo "popnet-updown: all checks passed"
