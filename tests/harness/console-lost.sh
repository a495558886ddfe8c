# Two secondaries at once on a machine with two UARTs: the second one's
# console (ttyS2) is not captured, which fails the scenario (123) instead
# of passing unseen.
# harness-expect-exit: 123
# harness-expect-report: console lost: kernel 2's console ttyS2 is not connected
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=4 mem=2G timeout=300 serials=2
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2 mem=256M"
boot_request "cpus=3 mem=256M"
wait_state 1 running 300
wait_state 2 running 300
echo 1 >/sys/kernel/popcorn/shutdown
echo 2 >/sys/kernel/popcorn/shutdown
rmmod popcorn_msg
exit 0
