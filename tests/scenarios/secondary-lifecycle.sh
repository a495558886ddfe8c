# A secondary on CPUs 2-3 reaches its /init on ttyS1 and sees only what it
# owns; it powers itself off and the primary takes everything back. Then a
# secondary stopped from the primary, ten boot/shutdown cycles in the same
# place, popcornctl, and rmmod with a secondary running. The primary keeps
# computing on CPUs 0-1 throughout.
# cmdline: popcorn.reserve=1G,kernels=3 kmemleak=on
# popcorn: smp=4 mem=2G timeout=900
# secondary: check-partition inside/check-partition.sh
# expect ttyS0: popcorn_msg: kernel 1 started: cpus 2-3, mem 340M at 0x[0-9a-f]+, slot 0, console ttyS1
# expect ttyS0: popcorn_msg: kernel 1 is running
# expect ttyS0: IPI shorthand broadcast: disabled
# expect ttyS0: popcorn_msg: kernel 1 stopped: CPUs 2-3 back online, 340M back in the pool
# expect ttyS0: popcorn_msg: kernel 3: shutdown requested
# expect ttyS0: popcorn_msg: kernel 4 stopped: CPUs 2-3 back online
# expect ttyS1: popcorn: secondary kernel 1 on 2 CPUs
# expect ttyS1: CPU topo: Rejected CPUs 1
# expect ttyS1: Run /init as init process
# expect ttyS1: inside: all checks passed
# expect ttyS1: POPCORN-SCENARIO-EXIT: 0
# expect ttyS1: init: halting
# expect kernel 1: inside: filled [0-9]+ MiB with the marker
# expect kernel 2: inside: 0 of [0-9]+ free pages hold what the previous kernel left
# allow kernel 0: popcorn_msg: module unloading: stopping kernel 15 by force
# allow kernel 0: popcorn_msg: kernel 15 forced
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
total=$(cat /sys/kernel/popcorn/pool/total_bytes)
shared_base=$(cat /sys/kernel/popcorn/shared/base)
expected_sum=$(cpu_job 300000)

# The partition's place is known before the start: the pool's base, 340M
# (the default share: 1G among 3 kernels, rounded down to 2M).
pool_base=$(cat /sys/kernel/popcorn/pool/base)
part_end=$(printf '0x%x' $((pool_base + (340 << 20) - 1)))
cpu_job 300000 >/tmp/sum &
job=$!
boot_request "cpus=2-3 initrd=/extra/check-partition.cpio.gz cmdline=\"EXPECT_RAM=$pool_base-$part_end EXPECT_CPUS=2 STALE=fill\""
check_value /sys/kernel/popcorn/kernels/1/role secondary
check_value /sys/kernel/popcorn/kernels/1/cpus 2-3
check_value /sys/kernel/popcorn/kernels/1/mem_bytes $((340 << 20))
check_value /sys/kernel/popcorn/kernels/1/console ttyS1
check_value /sys/devices/system/cpu/online 0-1
check_value /sys/kernel/popcorn/pool/free_bytes $((total - (340 << 20)))
check_fails "Device or resource busy" write_to /sys/devices/system/cpu/cpu2/online 1
popcornctl status
# The script inside checks, then powers the secondary off.
wait_state 1 stopped 300
check_reclaimed "$total"
wait $job
check_value /tmp/sum "$expected_sum"

# What was started, read back from the zero page and setup_data.
layout=/sys/kernel/debug/popcorn/1/layout
cat $layout
field() { sed -n "s/^$1: //p" $layout; }
[ "$(field type_of_loader)" = 0xff ] || fail "type_of_loader"
[ "$(field kernel_id)" = 1 ] || fail "kernel_id"
[ "$(field e820_entries)" = 3 ] || fail "3 e820 entries"
grep -q '^e820\[2\]: .* reserved$' $layout || fail "shared window not reserved"
grep -q "^e820\[2\]: 0x0*${shared_base#0x}-" $layout || fail "e820[2] is not the shared window"
grep -q '^cmdline: .*console=ttyS1,115200' $layout || fail "console not ttyS1"
[ "$(field apic_ids)" = "2,3" ] || fail "setup_data apic_ids: $(field apic_ids)"
[ "$(field control_phys)" = "$(field control)" ] || fail "control page address"
echo "ok: layout"

