#!/usr/bin/env bash
# Bounded cargo-fuzz campaign over every target of fuzz/.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 20)
#   FUZZ_TARGETS="decode_vtd convert" bash scripts/fuzz.sh 60   (a subset)
#   bash scripts/fuzz.sh --long    (the deep campaign: 10^8 executions of
#                                   every decode and queue target, 10^7 of
#                                   the others, on every core (libFuzzer's
#                                   fork mode, FUZZ_JOBS=N to choose);
#                                   reports the time each took)
#   FUZZ_KEEP=1 bash scripts/fuzz.sh 120   (a timed run that, like --long,
#                                   keeps what it finds in fuzz/corpus-long
#                                   for --coverage)
#   bash scripts/fuzz.sh --coverage   (scripts/fuzz_coverage.sh: which
#                                   decode / lift / lower arms the corpus
#                                   never reaches)
#
# Installs cargo-fuzz if missing, builds all targets once, runs each for the
# given time starting from the committed seed corpus (fuzz/corpus/<target>,
# left untouched: new inputs go to a scratch directory), and prints per
# target the executions and execs/s from libFuzzer's final statistics.
# Exits non-zero if any target crashed (panic = violated property, see
# props/src/lib.rs) or failed to build; the crashing input is kept in
# fuzz/artifacts/<target>/ and its reproducer command is printed.
#
# Toolchain and sanitizer: nightly when installed, else stable; always
# `-s none`. The code under test is `#![forbid(unsafe_code)]`, so
# AddressSanitizer finds nothing the Rust checks do not, and costs ~2-3x in
# speed; overflow checks and debug assertions stay on (`-a`, and
# `overflow-checks` in fuzz/Cargo.toml), so arithmetic overflow on fuzzed
# input is a crash.
# Works non-interactively (CI=true, no stdin).
set -uo pipefail

long=0
case "${1:-}" in
  --long) long=1; secs=0 ;;
  --coverage) exec bash "$(dirname "$0")/fuzz_coverage.sh" ;;
  *) secs="${1:-20}" ;;
esac
case "$secs" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET | --long | --coverage]" >&2; exit 2 ;;
esac
# Executions per target in the long campaign.
long_runs() {
  case "$1" in
    decode_*|queues|guest_queues) echo 100000000 ;;
    *) echo 10000000 ;;
  esac
}
# libFuzzer options of their own. The slow targets (each input runs a whole
# oracle over a large part of the crates: thousands of distinct edges per
# execution) run without the Entropic power schedule: its bookkeeping is per
# edge and execution (a frequency per rare feature, each input's own sorted
# list of them, a pass over the whole corpus per new rare feature), and on
# them it cost about half the time of an execution; measured side by side
# from the seeds (fuzz/README.md, round 8), the same time reaches more
# executions and more coverage without it. The properties are the same.
# Two of them also without hit-count buckets (`-use_counters=0`: a feature
# per edge, not per edge and count class): far fewer inputs are "new", so
# the corpus stays small and short; from the seeds, side by side, the same
# time ran 2.7-4x the executions and reached more edges (fuzz/README.md,
# round 9).
engine_opts() {
  case "$1" in
    cli_input|convert) echo "-entropic=0 -use_counters=0" ;;
    lower_lift) echo "-entropic=0" ;;
  esac
}
# Build options of their own. The same slow targets are built without
# comparison tracing (`--no-trace-compares`): there every comparison of the
# oracles called into libFuzzer (a table insert and two bitmap updates,
# about 40 instructions: 56-69% of their instructions per input). Their
# inputs are structured (`arbitrary`: choices by index, not by matching
# constants) or text whose keywords libFuzzer still learns from its memcmp
# hooks; measured side by side from the seeds for the same time
# (fuzz/README.md, round 9), the same time reaches 1.6-1.9x the executions
# and no less coverage without it. Both builds share fuzz/target (cargo
# keeps each set of dependencies under its own hash: switching relinks).
build_opts() {
  case "$1" in
    cli_input|lower_lift|convert) echo "--no-trace-compares" ;;
  esac
}
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz" || exit 2

if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked </dev/null || { echo "cannot install cargo-fuzz" >&2; exit 1; }
fi

