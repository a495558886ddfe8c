# The secondary's side of the migration benchmark (tests/bench/run):
# after each process that arrives here ends, prints this kernel's
# last_ns (its third figure is the restore time).
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
m=/sys/kernel/popcorn/migration
n=0
while :; do
	wait_until 900 "no process came" at_least $m/migrated_in $((n + 1))
	n=$((n + 1))
	# Once it runs here (listed), until it has ended (no longer listed).
	wait_until 60 "process $n never ran here" grep -q from $m/processes
	while grep -q from $m/processes; do sleep 0.2; done
	echo "BENCH-RESTORE $n $(cat $m/last_ns)"
done
