# popcorn.reserve= sets the pool, the shared window, the trampoline page and
# the low windows aside at boot; /proc/iomem and sysfs show them.
# cmdline: popcorn.reserve=512M,shared=4M,kernels=3
# popcorn: smp=4 mem=2G timeout=240
# expect ttyS0: popcorn: reserved pool 0x[0-9a-f]+\+0x0*20000000, shared window 0x[0-9a-f]+\+0x0*400000, 3 low windows
# expect ttyS0: popcorn_msg: pool 0x[0-9a-f]+-0x[0-9a-f]+ \(512 MiB\), shared window 0x[0-9a-f]+-0x[0-9a-f]+, 3 low windows
. /usr/share/popcorn/lib.sh

grep Popcorn /proc/iomem

# region NAME: prints "start end" (decimal) of the single iomem line NAME.
region() {
	n=$(grep -c "$1\$" /proc/iomem)
	[ "$n" = 1 ] || fail "$n lines for '$1' in /proc/iomem"
	range=$(grep "$1\$" /proc/iomem | sed 's/^ *\([0-9a-f]*\)-\([0-9a-f]*\) .*/\1 \2/')
	set -- $range
	echo "$((0x$1)) $((0x$2))"
}

set -- $(region "Popcorn pool")
pool_start=$1 pool_end=$2
[ $((pool_end - pool_start + 1)) = $((512 << 20)) ] || fail "pool is not 512M"
[ $((pool_start % (2 << 20))) = 0 ] || fail "pool not 2M aligned"
[ $((pool_end)) -lt $((1 << 32)) ] || fail "pool not below 4G"
echo "ok: pool is 512M, 2M aligned, below 4G"

set -- $(region "Popcorn shared window")
shared_start=$1
[ $(($2 - $1 + 1)) = $((4 << 20)) ] || fail "shared window is not 4M"
[ $(($1 % (2 << 20))) = 0 ] || fail "shared window not 2M aligned"
echo "ok: shared window is 4M"

set -- $(region "Popcorn trampoline")
[ $(($2 - $1 + 1)) = 4096 ] || fail "trampoline is not one page"
[ $2 -lt $((1 << 20)) ] || fail "trampoline not below 1M"
echo "ok: trampoline page below 1M"

[ "$(grep -c 'Popcorn low window$' /proc/iomem)" = 3 ] || fail "not 3 low windows"
grep 'Popcorn low window$' /proc/iomem | while read -r line; do
	set -- $(echo "$line" | sed 's/^ *\([0-9a-f]*\)-\([0-9a-f]*\) .*/\1 \2/')
	[ $((0x$2 - 0x$1 + 1)) = 65536 ] || fail "low window $line is not 64K"
	[ $((0x$2)) -lt $((1 << 20)) ] || fail "low window $line not below 1M"
done
echo "ok: 3 low windows of 64K below 1M"

# The reservation is inside System RAM but not available to this kernel.
mem_total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
[ "$mem_total_kib" -lt $(((2048 - 512) * 1024)) ] || fail "MemTotal $mem_total_kib kB still counts the pool"
echo "ok: MemTotal ($mem_total_kib kB) excludes the pool"

insmod popcorn_msg.ko
check_value /sys/kernel/popcorn/pool/base "$(printf '%#x' "$pool_start")"
check_value /sys/kernel/popcorn/pool/total_bytes $((512 << 20))
check_value /sys/kernel/popcorn/pool/free_bytes $((512 << 20))
check_value /sys/kernel/popcorn/shared/base "$(printf '%#x' "$shared_start")"
check_value /sys/kernel/popcorn/shared/size_bytes $((4 << 20))
popcornctl status | tee /tmp/status
grep -q "^pool: 512 MiB at $(printf '%#x' "$pool_start"), 512 MiB free\$" /tmp/status || fail "status pool line"
rmmod popcorn_msg
check_absent /sys/kernel/popcorn
echo "reserve-iomem: all checks passed"
