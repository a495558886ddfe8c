# A process moves on from the kernel it migrated to, without passing
# through its home: 0 -> 1 -> 2 (kernel 1 sends it on), and for a second
# one 0 -> 1 -> 2 -> 0 (kernel 2 sends it straight home). Its signal
# state goes with it: signals sent to its PID here reach it on kernel 2
# and run its handlers there (SIGUSR1 counted, SIGHUP ignored, SIGUSR2
# blocked, SIGTERM handled on its alternate stack); without it, SIGUSR1
# would have killed it. The first runs from /tmp/migtest-copy, which is a
# FIFO on kernel 2: kernel 2 must not open it (that would wait for a writer
# forever, issue 14) but map the shipped text, and its message layer keeps
# working (the signals reach the process, pings answer).
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=6 mem=2G timeout=600 serials=3
# secondary: one inside/migrate-onward-1.sh
# secondary: two inside/migrate-onward-2.sh
# expect ttyS1: inside 1: sent pid [0-9]* on to kernel 2
# expect ttyS1: inside 1: all checks passed
# expect ttyS2: migtest: SIGUSR2 pending, blocked
# expect ttyS2: migtest: [0-9]* s: SIGUSR1 handled 2 times
# expect ttyS2: migtest: SIGTERM handled on the alternate stack
# expect ttyS2: migtest: all checks passed, exiting with 42
# expect ttyS2: inside 2: sent pid [0-9]* home to kernel 0
# expect ttyS2: migrate [0-9]*: cannot map /tmp/migtest-copy here \(Error\(13\)\); its text was shipped
# expect ttyS0: migrate [0-9]*: now runs on kernel 2
# expect ttyS0: migtest: all checks passed, exiting with 5
. /usr/share/popcorn/lib.sh

m=/sys/kernel/popcorn/migration
insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=512M initrd=/extra/one.cpio.gz"
boot_request "cpus=4-5 mem=512M initrd=/extra/two.cpio.gz"
wait_peer 1
wait_peer 2

cp /usr/bin/migtest /tmp/migtest-copy
/tmp/migtest-copy --exit 42 signals 300 </dev/console &
pid=$!
# signals_set_up PID: SIGUSR1 and SIGTERM caught (0x200, 0x4000 in SigCgt)
# and SIGHUP ignored (0x1 in SigIgn), which migtest sets last.
signals_set_up() {
	caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	ignored=$(sed -n 's/^SigIgn:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	case "$caught$ignored" in "" | *[!0-9a-f]*) return 1 ;; esac
	[ $((0x${caught#????????????} & 0x4200)) = $((0x4200)) ] && [ $((0x${ignored#????????????} & 1)) = 1 ]
}
wait_until 60 "migtest never set up its signal handlers" signals_set_up $pid
popcornctl migrate $pid 1
echo "ok: $pid went to kernel 1"
wait_until 300 "kernel 1 never sent $pid on to kernel 2" grep -q "^$pid 2\$" $m/processes
popcornctl status | grep -q "pid $pid: runs on kernel 2" || fail "popcornctl status: $(popcornctl status)"
echo "ok: $pid runs on kernel 2, its stub here knows it"
kill -USR1 $pid
kill -HUP $pid
kill -USR2 $pid
# 2 s for the first SIGUSR1 to reach its handler on kernel 2 (two pending
# at once would merge into one); then 3 s before SIGTERM for the second.
# Neither is visible from here.
sleep 2
kill -USR1 $pid
sleep 3
for n in 1 2 3; do
	cat /sys/kernel/popcorn/peers/2/ping >/dev/null || fail "kernel 2 does not answer pings after signals to $pid"
done
kill -0 $pid || fail "$pid died of a signal its handler or disposition should have taken"
kill -TERM $pid
status=0
wait $pid || status=$?
[ "$status" = 42 ] || fail "after 0 -> 1 -> 2 and its signals the shell saw status $status, not 42"
echo "ok: its handlers ran on kernel 2; exit status 42 here"

migtest --exit 5 memory 16 60 </dev/console &
pid=$!
wait_until 300 "migtest never filled its memory" rss_at_least $pid 16384
popcornctl migrate $pid 1
echo "ok: $pid went to kernel 1"
wait_until 300 "$pid never reached kernel 2" grep -q "^$pid 2\$" $m/processes
wait_until 300 "kernel 2 never sent $pid home" sh -c "! grep -q '^$pid ' $m/processes"
kill -0 $pid || fail "$pid did not come home"
wait_until 60 "$pid came home without its memory" rss_at_least $pid 16384
echo "ok: $pid is home from kernel 2 with its memory"
status=0
wait $pid || status=$?
[ "$status" = 5 ] || fail "after 0 -> 1 -> 2 -> 0 the shell saw status $status, not 5"
check_value $m/migrated_out 2
check_value $m/migrated_in 1
check_value $m/lost 0
# Both secondaries power off when their scripts are done.
wait_state 1 stopped 120
wait_state 2 stopped 120
rmmod popcorn_msg
echo "migrate-onward: all checks passed"
