#!/usr/bin/env bash
# Runs .clusterfuzzlite/build.sh the way the engine does, without its
# container: SRC, OUT, WORK, FUZZING_ENGINE, FUZZING_LANGUAGE, ARCHITECTURE
# and SANITIZER set (SANITIZER=none: no sanitizer runtime needed here), this
# checkout as $SRC/iommu-inval. Then checks that $OUT holds every target
# `cargo fuzz list` names, each with its options file and, where fuzz/corpus
# has seeds, its seed zip, and that each binary runs its seeds (-runs=0:
# every seed once, then exit).
#
#   bash scripts/cfl_check.sh
#
# Installs cargo-fuzz if missing. Uses nightly when installed, as
# scripts/fuzz.sh does, so it reuses that script's build. Exits 1 on the
# first missing or failing target.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked </dev/null
fi
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  export RUSTUP_TOOLCHAIN=nightly
fi

engine="$(mktemp -d "${TMPDIR:-/tmp}/iommu-inval-cfl.XXXXXX")"
trap 'rm -rf "$engine"' EXIT
mkdir -p "$engine/src" "$engine/out" "$engine/work"
ln -s "$root" "$engine/src/iommu-inval"
export SRC="$engine/src" OUT="$engine/out" WORK="$engine/work"
export FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=rust SANITIZER=none
export ARCHITECTURE="$(uname -m)"

echo "== .clusterfuzzlite/build.sh (SANITIZER=$SANITIZER, FUZZING_ENGINE=$FUZZING_ENGINE)"
bash "$root/.clusterfuzzlite/build.sh" </dev/null

targets=$(cd "$root/fuzz" && cargo fuzz list </dev/null)
n=0
for t in $targets; do
  [ -x "$OUT/$t" ] || { echo "FAIL: build.sh left no $OUT/$t" >&2; exit 1; }
  [ -f "$OUT/$t.options" ] || { echo "FAIL: no $t.options" >&2; exit 1; }
  seeds="$root/fuzz/corpus/$t"
  if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ]; then
    [ -f "$OUT/${t}_seed_corpus.zip" ] || { echo "FAIL: no ${t}_seed_corpus.zip" >&2; exit 1; }
    got=$(unzip -Z1 "$OUT/${t}_seed_corpus.zip" | grep -vc '/$' || true)
    want=$(find "$seeds" -type f ! -name '.*' | wc -l)
    [ "$got" -eq "$want" ] || { echo "FAIL: ${t}_seed_corpus.zip has $got seeds, fuzz/corpus/$t $want" >&2; exit 1; }
    "$OUT/$t" -runs=0 "$seeds" >"$WORK/$t.log" 2>&1 \
      || { tail -n 20 "$WORK/$t.log"; echo "FAIL: $t on its seeds" >&2; exit 1; }
  fi
  n=$((n + 1))
done
echo "ClusterFuzzLite build: $n targets in \$OUT, each with options, seeds zipped and run once"
