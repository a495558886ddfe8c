# The message interrupt (linux-patches/0008) crosses kernels both ways: the
# primary interrupts a secondary's CPU by APIC ID, the secondary's
# popcorn_msg.ko counts it, and the secondary interrupts the primary's boot
# CPU. Interrupts that reach a secondary before its module handles them are
# dropped harmlessly. The secondary's module knows it is kernel 1.
# The primary's message layer polls (msg/poll): its receive thread never
# asks to be interrupted, so the secondary's messages (a ping before its
# 5 interrupts) send it none, and the primary counts only the test's own.
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=400
# secondary: ipi inside/ipi.sh
# expect ttyS1: inside: all checks passed
# expect ttyS1: POPCORN-SCENARIO-EXIT: 0
# expect ttyS1: popcorn 0\.1\.0 loaded: kernel 1, cpus 0-1
# expect ttyS0: ipi/send: APIC ID 255 is no CPU of another live kernel
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/ipi/received 0
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send x
write_to /sys/kernel/popcorn/msg/poll 1
# Only a CPU of another live kernel: none runs yet, and never the broadcast
# ID, an ID out of range, this kernel's own CPUs or a spelling like +2.
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 2
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 255
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 4294967295
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 4294967296
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 0
boot_request "cpus=2-3 initrd=/extra/ipi.cpio.gz"
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send +2
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 255
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 1
check_value /sys/kernel/popcorn/ipi/sent 0
# Interrupt the secondary's boot CPU (APIC ID 2) until it has counted
# enough and powered itself off.
sent=0
while :; do
	state=$(cat /sys/kernel/popcorn/kernels/1/state)
	case $state in stopped) break ;; crashed) fail "kernel 1 crashed" ;; esac
	[ $sent -lt 2000 ] || fail "kernel 1 still $state after $sent interrupts"
	if ! echo 2 >/sys/kernel/popcorn/ipi/send; then
		# Refused only once kernel 1 has ended: CPU 2 is ours again.
		case $(cat /sys/kernel/popcorn/kernels/1/state) in
		stopped | crashed) continue ;;
		*) fail "ipi/send to kernel 1's CPU refused while it runs" ;;
		esac
	fi
	sent=$((sent + 1))
	sleep 0.1
done
check_value /sys/kernel/popcorn/ipi/sent $sent
# Kernel 1 has stopped: its CPUs are this kernel's again.
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 2
received=$(cat /sys/kernel/popcorn/ipi/received)
# Interrupts sent in a burst may merge in the receiving APIC (one pending
# per vector), so 5 sent means 1 to 5 received. The message layer's own
# interrupts are not among them: it polls here.
[ "$received" -ge 1 ] && [ "$received" -le 5 ] || fail "the primary got $received message interrupts for 5 sent"
echo "ok: $received message interrupts from kernel 1"
check_value /sys/devices/system/cpu/online 0-3
rmmod popcorn_msg
echo "msg-ipi: all checks passed"
