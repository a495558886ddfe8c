# popcornctl ping through the message layer: primary <-> secondary and
# secondary <-> secondary (each secondary pings the primary and the other
# one), with the per-peer counters in sysfs; pinging a kernel that is not
# running fails cleanly.
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=6 mem=2G timeout=600 serials=3
# secondary: peers inside/msg-peers.sh
# expect ttyS1: inside: all checks passed
# expect ttyS2: inside: all checks passed
# expect ttyS1: 56 bytes from kernel 2: seq=2
# expect ttyS2: 56 bytes from kernel 1: seq=2
# expect ttyS1: 56 bytes from kernel 0: seq=2
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/msg/slot 0
check_value /sys/kernel/popcorn/msg/poll 0
check_fails "not a peer" popcornctl ping 1 -c 1
boot_request "cpus=2-3 mem=256M initrd=/extra/peers.cpio.gz"
boot_request "cpus=4-5 mem=256M initrd=/extra/peers.cpio.gz"
for id in 1 2; do wait_state $id running 300; done
for id in 1 2; do
	wait_peer $id
	check_value /sys/kernel/popcorn/peers/$id/slot $id
done
# Each read of ping takes a request slot: root only.
[ "$(stat -c %a /sys/kernel/popcorn/peers/1/ping)" = 400 ] || fail "peers/1/ping is not 0400"
popcornctl ping 1 -c 5 -i 0.1
popcornctl ping 2 -c 5 -i 0.1
# Each secondary pings us 3 times; with our 5 pings to it, we received
# 8 messages from it (3 requests, 5 replies) once it is done.
for id in 1 2; do
	wait_until 120 "kernel $id's pings never arrived" at_least /sys/kernel/popcorn/peers/$id/received 8
	check_value /sys/kernel/popcorn/peers/$id/received 8
	check_value /sys/kernel/popcorn/peers/$id/sent 8
	check_value /sys/kernel/popcorn/peers/$id/dropped 0
	check_value /sys/kernel/popcorn/peers/$id/corrupt 0
done
wait_state 2 stopped 120
check_value /sys/kernel/popcorn/peers/2/state gone
check_fails "No route to host" cat /sys/kernel/popcorn/peers/2/ping
check_fails "not running" popcornctl ping 2 -c 1
wait_state 1 stopped 120
check_value /sys/devices/system/cpu/online 0-5
rmmod popcorn_msg
echo "msg-ping: all checks passed"
