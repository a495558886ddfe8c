#!/usr/bin/env bash
# Packs the guests' initramfs images:
#  - build/initramfs-secondary.cpio.gz: busybox, the Popcorn modules in
#    /popcorn, the userspace tools in /usr/bin and qemu/guest-init as /init;
#  - build/initramfs.cpio.gz, the primary's: the same plus, in /popcorn, the
#    kernel (bzImage) and initramfs-secondary.cpio.gz that
#    /sys/kernel/popcorn/boot starts secondaries with by default.
#
# qemu/run-scenario appends a second archive holding the scenario script
# (/scenario.sh) and extra files (/extra/); the kernel unpacks both.
source "$(dirname "$0")/lib.sh"

root=$BUILD_DIR/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,popcorn,extra}

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
# The network tools the popnet tests use, from Debian's packages
# (iproute2, iputils-ping, iperf3, ethtool: scripts/setup.sh installs
# them), with the shared libraries they load. They replace busybox's
# applets of the same name.
NET_TOOLS=(/usr/sbin/ip /usr/bin/ping /usr/bin/iperf3 /usr/sbin/ethtool)
for tool in "${NET_TOOLS[@]}"; do
	[ -x "$tool" ] || die "$tool is missing: run scripts/setup.sh (Debian packages iproute2 iputils-ping iperf3 ethtool)"
	rm -f "$root$tool" "$root/bin/${tool##*/}" "$root/sbin/${tool##*/}"
	cp -L "$tool" "$root$tool"
done
# busybox's shell runs its own applets before anything on PATH, so name
# the real tools through shell functions: /etc/profile (login shells) and
# the scenario library source this file.
for tool in "${NET_TOOLS[@]}"; do
	printf '%s() { %s "$@"; }\n' "${tool##*/}" "$tool"
done >"$root/etc/net-tools.sh"
printf '. /etc/net-tools.sh\n' >"$root/etc/profile"
mapfile -t libs < <(ldd "${NET_TOOLS[@]}" | awk '/=> \// { print $3 } /^\t\/[^ ]*ld-linux/ { print $1 }' | sort -u)
[ ${#libs[@]} -gt 0 ] || die "could not list the network tools' libraries (ldd)"
for lib in "${libs[@]}"; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
cp "$POPCORN_ROOT/qemu/guest-init" "$root/init"
mkdir -p "$root/usr/share/popcorn"
cp "$POPCORN_ROOT/qemu/guest-lib.sh" "$root/usr/share/popcorn/lib.sh"
chmod 755 "$root/init"
cp "$BUILD_DIR"/modules/*.ko "$root/popcorn/"
cp "$BUILD_DIR"/bin/* "$root/usr/bin/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

pack() { # DIR OUTPUT
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet) |
		gzip -6 -n >"$2.tmp"
	mv "$2.tmp" "$2"
	step "initramfs: ${2#"$POPCORN_ROOT"/} ($(du -h "$2" | cut -f1))"
}

pack "$root" "$BUILD_DIR/initramfs-secondary.cpio.gz"
cp -L "$BUILD_DIR/bzImage" "$root/popcorn/bzImage"
cp "$BUILD_DIR/initramfs-secondary.cpio.gz" "$root/popcorn/"
pack "$root" "$BUILD_DIR/initramfs.cpio.gz"
