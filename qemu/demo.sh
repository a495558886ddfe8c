# The walk-through `make demo` runs in the guest: what a user would type.
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn 0\.1\.0 loaded
run() {
	echo
	echo "popcorn-demo# $*"
	"$@"
}

echo "=== Popcorn demo: one kernel, the message layer's sysfs tree ==="
run insmod popcorn_msg.ko
run ls -R /sys/kernel/popcorn
run grep -r . /sys/kernel/popcorn
run popcornctl status
run cat /proc/cmdline
echo
echo "=== Starting secondary kernels ('echo cpus=2-3 > /sys/kernel/popcorn/boot') is not built yet. ==="
