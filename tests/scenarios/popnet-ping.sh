# popnet0 between the primary and a secondary with Debian's ip, ping and
# ethtool: MAC from the kernel id, no carrier while no other kernel runs,
# ARP and ping both ways, counters in ip -s link.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# secondary: ping inside/popnet-ping.sh
# expect ttyS1: inside: all checks passed
# expect ttyS1: 3 packets transmitted, 3 received
# expect ttyS0: 3 packets transmitted, 3 received
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link show popnet0
ip link show popnet0 | grep -q "link/ether 02:50:43:00:00:00" || fail "popnet0 has the wrong MAC"
ethtool -i popnet0 | grep -q "driver: popnet" || fail "ethtool -i: $(ethtool -i popnet0 2>&1)"
echo "ok: $(ethtool -i popnet0 | head -n1)"
ip link set popnet0 up
ip addr add 192.0.2.1/24 dev popnet0
check_value /sys/class/net/popnet0/carrier 0
boot_request "cpus=2-3 mem=256M initrd=/extra/ping.cpio.gz"
wait_peer 1
wait_until 60 "popnet0 has no carrier with kernel 1 live" grep -q 1 /sys/class/net/popnet0/carrier
echo "ok: carrier up"
wait_until 120 "192.0.2.2 never answered" ping -n -c 1 -W 1 192.0.2.2
ping -n -c 3 -i 0.2 192.0.2.2
ip -s link show popnet0
ip neigh show dev popnet0 | grep -q "02:50:43:00:00:01" || fail "no ARP entry for kernel 1: $(ip neigh show dev popnet0)"
echo "ok: ARP knows kernel 1's MAC"
wait_state 1 stopped 300
wait_until 60 "popnet0 kept its carrier with no kernel left" grep -q 0 /sys/class/net/popnet0/carrier
echo "ok: carrier down again"
ip link set popnet0 down
rmmod popcorn_msg
echo "popnet-ping: all checks passed"
