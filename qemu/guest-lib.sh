# Helpers for scenario scripts, installed in the guest as
# /usr/share/popcorn/lib.sh:   . /usr/share/popcorn/lib.sh
#
# Each check prints "ok: ..." or "FAIL: ..." on the console and returns
# non-zero on failure, which ends a scenario run under `sh -e`.

# Debian's ip, ping, iperf3 and ethtool instead of busybox's applets
# (scripts/build-initramfs.sh).
[ ! -f /etc/net-tools.sh ] || . /etc/net-tools.sh

fail() {
	echo "FAIL: $*"
	exit 1
}

# check_value PATH EXPECTED: the file holds exactly EXPECTED (one line).
check_value() {
	actual=$(cat "$1") || fail "cannot read $1"
	[ "$actual" = "$2" ] || fail "$1 is '$actual', expected '$2'"
	echo "ok: $1 = $2"
}

# check_fails MESSAGE COMMAND...: COMMAND fails and its error output names
# MESSAGE, the strerror() text of the errno we expect (e.g. "File exists").
check_fails() {
	expected=$1
	shift
	if output=$("$@" 2>&1); then
		fail "'$*' succeeded, expected '$expected'"
	fi
	case "$output" in
	*"$expected"*) echo "ok: '$*' fails with '$expected'" ;;
	*) fail "'$*' failed with '$output', expected '$expected'" ;;
	esac
}

# write_to PATH VALUE: write(2) VALUE to PATH, as `echo VALUE > PATH` would.
write_to() {
	echo "$2" >"$1"
}

# check_absent PATH
check_absent() {
	[ ! -e "$1" ] || fail "$1 still exists"
	echo "ok: $1 is gone"
}

# check_no_reservation: the primary booted without popcorn.reserve= memory:
# nothing in /proc/iomem, no pool/ or shared/ in sysfs.
check_no_reservation() {
	if grep -q Popcorn /proc/iomem; then
		fail "/proc/iomem shows Popcorn regions: $(grep Popcorn /proc/iomem)"
	fi
	echo "ok: nothing reserved in /proc/iomem"
	insmod popcorn_msg.ko
	check_absent /sys/kernel/popcorn/pool
	check_absent /sys/kernel/popcorn/shared
	rmmod popcorn_msg
}

# secondary_ids: ids of the secondary kernels listed in sysfs, one per line.
secondary_ids() {
	ls /sys/kernel/popcorn/kernels | grep -v '^0$' || true
}

# wait_state ID STATE [SECONDS]: wait until kernel ID's state is STATE
# (default: up to 120 s); fail if it ends in another state or never gets there.
wait_state() {
	file=/sys/kernel/popcorn/kernels/$1/state
	waited=0
	limit=${3:-120}
	while :; do
		state=$(cat "$file") || fail "cannot read $file"
		[ "$state" = "$2" ] && break
		case $state in stopped | crashed | forced) fail "kernel $1 is $state, expected $2" ;; esac
		[ $waited -lt $((limit * 5)) ] || fail "kernel $1 still $state after $limit s, expected $2"
		sleep 0.2
		waited=$((waited + 1))
	done
	echo "ok: kernel $1 is $2"
}

# stop_kernel ID: shut kernel ID down; it must end `stopped` (the write
# fails when it crashed or had to be forced instead).
stop_kernel() {
	echo "$1" >/sys/kernel/popcorn/shutdown ||
		fail "shutdown $1 failed: kernel $1 is $(cat /sys/kernel/popcorn/kernels/$1/state)"
	check_value /sys/kernel/popcorn/kernels/$1/state stopped
}

# check_reclaimed TOTAL [ONLINE]: the CPUs ONLINE (default 0-3) are online
# here and the pool holds TOTAL bytes.
check_reclaimed() {
	check_value /sys/devices/system/cpu/online "${2:-0-3}"
	check_value /sys/kernel/popcorn/pool/free_bytes "$1"
}

# cpu_job N: prints the sum of 1..N, computed the slow way (a CPU-bound job
# whose result is known: N*(N+1)/2).
cpu_job() {
	awk -v n="$1" 'BEGIN { s = 0; for (i = 1; i <= n; i++) s += i; printf "%d\n", s }'
}

# boot_request REQUEST: write REQUEST to /sys/kernel/popcorn/boot.
boot_request() {
	echo "$1" >/sys/kernel/popcorn/boot
}

