//! The worked examples shown by `--help`. Each `$ iommu-inval ...` line is
//! followed by the exact output it prints; the CLI tests run every example
//! from the repository root and compare.

/// After the top-level help.
pub const MAIN: &str = "\
Examples:
  $ iommu-inval decode --arch smmuv3 0x0006000100000011,0
  CMD_TLBI_NH_ASID      vmid=1 asid=6                                                             # invalidate stage-1 IOTLB, all addresses, domain 1 PASID 6 (ASID 6)
  $ iommu-inval convert --from smmuv3 --to vtd --topology examples/topology.json --explain < examples/smmuv3.cmds

Native commands are 64-bit hex words, lowest first, separated by commas or
spaces (0x optional); on stdin one command per line, blank and # lines
skipped, or a kernel log: `dmesg | iommu-inval decode --arch smmuv3` decodes
the IOMMU dumps in it and counts the other lines. Every subcommand's
--help shows a worked example. Exit status: 0 all translated, 1 some input
invalid or without equivalent, 2 usage error or input that is not text of
the expected form.";

/// After `decode --help`.
pub const DECODE: &str = "\
Examples:
  # An SMMUv3 range TLBI: 2 MiB of ASID 5 in VMID 1 from 0x40000000, leaf only
  $ iommu-inval decode --arch smmuv3 --json 0x0005000100900012,0x0000000040000701
  {\"arch\":\"smmuv3\",\"op\":\"CMD_TLBI_NH_VA\",\"fields\":{\"num\":0,\"scale\":9,\"vmid\":1,\"asid\":5,\"leaf\":true,\"ttl128\":false,\"ttl\":3,\"tg\":1,\"address\":1073741824}}
  $ iommu-inval decode --arch amd 0x100000007f000001,1
  COMPLETION_WAIT             s=1 i=0 f=0 store_address=0x7f000000 store_data=0x1                       # sync, store 0x1 to 0x7f000000
  # An invalid command is reported in place (exit status 1)
  $ iommu-inval decode --arch vtd --json 0x0000000000000042,0
  {\"arch\":\"vtd\",\"error\":{\"kind\":\"invalid_field\",\"message\":\"invalid value 0 in field g (w0[5:4])\"}}
  # A RISC-V IOTINVAL.VMA as the Linux driver sends it per page: PSCID 5, one 4 KiB page
  $ iommu-inval decode --arch riscv 0x0000000100005401,0x0000000010080000
  iotinval_vma     av=1 pscid=5 pscv=1 gv=0 nl=0 gscid=0 s=0 addr=0x40200000                 # invalidate EL2/host stage-1 IOTLB, 4 KiB at 0x40200000, PASID 5, leaf only
  # A binary queue dump: commands 1 and 2 of an AMD command buffer
  $ iommu-inval decode --arch amd --raw examples/amd-cmdbuf.bin --offset 16 --count 2 --json
  {\"arch\":\"amd\",\"op\":\"INVALIDATE_IOTLB_PAGES\",\"fields\":{\"device_id\":16,\"pasid\":0,\"maxpend\":32,\"queue_id\":0,\"s\":true,\"gn\":false,\"type\":0,\"address\":1074786304}}
  {\"arch\":\"amd\",\"op\":\"COMPLETION_WAIT\",\"fields\":{\"s\":true,\"i\":false,\"f\":false,\"store_address\":2130706432,\"store_data\":1}}
  # Decode as an SMMUv3.2 without the Device Permission Table (--caps PRESET)
  $ iommu-inval decode --arch smmuv3 --caps smmuv3.2 --json 0x70,0
  {\"arch\":\"smmuv3\",\"error\":{\"kind\":\"invalid_field\",\"message\":\"invalid value 112 in field opcode (needs the DPT, SMMU_IDR3.DPT) (w0[7:0])\"}}
  # Records instead of commands (--queue: event or fault, pri / prq / ppr / pq; see below): an SMMUv3 F_TRANSLATION event record
  $ iommu-inval decode --arch smmuv3 --queue event --json 0x0000010000000010,0x0000020800000000,0x80001000,0
  {\"arch\":\"smmuv3\",\"queue\":\"event\",\"op\":\"F_TRANSLATION\",\"fields\":{\"ssv\":false,\"ssid\":0,\"sid\":256,\"stag\":0,\"stall\":false,\"pnu\":false,\"ind\":false,\"rnw\":true,\"s2\":false,\"class\":2,\"input_addr\":2147487744,\"ipa\":0},\"words\":\"0x0000010000000010,0x0000020800000000,0x0000000080001000,0x0000000000000000\"}
  # A PRI queue entry: StreamID 0x100 asks for read and write of 0x4000, group 3
  $ iommu-inval decode --arch smmuv3 --queue pri 0x3000000000000100,0x0000000000004003
  PRI_PAGE_REQUEST    sid=256 ssid=0 priv=0 exec=0 read=1 write=1 last=0 ssv=0 prg_index=3 address=0x4000  # page request, device 0x100, group 3 rw-- at 0x4000
  # A VT-d page_req_dsc (--queue prq): RID 0x10 asks a read of 0x7000 for PASID 5, last of group 1
  $ iommu-inval decode --arch vtd --queue prq 0x0000000500100101,0x000000000000700d,0,0
  page_req_dsc        pasid_present=1 priv_data_present=0 rid=16 pasid=5 exe_req=0 pm_req=0 rd_req=1 wr_req=0 lpig=1 prg_index=1 address=0x7000 priv_data=[0x0,0x0]  # page request, device 0x10, group 1 (last) PASID 5 r--- at 0x7000
  # The kernel's own event dumps (\"event 0x10 received:\" and its four words) in a log
  $ iommu-inval decode --arch smmuv3 --queue event < examples/smmuv3-events.txt
  # What the VT-d, AMD-Vi and RISC-V drivers print, read back (what a message lacks is 0, and named)
  $ iommu-inval decode --arch vtd --queue fault < examples/vtd-faults.txt
  $ iommu-inval decode --arch amd --queue event --json < examples/amd-events.txt
  $ iommu-inval decode --arch riscv --queue fault < examples/riscv-faults.txt

Input: commands as arguments, else one per stdin line (blank and # lines
skipped; a # starts a comment), else --raw FILE (little-endian words; for
SMMUv3, --index also takes CMDQ_CONS / PROD as the kernel prints them).
Words: hex, 0x optional, any case, at most 16 digits, separated by commas
or spaces (od -An -tx8, QEMU's xp /2gx); 2 words per command (4 for VT-d
with --desc-width 256). Pasted kernel and QEMU lines are read too (see
--input); in a kernel log (dmesg, journalctl -k) the lines of no IOMMU dump
are skipped and counted, and a dump that prints no command (CERROR_ABT,
ATC_INV_SYNC, ITE, IOTLB_INV_TIMEOUT) is explained.
Exit status: 0 every command decoded; 1 some command invalid (printed in
place with its kind: unknown_opcode, reserved_bits, invalid_field,
bad_length); 2 usage error, or text that is not hex words, a line over
64 KiB, invalid UTF-8, a dump ending inside a command (message on stderr;
the other commands are still decoded).
--queue decodes records (docs/EVENTS.md) the same way: hex words, one
record per line, --raw, or the lines the Linux driver prints for a record.
Queues (each architecture's own names; event / fault and pri / prq / ppr /
pq are accepted for every one): smmuv3 event (4 words), pri (2); vtd fault
(2), prq (4); amd event (2), ppr (2); riscv fault (4), pq (2). Kernel lines:
SMMUv3 \"event 0x%02x received:\" + its words and \"unexpected PRI request
received:\" + its sid line; VT-d \"DMAR: [DMA Read NO_PASID] Request device
[..] fault addr .. [fault reason ..]\" (PASID and INTR-REMAP forms too) and
\"Invalid page request: w0 w1\"; AMD-Vi \"Event logged [KIND key=value ..]\"
(every kind it prints, and UNKNOWN event[0..3]); RISC-V \"Fault CAUSE devid:
.. iotval: .. iotval2: ..\". A field the message does not print is 0 and
named (text: after the meaning; --json: \"not_in_message\"). A dump cut
short, or whose event number is not its word 0's, is exit status 1.";

/// After `encode --help`.
pub const ENCODE: &str = "\
Examples:
  $ iommu-inval encode --arch smmuv3 '{\"op\":\"CMD_TLBI_NH_VA\",\"fields\":{\"vmid\":1,\"asid\":5,\"scale\":9,\"leaf\":true,\"ttl\":3,\"tg\":1,\"address\":1073741824}}'
  0x0005000100900012,0x0000000040000701
  $ iommu-inval decode --arch vtd --json 0x00000000000100f2,0x0000000040000049 | iommu-inval encode --arch vtd
  0x00000000000100f2,0x0000000040000049

Input: JSON objects of the decode shape, as arguments or one per stdin line
(blank and # lines skipped); \"arch\" may be left out, fields left out are
0/false, integers may be JSON numbers or \"0x...\" strings.
Exit status: 0 all encoded; 1 some object refused (malformed JSON, unknown
op, unknown field, a value too wide for its field, or a command the decoder
would refuse): message on stderr (with --json: an error object on stdout);
2 usage error or input that is not text (invalid UTF-8, a line over 64 KiB).";

/// After `lift --help`.
pub const LIFT: &str = "\
Examples:
  # ATC_INV of StreamID 0x10 without SubstreamID: every ATC entry of 00:02.0 in 2 MiB
  $ iommu-inval lift --arch smmuv3 0x0000001000000040,0x0000000040000009
  {\"op\":\"inval\",\"caches\":[\"dev_tlb\"],\"regime\":\"guest\",\"stages\":[\"s1\",\"s2\"],\"domain\":\"all\",\"pasid\":\"all\",\"global\":false,\"device\":16,\"range\":{\"iova\":1073741824,\"size\":2097152}}

Output: generic JSON Lines (docs/GENERIC_JSON.md), one object per operation.
--explain adds, per input, a # line naming it and a # line with what the lift
widened (an id the topology does not know); --json --explain prints one
object per input instead. Without --topology every native id is its own
generic id and an SMMU ASID is taken as the PASID.
Exit status as for decode; a command that lifts to nothing generic is an
error of kind no_equivalent (exit 1).";

/// After `lower --help`.
pub const LOWER: &str = "\
Examples:
  $ iommu-inval lower --arch amd --explain '{\"op\":\"inval\",\"caches\":[\"iotlb\"],\"stages\":[\"s2\"],\"domain\":1,\"range\":{\"iova\":\"0x40000000\",\"size\":\"0x3000\"}}'
  # argument 1: {\"op\":\"inval\",\"caches\":[\"iotlb\"],\"regime\":\"guest\",\"stages\":[\"s2\"],\"domain\":1,\"pasid\":\"all\",\"global\":false,\"device\":\"all\",\"range\":{\"iova\":1073741824,\"size\":12288}}
  0x3000000100000000,0x0000000040001003
  #   => superset: widened range (+4 KiB in 1 box)

Input: generic JSON Lines (docs/GENERIC_JSON.md), as arguments or one per
stdin line. Output: native commands as hex words (with --json: decode-shape
objects). --explain adds, per input, the footprint relation of the output to
the input: exact, or superset with what was widened and by how many bytes.
Exit status: 0 all lowered; 1 a malformed object, an operation without
equivalent on the target (no_equivalent), or an under-invalidation (a bug);
invalidations of a cache the target lacks are reported as dropped (exit 0).";

/// After `convert --help`.
pub const CONVERT: &str = "\
Examples:
  # An SMMUv3 range TLBI of ASID 5 becomes a PASID-based IOTLB invalidation of PASID 1
  $ iommu-inval convert --from smmuv3 --to vtd --topology examples/topology.json --explain 0x0005000100900012,0x0000000040000701
  # argument 1: CMD_TLBI_NH_VA 0x0005000100900012,0x0000000040000701
  0x0000000100010036,0x0000000040000049,0x0000000000000000,0x0000000000000000
  #   => exact
  $ iommu-inval convert --from smmuv3 --to vtd --topology examples/topology.json --explain < examples/smmuv3.cmds
  # The same TLBI on a RISC-V IOMMU: IOTINVAL.VMA of PSCID 5 in GSCID 1, one NAPOT 2 MiB range
  $ iommu-inval convert --from smmuv3 --to riscv --topology examples/topology.json 0x0005000100900012,0x0000000040000701
  0x0000100300005401,0x000000001003fe00
  # iommufd payloads. A guest TLBI as a vSMMU entry (the kernel writes the vSMMU's VMID,
  # from the topology's iommufd section, and maps vSIDs to pSIDs through its vDEVICEs):
  $ iommu-inval convert --from smmuv3 --to iommufd-smmuv3 --topology examples/iommufd-topology.json 0x0005000100900012,0x0000000040000701
  0x0005000100900012,0x0000000040000701
  # A CMD_CFGI_STE has no entry: the kernel's reason, and what the VMM does instead (exit 1)
  $ iommu-inval convert --from smmuv3 --to iommufd-smmuv3 --json 0x0000001000000003,1
  {\"arch\":\"iommufd-smmuv3\",\"error\":{\"kind\":\"no_equivalent\",\"message\":\"CFGI_STE/STE_RANGE/ALL are not permitted opcodes (arm_vsmmu_validate_user_cmd): the stream table is the VMM's, installed as a nested HWPT; instead: re-read the guest STE and install it: IOMMU_HWPT_ALLOC of a nested HWPT with the vSTE (IOMMU_HWPT_DATA_ARM_SMMUV3), then attach\"}}
  # A PASID IOTLB invalidation (2 MiB, leaf) as a VT-d stage-1 entry
  $ iommu-inval convert --from vtd --to iommufd-vtd 0x0000000100010036,0x0000000040000049
  {\"addr\":1073741824,\"npages\":512,\"flags\":1}
  $ iommu-inval convert --from smmuv3 --to iommufd-smmuv3 --topology examples/iommufd-topology.json --explain < examples/smmuv3.cmds
  # Records (--queue): a host event for the guest, pSID 0x100 as vSID 0x10 (the topology's vDEVICEs)
  $ iommu-inval convert --from smmuv3 --to smmuv3 --queue event --topology examples/iommufd-topology.json 0x0000010000000010,0x0000020800000000,0x80001000,0
  0x0000001000000010,0x0000020800000000,0x0000000080001000,0x0000000000000000
  $ iommu-inval convert --from smmuv3 --to smmuv3 --queue event --topology examples/iommufd-topology.json < examples/smmuv3-events.txt
  # Between architectures: a host VT-d page request for a guest SMMUv3's PRI queue (RID 0x100 as vSID 0x10)
  $ iommu-inval convert --from vtd --to smmuv3 --queue prq --topology examples/iommufd-topology.json 0x0000000501000101,0x000000000000700d,0,0
  0xd000000500000010,0x0000000000007001
  $ iommu-inval convert --from vtd --to riscv --queue fault --topology examples/iommufd-topology.json < examples/vtd-faults.txt

Decodes each command, lifts it (--from) and lowers the ops (--to). Each
input sync becomes one output sync, after everything before it. --explain
adds, per input, a # line naming it, then the output, then the footprint
relation: exact, superset (what was widened, excess bytes), or
UNDER-INVALIDATION (a bug: exit 1). Invalidations of a cache the target
lacks are reported as dropped; operations without equivalent are errors of
kind no_equivalent (exit 1) and the run goes on.
--to iommufd-smmuv3 (from smmuv3) prints the vSMMU entry of each command
the kernel accepts (IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: the guest's
words; --explain adds the command the host runs after the kernel's VMID
and vSID rewriting); a refused command is no_equivalent with the kernel's
reason; a CMD_SYNC is absorbed by the ioctl and a prefetch dropped (noted on
stderr). --to iommufd-vtd prints {\"addr\",\"npages\",\"flags\"} per
IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 entry; what has no entry (context and
PASID caches, device TLBs, second-stage, interrupt entries, waits) is noted
on stderr with the reason. Host flags: --no-range-inval, --no-ats,
--pasid-bits (the vSMMU's checks). See docs/IOMMUFD.md.
Exit status as for decode and lower.";
