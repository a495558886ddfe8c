# Runs inside secondary kernel 2 (migrate-onward): keeps the first process
# that kernel 1 sends on (it ends here), sends the second one straight
# home to kernel 0.
. /usr/share/popcorn/lib.sh

# The first process's program path is a FIFO here (nobody ever writes
# to it): opening it for its text would wait forever.
mkfifo /tmp/migtest-copy
insmod popcorn_msg.ko
wait_peer 0
move_arrival 2 0 /usr/bin/migtest
echo "inside 2: sent pid $moved_pid home to kernel 0"
