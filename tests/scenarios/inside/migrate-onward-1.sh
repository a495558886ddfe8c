# Runs inside secondary kernel 1 (migrate-onward): sends each process that
# arrives from kernel 0 on to kernel 2 after a few seconds.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
wait_peer 2
# The first runs from /tmp/migtest-copy, which this kernel does not have.
move_arrival 1 2 !/tmp/migtest-copy
echo "inside 1: sent pid $moved_pid on to kernel 2"
move_arrival 2 2 /usr/bin/migtest
echo "inside 1: sent pid $moved_pid on to kernel 2"
check_value /sys/kernel/popcorn/migration/migrated_out 2
echo "inside 1: all checks passed"
