# Runs inside secondary kernel 1 (migrate-back): sends the process that
# arrives from kernel 0 back there after a few seconds. Its program's
# path here holds a different file, which must not be used.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
# A file of the program's name that is not the program: one byte changed
# (in its ELF program headers, inside its first read-only mapping).
cp /usr/bin/migtest /tmp/migtest-copy
printf Z | dd of=/tmp/migtest-copy bs=1 seek=100 conv=notrunc 2>/dev/null
wait_peer 0
# It runs here as the user it was there, with nothing of the helper's.
m=/sys/kernel/popcorn/migration
wait_until 600 "no process from kernel 0 ever ran here" grep -q " from 0 " $m/processes
check_identity "$(sed -n 's/^\([0-9]*\) from 0 .*/\1/p' $m/processes)" "on kernel 1"
move_arrival 1 0 !/tmp/migtest-copy
echo "inside: sent pid $moved_pid back to kernel 0"
check_value /sys/kernel/popcorn/migration/migrated_out 1
echo "inside: all checks passed"
