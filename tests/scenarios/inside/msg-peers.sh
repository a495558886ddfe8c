# Runs inside secondary kernel 1 or 2 (of the msg-ping scenario): pings the
# primary and the other secondary through the message layer with
# popcornctl, then powers off once the others have pinged it too.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
id=$(cat /sys/kernel/popcorn/kernel_id)
other=$((3 - id))
wait_peer 0
popcornctl ping 0 -c 3 -i 0.2
wait_peer $other
popcornctl ping $other -c 3 -i 0.2
check_value /sys/kernel/popcorn/peers/$other/dropped 0
check_value /sys/kernel/popcorn/peers/0/corrupt 0
# The primary pings us 5 times, the other secondary 3 times: received
# counts their requests and the replies to our own 3 pings.
wait_until 300 "the primary's pings never came" at_least /sys/kernel/popcorn/peers/0/received 8
wait_until 300 "kernel $other's pings never came" at_least /sys/kernel/popcorn/peers/$other/received 6
echo "inside: all checks passed"
