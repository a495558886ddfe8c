# The destination of a migrated process panics while the process runs
# there: the stub on the origin reports it lost (log line, `lost`
# counter), its shell sees it killed, the origin stays healthy, and a new
# secondary in the same place takes a migrated process and returns its
# exit status. Then a destination panics in the middle of receiving a
# 64 MiB process: the migration fails and the process goes on running
# here with its memory intact.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# secondary: crash inside/migrate-crash.sh
# secondary: midway inside/migrate-crash-midway.sh
# expect ttyS1: inside: crashing with a migrated process
# expect ttyS1: Kernel panic - not syncing: sysrq triggered crash
# expect ttyS0: migrate [0-9]*: lost with kernel 1
# expect ttyS1: inside: crashing in the middle of a transfer
# expect ttyS0: migrate [0-9]*: sending it to kernel 3 failed
# expect ttyS0: migtest: all checks passed, exiting with 4
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: Call Trace:
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 3: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 3: Call Trace:
# allow kernel 3: ---\[ end Kernel panic
# allow kernel 0: popcorn_msg: kernel 1 crashed:
# allow kernel 0: popcorn_msg: kernel 3 crashed:
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=512M initrd=/extra/crash.cpio.gz"
wait_peer 1
start_migtest 8192 memory 8 1000
pid=$migtest_pid
popcornctl migrate $pid 1
status=0
wait $pid || status=$?
[ "$status" = 137 ] || fail "the shell saw status $status for a process lost with its kernel, not 137 (killed)"
check_value /sys/kernel/popcorn/migration/lost 1
wait_state 1 crashed 60
echo "ok: the process was reported lost"

boot_request "cpus=2-3 mem=512M"
wait_peer 2
migtest --exit 3 memory 4 5 </dev/console &
pid=$!
sleep 3
popcornctl migrate $pid 2
status=0
wait $pid || status=$?
[ "$status" = 3 ] || fail "after the crash a migrated process ended with $status, not 3"
echo "ok: a new kernel takes migrated processes"
stop_kernel 2
wait_state 2 stopped 120

boot_request "cpus=2-3 mem=512M initrd=/extra/midway.cpio.gz"
wait_peer 3
migtest --exit 4 memory 64 40 </dev/console &
pid=$!
wait_until 300 "migtest never filled its memory" rss_at_least $pid 65536
refused=$(cat /sys/kernel/popcorn/migration/refused)
if popcornctl migrate $pid 3; then
	fail "the migration succeeded although kernel 3 crashed in the middle of it"
fi
wait_state 3 crashed 60
check_value /sys/kernel/popcorn/migration/refused $((refused + 1))
check_value /sys/kernel/popcorn/migration/lost 1
kill -0 $pid || fail "$pid did not survive the failed migration"
rss_at_least $pid 65536 || fail "$pid lost memory in the failed migration"
status=0
wait $pid || status=$?
[ "$status" = 4 ] || fail "after a failed migration the process ended with $status, not 4"
echo "ok: the process stayed, its checksums intact"
rmmod popcorn_msg
echo "migrate-crash: all checks passed"
