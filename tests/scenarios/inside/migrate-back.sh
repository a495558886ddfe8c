# Runs inside secondary kernel 1 (migrate-back): sends the process that
# arrives from kernel 0 back there after a few seconds.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
m=/sys/kernel/popcorn/migration
wait_peer 0
wait_until 300 "no process came" at_least $m/migrated_in 1
sleep 4
pid=$(sed -n 's/^\([0-9]*\) from 0 .*/\1/p' $m/processes)
[ -n "$pid" ] || fail "no process from kernel 0 runs here: $(cat $m/processes)"
# Straight on to a third kernel: not yet (it must go back first).
check_fails "not supported" popcornctl migrate "$pid" 2
popcornctl migrate "$pid" 0
echo "inside: sent pid $pid back to kernel 0"
wait_until 60 "pid $pid is still listed here" sh -c "! grep -q from $m/processes"
check_value $m/migrated_out 1
echo "inside: all checks passed"