# Release forgets an ended kernel; a running one must be shut down first.
check_fails "No such file or directory" write_to /sys/kernel/popcorn/release 9
echo 1 >/sys/kernel/popcorn/release
check_absent /sys/kernel/popcorn/kernels/1
check_absent /sys/kernel/debug/popcorn/1

# Kernel 1 filled its memory with a marker before it stopped. A new kernel
# in the same place finds none of it in its free memory (issue 14: the
# partition is cleared before it is reused).
boot_request "cpus=2-3 initrd=/extra/check-partition.cpio.gz cmdline=\"EXPECT_RAM=$pool_base-$part_end STALE=check\""
wait_state 2 stopped 300
check_reclaimed "$total"
echo 2 >/sys/kernel/popcorn/release

# The default initramfs gives a shell on ttyS1; the primary stops it.
boot_request cpus=2-3
wait_state 3 running
check_fails "Device or resource busy" write_to /sys/kernel/popcorn/release 3
stop_kernel 3
check_value /sys/kernel/popcorn/kernels/3/state stopped
check_reclaimed "$total"
check_fails "No such file or directory" write_to /sys/kernel/popcorn/shutdown 3
echo 3 >/sys/kernel/popcorn/release

# Ten boots and shutdowns in the same place leave nothing behind. Every
# other round asks for the shutdown as soon as the start returns, while the
# secondary still boots (before its /init can take the request).
leak_check_start
round=0
while [ $round -lt 10 ]; do
	round=$((round + 1))
	id=$((round + 3))
	boot_request "cpus=2-3 mem=512M"
	[ $((round % 2)) = 0 ] || wait_state $id running
	[ "$(cat /sys/kernel/popcorn/pool/free_bytes)" = $((total - (512 << 20))) ] || fail "round $round: pool"
	echo $id >/sys/kernel/popcorn/shutdown
	check_value /sys/kernel/popcorn/kernels/$id/state stopped
	[ "$(cat /sys/devices/system/cpu/online)" = 0-3 ] || fail "round $round: CPUs not back"
	[ "$(cat /sys/kernel/popcorn/pool/free_bytes)" = "$total" ] || fail "round $round: pool not back"
	echo $id >/sys/kernel/popcorn/release
done
echo "ok: 10 boot/shutdown cycles"
leak_check_end
[ -z "$(secondary_ids)" ] || fail "kernels still listed: $(secondary_ids)"

# popcornctl drives the same files; unloading the module stops a running
# secondary by force and gives everything back.
check_fails "Operation not permitted" popcornctl boot 0
popcornctl boot 3 --mem 128M --cmdline 'quiet loglevel=3' | tee /tmp/out
grep -q '^kernel 14 started$' /tmp/out || fail "popcornctl boot did not report kernel 14"
grep -q '^cmdline: .* quiet loglevel=3$' /sys/kernel/debug/popcorn/14/layout || fail "user cmdline not last"
wait_state 14 running
popcornctl status | tee /tmp/out
grep -q '^14 *secondary *running *3 ' /tmp/out || fail "popcornctl status does not show kernel 14 running on CPU 3"
popcornctl shutdown 14 | grep -q '^kernel 14 stopped$' || fail "popcornctl shutdown"
popcornctl release 14 | grep -q '^kernel 14 released$' || fail "popcornctl release"
check_fails "No such file or directory" popcornctl release 14
popcornctl boot 3 >/dev/null
wait_state 15 running
rmmod popcorn_msg
dmesg | grep -q 'popcorn_msg: kernel 15 forced: CPUs 3 back online' ||
	fail "rmmod did not record kernel 15 as forced"
echo "ok: rmmod ended kernel 15 as forced"
check_value /sys/devices/system/cpu/online 0-3
insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/pool/free_bytes "$total"
rmmod popcorn_msg
echo "secondary-lifecycle: all checks passed"
