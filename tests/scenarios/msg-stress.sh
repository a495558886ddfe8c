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
echo "1 100000 3" >/sys/kernel/popcorn/msgtest/stress
echo "ok: 100000 messages sent to kernel 1"
wait_until 600 "kernel 1's messages did not all arrive" \
	at_least /sys/kernel/popcorn/msgtest/stress_received 100000
check_value /sys/kernel/popcorn/msgtest/stress_received 100000
check_value /sys/kernel/popcorn/msgtest/stress_errors 0
check_value /sys/kernel/popcorn/peers/1/dropped 0
check_value /sys/kernel/popcorn/peers/1/corrupt 0
echo "ring full $(cat /sys/kernel/popcorn/peers/1/ring_full) times, $(cat /sys/kernel/popcorn/peers/1/ipis_sent) interrupts sent"
wait_state 1 stopped 300
check_value /sys/kernel/popcorn/peers/1/state gone
rmmod popcorn_msg
echo "msg-stress: all checks passed"
