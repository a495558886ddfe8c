# Runs inside secondary kernel 1 (migrate-back): sends the process that
# arrives from kernel 0 back there after a few seconds.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
move_arrival 1 0
echo "inside: sent pid $moved_pid back to kernel 0"
check_value /sys/kernel/popcorn/migration/migrated_out 1
echo "inside: all checks passed"
