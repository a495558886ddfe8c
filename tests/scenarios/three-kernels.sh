# Three secondaries at once on an 8-CPU machine, each with its own console;
# shutting one down leaves the others running; bad requests while they run
# fail cleanly and change nothing.
# cmdline: popcorn.reserve=1536M,kernels=3
# popcorn: smp=8 mem=3G timeout=900 serials=4
# expect ttyS0: popcorn_msg: kernel 1 started: cpus 2-3, .* console ttyS1
# expect ttyS0: popcorn_msg: kernel 2 started: cpus 4-5, .* console ttyS2
# expect ttyS0: popcorn_msg: kernel 3 started: cpus 6-7, .* console ttyS3
# expect ttyS1: popcorn: secondary kernel 1 on 2 CPUs
# expect ttyS1: Run /init as init process
# expect ttyS2: popcorn: secondary kernel 2 on 2 CPUs
# expect ttyS2: Run /init as init process
# expect ttyS3: popcorn: secondary kernel 3 on 2 CPUs
# expect ttyS3: Run /init as init process
# expect ttyS0: boot refused: CPU 3 belongs to another kernel
# expect ttyS0: boot refused: all 3 low-memory windows are in use
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
total=$(cat /sys/kernel/popcorn/pool/total_bytes)
boot_request "cpus=2-3 mem=256M"
boot_request "cpus=4-5 mem=256M"
# CPUs owned by a running kernel, and a partition larger than what is left.
check_fails "Device or resource busy" boot_request cpus=3
check_fails "Device or resource busy" boot_request cpus=5-6
check_fails "Cannot allocate memory" boot_request "cpus=6-7 mem=1200M"
boot_request "cpus=6-7 mem=256M"
# No fourth low window; CPU 1 stays the primary's.
check_fails "No space left on device" boot_request cpus=1
for id in 1 2 3; do wait_state $id running 300; done
check_value /sys/devices/system/cpu/online 0-1
check_value /sys/kernel/popcorn/pool/free_bytes $((total - (768 << 20)))
popcornctl status

# Stopping kernel 2 leaves 1 and 3 running, heartbeats and all.
stop_kernel 2
check_value /sys/kernel/popcorn/kernels/2/state stopped
check_value /sys/devices/system/cpu/online 0-1,4-5
# A deliberate 15 s, longer than the primary's 10 s heartbeat timeout.
sleep 15
check_value /sys/kernel/popcorn/kernels/1/state running
check_value /sys/kernel/popcorn/kernels/3/state running

# Its place is free again: a new kernel starts there, on ttyS2.
boot_request "cpus=4-5 mem=256M"
wait_state 4 running 300
check_value /sys/kernel/popcorn/kernels/4/console ttyS2
for id in 1 3 4; do echo $id >/sys/kernel/popcorn/shutdown; done
for id in 1 3 4; do check_value /sys/kernel/popcorn/kernels/$id/state stopped; done
check_reclaimed "$total" 0-7
rmmod popcorn_msg
echo "three-kernels: all checks passed"
