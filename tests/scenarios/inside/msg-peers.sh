# Runs inside secondary kernel 1 or 2 (of the msg-ping scenario): pings the
# primary and the other secondary through the message layer with
# popcornctl, then stays up until the primary shuts it down.
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
echo "inside: all checks passed"
while :; do sleep 1; done
