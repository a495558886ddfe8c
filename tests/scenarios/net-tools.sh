# The Debian network tools the popnet tests rely on (ip, ping, iperf3,
# ethtool, with their libraries) run in the primary and in a secondary:
# versions, and ping and a 2-second iperf3 run over loopback inside each
# guest (guests have no other network).
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# secondary: tools inside/net-tools.sh
# expect ttyS1: inside: all checks passed
# expect ttyS1: POPCORN-SCENARIO-EXIT: 0
. /usr/share/popcorn/lib.sh

check_net_tools
insmod popcorn_msg.ko
boot_request "cpus=2-3 mem=256M initrd=/extra/tools.cpio.gz"
wait_state 1 stopped 300
rmmod popcorn_msg
echo "net-tools: all checks passed"
