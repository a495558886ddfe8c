# popnet0 across three kernels: each secondary pings the other directly
# (the frames go from ring to ring, not through the primary), a broadcast
# ping from the primary is answered by both, and malformed frames the
# primary injects into kernel 1's ring (msgtest/net_garbage) are dropped,
# counted in rx_errors and logged, with traffic going on around them.
# A stuck peer costs only its own frames: kernel 2 stops draining its
# ring (msgtest/rx_delay_us, 1 s per stress message), the primary's queue
# to it stops (ethtool -S), and pings to kernel 1 go on without loss;
# kernel 2's traffic resumes once it drains. Then kernel 1 stops draining
# its rings and floods kernel 2 with requests (msgtest/rx_pause,
# msgtest/flood): kernel 2 refuses or drops what does not fit back to
# kernel 1, and its pings to kernel 0 keep working (issue 14: one slow
# peer delays only its own traffic).
# (The WARNING allowed below is ping(8)'s own, about -b.)
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=6 mem=2G timeout=600 serials=3
# secondary: three inside/popnet-three.sh
# expect ttyS1: inside 1: all checks passed
# expect ttyS2: inside 2: all checks passed
# expect ttyS1: popnet0: dropped a frame from kernel 0: 
# expect ttyS2: inside 2: drained the stuck ring
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

# queue_stat QUEUE NAME: popnet0's per-queue counter (ethtool -S).
queue_stat() {
	ethtool -S popnet0 | awk -v name="tx_queue_$1_$2:" '$1 == name { print $2 }'
}
queue_stopped() {
	[ "$(queue_stat "$1" stopped)" = 1 ]
}
# Both secondaries finished their checks (and kernel 2 is slow now).
wait_until 120 "kernel 1 never said it was ready" ping -n -c 1 -W 1 192.0.2.102
wait_until 120 "kernel 2 never said it was ready" ping -n -c 1 -W 1 192.0.2.103
ethtool -S popnet0
q1=$(cat /sys/kernel/popcorn/peers/1/slot)
q2=$(cat /sys/kernel/popcorn/peers/2/slot)
[ "$(queue_stat "$q2" stops)" -ge 0 ] || fail "ethtool -S has no counters for queue $q2"
stops_before=$(queue_stat "$q2" stops)
# 20 stress messages: kernel 2's receive thread sleeps 20 s on them, while
# pings fill the rest of its ring.
echo "2 20 31" >/sys/kernel/popcorn/msgtest/stress
ping -n -q -i 0.05 -s 1400 192.0.2.3 >/tmp/stuck.out 2>&1 &
stuck=$!
wait_until 10 "the queue to kernel 2 never stopped" queue_stopped "$q2"
echo "ok: the queue to kernel 2 (tx queue $q2) stopped"
ping -n -c 10 -i 0.2 -W 2 192.0.2.2 >/tmp/around.out 2>&1 || true
cat /tmp/around.out
grep -q " 0% packet loss" /tmp/around.out || fail "pings to kernel 1 were lost while kernel 2 was stuck"
queue_stopped "$q2" || fail "kernel 2 drained before the pings to kernel 1 ended: the check proved nothing"
if queue_stopped "$q1"; then fail "the queue to kernel 1 (tx queue $q1) is stopped too"; fi
[ "$(queue_stat "$q2" stops)" -gt "$stops_before" ] || fail "tx_queue_${q2}_stops did not count the stop"
echo "ok: 10 pings to kernel 1 answered while the queue to kernel 2 was stopped"
kill "$stuck"
wait "$stuck" || true
# Kernel 2 drains its ring (20 s), the queue wakes and it answers again.
wait_until 120 "the queue to kernel 2 never woke" eval '! queue_stopped "$q2"'
wait_until 60 "kernel 2 never answered again" ping -n -c 1 -W 1 192.0.2.3
echo "ok: kernel 2 answers again after draining"
ethtool -S popnet0
ip -s link show popnet0
# The flood between the secondaries: kernel 1 starts it once this address
# answers; kernel 2 powers off after its checks, kernel 1 takes
# 192.0.2.202 once it has drained again.
ip addr add 192.0.2.201/24 dev popnet0
wait_state 2 stopped 300
wait_until 300 "kernel 1 never finished its checks" ping -n -c 1 -W 1 192.0.2.202
stop_kernel 1
check_value /sys/class/net/popnet0/statistics/rx_errors 0
rmmod popcorn_msg
echo "popnet-three: all checks passed"
