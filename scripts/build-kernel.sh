#!/usr/bin/env bash
# Builds the Popcorn kernel (Debian's linux-source-6.12 + linux-patches/series
# + kernel-config/ fragments on tinyconfig) in a cache outside the clone.
#
# The cache key covers everything that changes the result: the source package
# version, the patch series and every patch in it, the config fragments, the
# toolchain versions and RECIPE, which is bumped whenever a change to this
# script changes what it produces. Same key, same tree: a warm run costs a
# few seconds of hashing. An interrupted build resumes where make stopped.
#
# The default is the test kernel: the debug aids, built with gcc. KASAN is
# opt-in (docs/build.md says why) and builds with LLVM=1, because 6.12
# allows KASAN together with Rust only when C is built with clang.
#
#   POPCORN_KASAN=1 scripts/build-kernel.sh   debug aids and KASAN, clang
#   POPCORN_DEBUG=0 scripts/build-kernel.sh   no debug aids, no KASAN, gcc
source "$(dirname "$0")/lib.sh"

"$POPCORN_ROOT/scripts/setup.sh" --check

debug=${POPCORN_DEBUG:-1}
kasan=${POPCORN_KASAN:-0}
fragments=("$POPCORN_ROOT/kernel-config/base.config")
[ "$debug" = 1 ] && fragments+=("$POPCORN_ROOT/kernel-config/debug.config")
mapfile -t make_vars < <(kernel_make_vars)
if [ "$kasan" = 1 ]; then
	command -v clang >/dev/null && command -v ld.lld >/dev/null ||
		die "KASAN builds need clang and lld (Debian packages clang, lld, llvm)"
	fragments+=("$POPCORN_ROOT/kernel-config/kasan.config")
	make_vars+=(LLVM=1)
fi

series=$POPCORN_ROOT/linux-patches/series
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series")

RECIPE=1

cache_key() {
	{
		dpkg-query -W -f='${Version}\n' "linux-source-$KERNEL_SERIES"
		"$KRUSTC" --version
		"$KBINDGEN" --version
		gcc --version | head -n1
		echo "recipe=$RECIPE debug=$debug"
		if [ "$kasan" = 1 ]; then echo kasan; clang --version | head -n1; fi
		cat "$series" "${fragments[@]}"
		for p in "${patches[@]}"; do cat "$POPCORN_ROOT/linux-patches/$p"; done
	} | sha256sum | cut -c1-16
}

key=$(cache_key)
tree=$POPCORN_CACHE/kernel/$key
mkdir -p "$BUILD_DIR" "$POPCORN_CACHE/kernel"
kmake=(make -C "$tree" -j"$(nproc)" "${make_vars[@]}")

link_outputs() {
	ln -sfn "$tree" "$BUILD_DIR/kernel"
	ln -sfn "$tree/arch/x86/boot/bzImage" "$BUILD_DIR/bzImage"
	touch "$tree"  # the pruning below goes by the directories' mtime
}

if [ -e "$tree/.stamp-built" ]; then
	link_outputs
	step "kernel: cached build $key"
	exit 0
fi

log=$POPCORN_CACHE/kernel/$key.log
started=$(date +%s)

if [ ! -e "$tree/.stamp-patched" ]; then
	step "kernel: unpacking $KERNEL_TARBALL into $tree"
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -xf "$KERNEL_TARBALL" -C "$tree" --strip-components=1
	for p in "${patches[@]}"; do
		patch -d "$tree" -p1 -s --forward --no-backup-if-mismatch \
			<"$POPCORN_ROOT/linux-patches/$p" >>"$log" 2>&1 ||
			die "linux-patches/$p does not apply to linux-source $(dpkg-query -W -f='${Version}' linux-source-$KERNEL_SERIES) (see $log)"
	done
	touch "$tree/.stamp-patched"
fi

if [ ! -e "$tree/.stamp-configured" ]; then
	step "kernel: configuring tinyconfig + ${fragments[*]##*/}"
	"${kmake[@]}" tinyconfig >>"$log" 2>&1 || die "make tinyconfig failed (see $log)"
	(cd "$tree" && scripts/kconfig/merge_config.sh -m .config "${fragments[@]}") >>"$log" 2>&1 ||
		die "merging the config fragments failed (see $log)"
	"${kmake[@]}" olddefconfig >>"$log" 2>&1 || die "make olddefconfig failed (see $log)"
	# Kconfig drops an option whose dependencies are unmet without a word;
	# say which one instead of building a kernel that lacks it.
	dropped=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF "$line" "$tree/.config" || dropped+=("$line") ;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }
			opt=${opt%% *}
			! grep -q "^$opt=" "$tree/.config" || dropped+=("$line")
			;;
		esac
	done < <(cat "${fragments[@]}")
	if [ ${#dropped[@]} -gt 0 ]; then
		if printf '%s\n' "${dropped[@]}" | grep -q '^CONFIG_RUST='; then
			"${kmake[@]}" rustavailable >>"$log" 2>&1 || true
			die "Kconfig dropped CONFIG_RUST: the Rust toolchain is not usable ('make rustavailable' output in $log)"
		fi
		die "Kconfig dropped these options (unmet dependencies): ${dropped[*]}"
	fi
	touch "$tree/.stamp-configured"
fi

step "kernel: building (log: $log)"
if ! "${kmake[@]}" all >>"$log" 2>&1; then
	grep -E 'error|Error' "$log" | tail -n 15 >&2 || true
	die "kernel build failed (full log: $log)"
fi
# Modules must be built with the same variables (LLVM=1 or not).
printf '%s\n' "${make_vars[@]}" >"$tree/.popcorn-make-vars"
touch "$tree/.stamp-built"
echo "built in $(($(date +%s) - started)) s (debug=$debug)" >"$tree/.build-time"
link_outputs
step "kernel: built $key in $(($(date +%s) - started)) s"

# Keep the three most recently used trees; each is about 2 GiB.
# shellcheck disable=SC2012
ls -1dt "$POPCORN_CACHE"/kernel/*/ 2>/dev/null | tail -n +4 | while read -r old; do
	step "kernel: pruning old cache ${old%/}"
	rm -rf "${old%/}" "${old%/}.log"
done
