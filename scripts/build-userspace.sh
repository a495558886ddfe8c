#!/usr/bin/env bash
# Builds the userspace workspace (static binaries for the initramfs) and
# copies them to build/bin/.
source "$(dirname "$0")/lib.sh"

cd "$POPCORN_ROOT/userspace"
cargo build --release --locked --quiet || die "userspace build failed (cargo build --release in userspace/)"
mkdir -p "$BUILD_DIR/bin"
target=$POPCORN_ROOT/userspace/target/x86_64-unknown-linux-gnu/release
for bin in popcornctl migtest; do
	file -b "$target/$bin" 2>/dev/null | grep -q 'dynamically linked' &&
		die "$bin is dynamically linked; the initramfs has no shared libraries"
	cp "$target/$bin" "$BUILD_DIR/bin/"
	step "userspace: build/bin/$bin"
done