# leak_check_start / leak_check_end: kmemleak must find no object that
# became unreferenced in between. Needs `# cmdline: kmemleak=on`. Only a
# kernel built without the debug aids (POPCORN_DEBUG=0) has no kmemleak at
# all; it says so and skips the check.
leak_check_start() {
	[ -e /sys/kernel/debug/kmemleak ] || { echo "note: kernel without kmemleak, no leak check"; return 0; }
	echo scan >/sys/kernel/debug/kmemleak
	echo clear >/sys/kernel/debug/kmemleak
}

leak_check_end() {
	[ -e /sys/kernel/debug/kmemleak ] || return 0
	# An object is reported once it has been unreferenced for 5 s and two scans.
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	[ -z "$leaks" ] || fail "kmemleak found leaks: $leaks"
	echo "ok: kmemleak found no leaks"
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails with "WHAT" after SECONDS.
wait_until() {
	limit=$1
	what=$2
	shift 2
	waited=0
	until "$@"; do
		[ $waited -lt $((limit * 5)) ] || fail "$what (waited $limit s)"
		sleep 0.2
		waited=$((waited + 1))
	done
}

# at_least FILE N: the number in FILE is N or more.
at_least() {
	[ "$(cat "$1" 2>/dev/null || echo -1)" -ge "$2" ]
}

# peer_is STATE ID: kernel ID's entry in peers/ has that state.
peer_is() {
	[ "$(cat /sys/kernel/popcorn/peers/$2/state 2>/dev/null)" = "$1" ]
}

# wait_peer ID: until kernel ID is a live peer of this kernel (its message
# layer talks).
wait_peer() {
	wait_until 120 "kernel $1 never became a live peer" peer_is live "$1"
	echo "ok: kernel $1 is a live peer"
}

# stress_exchange PEER COUNT SEED: sends COUNT stress messages to kernel
# PEER (msgtest/stress), then waits until this kernel has received COUNT
# stress messages in all, intact and in order, and checks that nothing was
# dropped or found corrupt on the channel meanwhile. (The peer sends its
# own stream at the same time; whichever is first does not matter.)
stress_exchange() {
	dir=/sys/kernel/popcorn/peers/$1
	dropped=$(cat $dir/dropped)
	corrupt=$(cat $dir/corrupt)
	echo "$1 $2 $3" >/sys/kernel/popcorn/msgtest/stress
	echo "ok: $2 messages sent to kernel $1"
	wait_until 600 "kernel $1's messages did not all arrive" \
		at_least /sys/kernel/popcorn/msgtest/stress_received "$2"
	check_value /sys/kernel/popcorn/msgtest/stress_received "$2"
	check_value /sys/kernel/popcorn/msgtest/stress_errors 0
	check_value $dir/dropped "$dropped"
	check_value $dir/corrupt "$corrupt"
	echo "ring to kernel $1 full $(cat $dir/ring_full) times, $(cat $dir/ipis_sent) interrupts sent"
}

# check_net_tools: Debian's ip, ping, iperf3 and ethtool run here (not
# busybox's applets), ping and iperf3 work over loopback.
check_net_tools() {
	ip -V | grep -q iproute2 || fail "ip is not iproute2's: $(ip -V 2>&1)"
	ping -V | grep -q iputils || fail "ping is not iputils': $(ping -V 2>&1)"
	iperf3 -v | grep -q "iperf 3" || fail "iperf3 does not run: $(iperf3 -v 2>&1)"
	ethtool --version | grep -q "ethtool version" || fail "ethtool does not run"
	echo "ok: $(ip -V), $(ping -V | head -n1), $(iperf3 -v | head -n1), $(ethtool --version)"
	ip link set lo up
	ping -n -c 2 -i 0.2 127.0.0.1 >/tmp/ping.out || fail "ping over loopback: $(cat /tmp/ping.out)"
	echo "ok: ping over loopback"
	iperf3 -s -1 -D -B 127.0.0.1
	# -D returns before the daemon listens: wait for its socket (port
	# 5201, 0x1451, state 0A: LISTEN).
	wait_until 60 "iperf3 never listened on port 5201" \
		grep -qsE ':1451 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6
	iperf3 -c 127.0.0.1 -t 2 >/tmp/iperf.out || fail "iperf3 over loopback: $(cat /tmp/iperf.out)"
	grep receiver /tmp/iperf.out
	echo "ok: iperf3 over loopback"
}

# popnet_max_mtu: the largest MTU popnet0 takes (ip -d link's maxmtu).
popnet_max_mtu() {
	ip -d link show popnet0 | sed -n 's/.*maxmtu \([0-9]*\).*/\1/p'
}

# rss_kib PID: the process's resident memory in KiB.
rss_kib() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# rss_at_least PID KIB: the process holds at least KIB KiB (it filled its
# memory).
rss_at_least() {
	[ "$(rss_kib "$1")" -ge "$2" ] 2>/dev/null
}

# move_arrival N KERNEL [TEXT]: once this kernel has taken N migrated
# processes, checks that the one from kernel 0 running here kept its pid
# (and, with TEXT, that its text is mapped from this kernel's file TEXT,
# which /proc/PID/exe names; with !TEXT, that it is not), waits 3 s, sends it on to KERNEL
# (popcornctl migrate), and waits until it left. Sets moved_pid.
move_arrival() {
	m=/sys/kernel/popcorn/migration
	wait_until 600 "migrated process $1 never came" at_least $m/migrated_in "$1"
	wait_until 60 "no process from kernel 0 is listed here" grep -q '^[0-9]* from 0 ' $m/processes
	# A deliberate 3 s: it runs here for a while before it moves on.
	sleep 3
	moved_pid=$(sed -n 's/^\([0-9]*\) from 0 .*/\1/p' $m/processes)
	[ -n "$moved_pid" ] || fail "no process from kernel 0 runs here: $(cat $m/processes)"
	grep -q "^$moved_pid from 0 (pid $moved_pid there)" $m/processes ||
		fail "the process did not keep its pid: $(cat $m/processes)"
	case "${3-}" in
	"") ;;
	!*) ! text_from_file "$moved_pid" "${3#!}" || fail "its text is mapped from ${3#!}, which differs" ;;
	*)
		text_from_file "$moved_pid" "$3" || fail "its text is not mapped from $3: $(cat /proc/$moved_pid/maps)"
		[ "$(readlink /proc/$moved_pid/exe)" = "$3" ] || fail "/proc/$moved_pid/exe is $(readlink /proc/$moved_pid/exe), not $3"
		;;
	esac
	popcornctl migrate "$moved_pid" "$2"
	wait_until 60 "pid $moved_pid is still listed here" sh -c "! grep -q '^$moved_pid ' $m/processes"
}

