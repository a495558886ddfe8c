# The secondary's side of the popnet benchmark (tests/bench/run): popnet0
# as 192.0.2.2 at its largest MTU (the primary's MTU decides what TCP
# uses) and an iperf3 server.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
max_mtu=$(popnet_max_mtu)
ip link set popnet0 mtu "$max_mtu" up
ip addr add 192.0.2.2/24 dev popnet0
iperf3 -s -D
echo "bench-peer: ready"
while :; do sleep 1; done
