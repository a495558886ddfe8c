#!/usr/bin/env bash
# Builds every out-of-tree module in rust-modules/*/Kbuild against the
# kernel in build/kernel and collects them in build/modules/.
#
#   POPCORN_TEST_HOOKS=1 scripts/build-modules.sh   with the test hooks
#                                                   (msgtest/): make test, make bench
source "$(dirname "$0")/lib.sh"

# Largest stack frame a module function may have. The kernel stack is
# 16 KiB without KASAN; Rust builds large values (arrays in structs) on the
# stack before moving them, and a 14 KiB frame has overflowed it twice. gcc's
# -Wframe-larger-than does not see Rust code, so read the frames from the
# object: the largest `sub $N,%rsp` in a function's prologue.
MAX_FRAME=4096

check_stack_frames() { # MODULE.ko
	local worst
	worst=$(objdump -d --no-show-raw-insn "$1" |
		awk 'function hex(s,   i, n) { n = 0; for (i = 1; i <= length(s); i++)
				n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return n }
			/<.*>:$/ { fn = $2 }
			/sub +\$0x[0-9a-f]+,%rsp/ { match($0, /\$0x[0-9a-f]+/)
				n = hex(substr($0, RSTART + 3, RLENGTH - 3))
				if (n > max) { max = n; where = fn } }
			END { print max + 0, where }')
	if [ "${worst%% *}" -gt "$MAX_FRAME" ]; then
		die "$(basename "$1"): a ${worst%% *}-byte stack frame in ${worst#* } (at most $MAX_FRAME: box large values)"
	fi
}

tree=$(kernel_tree)
mapfile -t kmake < <(tree_make_vars "$tree")
hooks=${POPCORN_TEST_HOOKS:-0}
case $hooks in 0 | 1) ;; *) die "POPCORN_TEST_HOOKS must be 0 or 1, not '$hooks'" ;; esac
kmake+=("POPCORN_TEST_HOOKS=$hooks")
mkdir -p "$BUILD_DIR/modules"
for kbuild in "$POPCORN_ROOT"/rust-modules/*/Kbuild; do
	dir=$(dirname "$kbuild")
	name=$(basename "$dir")
	log=$BUILD_DIR/modules/$name.log
	# Objects built against another kernel tree (make bench switches to the
	# one without debug aids, make test back) look up to date to Kbuild but
	# do not load ("invalid module format"): start clean after a switch.
	stamp=$dir/.popcorn-kernel-tree
	if [ "$(cat "$stamp" 2>/dev/null)" != "$tree hooks=$hooks" ]; then
		make -C "$tree" M="$dir" "${kmake[@]}" clean >"$log" 2>&1 || true
	fi
	if ! make -C "$tree" M="$dir" "${kmake[@]}" modules >"$log" 2>&1; then
		grep -E -A12 '^(error|warning)' "$log" | head -n 60 >&2 || cat "$log" >&2
		die "module $name failed to build (full log: build/modules/$name.log)"
	fi
	echo "$tree hooks=$hooks" >"$stamp"
	if grep -q '^warning' "$log"; then
		grep -E -A12 '^warning' "$log" >&2
		die "module $name built with warnings; Popcorn modules build warning-free (build/modules/$name.log)"
	fi
	check_stack_frames "$dir/$name.ko"
	cp "$dir/$name.ko" "$BUILD_DIR/modules/"
	step "module: build/modules/$name.ko$([ "$hooks" = 1 ] && echo " (with test hooks)")"
done
# What tests/run checks before it boots anything.
if [ "$hooks" = 1 ]; then echo test-hooks; else echo production; fi >"$BUILD_DIR/modules/flavour"
