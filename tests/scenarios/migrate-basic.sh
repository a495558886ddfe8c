# Task migration between the primary and a secondary with popcornctl
# migrate: a process that filled 64 MiB keeps checksumming it on kernel 1
# (its output continues on kernel 1's console) and its shell here sees the
# exit status it ends with there; vector registers and MXCSR survive the
# move; kill on the PID here ends it there; refusals leave the process
# running here (among them processes in namespaces of their own), and so
# does a request withdrawn while the process was stopped. A kernel cannot
# make another set aside more memory than it can spare, nor stage more
# than 2 migrations there at once (issue 14): crafted `Begin` requests
# (msgtest/begin) are refused with ENOMEM and EBUSY and a log line, and
# real migrations work afterwards.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# expect ttyS1: migtest: round .* ok
# expect ttyS1: migtest: 15 vector registers and MXCSR intact
# expect ttyS1: migtest: all checks passed, exiting with 7
# expect ttyS0: ok: migrated migtest exited with 7
# expect ttyS0: migrate 1: refused: it is an init
# expect ttyS1: migration from kernel 0: refused: [0-9]* bytes asked for, more than half of the [0-9]* available
# expect ttyS1: migration from kernel 0: refused: 2 of its migrations are pending here already \(at most 2\)
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=512M"
wait_peer 1

# 100000 pages (390 MiB) on a 512 MiB kernel: refused before anything is
# allocated for them.
check_fails "Cannot allocate memory" write_to /sys/kernel/popcorn/msgtest/begin "1 100000 1"

# 64 MiB, moved in the middle of its rounds.
start_migtest 65536 --exit 7 memory 64 30
pid=$migtest_pid
# A deliberate 2 s within its 30 rounds: its first rounds run here.
sleep 2
popcornctl migrate $pid 1
grep -q "^$pid 1$" /sys/kernel/popcorn/migration/processes || fail "kernel 0 does not list $pid as running on kernel 1"
echo "ok: $pid runs on kernel 1; here it keeps $(rss_kib $pid) KiB"
popcornctl status | grep -q "pid $pid: runs on kernel 1" || fail "popcornctl status does not show $pid on kernel 1: $(popcornctl status)"
[ "$(rss_kib $pid)" -lt 4096 ] || fail "the stub still holds the process's memory"
check_fails "runs on another kernel already" popcornctl migrate $pid 1
expect_exit $pid 7 "migrated migtest"
echo "ok: migrated migtest exited with 7"

# Two pending migrations at once are admitted, a third is not (all three
# are aborted again: the next migration is admitted).
write_to /sys/kernel/popcorn/msgtest/begin "1 1 2"
check_fails "Device or resource busy" write_to /sys/kernel/popcorn/msgtest/begin "1 1 3"

# Vector registers live in a loop while it moves.
start_migtest 0 --exit 5 vector 30
# A deliberate 8 s within its 30 s: past its calibration, inside its loop.
sleep 8
popcornctl migrate $migtest_pid 1
expect_exit $migtest_pid 5 "the vector test"
echo "ok: vector state survived"

# kill here ends it there.
start_migtest 8192 memory 8 1000
popcornctl migrate $migtest_pid 1
kill $migtest_pid
expect_exit $migtest_pid 143 "kill (SIGTERM) of a migrated process"
echo "ok: kill on kernel 0 ended it on kernel 1"

