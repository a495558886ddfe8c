# popcorn_msg.ko publishes /sys/kernel/popcorn with the running kernel, and
# takes all of it away on rmmod; a second load works the same.
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn 0\.1\.0 loaded: kernel 0, cpus 0-3, \d+ MiB
# expect ttyS0: popcorn 0\.1\.0 unloaded
. /usr/share/popcorn/lib.sh

mem_total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)

check_sysfs_tree() {
	check_value /sys/kernel/popcorn/version 0.1.0
	check_value /sys/kernel/popcorn/kernel_id 0
	check_value /sys/kernel/popcorn/kernels/0/id 0
	check_value /sys/kernel/popcorn/kernels/0/role primary
	check_value /sys/kernel/popcorn/kernels/0/state running
	check_value /sys/kernel/popcorn/kernels/0/cpus "$(cat /sys/devices/system/cpu/online)"
	check_value /sys/kernel/popcorn/kernels/0/cpus 0-3
	check_value /sys/kernel/popcorn/kernels/0/mem_bytes $((mem_total_kib * 1024))
	# Nothing but what is documented.
	[ "$(ls /sys/kernel/popcorn | tr '\n' ' ')" = "boot ipi kernel_id kernels release shutdown version " ] ||
		fail "unexpected files in /sys/kernel/popcorn: $(ls /sys/kernel/popcorn)"
	[ "$(ls /sys/kernel/popcorn/kernels)" = "0" ] || fail "kernels/ lists $(ls /sys/kernel/popcorn/kernels)"
	[ "$(ls /sys/kernel/popcorn/kernels/0 | tr '\n' ' ')" = "cpus id mem_bytes role state " ] ||
		fail "unexpected files in kernels/0: $(ls /sys/kernel/popcorn/kernels/0)"
	[ "$(ls /sys/kernel/popcorn/ipi | tr '\n' ' ')" = "received send sent " ] ||
		fail "unexpected files in ipi/: $(ls /sys/kernel/popcorn/ipi)"
	for f in boot shutdown release ipi/send; do
		mode=$(stat -c %a /sys/kernel/popcorn/$f)
		[ "$mode" = 200 ] || fail "$f has mode $mode, expected 200"
	done
	for f in version kernel_id kernels/0/id kernels/0/role kernels/0/state kernels/0/cpus kernels/0/mem_bytes ipi/received ipi/sent; do
		mode=$(stat -c %a /sys/kernel/popcorn/$f)
		[ "$mode" = 444 ] || fail "$f has mode $mode, expected 444"
	done
	echo "ok: all attributes are read-only (0444)"
}

check_status_table() {
	popcornctl status | tee /tmp/status
	grep -q '^popcorn 0.1.0, 1 kernel(s), this is kernel 0$' /tmp/status || fail "status header"
	grep -Eq '^KERNEL +ROLE +STATE +CPUS +MEMORY$' /tmp/status || fail "status column header"
	grep -Eq '^0\* +primary +running +0-3 +[0-9.]+ GiB$' /tmp/status || fail "status row for kernel 0"
	grep -q '^pool: none (boot the primary with popcorn.reserve=)$' /tmp/status || fail "status pool line"
	echo "ok: popcornctl status"
}

insmod popcorn_msg.ko
check_sysfs_tree
check_status_table

# cpus follows CPU hotplug.
echo 0 >/sys/devices/system/cpu/cpu2/online
check_value /sys/kernel/popcorn/kernels/0/cpus 0-1,3
echo 1 >/sys/devices/system/cpu/cpu2/online
check_value /sys/kernel/popcorn/kernels/0/cpus 0-3

rmmod popcorn_msg
check_absent /sys/kernel/popcorn
check_fails "is popcorn_msg.ko loaded?" popcornctl status

insmod popcorn_msg.ko
check_sysfs_tree
rmmod popcorn_msg
check_absent /sys/kernel/popcorn
echo "msg-sysfs: all checks passed"
