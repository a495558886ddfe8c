#!/usr/bin/env bash
# Builds every out-of-tree module in rust-modules/*/Kbuild against the
# kernel in build/kernel and collects them in build/modules/.
source "$(dirname "$0")/lib.sh"

tree=$(kernel_tree)
mapfile -t kmake < <(tree_make_vars "$tree")
mkdir -p "$BUILD_DIR/modules"
for kbuild in "$POPCORN_ROOT"/rust-modules/*/Kbuild; do
	dir=$(dirname "$kbuild")
	name=$(basename "$dir")
	log=$BUILD_DIR/modules/$name.log
	if ! make -C "$tree" M="$dir" "${kmake[@]}" modules >"$log" 2>&1; then
		grep -E -A12 '^(error|warning)' "$log" | head -n 60 >&2 || cat "$log" >&2
		die "module $name failed to build (full log: build/modules/$name.log)"
	fi
	if grep -q '^warning' "$log"; then
		grep -E -A12 '^warning' "$log" >&2
		die "module $name built with warnings; Popcorn modules build warning-free (build/modules/$name.log)"
	fi
	cp "$dir/$name.ko" "$BUILD_DIR/modules/"
	step "module: build/modules/$name.ko"
done
