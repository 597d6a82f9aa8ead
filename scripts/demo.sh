#!/usr/bin/env bash
# iommu-inval demo over the example streams in examples/ (see docs/CLI.md).
# Builds the CLI once, then: converts an SMMUv3 guest driver stream to VT-d
# with footprint explanations, decodes the result and a raw AMD-Vi command
# buffer dump, round-trips a command through JSON, lifts to the generic model,
# lowers generic operations to AMD-Vi, and converts a RISC-V IOMMU stream (in
# the Linux driver's shapes) to SMMUv3 and back.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p iommu-inval-cli
bin="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/iommu-inval"
[ -x "$bin" ] || bin="${CARGO_TARGET_DIR:-target}/debug/iommu-inval"
iv() { "$bin" "$@"; }
topo=examples/topology.json
if [ -t 1 ]; then b=$'\033[1m' n=$'\033[0m'; else b='' n=''; fi
say() { printf '\n%s== %s%s\n$ iommu-inval %s\n' "$b" "$1" "$n" "$2"; }

say "SMMUv3 guest stream -> VT-d, with the footprint relation of every command" \
    "convert --from smmuv3 --to vtd --topology $topo --explain < examples/smmuv3.cmds"
iv convert --from smmuv3 --to vtd --topology "$topo" --explain < examples/smmuv3.cmds

say "... and what those VT-d descriptors say (first 8)" \
    "convert --from smmuv3 --to vtd --topology $topo < examples/smmuv3.cmds | iommu-inval decode --arch vtd --desc-width 256"
iv convert --from smmuv3 --to vtd --topology "$topo" < examples/smmuv3.cmds \
    | iv decode --arch vtd --desc-width 256 | head -n 8

say "A raw AMD-Vi command buffer dump" "decode --arch amd --raw examples/amd-cmdbuf.bin"
iv decode --arch amd --raw examples/amd-cmdbuf.bin

say "JSON round trip of a VT-d scalable-mode page response with private data" \
    "decode --arch vtd --desc-width 256 --json W | iommu-inval encode --arch vtd --desc-width 256"
w=$(grep -v '^#' examples/vtd256.cmds | grep . | tail -n 1)
iv decode --arch vtd --desc-width 256 --json "$w"
iv decode --arch vtd --desc-width 256 --json "$w" | iv encode --arch vtd --desc-width 256

say "An invalid command is reported with the bits at fault (exit status 1)" \
    "decode --arch smmuv3 --json 0x0000000000003146,0"
iv decode --arch smmuv3 --json 0x0000000000003146,0 || echo "(exit status $?)"

say "AMD-Vi stream -> generic operations (first 4)" "lift --arch amd --topology $topo < examples/amd.cmds"
iv lift --arch amd --topology "$topo" < examples/amd.cmds | head -n 4

say "One generic operation of each kind -> AMD-Vi (stall resume/terminate have no AMD-Vi equivalent: exit 1)" \
    "lower --arch amd --topology $topo --explain < examples/generic.jsonl"
iv lower --arch amd --topology "$topo" --explain < examples/generic.jsonl || echo "(exit status $?)"

say "A RISC-V IOMMU command stream as the Linux driver issues it -> SMMUv3, with footprint relations" \
    "convert --from riscv --to smmuv3 --topology $topo --explain < examples/riscv.cmds"
iv convert --from riscv --to smmuv3 --topology "$topo" --explain < examples/riscv.cmds | head -n 24

say "... and the SMMUv3 guest stream on a RISC-V IOMMU (first 12 lines)" \
    "convert --from smmuv3 --to riscv --topology $topo --explain < examples/smmuv3.cmds"
iv convert --from smmuv3 --to riscv --topology "$topo" --explain < examples/smmuv3.cmds | head -n 12

say "An illegal RISC-V command: IOTINVAL.GVMA with PSCV (cqcsr.cmd_ill; exit status 1)" \
    "decode --arch riscv --json 0x0000000100000081,0"
iv decode --arch riscv --json 0x0000000100000081,0 || echo "(exit status $?)"

say "SMMUv3 without range invalidation: the 2 MiB TLBI becomes a single wider one (cap 16)" \
    "convert --from smmuv3 --to smmuv3 --no-range-inval --max-cmds 16 --explain W"
iv convert --from smmuv3 --to smmuv3 --no-range-inval --max-cmds 16 --topology "$topo" --explain \
    0x0005000100900012,0x0000000040000701
