#!/usr/bin/env bash
# Instructions per command of the codec benchmark's decode + encode loop
# and of its checked copy (`copy_checked`) loop
# (bench/src/bin/codec_loop.rs), counted by cachegrind: the difference
# between two run lengths divided by the commands between them, so that
# setup does not count. Deterministic, unlike wall time on a shared
# machine. Needs valgrind.
#
#   bash scripts/codec_insns.sh            (all five queues)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
cargo build -q --release -p iommu-inval-bench --bin codec_loop
bin="${CARGO_TARGET_DIR:-target}/release/codec_loop"
refs() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 \
    | sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
echo "| queue | instructions per command (decode + encode) | (checked copy) |"
echo "|---|---|---|"
for a in smmuv3 vtd vtd256 amd riscv; do
  lo=$(refs "$a" 50)
  hi=$(refs "$a" 250)
  clo=$(refs "$a" 50 copy)
  chi=$(refs "$a" 250 copy)
  python3 -c "print(f'| $a | {($hi - $lo) / (200 * 4096):.1f} | {($chi - $clo) / (200 * 4096):.1f} |')"
done