# start_migtest KIB ARGS...: starts `migtest ARGS` on the console in the
# background and waits until it holds KIB KiB (0: does not wait). Sets
# migtest_pid.
start_migtest() {
	kib=$1
	shift
	migtest "$@" </dev/console &
	migtest_pid=$!
	[ "$kib" = 0 ] || wait_until 300 "migtest never filled its memory" rss_at_least $migtest_pid "$kib"
}

# expect_exit PID STATUS WHAT: waits for the background process PID and
# fails unless it ended with STATUS (as $? shows it: 128+N for signal N).
expect_exit() {
	status=0
	wait "$1" || status=$?
	[ "$status" = "$2" ] || fail "$3: the shell saw status $status, not $2"
}

# identity PID: the lines of /proc/PID/status that make its identity (ids,
# groups, capability sets, no_new_privs, seccomp mode if the kernel has
# seccomp, umask), blanks squeezed, joined with ';'.
identity() {
	grep -E '^(Umask|Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$1/status" |
		tr -s ' \t' '  ' | sed 's/ $//' | tr '\n' ';'
}

# What `migtest --identity` makes itself (userspace/migtest/src/identity.rs).
MIGTEST_IDENTITY="Umask: 0027;Uid: 1000 1000 1001 1000;Gid: 1000 1000 1001 1002;Groups: 100 1000;\
CapInh: 0000000000002400;CapPrm: 0000000000002420;CapEff: 0000000000000420;\
CapBnd: 0000000000002421;CapAmb: 0000000000000400;NoNewPrivs: 1;"

# check_identity PID WHERE: process PID, a `migtest --identity`, has that
# identity (on its origin and wherever it went).
check_identity() {
	got=$(identity "$1")
	# No seccomp line without CONFIG_SECCOMP (Popcorn's kernel has none).
	[ "${got%Seccomp: 0;}" = "$MIGTEST_IDENTITY" ] || fail "$2: pid $1 has the identity '$got', not '$MIGTEST_IDENTITY'"
	echo "ok: $2: pid $1 has its identity: $got"
}

# text_from_file PID PATH: process PID has mappings of file PATH (its text
# mapped from this kernel's copy rather than shipped).
text_from_file() {
	grep -q " $2\$" "/proc/$1/maps"
}
