#!/usr/bin/env bash
# Runs the benchmarks of two commits side by side, in one run on one machine,
# and prints a Markdown table of every benchmark both commits have: the
# median (ns per item where the benchmark counts items) of each, and the
# change. Each commit's benches are built from that commit's own tree in a
# detached worktree under target/bench-compare/, so API changes between the
# two do not matter; the two are run alternately, ROUNDS times each, and the
# best median of the rounds is kept (the machine's noise only adds time).
#
#   scripts/bench_compare.sh 8a759f6            # that commit against HEAD
#   scripts/bench_compare.sh OLD NEW
#   BENCHES="codec device" ROUNDS=3 SAMPLES=50 scripts/bench_compare.sh OLD
#
# Needs cargo, git and python3. Two release builds of the bench crate, then
# about a minute per bench and round.
set -euo pipefail

cd "$(dirname "$0")/.."
BASE="${1:?usage: scripts/bench_compare.sh BASE [HEAD]}"
HEAD_REV="${2:-HEAD}"
BENCHES="${BENCHES:-codec lift_lower convert batch device}"
SAMPLES="${SAMPLES:-30}"
ROUNDS="${ROUNDS:-2}"
WORK="${WORK:-$PWD/target/bench-compare}"
mkdir -p "$WORK"

side() { # name rev: a detached worktree of rev, its own target dir
    local dir="$WORK/$1" rev
    rev="$(git rev-parse --verify "$2^{commit}")"
    # Kept when it already holds that commit (cargo then rebuilds nothing).
    if [ "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" != "$rev" ] || [ -n "$(git -C "$dir" status --porcelain 2>/dev/null)" ]; then
        if [ -e "$dir" ]; then git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"; fi
        git worktree prune
        git worktree add -q --detach "$dir" "$rev"
    fi
    echo "bench_compare.sh: $1 = $(git -C "$dir" log -1 --format='%h %s' | cut -c1-70)" >&2
    (cd "$dir" && CARGO_TARGET_DIR="$WORK/target-$1" cargo bench -q -p iommu-inval-bench --no-run \
        $(for b in $BENCHES; do echo --bench "$b"; done) >&2)
}
side base "$BASE"
side head "$HEAD_REV"

for round in $(seq 1 "$ROUNDS"); do
    for b in $BENCHES; do
        for s in base head; do
            echo "  round $round: $s $b" >&2
            (cd "$WORK/$s" && CARGO_TARGET_DIR="$WORK/target-$s" cargo bench -q -p iommu-inval-bench \
                --bench "$b" -- --sample-count "$SAMPLES" >"$WORK/$s-$b-$round.txt")
        done
    done
done

PYTHONPATH=scripts python3 - "$WORK" "$BENCHES" "$ROUNDS" <<'PY'
import sys
from divan_parse import parse, per_item

work, benches, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
print("| benchmark | base (ns) | head (ns) | change |")
print("|---|---|---|---|")
for b in benches:
    best = {}
    for s in ("base", "head"):
        merged = {}
        for r in range(1, rounds + 1):
            d = parse(f"{work}/{s}-{b}-{r}.txt")
            for k in d:
                v = per_item(d, k)
                merged[k] = v if k not in merged else min(merged[k], v)
        best[s] = merged
    for k in sorted(set(best["base"]) & set(best["head"])):
        o, n = best["base"][k], best["head"][k]
        print(f"| {b}/{k} | {o:.2f} | {n:.2f} | {(n / o - 1) * 100:+.1f}% |")
    only = sorted(set(best["head"]) - set(best["base"]))
    if only:
        print(f"| {b}: new in head | {', '.join(only)} | | |")
PY