toolchain=""
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain="+nightly"
fi
flags=(-s none -a)
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
case "$jobs" in ''|*[!0-9]*|0) jobs=1 ;; esac
if [ "$long" -eq 1 ]; then
  echo "== cargo fuzz, toolchain ${toolchain:-default (stable)}, flags ${flags[*]}, long campaign (10^8 decode/queue, 10^7 others)"
else
  echo "== cargo fuzz, toolchain ${toolchain:-default (stable)}, flags ${flags[*]}, ${secs}s per target"
fi
campaign_start=$(date +%s)

all_targets=$(cargo $toolchain fuzz list </dev/null) || { echo "cargo fuzz list failed" >&2; exit 1; }
targets="${FUZZ_TARGETS:-$all_targets}"

# All targets in one cargo run, or only the chosen ones (FUZZ_TARGETS):
# a long campaign of one target need not link the other two dozen.
if [ -n "${FUZZ_TARGETS:-}" ]; then
  echo "== building $targets"
  build_list="$targets"
else
  echo "== building all targets"
  if ! cargo $toolchain fuzz build "${flags[@]}" </dev/null; then
    echo "FAIL: fuzz targets do not build" >&2
    exit 1
  fi
  # Those with build options of their own, again with them.
  build_list=$(for t in $targets; do [ -n "$(build_opts "$t")" ] && echo "$t"; done)
fi
for t in $build_list; do
  # shellcheck disable=SC2046 # build_opts: zero or more words
  if ! cargo $toolchain fuzz build "${flags[@]}" $(build_opts "$t") "$t" </dev/null; then
    echo "FAIL: fuzz target $t does not build" >&2
    exit 1
  fi
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/iommu-inval-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for t in $targets; do
  # The long campaign (and a timed run with FUZZ_KEEP set) keeps what it
  # finds (fuzz/corpus-long, not committed) for scripts/fuzz_coverage.sh;
  # the short one throws it away.
  work="$scratch/$t"
  { [ "$long" -eq 1 ] || [ -n "${FUZZ_KEEP:-}" ]; } && work="corpus-long/$t"
  mkdir -p "$work" "artifacts/$t" "corpus/$t"
  log="$scratch/$t.log"
  if [ "$long" -eq 1 ]; then
    budget="-runs=$(long_runs "$t")"
    # Every core: fork mode runs that many child fuzzers on one shared
    # corpus and stops when their executions add up to -runs.
    [ "$jobs" -gt 1 ] && budget="$budget -fork=$jobs"
    echo "== $t ($(long_runs "$t") executions, $jobs jobs)"
  else
    budget="-max_total_time=$secs"
    echo "== $t (${secs}s)"
  fi
  t0=$(date +%s)
  # shellcheck disable=SC2046
  cargo $toolchain fuzz run "${flags[@]}" $(build_opts "$t") "$t" "$work" "corpus/$t" -- \
    $budget $(engine_opts "$t") -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -artifact_prefix="artifacts/$t/" </dev/null >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - t0 ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  if [ -z "$execs" ]; then
    # Fork mode: the parent's status lines, `#<executions>: cov: ... exec/s <n> ...`.
    execs=$(grep -o '^#[0-9]*: cov' "$log" | tail -1 | grep -o '[0-9]*')
    rate=$(grep -o 'exec/s [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  line=$(printf '%-18s execs %10s  execs/s %7s  cov %6s  %5ss' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$took")
  if [ "$rc" -ne 0 ]; then
    line="$line  CRASH (exit $rc)"
    failed+=("$t")
    echo "---- $t: the violated property (panic message)"
    if grep -q 'panicked at' "$log"; then
      grep -m1 -A12 'panicked at' "$log" | cut -c1-3000
    else
      grep -v '^#[0-9]' "$log" | tail -n 30
    fi
    art=$(ls -t "artifacts/$t"/* 2>/dev/null | head -1)
    [ -n "$art" ] && echo "reproduce: (cd fuzz && cargo $toolchain fuzz run ${flags[*]} $(build_opts "$t") $t $art)"
  fi
  echo "$line"
  summary+=("$line")
done

echo
if [ "$long" -eq 1 ]; then
  echo "== fuzz summary (long campaign, $(( $(date +%s) - campaign_start ))s in all)"
else
  echo "== fuzz summary (${secs}s per target)"
fi
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "FAIL: crashes in: ${failed[*]}"
  exit 1
fi
echo "${#summary[@]} passed, 0 failed"
