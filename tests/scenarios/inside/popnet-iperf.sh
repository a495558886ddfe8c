# Runs inside secondary kernel 1 (popnet-iperf): popnet0 at its largest
# MTU, an iperf3 server, its 64 MiB file on HTTP, and the primary's file
# fetched and checked.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
max_mtu=$(popnet_max_mtu)
ip link set popnet0 mtu "$max_mtu" up
ip addr add 192.0.2.2/24 dev popnet0
iperf3 -s -D
mkdir -p /tmp/www
seq 1 9000000 | head -c 67108864 >/tmp/www/data
httpd -p 8080 -h /tmp/www
echo "inside: serving $(sha256sum /tmp/www/data)"
wait_peer 0
wait_until 900 "the primary's file never came" sh -c 'wget -q -O /tmp/received http://192.0.2.1:8080/data'
echo "inside: received $(sha256sum </tmp/received | cut -d' ' -f1)"
rm /tmp/received
wait_until 600 "the primary never finished" sh -c 'wget -q -O /dev/null http://192.0.2.1:8080/done'
check_value /sys/class/net/popnet0/statistics/rx_errors 0
ip -s link show popnet0
echo "inside: all checks passed"
