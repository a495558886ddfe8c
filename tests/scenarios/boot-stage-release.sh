# Staging a secondary takes its CPUs offline (and keeps them so), cuts its
# partition from the pool and writes the boot structures; releasing it gives
# everything back. Twenty rounds leave the primary exactly as it started.
# cmdline: popcorn.reserve=1G,kernels=3 kmemleak=on
# popcorn: smp=4 mem=2G timeout=600
# expect ttyS0: popcorn_msg: kernel 1 staged: cpus 2-3, mem 340M at 0x[0-9a-f]+, slot 0
# expect ttyS0: popcorn_msg: kernel 1 released
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
total=$(cat /sys/kernel/popcorn/pool/total_bytes)
check_value /sys/kernel/popcorn/pool/free_bytes "$total"
shared_base=$(cat /sys/kernel/popcorn/shared/base)

# Default size: the free pool shared among the 3 kernels that may still
# start, rounded down to 2M: 1G / 3 -> 340M.
boot_request cpus=2-3
check_value /sys/devices/system/cpu/online 0-1
check_value /sys/kernel/popcorn/kernels/1/id 1
check_value /sys/kernel/popcorn/kernels/1/role secondary
check_value /sys/kernel/popcorn/kernels/1/state staged
check_value /sys/kernel/popcorn/kernels/1/cpus 2-3
check_value /sys/kernel/popcorn/kernels/1/mem_bytes $((340 << 20))
check_value /sys/kernel/popcorn/pool/free_bytes $((total - (340 << 20)))
check_fails "Device or resource busy" write_to /sys/devices/system/cpu/cpu2/online 1
check_value /sys/devices/system/cpu/online 0-1
popcornctl status

# What was staged, read back from the zero page and setup_data.
layout=/sys/kernel/debug/popcorn/1/layout
cat $layout
field() { sed -n "s/^$1: //p" $layout; }
[ "$(field type_of_loader)" = 0xff ] || fail "type_of_loader"
[ "$(field kernel_id)" = 1 ] || fail "kernel_id"
[ "$(field e820_entries)" = 3 ] || fail "3 e820 entries"
grep -q '^e820\[0\]: 0x0000000000[0-9a-f]*-0x0000000000[0-9a-f]* ram$' $layout || fail "low window not RAM"
grep -q '^e820\[2\]: .* reserved$' $layout || fail "shared window not reserved"
grep -q "^e820\[2\]: 0x0*${shared_base#0x}-" $layout || fail "e820[2] is not the shared window"
part_start=$(field partition | sed 's/-.*//')
grep -q "^e820\[1\]: 0x0*${part_start#0x}-" $layout || fail "e820[1] is not the partition"
grep -q '^cmdline: .*console=ttyS1,115200' $layout || fail "console not ttyS1"
[ "$(field nr_cpus)" = 2 ] || fail "setup_data nr_cpus"
[ "$(field apic_ids)" = "2,3" ] || fail "setup_data apic_ids: $(field apic_ids)"
[ "$(field shared_base)" = "$shared_base" ] || fail "setup_data shared_base"
echo "ok: staged layout"

echo 1 >/sys/kernel/popcorn/release
check_value /sys/devices/system/cpu/online 0-3
check_value /sys/kernel/popcorn/pool/free_bytes "$total"
check_absent /sys/kernel/popcorn/kernels/1
check_absent /sys/kernel/debug/popcorn/1

# An explicit size, and 20 rounds in a row that leak nothing.
leak_check_start
round=0
while [ $round -lt 20 ]; do
	round=$((round + 1))
	boot_request "cpus=2-3 mem=512M"
	id=$(staged_ids)
	[ -n "$id" ] || fail "round $round: nothing staged"
	[ "$(cat /sys/devices/system/cpu/online)" = 0-1 ] || fail "round $round: CPUs not offline"
	[ "$(cat /sys/kernel/popcorn/pool/free_bytes)" = $((total - (512 << 20))) ] || fail "round $round: pool"
	echo "$id" >/sys/kernel/popcorn/release
	[ "$(cat /sys/devices/system/cpu/online)" = 0-3 ] || fail "round $round: CPUs not back"
	[ "$(cat /sys/kernel/popcorn/pool/free_bytes)" = "$total" ] || fail "round $round: pool not back"
	[ -z "$(staged_ids)" ] || fail "round $round: kernel $id still listed"
done
echo "ok: 20 stage/release rounds"
leak_check_end

# popcornctl drives the same files; unloading the module gives staged
# kernels back too.
check_fails "Operation not permitted" popcornctl boot 0
popcornctl boot 3 --mem 128M --cmdline 'quiet loglevel=3' | tee /tmp/out
grep -q '^kernel 22 staged$' /tmp/out || fail "popcornctl boot did not report kernel 22"
grep -q '^cmdline: .* quiet loglevel=3$' /sys/kernel/debug/popcorn/22/layout || fail "user cmdline not last"
check_value /sys/kernel/popcorn/kernels/22/mem_bytes $((128 << 20))
popcornctl release 22 | grep -q '^kernel 22 released$' || fail "popcornctl release"
check_fails "No such file or directory" popcornctl release 22
popcornctl boot 3 >/dev/null
rmmod popcorn_msg
check_value /sys/devices/system/cpu/online 0-3
insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/pool/free_bytes "$total"
rmmod popcorn_msg
echo "boot-stage-release: all checks passed"
