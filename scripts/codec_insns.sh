#!/usr/bin/env bash
# Instructions per command of the codec benchmark's decode + encode loop
# and of its checked copy (`copy_checked`) loop
# (bench/src/bin/codec_loop.rs), counted by cachegrind: the difference
# between two run lengths divided by the commands between them, so that
# setup does not count. Deterministic, unlike wall time on a shared
# machine. Needs valgrind.
#
#   bash scripts/codec_insns.sh            (all five queues)
source "$(dirname "$0")/insns_lib.sh"
insns_bin codec_loop
echo "| queue | instructions per command (decode + encode) | (checked copy) |"
echo "|---|---|---|"
for a in smmuv3 vtd vtd256 amd riscv; do
  lo=$(refs "$a" 50)
  hi=$(refs "$a" 250)
  clo=$(refs "$a" 50 copy)
  chi=$(refs "$a" 250 copy)
  python3 -c "print(f'| $a | {($hi - $lo) / (200 * 4096):.1f} | {($chi - $clo) / (200 * 4096):.1f} |')"
done
