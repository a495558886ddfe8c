# Runs inside secondary kernel 1 on CPUs 2-3: its popcorn_msg.ko knows it
# is kernel 1, receives the primary's message interrupts and sends some to
# the primary's boot CPU (APIC ID 0).
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/kernel_id 1
check_value /sys/kernel/popcorn/kernels/1/role secondary
check_value /sys/kernel/popcorn/kernels/1/cpus 0-1
[ ! -e /sys/kernel/popcorn/pool ] || fail "a secondary shows a pool"
check_fails "Cannot allocate memory" boot_request cpus=1
echo "inside: waiting for the primary's interrupts"
waited=0
while [ "$(cat /sys/kernel/popcorn/ipi/received)" -lt 3 ]; do
	[ $waited -lt 600 ] || fail "no message interrupts from the primary"
	sleep 0.1
	waited=$((waited + 1))
done
echo "ok: $(cat /sys/kernel/popcorn/ipi/received) message interrupts received"
# Message-layer traffic to the primary: the primary must not count it as
# one of the 5 interrupts below.
wait_peer 0
popcornctl ping 0 -c 3 -i 0.2
# Only the primary's CPU: not this kernel's own (2), not the broadcast ID.
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 2
check_fails "Invalid argument" write_to /sys/kernel/popcorn/ipi/send 255
for i in 1 2 3 4 5; do echo 0 >/sys/kernel/popcorn/ipi/send; done
check_value /sys/kernel/popcorn/ipi/sent 5
rmmod popcorn_msg
echo "inside: all checks passed"
