# The walk-through `make demo` runs in the guest: what a user would type.
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=300
# expect ttyS0: popcorn_msg: kernel 1 staged: cpus 2-3
run() {
	echo
	echo "popcorn-demo# $*"
	"$@"
}

echo "=== Popcorn demo: memory reserved at boot, the message layer's sysfs tree, staging a kernel ==="
run grep Popcorn /proc/iomem
run insmod popcorn_msg.ko
run popcornctl status
run grep -r . /sys/kernel/popcorn/kernels/0 /sys/kernel/popcorn/pool
echo
echo "popcorn-demo# echo cpus=2-3 > /sys/kernel/popcorn/boot"
echo cpus=2-3 >/sys/kernel/popcorn/boot
run cat /sys/devices/system/cpu/online
run popcornctl status
run cat /sys/kernel/debug/popcorn/1/layout
echo
echo "popcorn-demo# echo cpus=0 > /sys/kernel/popcorn/boot     # refused: the boot CPU"
echo cpus=0 >/sys/kernel/popcorn/boot || true
echo
echo "popcorn-demo# echo 1 > /sys/kernel/popcorn/release"
echo 1 >/sys/kernel/popcorn/release
run cat /sys/devices/system/cpu/online
run popcornctl status
echo
echo "=== Starting the staged kernel on its CPUs is the next step (not built yet). ==="
