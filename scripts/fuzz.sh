#!/usr/bin/env bash
# Runs every coverage-guided fuzz target of popcorn-core
# (rust-modules/popcorn-core/fuzz/, libFuzzer through cargo-fuzz on the
# nightly toolchain) for a bounded time each, and writes the results table
# into docs/reliability.md (`make fuzz`; not part of `make test`).
#
#   FUZZ_SECONDS=60    seconds per target
#   FUZZ_SEED=1        libFuzzer seed of the first target; target i gets
#                      FUZZ_SEED + i (all printed)
#   FUZZ_TARGETS="a b" only these targets (default: all)
#   FUZZ_DOC=path      where the table goes (default docs/reliability.md)
#
# Everything else is kept under build/fuzz/: corpus/<target>/ (grows from
# run to run; delete it to start from nothing), artifacts/<target>/ (the
# input of a finding), logs/<target>.log. Installs cargo-fuzz into
# ~/.cargo/bin if it is missing. Exits 1 if any target found something.
source "$(dirname "$0")/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_DOC=${FUZZ_DOC:-$POPCORN_ROOT/docs/reliability.md}
CORE=$POPCORN_ROOT/rust-modules/popcorn-core
OUT=$BUILD_DIR/fuzz

[[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a whole number of seconds, not '$FUZZ_SECONDS'"
[[ $FUZZ_SEED =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SEED must be a positive number, not '$FUZZ_SEED'"

# The targets, in the order of the table, and the longest input each
# needs (a State message with its XSAVE image is about 19 KiB).
declare -A MAX_LEN=(
	[ring_receiver]=4096 [ring_sender]=4096 [window_table]=1024
	[shared_layout]=64 [control_watch]=4096 [netframe]=16384
	[migrate_message]=24576 [migrate_roundtrip]=20480 [setup_data]=1024
	[bzimage]=8192
)
ALL_TARGETS="ring_receiver ring_sender window_table shared_layout control_watch netframe migrate_message migrate_roundtrip setup_data bzimage"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
for t in $TARGETS; do
	[ -n "${MAX_LEN[$t]:-}" ] || die "no fuzz target '$t' (targets: $ALL_TARGETS)"
done

rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null ||
	die "fuzzing needs the nightly toolchain (rustup toolchain install nightly)"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
	step "installing cargo-fuzz into ~/.cargo/bin"
	cargo +nightly install cargo-fuzz --locked || die "could not install cargo-fuzz"
fi

# No sanitizer: popcorn-core is safe Rust (no `unsafe`), so AddressSanitizer
# would find nothing the bounds checks do not, at a fraction of the speed.
# Debug assertions and overflow checks are on, as in the kernel.
FUZZ_FLAGS=(--sanitizer none --debug-assertions)
step "building the fuzz targets (cargo +nightly fuzz build)"
(cd "$CORE" && cargo +nightly fuzz build "${FUZZ_FLAGS[@]}") || die "fuzz targets do not build"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir=$CORE/fuzz/target/$triple/release

mkdir -p "$OUT/logs"
rows=()
total_findings=0
i=0
for t in $TARGETS; do
	seed=$((FUZZ_SEED + i))
	i=$((i + 1))
	corpus=$OUT/corpus/$t
	artifacts=$OUT/artifacts/$t
	log=$OUT/logs/$t.log
	mkdir -p "$corpus" "$artifacts"
	before=$(find "$artifacts" -type f | wc -l)
	step "fuzz $t: ${FUZZ_SECONDS} s, seed $seed, corpus build/fuzz/corpus/$t"
	start=$(date +%s.%N)
	set +e
	"$bindir/$t" -seed="$seed" -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]}" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
	status=$?
	set -e
	end=$(date +%s.%N)
	duration=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
	findings=$(($(find "$artifacts" -type f | wc -l) - before))
	if [ "$status" -ne 0 ] && [ "$findings" -eq 0 ]; then
		# A crash libFuzzer could not save, or the target did not start.
		findings=1
	fi
	total_findings=$((total_findings + findings))
	runs=${runs:-0}
	rate=${rate:-0}
	echo "    $t: $runs executions, $rate exec/s, $duration s, $findings findings, seed $seed" >&2
	if [ "$findings" -ne 0 ]; then
		echo "    see $log; inputs in $artifacts/ (rerun one: $bindir/$t <file>)" >&2
		tail -n 30 "$log" | sed 's/^/    | /' >&2
	fi
	rows+=("| \`$t\` | $runs | $rate | $duration s | $findings | $seed |")
done

table=$(
	echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$POPCORN_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
		"FUZZ_SECONDS=$FUZZ_SECONDS, FUZZ_SEED=$FUZZ_SEED, $(rustc +nightly --version | cut -d' ' -f1-2)," \
		"$(cargo +nightly fuzz --version 2>/dev/null), $(nproc) CPUs."
	echo
	echo "| target | executions | exec/s | duration | findings | seed |"
	echo "|---|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
)
echo "$table"

# Replace what lies between the markers in the doc.
if [ -f "$FUZZ_DOC" ] && grep -q '^<!-- fuzz-results:begin -->$' "$FUZZ_DOC"; then
	echo "$table" >"$OUT/results.md"
	updated=$(awk -v tablefile="$OUT/results.md" '
		/^<!-- fuzz-results:begin -->$/ {
			print
			while ((getline line < tablefile) > 0) print line
			skip = 1
			next
		}
		/^<!-- fuzz-results:end -->$/ { skip = 0 }
		!skip { print }
	' "$FUZZ_DOC")
	printf '%s\n' "$updated" >"$FUZZ_DOC"
	step "results written to ${FUZZ_DOC#"$POPCORN_ROOT"/}"
else
	echo "popcorn: warning: no fuzz-results markers in $FUZZ_DOC; table not written" >&2
fi

if [ "$total_findings" -ne 0 ]; then
	echo "popcorn: fuzzing found $total_findings problem(s)" >&2
	exit 1
fi
