# Runs inside secondary kernel 1 (popnet-ping): brings popnet0 up as
# 192.0.2.2, pings the primary, and waits for the primary's pings.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link show popnet0 | grep -q "link/ether 02:50:43:00:00:01" || fail "popnet0 has the wrong MAC: $(ip link show popnet0)"
ip link set popnet0 up
ip addr add 192.0.2.2/24 dev popnet0
wait_peer 0
wait_until 60 "popnet0 has no carrier" grep -q 1 /sys/class/net/popnet0/carrier
ping -n -c 3 -i 0.2 192.0.2.1
# 3 replies, 3 requests from the primary, ARP.
wait_until 120 "the primary's pings never came" at_least /sys/class/net/popnet0/statistics/rx_packets 7
echo "inside: all checks passed"
