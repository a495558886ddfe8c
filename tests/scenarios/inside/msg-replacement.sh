# Runs inside the kernel started where a crashed one was (msg-peer-crash):
# it talks to the primary at once, then powers off.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
popcornctl ping 0 -c 3 -i 0.1
stress_exchange 0 2000 5
echo "inside: all checks passed"
