# A process migrated 0 -> 1 -> 0 -> 2: kernel 1 sends it back (popcornctl
# migrate run there), the stub on kernel 0 becomes the process again with
# the same PID and its memory intact, it then moves on to kernel 2, and
# its shell here gets the exit status it ends with there. It runs from
# /tmp/migtest-copy: kernel 1 has a file of that name with one byte
# changed (the text is shipped, not taken from it), kernel 0 maps its
# own again when the process comes back, kernel 2 has none (shipped).
# It runs as an ordinary user (migtest --identity: uid 1000, groups, a
# few capabilities, securebits, no_new_privs, umask 027) and keeps exactly
# that identity on every kernel: /proc/PID/status on kernels 0 and 1, its
# own check on kernel 2.
# cmdline: popcorn.reserve=1G,kernels=2
# popcorn: smp=6 mem=2G timeout=600 serials=3
# secondary: back inside/migrate-back.sh
# expect ttyS1: inside: sent pid [0-9]* back to kernel 0
# expect ttyS1: inside: all checks passed
# expect ttyS2: migtest: round .* ok
# expect ttyS1: ok: on kernel 1: pid [0-9]* has its identity
# expect ttyS2: migtest: identity intact
# expect ttyS2: migtest: all checks passed, exiting with 9
# expect ttyS1: migrate [0-9]*: /tmp/migtest-copy here is not the program it ran; its text was shipped
# expect ttyS0: migrate [0-9]*: [0-9]* mappings from this kernel's /tmp/migtest-copy \(the same bytes\)
# expect ttyS2: migrate [0-9]*: cannot map /tmp/migtest-copy here \(Error\(2\)\); its text was shipped
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=512M initrd=/extra/back.cpio.gz"
boot_request "cpus=4-5 mem=512M"
wait_peer 1
wait_peer 2
cp /usr/bin/migtest /tmp/migtest-copy
/tmp/migtest-copy --identity --exit 9 memory 32 40 </dev/console &
pid=$!
wait_until 300 "migtest never filled its memory" rss_at_least $pid 32768
check_identity $pid "on kernel 0"
popcornctl migrate $pid 1
echo "ok: $pid went to kernel 1"
wait_until 300 "kernel 1 never sent $pid back" sh -c "! grep -q '^$pid 1\$' /sys/kernel/popcorn/migration/processes"
kill -0 $pid || fail "$pid did not come back"
wait_until 60 "$pid came back without its memory" rss_at_least $pid 32768
text_from_file $pid /tmp/migtest-copy || fail "back home, its text is not mapped from /tmp/migtest-copy"
check_identity $pid "back on kernel 0"
echo "ok: $pid is back on kernel 0 with its memory, its text from its file"
# A deliberate 3 s within its 40 rounds: it runs here again before it moves on.
sleep 3
popcornctl migrate $pid 2
echo "ok: $pid went on to kernel 2"
status=0
wait $pid || status=$?
[ "$status" = 9 ] || fail "after 0 -> 1 -> 0 -> 2 the shell saw status $status, not 9"
check_value /sys/kernel/popcorn/migration/migrated_out 2
check_value /sys/kernel/popcorn/migration/migrated_in 1
echo "ok: exit status 9 from kernel 2"
stop_kernel 2
wait_state 1 stopped 120
rmmod popcorn_msg
echo "migrate-back: all checks passed"
