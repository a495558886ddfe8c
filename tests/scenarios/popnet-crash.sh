# A secondary panics in the middle of an iperf3 run over popnet0: the
# primary's stack recovers (iperf3 ends with an error instead of hanging,
# carrier goes down, the neighbour entry does not stay reachable), and a
# new secondary booted in its place answers at its own address.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=900
# secondary: crash inside/popnet-crash.sh
# expect ttyS1: inside: crashing during iperf3
# expect ttyS1: Kernel panic - not syncing: sysrq triggered crash
# expect ttyS0: kernel 1 crashed: it panicked
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: Call Trace:
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 0: popcorn_msg: kernel 1 crashed:
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add 192.0.2.1/24 dev popnet0
boot_request "cpus=2-3 mem=256M initrd=/extra/crash.cpio.gz"
wait_peer 1
wait_until 60 "no iperf3 server on 192.0.2.2" iperf3 -c 192.0.2.2 -t 1 -f m
# Both ways at once; unacknowledged data times out after 5 s.
iperf3 -c 192.0.2.2 -t 120 -f m --bidir --snd-timeout 5000 --rcv-timeout 5000 >/tmp/iperf.out 2>&1 &
iperf=$!
wait_state 1 crashed 300
crashed_at=$(date +%s)
wait_until 30 "popnet0 kept its carrier after the crash" grep -q 0 /sys/class/net/popnet0/carrier
echo "ok: carrier down"
status=0
wait $iperf || status=$?
cat /tmp/iperf.out
[ "$status" != 0 ] || fail "iperf3 said it finished although its peer crashed"
echo "ok: iperf3 ended with status $status, $(($(date +%s) - crashed_at)) s after the crash"
neighbour=$(ip neigh show 192.0.2.2 dev popnet0)
echo "neighbour: ${neighbour:-(none)}"
case "$neighbour" in *REACHABLE*) fail "192.0.2.2 is still reachable after its kernel crashed" ;; esac
ip -s link show popnet0

# A new kernel in the same place, default initramfs: 192.0.2.(id+1).
boot_request "cpus=2-3 mem=256M"
wait_peer 2
wait_until 60 "no carrier with kernel 2 live" grep -q 1 /sys/class/net/popnet0/carrier
wait_until 120 "192.0.2.3 never answered" ping -n -c 1 -W 1 192.0.2.3
ping -n -c 3 -i 0.2 192.0.2.3
echo "ok: the new kernel answers"
stop_kernel 2
ip link set popnet0 down
rmmod popcorn_msg
echo "popnet-crash: all checks passed"
