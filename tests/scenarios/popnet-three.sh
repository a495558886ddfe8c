# popnet0 across three kernels: each secondary pings the other directly
# (the frames go from ring to ring, not through the primary), a broadcast
# ping from the primary is answered by both, and malformed frames the
# primary injects into kernel 1's ring (msgtest/net_garbage) are dropped,
# counted in rx_errors and logged, with traffic going on around them.
# Then kernel 1 stops draining its rings and floods kernel 2 with
# requests (msgtest/rx_pause, msgtest/flood): kernel 2 refuses or drops
# what does not fit back to kernel 1, and its pings to kernel 0 keep
# working (issue 14: one slow peer delays only its own traffic).
# (The WARNING allowed below is ping(8)'s own, about -b.)
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=6 mem=2G timeout=600 serials=3
# secondary: three inside/popnet-three.sh
# expect ttyS1: inside 1: all checks passed
# expect ttyS2: inside 2: all checks passed
# expect ttyS1: popnet0: dropped a frame from kernel 0: 
# expect ttyS1: ok: 3000 requests sent to kernel 2, none of the replies taken
# expect ttyS2: ok: 5 round trips to kernel 0 while kernel 1 does not drain
# expect ttyS2: message layer: refused a request from kernel 1: it has too many requests in progress here
# allow ttyS0: WARNING: pinging broadcast address
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add 192.0.2.1/24 dev popnet0
boot_request "cpus=2-3 mem=256M initrd=/extra/three.cpio.gz"
boot_request "cpus=4-5 mem=256M initrd=/extra/three.cpio.gz"
wait_peer 1
wait_peer 2
wait_until 120 "192.0.2.2 never answered" ping -n -c 1 -W 1 192.0.2.2
wait_until 120 "192.0.2.3 never answered" ping -n -c 1 -W 1 192.0.2.3
# The secondaries answer broadcast pings (they said so before their
# address went up).
ping -n -b -c 3 -i 0.5 192.0.2.255 >/tmp/broadcast.out 2>&1 || true
cat /tmp/broadcast.out
grep -q "from 192.0.2.2:" /tmp/broadcast.out || fail "kernel 1 did not answer the broadcast ping"
grep -q "from 192.0.2.3:" /tmp/broadcast.out || fail "kernel 2 did not answer the broadcast ping"
echo "ok: a broadcast reached both secondaries"
echo 1 >/sys/kernel/popcorn/msgtest/net_garbage
echo "ok: malformed frames sent to kernel 1"
wait_state 1 stopped 300
wait_state 2 stopped 300
check_value /sys/class/net/popnet0/statistics/rx_errors 0
rmmod popcorn_msg
echo "popnet-three: all checks passed"
