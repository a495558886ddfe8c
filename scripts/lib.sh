# shellcheck shell=bash
# Common settings for the build scripts. Sourced, never run.
#
# Everything expensive (the kernel tree, the bindgen binary) lives in a cache
# outside the clone, so a fresh clone on a machine that built before reuses it.

set -euo pipefail

POPCORN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${HOME:-}" ]; then
	POPCORN_CACHE=${POPCORN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/popcorn}
else
	POPCORN_CACHE=${POPCORN_CACHE:-/var/cache/popcorn}
fi

# Userspace and bindgen build with whichever cargo there is: rustup's if it
# is installed (maybe not on PATH in a bare environment), else Debian's.
if ! command -v cargo >/dev/null && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
	PATH=${HOME:-/root}/.cargo/bin:$PATH
fi
BUILD_DIR=$POPCORN_ROOT/build

# Pinned tool versions. The kernel's Rust support is tied to these.
BINDGEN_VERSION=0.73.2
RUSTC_MIN_VERSION=1.78.0          # Linux 6.12's minimum
KERNEL_SERIES=6.12
KERNEL_TARBALL=/usr/src/linux-source-$KERNEL_SERIES.tar.xz

# The kernel must be built with Debian's rustc-web, whose core/alloc source
# matches it (rust-web-src). The rustup toolchain first on PATH would not.
KRUSTC=/usr/bin/rustc
KRUSTDOC=/usr/bin/rustdoc
KBINDGEN=$POPCORN_CACHE/tools/bin/bindgen

# Variables every kernel `make` call needs, the config targets included:
# Kconfig decides RUST_IS_AVAILABLE at configure time.
kernel_make_vars() {
	printf '%s\n' "RUSTC=$KRUSTC" "RUSTDOC=$KRUSTDOC" "BINDGEN=$KBINDGEN" \
		"HOSTRUSTC=$KRUSTC"
}

# The variables a finished kernel tree was built with (modules need the same).
tree_make_vars() {
	if [ -f "$1/.popcorn-make-vars" ]; then cat "$1/.popcorn-make-vars"; else kernel_make_vars; fi
}

die() {
	echo "popcorn: error: $*" >&2
	exit 1
}

step() {
	echo "==> $*" >&2
}

# version_ge A B: true when version A >= version B (dotted numbers).
version_ge() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# The one kernel build directory selected by the current sources; written by
# build-kernel.sh, read by the others.
kernel_tree() {
	local link=$BUILD_DIR/kernel
	[ -e "$link/arch/x86/boot/bzImage" ] ||
		die "no kernel build found at build/kernel; run 'make kernel' first"
	readlink -f "$link"
}
