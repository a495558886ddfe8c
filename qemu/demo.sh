# The walk-through `make demo` runs in the guest: what a user would type.
# cmdline: popcorn.reserve=1G,kernels=3
# popcorn: smp=4 mem=2G timeout=300
# expect ttyS0: popcorn_msg: kernel 1 started: cpus 2-3
# expect ttyS0: popcorn_msg: kernel 1 is running
# expect ttyS0: popcorn_msg: kernel 1 stopped: CPUs 2-3 back online
# expect ttyS1: Run /init as init process
# expect ttyS0: 56 bytes from kernel 1: seq=2
# expect ttyS0: 3 packets transmitted, 3 received
# expect ttyS1: init: popnet0 is 192.0.2.2/24
# expect ttyS1: migtest: all checks passed, exiting with 7
# expect ttyS0: exit status 7, from kernel 1
# expect ttyS1: migtest: [0-9]* s: SIGUSR1 handled 1 times
# expect ttyS1: migtest: SIGTERM handled on the alternate stack
# expect ttyS0: exit status 42: its SIGTERM handler ran on kernel 1
run() {
	echo
	echo "popcorn-demo# $*"
	"$@"
}

echo "=== Popcorn demo: a second Linux on CPUs 2-3, started, watched and stopped from this one ==="
run grep Popcorn /proc/iomem
run insmod popcorn_msg.ko
run popcornctl status
echo
echo "popcorn-demo# echo cpus=2-3 > /sys/kernel/popcorn/boot"
echo cpus=2-3 >/sys/kernel/popcorn/boot
run cat /sys/devices/system/cpu/online
run popcornctl status
echo
echo "(waiting for kernel 1 to finish booting; its console is the second UART, ttyS1)"
while [ "$(cat /sys/kernel/popcorn/kernels/1/state)" = booting ]; do sleep 0.2; done
run popcornctl status
echo
echo
echo "(kernel 1's /init loads popcorn_msg.ko: it joins the message layer)"
while [ "$(cat /sys/kernel/popcorn/peers/1/state 2>/dev/null)" != live ]; do sleep 0.2; done
run popcornctl ping 1 -c 3 -i 0.2
run cat /sys/kernel/popcorn/peers/1/sent /sys/kernel/popcorn/peers/1/received
echo
echo "(kernel 1's /init brought popnet0 up as 192.0.2.2; this kernel is 192.0.2.1)"
run /usr/sbin/ip link set popnet0 up
run /usr/sbin/ip addr add 192.0.2.1/24 dev popnet0
i=0
until /usr/bin/ping -n -c 1 -W 1 192.0.2.2 >/dev/null 2>&1 || [ $i -ge 30 ]; do i=$((i + 1)); done
run /usr/bin/ping -n -c 3 -i 0.2 192.0.2.2
run /usr/sbin/ip -s link show popnet0
echo
echo "(task migration: a program that checksums 16 MiB every second moves to kernel 1;"
echo " its output continues on kernel 1's console, ttyS1, and its exit status comes back here)"
echo "popcorn-demo# migtest --exit 7 memory 16 6 </dev/console &"
migtest --exit 7 memory 16 6 </dev/console &
pid=$!
sleep 3
run popcornctl migrate $pid 1
run popcornctl status
status=0
wait $pid || status=$?
echo "popcorn-demo# wait $pid     # exit status $status, from kernel 1"
echo
echo "(its signal handlers move with it: signals sent to its PID here run them on kernel 1)"
echo "popcorn-demo# migtest --exit 42 signals 60 </dev/console &"
migtest --exit 42 signals 60 </dev/console &
pid=$!
sleep 2
run popcornctl migrate $pid 1
run kill -USR1 $pid
sleep 2
run kill -TERM $pid
status=0
wait $pid || status=$?
echo "popcorn-demo# wait $pid     # exit status $status: its SIGTERM handler ran on kernel 1"
echo
echo "popcorn-demo# echo cpus=0 > /sys/kernel/popcorn/boot     # refused: the boot CPU"
echo cpus=0 >/sys/kernel/popcorn/boot || true
echo "popcorn-demo# echo cpus=3 > /sys/kernel/popcorn/boot     # refused: kernel 1 owns CPU 3"
echo cpus=3 >/sys/kernel/popcorn/boot || true
echo
echo "popcorn-demo# echo 1 > /sys/kernel/popcorn/shutdown"
echo 1 >/sys/kernel/popcorn/shutdown
run cat /sys/devices/system/cpu/online
run popcornctl status
echo
echo "popcorn-demo# dmesg | grep popcorn_msg"
dmesg | grep popcorn_msg
echo
echo "=== Next steps (not built yet): multi-threaded processes, file-backed text from the destination's own file, one CLOCK_MONOTONIC for migrated programs. ==="