# Refusals: the process stays here, running.
check_fails "no such process" popcornctl migrate 999999 1
check_fails "a kernel thread cannot move" popcornctl migrate 2 1
# Init's end would panic this kernel.
check_fails "nor an init" popcornctl migrate 1 1
check_fails "Invalid argument" write_to /sys/kernel/popcorn/migration/migrate "+1 1"
start_migtest 8192 memory 8 1000
pid=$migtest_pid
check_fails "kernel 4 is not running" popcornctl migrate $pid 4
check_fails "invalid request" popcornctl migrate $pid 0
kill -0 $pid || fail "a refused migration ended the process"
# A stopped process does not take up its capture: a signal to popcornctl
# withdraws the request, and the process, continued, stays here.
kill -STOP $pid
popcornctl migrate $pid 1 &
ctl=$!
# The signal comes once popcornctl waits in its write(2) (syscall 1) to
# migration/migrate, where the request is queued for the stopped process.
in_write() {
	read -r nr rest 2>/dev/null <"/proc/$1/syscall" && [ "$nr" = 1 ]
}
wait_until 60 "popcornctl never waited in its write to migration/migrate" in_write $ctl
kill -TERM $ctl
wait $ctl && fail "popcornctl migrate of a stopped process succeeded"
kill -CONT $pid
# A deliberate 2 s: continued, the process runs (its task work first); the
# withdrawn migration must not happen meanwhile.
sleep 2
! grep -q "^$pid " /sys/kernel/popcorn/migration/processes || fail "the withdrawn migration happened anyway"
kill -0 $pid || fail "a withdrawn migration ended the process"
echo "ok: a withdrawn migration left the stopped process here"
kill $pid
wait $pid || true
# refused PID WHY CONDITION...: once CONDITION holds (the process is in the
# state the refusal is about: it has exec'd, started its thread, mapped or
# opened what is refused), migrating PID is refused as not supported, with
# WHY in the kernel log, and PID keeps running (then it is ended).
refused() {
	refused_pid=$1
	refused_why=$2
	shift 2
	wait_until 60 "pid $refused_pid never got to where \"$refused_why\" applies ($*)" "$@"
	check_fails "not supported" popcornctl migrate $refused_pid 1
	dmesg | grep -q "migrate $refused_pid: refused: $refused_why" || fail "no log line \"$refused_why\" for $refused_pid"
	kill -0 $refused_pid || fail "$refused_pid died of a refused migration"
	kill $refused_pid
	wait $refused_pid || true
}
# threads PID N: the process has N threads.
threads() {
	grep -q "^Threads:[[:space:]]*$2\$" "/proc/$1/status"
}
# comm_is PID NAME: the process has exec'd program NAME.
comm_is() {
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}
# fd_is PID FD PATTERN: its file descriptor FD links to PATTERN (a glob).
fd_is() {
	case $(readlink "/proc/$1/fd/$2" 2>/dev/null) in $3) ;; *) return 1 ;; esac
}
# shared_mapping PID: it has a shared mapping.
shared_mapping() {
	grep -q ' r[w-][x-]s ' "/proc/$1/maps"
}
migtest threads 60 </dev/console &
refused $! "2 threads" threads $! 2
# Dynamically linked (Debian's ping, with its libraries).
ip link set lo up
/usr/bin/ping -q -i 5 127.0.0.1 >/dev/console </dev/console &
refused $! "it maps files other than its program" comm_is $! ping
start_migtest 0 shared 60
refused $migtest_pid "it has shared memory" shared_mapping $migtest_pid
# A socket (busybox nc, static, listening on fd 3).
nc -l -p 5000 </dev/console >/dev/console 2>&1 &
refused $! "file descriptor 3 is not a console" fd_is $! 3 'socket:*'
# A pipe is not the console ($! would be cat).
migtest memory 4 1000 </dev/console | cat >/dev/null &
wait_until 60 "migtest never started in the pipe" sh -c 'pidof migtest >/dev/null'
piped=$(pidof migtest)
refused "$piped" "file descriptor 1 is not a console" fd_is "$piped" 1 'pipe:*'
wait || true
# Confinement that cannot go with it: namespaces of its own (busybox
# unshare execs migtest in them).
unshare -u migtest memory 4 1000 </dev/console &
refused $! "it is in a UTS namespace of its own" comm_is $! migtest
unshare -m migtest memory 4 1000 </dev/console &
refused $! "it is in a mount namespace of its own" comm_is $! migtest
echo "ok: refusals left the processes running"
check_value /sys/kernel/popcorn/migration/migrated_out 3

stop_kernel 1
rmmod popcorn_msg
echo "migrate-basic: all checks passed"
