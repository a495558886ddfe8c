# Out of the box a secondary's /init brings popnet0 up as
# 192.0.2.(id+1)/24; popnet.addr= on the boot request's command line
# overrides it. The primary reaches both with ping.
# cmdline: popcorn.reserve=1G,kernels=1
# popcorn: smp=4 mem=2G timeout=600
# expect ttyS1: init: popnet0 is 192.0.2.77/24
# expect ttyS1: init: popnet0 is 192.0.2.3/24
. /usr/share/popcorn/lib.sh

insmod popcorn_msg.ko
ip link set popnet0 up
ip addr add 192.0.2.1/24 dev popnet0
boot_request 'cpus=2-3 mem=256M cmdline="popnet.addr=192.0.2.77/24"'
wait_peer 1
wait_until 120 "192.0.2.77 never answered" ping -n -c 1 -W 1 192.0.2.77
echo "ok: kernel 1 answers as 192.0.2.77"
stop_kernel 1
boot_request "cpus=2-3 mem=256M"
wait_peer 2
wait_until 120 "192.0.2.3 never answered" ping -n -c 1 -W 1 192.0.2.3
echo "ok: kernel 2 answers as 192.0.2.3"
ping -n -c 3 -i 0.2 192.0.2.3
stop_kernel 2
ip link set popnet0 down
rmmod popcorn_msg
echo "popnet-default-addr: all checks passed"
