#!/usr/bin/env bash
# Installs and checks everything the build needs. Idempotent: a second run
# with everything present only checks versions and returns in a second or two.
#
#   scripts/setup.sh            install what is missing, then check versions
#   scripts/setup.sh --check    only check; say what is missing
source "$(dirname "$0")/lib.sh"

check_only=false
[ "${1:-}" = --check ] && check_only=true

# Debian packages: what each is for is in docs/build.md.
PACKAGES=(
	linux-source-$KERNEL_SERIES rustc-web rust-web-src cargo-web libclang-dev
	qemu-system-x86 busybox-static cpio gzip xz-utils lz4 patch file
	flex bison bc make gcc libc6-dev libelf-dev libssl-dev python3 clang lld llvm
	iproute2 iputils-ping iperf3 ethtool
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
	$check_only && die "missing Debian packages: ${missing[*]} (run scripts/setup.sh)"
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run 'sudo scripts/setup.sh' once"
	step "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || die "apt-get update failed; is the Debian mirror reachable?"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi

# bindgen: Debian's is older than the kernel's minimum (0.65.1), so it comes
# from crates.io at a pinned version, built into the cache.
have_bindgen=$("$KBINDGEN" --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_bindgen" != "$BINDGEN_VERSION" ]; then
	$check_only && die "bindgen $BINDGEN_VERSION not in $KBINDGEN (run scripts/setup.sh)"
	command -v cargo >/dev/null || die "cargo not found; it is needed to build bindgen-cli"
	step "building bindgen-cli $BINDGEN_VERSION from crates.io (a few minutes, once)"
	mkdir -p "$POPCORN_CACHE"
	cargo install --quiet --locked --force bindgen-cli --version "$BINDGEN_VERSION" \
		--root "$POPCORN_CACHE/tools" >"$POPCORN_CACHE/bindgen-install.log" 2>&1 ||
		die "cargo install bindgen-cli failed; see $POPCORN_CACHE/bindgen-install.log"
fi

# Version checks: fail here with one line rather than deep inside Kbuild.
[ -r "$KERNEL_TARBALL" ] || die "$KERNEL_TARBALL missing (package linux-source-$KERNEL_SERIES)"
rustc_version=$("$KRUSTC" --version | awk '{print $2}')
version_ge "$rustc_version" "$RUSTC_MIN_VERSION" ||
	die "$KRUSTC is $rustc_version; the kernel needs at least $RUSTC_MIN_VERSION (package rustc-web)"
[ -d "$("$KRUSTC" --print sysroot)/lib/rustlib/src/rust/library/core" ] ||
	die "Rust core library source missing for $KRUSTC (package rust-web-src)"
qemu_version=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9.]*\).*/\1/p')
version_ge "$qemu_version" 7.0 || die "qemu-system-x86_64 $qemu_version is older than 7.0"
command -v cargo >/dev/null || die "cargo not found; the userspace tools and host tests need it"
cargo clippy --version >/dev/null 2>&1 ||
	die "cargo clippy not found; the host tests run it on popcorn-core (rustup component add clippy)"
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || die "libclang missing (package libclang-dev)"
[ -x /bin/busybox ] || die "/bin/busybox missing (package busybox-static)"

echo "setup: ok (rustc $rustc_version, bindgen $BINDGEN_VERSION, qemu $qemu_version)" >&2
