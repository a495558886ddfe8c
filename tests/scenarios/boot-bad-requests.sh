# Every bad boot request gets its errno and changes nothing.
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=4 mem=2G timeout=600 serials=3
# expect ttyS0: boot refused: CPU 0 is this kernel's boot CPU
# expect ttyS0: boot refused: CPU 5 does not exist \(CPUs 0-3\)
# expect ttyS0: boot refused: cmdline: 'memmap' is not allowed
# expect ttyS0: boot refused: cmdline: 'earlyprintk' is not allowed
# expect ttyS0: boot refused: cmdline: 'popcorn.kernel_id' is not allowed
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
total=$(cat /sys/kernel/popcorn/pool/total_bytes)

check_fails "Invalid argument" boot_request ""
check_fails "Invalid argument" boot_request "mem=512M"
check_fails "Operation not permitted" boot_request cpus=0
check_fails "Operation not permitted" boot_request cpus=0-1
check_fails "Invalid argument" boot_request cpus=2,2
check_fails "Invalid argument" boot_request cpus=3-2
check_fails "Invalid argument" boot_request cpus=two
check_fails "No such device" boot_request cpus=5
check_fails "No such device" boot_request cpus=2-9
check_fails "Invalid argument" boot_request "cpus=2 mem=lots"
check_fails "Invalid argument" boot_request "cpus=2 mem=33M"
check_fails "Invalid argument" boot_request "cpus=2 mem=32M"
check_fails "Cannot allocate memory" boot_request "cpus=2 mem=4G"
check_fails "Invalid argument" boot_request "cpus=2 colour=blue"
check_fails "Invalid argument" boot_request "cpus=2 cpus=3"
check_fails "Invalid argument" boot_request "cpus=2 kernel=bzImage"
check_fails "No such file or directory" boot_request "cpus=2 kernel=/nonexistent"
check_fails "Exec format error" boot_request "cpus=2 kernel=/etc/passwd"
check_fails "No such file or directory" boot_request "cpus=2 initrd=/nonexistent"
dd if=/dev/zero of=/tmp/big.img bs=1M count=80 2>/dev/null
check_fails "File too large" boot_request "cpus=2 mem=64M initrd=/tmp/big.img"
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="unterminated'
# A user command line may not choose memory or hardware, nor override
# Popcorn's own arguments (an allow-list, docs/sysfs.md). memmap= once made
# a secondary take the primary's RAM (issue 14).
check_fails "Invalid argument" boot_request 'cpus=2 cmdline=memmap=512M@0x1000000'
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="quiet mem=1G"'
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="console=ttyS0"'
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="acpi=force pci=conf1"'
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="X=\"a earlyprintk=serial,ttyS0\""'
check_fails "Invalid argument" boot_request 'cpus=2 cmdline="-- popcorn.kernel_id=0"'
# popcornctl checks its CPU list and size before it writes a request: a
# space cannot smuggle in another key.
check_fails "Invalid argument" popcornctl boot '2 cmdline=memmap=512M@0x1000000'
check_fails "Invalid argument" popcornctl boot 2 --mem '64M cmdline=memmap=512M@0x1000000'
check_fails "Invalid argument" popcornctl boot 2 --cmdline 'memmap=512M@0x1000000'

# A CPU offline here is not ours to give.
echo 0 >/sys/devices/system/cpu/cpu3/online
check_fails "Device or resource busy" boot_request cpus=3
echo 1 >/sys/devices/system/cpu/cpu3/online

# Two requests for the same CPU: the second finds it taken.
boot_request cpus=2
check_fails "Device or resource busy" boot_request cpus=2-3
check_fails "Device or resource busy" boot_request cpus=2
# Both low windows in use: a third kernel has none.
boot_request cpus=3
check_fails "No space left on device" boot_request cpus=1
check_fails "No such file or directory" write_to /sys/kernel/popcorn/release 9
check_fails "Invalid argument" write_to /sys/kernel/popcorn/release x
check_fails "Invalid argument" write_to /sys/kernel/popcorn/release ""
check_fails "Device or resource busy" write_to /sys/kernel/popcorn/release 1
check_fails "No such file or directory" write_to /sys/kernel/popcorn/shutdown 9
check_fails "Invalid argument" write_to /sys/kernel/popcorn/shutdown x
# One spelling per number (number.rs): "+1", "01", " 1", "1 " are refused.
for bad in +1 01 " 1" "1 " 0x1 -1; do
	check_fails "Invalid argument" write_to /sys/kernel/popcorn/shutdown "$bad"
	check_fails "Invalid argument" write_to /sys/kernel/popcorn/release "$bad"
done
for id in $(secondary_ids); do stop_kernel "$id"; done
for id in $(secondary_ids); do echo "$id" >/sys/kernel/popcorn/release; done

# Nothing changed.
check_value /sys/devices/system/cpu/online 0-3
check_value /sys/kernel/popcorn/pool/free_bytes "$total"
[ -z "$(secondary_ids)" ] || fail "kernels left: $(secondary_ids)"
for f in boot shutdown release; do
	[ "$(stat -c %a /sys/kernel/popcorn/$f)" = 200 ] || fail "$f is not 0200"
done
check_fails "Permission denied" cat /sys/kernel/popcorn/boot
rmmod popcorn_msg
echo "boot-bad-requests: all checks passed"
