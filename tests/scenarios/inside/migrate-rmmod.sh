# Runs inside secondary kernel 1 (migrate-rmmod): migrates two of its own
# processes to kernel 0; the first ends there, the second is still there
# when popcorn_msg is unloaded here. Then a reload migrates a third.
. /usr/share/popcorn/lib.sh

m=/sys/kernel/popcorn/migration
insmod popcorn_msg.ko
wait_peer 0
start_migtest 8192 --exit 6 memory 8 8
popcornctl migrate $migtest_pid 0
grep -q "^$migtest_pid 0\$" $m/processes || fail "$migtest_pid is not listed as running on kernel 0"
expect_exit $migtest_pid 6 "a process that ran on kernel 0"
echo "inside: exit status 6 came back from kernel 0"

start_migtest 8192 memory 8 1000
popcornctl migrate $migtest_pid 0
rmmod popcorn_msg
expect_exit $migtest_pid 137 "a stub when the module went (killed)"
echo "inside: the stub ended with the module"

insmod popcorn_msg.ko
wait_peer 0
start_migtest 4096 --exit 2 memory 4 4
popcornctl migrate $migtest_pid 0
expect_exit $migtest_pid 2 "a process migrated after a reload"
echo "inside: all checks passed"
