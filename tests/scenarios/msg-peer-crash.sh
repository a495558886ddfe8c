# A peer that crashes in the middle of a stream: the sender gets an error
# soon after (not a hang), requests to it fail, the primary stays healthy,
# and a new kernel started in its place talks at once.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=900
# secondary: crash inside/msg-crash.sh
# secondary: replacement inside/msg-replacement.sh
# expect ttyS1: inside: crashing
# expect ttyS1: Kernel panic - not syncing: sysrq triggered crash
# expect ttyS1: inside: all checks passed
# expect ttyS0: kernel 1 crashed: it panicked
# expect ttyS0: msgtest: stress message .* of 1000000 to kernel 1 failed
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: Call Trace:
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 0: popcorn_msg: kernel 1 crashed:
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=256M initrd=/extra/crash.cpio.gz"
wait_peer 1
started=$(date +%s)
check_fails "No route to host" write_to /sys/kernel/popcorn/msgtest/stress "1 1000000 9"
now=$(date +%s)
echo "ok: the stream failed $((now - started)) s after it started"
wait_state 1 crashed 30
check_value /sys/kernel/popcorn/peers/1/state gone
check_fails "No route to host" cat /sys/kernel/popcorn/peers/1/ping
echo "ok: $(cat /sys/kernel/popcorn/peers/1/sent) messages were sent before the crash"
check_reclaimed $(cat /sys/kernel/popcorn/pool/total_bytes)

# The same CPUs and slot, a new kernel: it is kernel 2 and talks at once.
boot_request "cpus=2-3 mem=256M initrd=/extra/replacement.cpio.gz"
wait_peer 2
check_value /sys/kernel/popcorn/peers/2/slot 1
popcornctl ping 2 -c 3 -i 0.1
stress_exchange 2 2000 6
wait_state 2 stopped 120
check_value /sys/devices/system/cpu/online 0-3
rmmod popcorn_msg
echo "msg-peer-crash: all checks passed"
