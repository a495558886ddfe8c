# Runs inside a secondary started with cmdline="EXPECT_RAM=START-END
# EXPECT_CPUS=N": the kernel sees its own CPUs and partition and nothing
# else. /init passes unknown kernel parameters on as environment variables.
# STALE=fill: then fill the partition with a marker before stopping;
# STALE=check: only check that the free memory holds none of it.
. /usr/share/popcorn/lib.sh

if [ "$STALE" = check ]; then
	insmod popcorn_msg.ko
	read -r stale taken </sys/kernel/popcorn/msgtest/stale_pages
	echo "inside: $stale of $taken free pages hold what the previous kernel left"
	# Most of the partition is free memory here.
	[ "$taken" -ge $(((${EXPECT_RAM#*-} - ${EXPECT_RAM%-*}) / 4096 / 2)) ] ||
		fail "only $taken free pages looked at"
	[ "$stale" = 0 ] || fail "$stale free pages hold the previous kernel's data"
	rmmod popcorn_msg
	echo "inside: all checks passed"
	exit 0
fi

echo "inside: kernel $(sed 's/.*popcorn.kernel_id=\([0-9]*\).*/\1/' /proc/cmdline), expecting RAM $EXPECT_RAM"
check_value /sys/devices/system/cpu/online "0-$((EXPECT_CPUS - 1))"
[ "$(grep -c ^processor /proc/cpuinfo)" = "$EXPECT_CPUS" ] || fail "cpuinfo lists $(grep -c ^processor /proc/cpuinfo) CPUs"
echo "ok: $EXPECT_CPUS CPUs"

# System RAM: the low window below 1 MiB and the partition, nothing else.
grep 'System RAM' /proc/iomem
ram=$(grep 'System RAM' /proc/iomem | sed 's/ *: System RAM//; s/^ *//')
[ "$(echo "$ram" | wc -l)" = 2 ] || fail "expected 2 System RAM ranges, got: $ram"
low=$(echo "$ram" | head -n 1)
[ $((0x${low%-*})) -ge $((0x10000)) ] && [ $((0x${low#*-})) -lt $((0x100000)) ] || fail "low window $low not in [64K, 1M)"
part=$(echo "$ram" | tail -n 1)
[ "$((0x${part%-*}))-$((0x${part#*-}))" = "$((${EXPECT_RAM%-*}))-$((${EXPECT_RAM#*-}))" ] || fail "partition is $part, expected $EXPECT_RAM"
echo "ok: System RAM is the low window and the partition"
if grep -qi 'PCI' /proc/iomem; then fail "PCI in /proc/iomem"; fi
echo "ok: no PCI"

# MemTotal close to the partition: all of it but the kernel's own image
# and reservations. KASAN keeps an eighth of RAM (and more) as shadow
# memory, so a KASAN kernel (POPCORN_KASAN=1) gets a lower bound.
part_kib=$(((${EXPECT_RAM#*-} - ${EXPECT_RAM%-*} + 1) / 1024))
total_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
percent=85
if dmesg | grep -q 'KernelAddressSanitizer initialized'; then percent=60; fi
echo "MemTotal $total_kib kB of a $part_kib kB partition"
[ "$total_kib" -le "$part_kib" ] && [ "$total_kib" -ge $((part_kib * percent / 100)) ] || fail "MemTotal $total_kib kB not within $percent% of $part_kib kB"
echo "ok: MemTotal within $percent% of the partition"
check_value /sys/devices/system/clocksource/clocksource0/current_clocksource tsc
dmesg | grep -q 'IPI shorthand broadcast: disabled' || fail "IPI shorthand not disabled"
echo "ok: no broadcast IPIs"

# A CPU taken offline here owes the primary no heartbeat: longer than the
# primary's heartbeat timeout (10 s) offline must not count as a hang. It
# comes back through this kernel's own low window and trampoline.
echo 0 >/sys/devices/system/cpu/cpu1/online
check_value /sys/devices/system/cpu/online 0
sleep 12
echo 1 >/sys/devices/system/cpu/cpu1/online
check_value /sys/devices/system/cpu/online 0-1
if [ "$STALE" = fill ]; then
	# A third of the partition (in this kernel's page cache: rootfs, which
	# takes at most half of its memory) holds the
	# marker the next kernel here looks for (msgtest/stale_pages).
	yes POPCORN-STALE-1 | head -c $(((${EXPECT_RAM#*-} - ${EXPECT_RAM%-*}) / 3)) >/tmp/stale
	echo "inside: filled $(($(wc -c </tmp/stale) >> 20)) MiB with the marker"
fi
echo "inside: all checks passed"
