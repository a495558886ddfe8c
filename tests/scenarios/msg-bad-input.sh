# Bad input to popcorn_msg.ko gets the proper errno and changes nothing.
# popcorn: smp=4 mem=2G timeout=240
. /usr/share/popcorn/lib.sh

check_fails "is popcorn_msg.ko loaded?" popcornctl status
check_fails "No such file or directory" rmmod popcorn_msg

insmod popcorn_msg.ko
check_fails "File exists" insmod popcorn_msg.ko

# Read-only attributes refuse writers at open(2) with EACCES, root included.
for f in version kernel_id kernels/0/id kernels/0/role kernels/0/state kernels/0/cpus kernels/0/mem_bytes; do
	check_fails "Permission denied" write_to /sys/kernel/popcorn/$f 1
done
check_fails "Is a directory" write_to /sys/kernel/popcorn/kernels 1
# Without popcorn.reserve= there is nothing to start a secondary in.
check_fails "Cannot allocate memory" write_to /sys/kernel/popcorn/boot cpus=2
check_value /sys/devices/system/cpu/online 0-3
check_fails "Permission denied" write_to /sys/kernel/popcorn/new_file 1

# Nothing changed: same values, same files.
check_value /sys/kernel/popcorn/version 0.1.0
check_value /sys/kernel/popcorn/kernels/0/state running
check_value /sys/kernel/popcorn/kernels/0/cpus 0-3
[ "$(ls /sys/kernel/popcorn/kernels)" = "0" ] || fail "kernels/ lists $(ls /sys/kernel/popcorn/kernels)"
popcornctl status

# Unloading while a reader holds an attribute open must not crash or wait.
exec 3</sys/kernel/popcorn/kernels/0/cpus
rmmod popcorn_msg
check_absent /sys/kernel/popcorn
read_fd3() { cat <&3; }
check_fails "No such device" read_fd3
exec 3<&-
insmod popcorn_msg.ko
rmmod popcorn_msg
echo "msg-bad-input: all checks passed"
