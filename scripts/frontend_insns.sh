#!/usr/bin/env bash
# Instructions per command of the queue front ends (bench/src/bin/
# frontend_loop.rs, the loops of bench/benches/device.rs): the decode-only
# walk (fetch + decode) and `process` end to end into a CountingBackend,
# each on CellMemory and on rust-vmm's GuestMemoryMmap (VmMemory), and the
# latter with the identity context instead of the example topology, counted
# by cachegrind as the difference between two run lengths divided by the
# commands between them, so that setup does not count. Deterministic,
# unlike wall time on a shared machine. Needs valgrind.
#
#   bash scripts/frontend_insns.sh          (a Markdown table)
source "$(dirname "$0")/insns_lib.sh"
insns_bin frontend_loop
echo "| architecture | decode-only, CellMemory | decode-only, GuestMemoryMmap | end to end, CellMemory | end to end, GuestMemoryMmap | end to end, GuestMemoryMmap, identity context |"
echo "|---|---|---|---|---|---|"
for a in smmuv3 vtd amd riscv; do
  row="| $a"
  for w in decode decode-mmap cell mmap mmap-id; do
    lo=$(refs "$w" "$a" 2)
    hi=$(refs "$w" "$a" 6)
    row="$row | $(python3 -c "print(f'{($hi - $lo) / (4 * 4095):.1f}')")"
  done
  echo "$row |"
done
