# Runs inside secondary kernel 3 (migrate-crash): panics in the middle of
# receiving a migrated process, once a few hundred of its messages came
# (a 64 MiB process takes about 2,000).
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
received=/sys/kernel/popcorn/peers/0/received
read -r start <$received
target=$((start + 300))
# Watched closely from the start: `read` is a shell builtin, no fork per
# check (a fork takes long enough under TCG to miss the whole transfer).
while read -r now <$received && [ "$now" -lt "$target" ]; do
	:
done
# Through the kernel log, which the panic flushes (the console's own
# output may not make it out).
echo "inside: crashing in the middle of a transfer ($((now - start)) messages in)" >/dev/kmsg
echo c >/proc/sysrq-trigger
