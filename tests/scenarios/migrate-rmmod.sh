# A secondary is the home of a migrated process: kernel 1 sends its own
# process to the primary, and its shell there gets the exit status back.
# Then kernel 1 unloads popcorn_msg while its stub waits: the stub ends
# the process on the primary too (SIGKILL), rmmod completes, and after a
# reload migration works again.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# secondary: home inside/migrate-rmmod.sh
# expect ttyS1: inside: exit status 6 came back from kernel 0
# expect ttyS1: migrate [0-9]*: ended with the module
# expect ttyS1: inside: all checks passed
# expect ttyS0: migtest: all checks passed, exiting with 6
. /usr/share/popcorn/lib.sh

m=/sys/kernel/popcorn/migration
insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=512M initrd=/extra/home.cpio.gz"
wait_peer 1
# The first process: it ends here, its status goes home.
wait_until 300 "no process came from kernel 1" at_least $m/migrated_in 1
# The second: killed from its home when kernel 1's module goes.
wait_until 300 "the second process never came" at_least $m/migrated_in 2
wait_until 60 "the second process never ran here" grep -q " from 1 " $m/processes
wait_until 120 "the process from kernel 1 outlived its stub" sh -c "! grep -q ' from 1 ' $m/processes"
echo "ok: the process from kernel 1 ended with kernel 1's module"
check_value $m/lost 0
wait_state 1 stopped 300
rmmod popcorn_msg
echo "migrate-rmmod: all checks passed"
