# Runs inside secondary kernels 1 and 2 (popnet-three): popnet0 as
# 192.0.2.(id+1), answering broadcast pings; pings the other secondary;
# kernel 1 checks the malformed frames the primary sends it. Kernel 2 then
# becomes a slow receiver for the primary's stuck-peer check. Then kernel 1
# stops draining and floods kernel 2 with requests, and kernel 2 checks
# that its round trips with kernel 0 are not held up by that.
. /usr/share/popcorn/lib.sh

id=$(sed -n 's/.*popcorn.kernel_id=\([0-9]*\).*/\1/p' /proc/cmdline)
other=$((3 - id))
echo 0 >/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts
insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add "192.0.2.$((id + 1))/24" dev popnet0
wait_peer 0
wait_peer "$other"
wait_until 120 "192.0.2.$((other + 1)) never answered" ping -n -c 1 -W 1 "192.0.2.$((other + 1))"
ping -n -c 3 -i 0.2 "192.0.2.$((other + 1))"
# The replies came straight from the other kernel's ring.
at_least "/sys/kernel/popcorn/peers/$other/received" 4 || fail "nothing came from kernel $other directly"
echo "ok: kernel $other answered directly ($(cat /sys/kernel/popcorn/peers/$other/received) messages from it)"

# counter FILE SECTION NAME: a counter of /proc/net/snmp or netstat.
counter() {
	awk -v section="$2:" -v name="$3" '$1 == section {
		if (!col) { for (i = 2; i <= NF; i++) if ($i == name) col = i } else print $col
	}' "$1"
}
counter_at_least() {
	[ "$(counter "$1" "$2" "$3")" -ge "$4" ]
}
# The primary's three broadcast pings.
wait_until 120 "the broadcast pings never came" counter_at_least /proc/net/netstat IpExt InBcastPkts 3
echo "ok: $(counter /proc/net/netstat IpExt InBcastPkts) broadcast packets, $(counter /proc/net/snmp Icmp InEchos) echo requests"

if [ "$id" = 1 ]; then
	wait_until 60 "the malformed frames never came" at_least /sys/class/net/popnet0/statistics/rx_errors 6
	check_value /sys/class/net/popnet0/statistics/rx_errors 6
	# Traffic goes on around them.
	ping -n -c 2 192.0.2.1
	ip -s link show popnet0
fi
# The primary's stuck-peer check: kernel 2 becomes a receiver that sleeps
# 1 s per stress message, so the primary's ring to it stays full while
# the primary talks to kernel 1. Each says it is ready by taking the
# address 192.0.2.(id+101).
if [ "$id" = 2 ]; then
	echo 1000000 >/sys/kernel/popcorn/msgtest/rx_delay_us
	ring_full=$(cat /sys/kernel/popcorn/peers/1/ring_full)
fi
ip addr add "192.0.2.$((id + 101))/24" dev popnet0
if [ "$id" = 2 ]; then
	# The primary sends 20 stress messages; all arrive once we drain.
	wait_until 300 "the stress messages never arrived" at_least /sys/kernel/popcorn/msgtest/stress_received 20
	check_value /sys/kernel/popcorn/msgtest/stress_received 20
	check_value /sys/kernel/popcorn/msgtest/stress_errors 0
	echo 0 >/sys/kernel/popcorn/msgtest/rx_delay_us
	echo "inside 2: drained the stuck ring"
fi

# One kernel that does not keep up costs only its own traffic: kernel 1
# stops draining its rings and floods kernel 2 with requests, whose
# replies fill the ring back to it. Kernel 2's receive thread must not
# wait for that ring: its round trips with kernel 0 go on meanwhile. The
# primary says when (192.0.2.201 answers: its stuck-peer check is over).
not_live() {
	! peer_is live "$1"
}
# received_settled PEER: nothing more arrived from PEER during a round
# trip to kernel 0 (the receive thread has drained PEER's ring).
received_settled() {
	before=$(cat "/sys/kernel/popcorn/peers/$1/received")
	cat /sys/kernel/popcorn/peers/0/ping >/dev/null || return 1
	[ "$(cat "/sys/kernel/popcorn/peers/$1/received")" = "$before" ]
}
if [ "$id" = 1 ]; then
	wait_until 300 "the primary never started the flood phase" ping -n -c 1 -W 1 192.0.2.201
	echo 1 >/sys/kernel/popcorn/msgtest/rx_pause
	echo "2 3000" >/sys/kernel/popcorn/msgtest/flood
	echo "ok: 3000 requests sent to kernel 2, none of the replies taken"
	wait_until 300 "kernel 2 never finished its checks" not_live 2
	echo 0 >/sys/kernel/popcorn/msgtest/rx_pause
	# The replies kept back are dropped now (rate-limited log lines):
	# let them pass before the last line.
	wait_until 120 "kernel 2's ring never drained" received_settled 2
	echo "inside 1: all checks passed"
	ip addr add 192.0.2.202/24 dev popnet0
	# The primary shuts us down.
	while :; do sleep 1; done
fi
wait_until 300 "kernel 1's flood never filled the ring to it" at_least /sys/kernel/popcorn/peers/1/ring_full $((ring_full + 1))
for n in 1 2 3 4 5; do
	rtt=$(cat /sys/kernel/popcorn/peers/0/ping) || fail "ping $n to kernel 0 failed while kernel 1 does not drain its ring"
done
echo "ok: 5 round trips to kernel 0 while kernel 1 does not drain (last $rtt ns)"
echo "inside 2: all checks passed"
