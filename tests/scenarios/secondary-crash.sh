# A secondary that panics, one that hangs with interrupts off and one that
# never gets going: the primary survives, marks the first two crashed and
# refuses the third, takes the CPUs and memory back each time, and boots a
# healthy one in the same place.
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=900 serials=3
# secondary: panic inside/panic.sh
# secondary: hang inside/hang.sh
# secondary: panic-on-start inside/panic-on-start.sh
# secondary: deaf inside/deaf.sh
# expect ttyS0: popcorn_msg: kernel 1 crashed: it panicked: sysrq triggered crash
# expect ttyS0: popcorn_msg: kernel 2 crashed: its CPU #[01] sent no heartbeat for [0-9]+ ms
# expect ttyS0: boot refused: kernel 3 did not start: it reached its 64-bit entry but never reported from setup_arch\(\) within 60 s
# expect ttyS1: inside: panicking now
# expect ttyS1: Kernel panic - not syncing: sysrq triggered crash
# expect ttyS1: inside: hanging a CPU with interrupts off
# expect ttyS1: inside: panicking while kernel 6 starts
# expect ttyS0: popcorn_msg: kernel 7 did not stop within 30 s of the request: forcing it
# expect ttyS0: popcorn_msg: kernel 7 forced: CPUs 2-3 back online
# allow kernel 1: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 1: Call Trace:
# allow kernel 1: ---\[ end Kernel panic
# allow kernel 5: Kernel panic - not syncing: sysrq triggered crash
# allow kernel 5: Call Trace:
# allow kernel 5: ---\[ end Kernel panic
# allow kernel 2: BUG: .*lockup
# allow kernel 2: WARNING:
# allow kernel 0: popcorn_msg: kernel [125] crashed:
# allow kernel 0: popcorn_msg: kernel 7 did not stop within 30 s of the request: forcing it
# allow kernel 0: popcorn_msg: kernel 7 forced
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
wait_state 4 running
echo 4 >/sys/kernel/popcorn/shutdown
check_value /sys/kernel/popcorn/kernels/4/state stopped
check_reclaimed "$total"
[ "$(cpu_job 200000)" = "$expected_sum" ] || fail "the primary computes wrong"

# The watcher is not held up by a start: kernel 5 (CPU 1) panics once the
# next kernel is announced, while that kernel's start (the corrupt image
# again, in slot 1) waits its 60 s. The crash is recorded during the write,
# so its line comes before the refusal.
boot_request "cpus=1 initrd=/extra/panic-on-start.cpio.gz"
wait_state 5 running
check_fails "Connection timed out" boot_request "cpus=2-3 kernel=/tmp/corrupt"
check_value /sys/kernel/popcorn/kernels/5/state crashed
order=$(dmesg | grep -o -e 'kernel 5 crashed: it panicked' -e 'boot refused: kernel 6 did not start' | tr '\n' '|')
[ "$order" = "kernel 5 crashed: it panicked|boot refused: kernel 6 did not start|" ] ||
	fail "the crash was not recorded while the other kernel started: $order"
echo "ok: kernel 5's crash was recorded during kernel 6's start"
check_reclaimed "$total"
check_fails "No such file or directory" write_to /sys/kernel/popcorn/shutdown 5

# A kernel that ignores the shutdown request is forced after 30 s: its
# state is `forced`, the write fails with ETIMEDOUT and popcornctl says so
# and exits non-zero.
boot_request "cpus=2-3 initrd=/extra/deaf.cpio.gz"
wait_peer 7
if popcornctl shutdown 7 >/tmp/out 2>&1; then fail "popcornctl shutdown of a forced kernel succeeded: $(cat /tmp/out)"; fi
grep -q '^kernel 7 forced$' /tmp/out || fail "popcornctl did not report the forced end: $(cat /tmp/out)"
grep -q 'it ended forced, not stopped (Connection timed out' /tmp/out || fail "popcornctl: $(cat /tmp/out)"
echo "ok: $(tail -n 1 /tmp/out)"
check_value /sys/kernel/popcorn/kernels/7/state forced
check_reclaimed "$total"
rmmod popcorn_msg
echo "secondary-crash: all checks passed"
