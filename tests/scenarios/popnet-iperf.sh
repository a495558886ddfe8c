# TCP over popnet0 with Debian's iperf3, 10 s each way, at MTU 1500 and
# at the largest MTU (64 KiB less popnet's headers, with a 64 MiB window
# so that rings hold several such frames); then 64 MiB files over HTTP
# (busybox httpd and wget) each way, checked with sha256sum against the
# hash of the same bytes computed on the host.
# cmdline: popcorn.reserve=1G,kernels=1,shared=64M
# popcorn: smp=4 mem=2G timeout=1200
# secondary: iperf inside/popnet-iperf.sh
# expect ttyS1: inside: received d07e1bf9614185eac008cfa31cf516978d2fed62b7bf5880e35ee9a6f5f90459
# expect ttyS1: inside: all checks passed
# expect ttyS0: primary: received d07e1bf9614185eac008cfa31cf516978d2fed62b7bf5880e35ee9a6f5f90459
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add 192.0.2.1/24 dev popnet0
max_mtu=$(popnet_max_mtu)
[ "$max_mtu" -gt 65000 ] || fail "popnet0's largest MTU is $max_mtu, not about 64 KiB (shared=64M)"
echo "ok: popnet0 takes MTU up to $max_mtu"
ethtool -k popnet0 | grep -E "^(tx-checksumming|scatter-gather|tcp-segmentation-offload):"
ethtool -k popnet0 | grep -q "^tcp-segmentation-offload: on" || fail "no TSO on popnet0"

boot_request "cpus=2-3 mem=512M initrd=/extra/iperf.cpio.gz"
wait_peer 1
wait_until 120 "192.0.2.2 never answered" ping -n -c 1 -W 1 192.0.2.2
# The secondary starts its iperf3 server after its address.
wait_until 60 "no iperf3 server on 192.0.2.2" iperf3 -c 192.0.2.2 -t 1 -f m

# iperf_both_ways MTU: 10 s from here, 10 s from there (-R).
iperf_both_ways() {
	ip link set popnet0 mtu "$1"
	for direction in "" -R; do
		iperf3 -c 192.0.2.2 -t 10 -f m $direction >/tmp/iperf.out 2>&1 || {
			cat /tmp/iperf.out
			fail "iperf3 $direction at MTU $1 failed"
		}
		cat /tmp/iperf.out
		grep -q "iperf Done." /tmp/iperf.out || fail "iperf3 $direction at MTU $1 did not finish"
		rate=$(sed -n 's/.* \([0-9.]*\) Mbits\/sec.*receiver$/\1/p' /tmp/iperf.out)
		echo "ok: MTU $1 ${direction:-(to kernel 1)}: $rate Mbit/s received"
	done
}
iperf_both_ways 1500
iperf_both_ways "$max_mtu"

# 64 MiB each way. The secondary fetches ours as soon as it is served.
mkdir -p /tmp/www
seq 1 9000000 | head -c 67108864 >/tmp/www/data
echo "primary: serving $(sha256sum /tmp/www/data)"
httpd -p 8080 -h /tmp/www
wait_until 300 "kernel 1's file never came" sh -c 'wget -q -O /tmp/received http://192.0.2.2:8080/data'
echo "primary: received $(sha256sum </tmp/received | cut -d' ' -f1)"
[ "$(sha256sum </tmp/received)" = "$(sha256sum </tmp/www/data)" ] || fail "the file from kernel 1 differs"
# Tells the secondary we are done with it.
touch /tmp/www/done

ip -s link show popnet0
# No frame was refused as malformed on either side.
check_value /sys/class/net/popnet0/statistics/rx_errors 0
wait_state 1 stopped 600
rmmod popcorn_msg
echo "popnet-iperf: all checks passed"
