# A secondary that panics, one that hangs with interrupts off and one that
# never gets going: the primary survives, marks the first two crashed and
# refuses the third, takes the CPUs and memory back each time, and boots a
# healthy one in the same place.
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=600
# secondary: panic inside/panic.sh
# secondary: hang inside/hang.sh
# expect ttyS0: popcorn_msg: kernel 1 crashed: it panicked: sysrq triggered crash
# expect ttyS0: popcorn_msg: kernel 2 crashed: its CPU #[01] sent no heartbeat for [0-9]+ ms
# expect ttyS0: boot refused: kernel 3 did not start: it reached its 64-bit entry but never reported from setup_arch\(\) within 60 s
# expect ttyS1: inside: panicking now
# expect ttyS1: Kernel panic - not syncing: sysrq triggered crash
# expect ttyS1: inside: hanging a CPU with interrupts off
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: Call Trace:
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 2: BUG: .*lockup
# allow kernel 2: WARNING:
# allow kernel 0: popcorn_msg: kernel 1 crashed:
# allow kernel 0: popcorn_msg: kernel 2 crashed:
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
total=$(cat /sys/kernel/popcorn/pool/total_bytes)
expected_sum=$(cpu_job 200000)

boot_request "cpus=2-3 initrd=/extra/panic.cpio.gz"
wait_state 1 crashed 300
check_reclaimed "$total"
[ "$(cpu_job 200000)" = "$expected_sum" ] || fail "the primary computes wrong after a crash"

boot_request "cpus=2-3 initrd=/extra/hang.cpio.gz"
wait_state 2 crashed 300
check_reclaimed "$total"

# An image whose compressed payload is corrupt: the decompressor stops
# with an error before the kernel proper runs. The write times out and
# everything comes back.
cp /popcorn/bzImage /tmp/corrupt
dd if=/dev/zero of=/tmp/corrupt bs=4096 seek=256 count=16 conv=notrunc 2>/dev/null
check_fails "Connection timed out" boot_request "cpus=2-3 kernel=/tmp/corrupt"
check_reclaimed "$total"
[ -z "$(secondary_ids | grep -v '^[12]$')" ] || fail "the failed start left an entry"

# A healthy kernel in the same place.
boot_request cpus=2-3
wait_state 3 running
echo 3 >/sys/kernel/popcorn/shutdown
check_value /sys/kernel/popcorn/kernels/3/state stopped
check_reclaimed "$total"
[ "$(cpu_job 200000)" = "$expected_sum" ] || fail "the primary computes wrong"
rmmod popcorn_msg
echo "secondary-crash: all checks passed"
