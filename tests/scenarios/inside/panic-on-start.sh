# Runs inside a secondary (secondary-crash): panics as soon as the primary
# announces the next kernel, that is while that kernel's start is under way.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
next=$(($(cat /sys/kernel/popcorn/kernel_id) + 1))
echo "inside: waiting for kernel $next to be announced"
wait_until 600 "kernel $next was never announced" test -e /sys/kernel/popcorn/peers/$next
echo "inside: panicking while kernel $next starts"
# Let the polled console drain before the panic report takes it over.
sleep 1
echo c >/proc/sysrq-trigger
