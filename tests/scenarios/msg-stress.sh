# 100,000 messages of pseudo-random sizes (up to the largest a ring
# carries) each way at once between the primary and a secondary; every
# message is checked on arrival (size, bytes, order): none lost,
# duplicated or reordered.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=1500
# secondary: stress inside/msg-stress.sh
# expect ttyS1: inside: all checks passed
# expect ttyS1: POPCORN-SCENARIO-EXIT: 0
# expect ttyS0: msgtest: sent 100000 stress messages .* to kernel 1
# expect ttyS1: msgtest: sent 100000 stress messages .* to kernel 0
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=256M initrd=/extra/stress.cpio.gz"
wait_peer 1
stress_exchange 1 100000 3
wait_state 1 stopped 300
check_value /sys/kernel/popcorn/peers/1/state gone
rmmod popcorn_msg
echo "msg-stress: all checks passed"
