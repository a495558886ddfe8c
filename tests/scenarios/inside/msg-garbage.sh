# Runs inside secondary kernel 1 (msg-garbage): writes garbage into its own
# ring to the primary, as a broken kernel would, then checks that the ring
# recovered and messages flow both ways, and that the module reloads
# without disturbing the rings, forges its own table entry, and checks that
# it cannot write any other kernel's; powers off when done.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
popcornctl ping 0 -c 2 -i 0.1
echo 0 >/sys/kernel/popcorn/msgtest/corrupt
# The first send after the primary resynced finds the ring moved and
# restarts at its tail.
popcornctl ping 0 -c 3 -i 0.1
stress_exchange 0 5000 8
# Reloading the module in a running kernel: it resumes its rings from the
# indexes in the window and talks at once.
rmmod popcorn_msg
insmod popcorn_msg.ko
wait_peer 0
popcornctl ping 0 -c 2 -i 0.1
# A forged table entry: broadcast notify APIC ID, the primary's kernel id,
# another generation. The primary still answers (5 pings in the write).
echo "255 0 99" >/sys/kernel/popcorn/msgtest/forge_entry || fail "pings with a forged entry failed"
popcornctl ping 0 -c 2 -i 0.1
# Only our own table entry (slot 1) is writable here: the page tables give
# the window's header page and every other kernel's entry no write
# permission, and forging another kernel's entry is refused without a
# fault (the primary's, then an empty slot's).
check_value /sys/kernel/popcorn/msgtest/table_access \
	"header:ro 0:ro 1:rw 2:ro 3:ro 4:ro 5:ro 6:ro 7:ro 8:ro"
check_fails "Permission denied" write_to /sys/kernel/popcorn/msgtest/forge_entry "255 5 99 0"
check_fails "Permission denied" write_to /sys/kernel/popcorn/msgtest/forge_entry "255 5 99 2"
popcornctl ping 0 -c 2 -i 0.1
echo "inside: all checks passed"
