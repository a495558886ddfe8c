# Runs inside secondary kernel 1 (migrate-crash): panics a few seconds
# after a migrated process started running here.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
wait_until 300 "no process came" at_least /sys/kernel/popcorn/migration/migrated_in 1
# A deliberate 3 s: the process runs here for a while.
sleep 3
echo "inside: crashing with a migrated process"
# Let the polled console drain before the panic report takes it over.
sleep 1
echo c >/proc/sysrq-trigger
