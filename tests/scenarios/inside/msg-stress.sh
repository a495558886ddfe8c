# Runs inside secondary kernel 1 (msg-stress): sends 100,000 stress
# messages to the primary while the primary sends as many here, and checks
# that all of the primary's arrived intact and in order.
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
wait_peer 0
stress_exchange 0 100000 7
echo "inside: all checks passed"
