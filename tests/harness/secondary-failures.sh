# Failures of secondaries fail the scenario although the script exits 0,
# and an allowance covers one kernel: kernel 1's panic is allowed (on its
# console and in the primary's log), kernel 2's identical panic on the same
# UART is not; kernel 3's script exits 3; kernel 4 is stopped by force
# when the module unloads. tests/run checks what run-scenario reports.
# harness-expect-exit: 126
# harness-expect-report: unexpected: kernel 2 \(ttyS1\): .*Kernel panic - not syncing: sysrq triggered crash
# harness-expect-report: unexpected: kernel 0 \(ttyS0\): .*popcorn_msg: kernel 2 crashed
# harness-expect-report: unexpected: kernel 3 \(ttyS1\): POPCORN-SCENARIO-EXIT: 3
# harness-expect-report: unexpected: kernel 0 \(ttyS0\): .*stopping kernel 4 by force
# harness-reject-report: kernel 1\b
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=400
# secondary: panic ../scenarios/inside/panic.sh
# secondary: exit3 inside/exit3.sh
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 1: Call Trace:
# allow kernel 0: popcorn_msg: kernel 1 crashed:
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 initrd=/extra/panic.cpio.gz"
wait_state 1 crashed 300
boot_request "cpus=2-3 initrd=/extra/panic.cpio.gz"
wait_state 2 crashed 300
boot_request "cpus=2-3 initrd=/extra/exit3.cpio.gz"
wait_state 3 stopped 300
boot_request "cpus=2-3"
wait_state 4 running 300
rmmod popcorn_msg
exit 0
