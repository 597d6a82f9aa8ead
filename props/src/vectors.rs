//! Known-answer vectors hand-computed from the tables of
//! the command tables (docs/SPEC.md) (not produced by any encoder): one or more per
//! op of every architecture, with the non-zero fields each must decode to
//! (every other field is 0 / false). They seed the fuzz corpora and are
//! checked by `props/tests/vectors.rs`.
//!
//! Field values: 1-bit fields as 0/1, addresses as byte addresses.

/// A valid command: op, words (2, or 4 for 256-bit VT-d), non-zero fields.
pub type Vector = (&'static str, &'static [u64], &'static [(&'static str, u64)]);

/// Arm SMMUv3 (opcode `w0[7:0]`).
pub const SMMUV3: &[Vector] = &[
    (
        "CMD_PREFETCH_CONFIG",
        &[0x0000_0010_0000_5801, 0],
        &[("ssv", 1), ("ssid", 5), ("sid", 0x10)],
    ),
    (
        "CMD_PREFETCH_ADDR",
        &[0x0000_0010_0000_0002, 0x4000_0043],
        &[
            ("sid", 0x10),
            ("size", 3),
            ("stride", 2),
            ("address", 0x4000_0000),
        ],
    ),
    (
        "CMD_CFGI_STE",
        &[0x0000_0010_0000_0003, 1],
        &[("sid", 0x10), ("leaf", 1)],
    ),
    (
        "CMD_CFGI_STE",
        &[0x0000_0010_0000_0403, 0],
        &[("ssec", 1), ("sid", 0x10)],
    ),
    (
        "CMD_CFGI_STE_RANGE",
        &[0x0000_0020_0000_0004, 4],
        &[("sid", 0x20), ("range", 4)],
    ),
    ("CMD_CFGI_ALL", &[0x0000_0000_0000_0004, 0x1f], &[]),
    (
        "CMD_CFGI_CD",
        &[0x0000_0010_0000_1005, 1],
        &[("ssid", 1), ("sid", 0x10), ("leaf", 1)],
    ),
    (
        "CMD_CFGI_CD_ALL",
        &[0x0000_0010_0000_0006, 0],
        &[("sid", 0x10)],
    ),
    (
        "CMD_TLBI_NH_ALL",
        &[0x0000_0001_0000_0010, 0],
        &[("vmid", 1)],
    ),
    (
        "CMD_TLBI_NH_ASID",
        &[0x0005_0001_0000_0011, 0],
        &[("vmid", 1), ("asid", 5)],
    ),
    // The words of the classic CLI example: vmid 1, asid 0, the page at 0x1000.
    (
        "CMD_TLBI_NH_VA",
        &[0x0000_0001_0000_0012, 0x1000],
        &[("vmid", 1), ("address", 0x1000)],
    ),
    (
        "CMD_TLBI_NH_VA",
        &[0x0005_0001_0010_3012, 0x0010_0701],
        &[
            ("num", 3),
            ("scale", 1),
            ("vmid", 1),
            ("asid", 5),
            ("leaf", 1),
            ("ttl", 3),
            ("tg", 1),
            ("address", 0x10_0000),
        ],
    ),
    (
        "CMD_TLBI_NH_VAA",
        &[0x0000_0002_0000_0013, 0x2000],
        &[("vmid", 2), ("address", 0x2000)],
    ),
    ("CMD_TLBI_EL3_ALL", &[0x18, 0], &[]),
    (
        "CMD_TLBI_EL3_VA",
        &[0x1a, 0x3001],
        &[("leaf", 1), ("address", 0x3000)],
    ),
    ("CMD_TLBI_EL2_ALL", &[0x20, 0], &[]),
    (
        "CMD_TLBI_EL2_ASID",
        &[0x0007_0000_0000_0021, 0],
        &[("asid", 7)],
    ),
    // tg = 64 KiB, one granule, level hint 3 (num = scale = ttl = 0 with tg != 0 is reserved, IHI0070 §4.4.1.1).
    (
        "CMD_TLBI_EL2_VA",
        &[0x0007_0000_0000_0022, 0x1_0f00],
        &[("asid", 7), ("ttl", 3), ("tg", 3), ("address", 0x1_0000)],
    ),
    (
        "CMD_TLBI_EL2_VAA",
        &[0x23, 0xffff_ffff_ffff_f000],
        &[("address", 0xffff_ffff_ffff_f000)],
    ),
    (
        "CMD_TLBI_S12_VMALL",
        &[0x0000_0003_0000_0028, 0],
        &[("vmid", 3)],
    ),
    (
        "CMD_TLBI_S2_IPA",
        &[0x0000_0003_0001_f02a, 0x8000_0400],
        &[
            ("num", 31),
            ("vmid", 3),
            ("tg", 1),
            ("address", 0x8000_0000),
        ],
    ),
    ("CMD_TLBI_NSNH_ALL", &[0x30, 0], &[]),
    (
        "CMD_ATC_INV",
        &[0x0000_0010_0000_1840, 0x4002],
        &[
            ("ssv", 1),
            ("ssid", 1),
            ("sid", 0x10),
            ("size", 2),
            ("address", 0x4000),
        ],
    ),
    (
        "CMD_ATC_INV",
        &[0x0000_0010_0000_0240, 0x34],
        &[("global", 1), ("sid", 0x10), ("size", 52)],
    ),
    (
        "CMD_PRI_RESP",
        &[0x0000_0010_0000_1841, 0x2005],
        &[
            ("ssv", 1),
            ("ssid", 1),
            ("sid", 0x10),
            ("prg_index", 5),
            ("resp", 2),
        ],
    ),
    (
        "CMD_RESUME",
        &[0x0000_0010_0000_1044, 0xabc],
        &[("resp", 1), ("sid", 0x10), ("stag", 0xabc)],
    ),
    (
        "CMD_STALL_TERM",
        &[0x0000_0010_0000_0045, 0],
        &[("sid", 0x10)],
    ),
    ("CMD_SYNC", &[0x46, 0], &[]),
    (
        "CMD_SYNC",
        &[0x0000_1234_0fc0_1046, 0x8000_0004],
        &[
            ("cs", 1),
            ("msh", 3),
            ("msi_attr", 0xf),
            ("msi_data", 0x1234),
            ("msi_address", 0x8000_0004),
        ],
    ),
    ("CMD_SYNC", &[0x2046, 0], &[("cs", 2)]),
    // The newest revision (IHI0070 chapter 4): opcodes of §4.1.1, TTL128 at
    // bit [71] = w1[7] and SCALE [25:20] (§4.4.1.1), addresses to bit 55 (§4.1.6).
    (
        "CMD_CFGI_VMS_PIDM",
        &[0x0000_0123_0000_0407, 0],
        &[("ssec", 1), ("vmid", 0x123)],
    ),
    ("CMD_TLBI_S_EL2_ALL", &[0x50, 0], &[]),
    (
        "CMD_TLBI_S_EL2_ASID",
        &[0x0007_0000_0000_0051, 0],
        &[("asid", 7)],
    ),
    (
        "CMD_TLBI_S_EL2_VA",
        &[0x0007_0000_0000_1052, 0x4000_0701],
        &[
            ("num", 1),
            ("asid", 7),
            ("leaf", 1),
            ("ttl", 3),
            ("tg", 1),
            ("address", 0x4000_0000),
        ],
    ),
    (
        "CMD_TLBI_S_EL2_VAA",
        &[0x53, 0xffff_ffff_ffff_f000],
        &[("address", 0xffff_ffff_ffff_f000)],
    ),
    (
        "CMD_TLBI_S_S12_VMALL",
        &[0x0000_0009_0000_0058, 0],
        &[("vmid", 9)],
    ),
    (
        "CMD_TLBI_S_S2_IPA",
        &[0x0000_0009_0000_005a, 0x8000_0003],
        &[
            ("vmid", 9),
            ("leaf", 1),
            ("ns", 1),
            ("address", 0x8000_0000),
        ],
    ),
    ("CMD_TLBI_SNH_ALL", &[0x60, 0], &[]),
    ("CMD_DPTI_ALL", &[0x70, 0], &[]),
    // TTL128 with a level-2 hint; SCALE 39 (bit 25, SMMU_IDR5.DS).
    (
        "CMD_TLBI_NH_VA",
        &[0x0005_0001_0270_0012, 0x0020_0680],
        &[
            ("scale", 39),
            ("vmid", 1),
            ("asid", 5),
            ("ttl128", 1),
            ("ttl", 2),
            ("tg", 1),
            ("address", 0x20_0000),
        ],
    ),
    // An IPA and an MSI address at bit 55 (SMMUv3.4 and later).
    (
        "CMD_TLBI_S2_IPA",
        &[0x0000_0003_0000_002a, 0x0080_0000_0000_1000],
        &[("vmid", 3), ("address", 0x0080_0000_0000_1000)],
    ),
];

/// Intel VT-d (type `w0[3:0] | w0[11:9] << 4`).
pub const VTD: &[Vector] = &[
    ("cc_inv_dsc", &[0x11, 0], &[("g", 1)]),
    ("cc_inv_dsc", &[0x0005_0021, 0], &[("g", 2), ("did", 5)]),
    (
        "cc_inv_dsc",
        &[0x0003_0010_0005_0031, 0],
        &[("g", 3), ("did", 5), ("sid", 0x10), ("fm", 3)],
    ),
    ("iotlb_inv_dsc", &[0x12, 0], &[("g", 1)]),
    (
        "iotlb_inv_dsc",
        &[0x0001_00e2, 0],
        &[("g", 2), ("dw", 1), ("dr", 1), ("did", 1)],
    ),
    (
        "iotlb_inv_dsc",
        &[0x0001_0032, 0x20_0049],
        &[
            ("g", 3),
            ("did", 1),
            ("am", 9),
            ("ih", 1),
            ("address", 0x20_0000),
        ],
    ),
    (
        "dev_tlb_inv_dsc",
        &[0x0120_0010_0000_3003, 0x5001],
        &[
            ("pfsid", 0x123),
            ("sid", 0x10),
            ("s", 1),
            ("address", 0x5000),
        ],
    ),
    (
        "dev_tlb_inv_dsc",
        &[0x0000_0010_0001_0003, 0x7fff_ffff_ffff_f001],
        &[
            ("mip", 1),
            ("sid", 0x10),
            ("s", 1),
            ("address", 0x7fff_ffff_ffff_f000),
        ],
    ),
    ("iec_inv_dsc", &[0x4, 0], &[]),
    (
        "iec_inv_dsc",
        &[0x0000_0040_1800_0014, 0],
        &[("g", 1), ("im", 3), ("iidx", 0x40)],
    ),
    (
        "inv_wait_dsc",
        &[0x0000_0001_0000_0075, 0x1000],
        &[
            ("if", 1),
            ("sw", 1),
            ("fn", 1),
            ("status_data", 1),
            ("status_address", 0x1000),
        ],
    ),
    ("inv_wait_dsc", &[0x95, 0], &[("if", 1), ("pd", 1)]),
    (
        "p_iotlb_inv_dsc",
        &[0x0000_0005_0001_0026, 0],
        &[("g", 2), ("did", 1), ("pasid", 5)],
    ),
    (
        "p_iotlb_inv_dsc",
        &[0x0000_0005_0001_0036, 0x7000],
        &[("g", 3), ("did", 1), ("pasid", 5), ("address", 0x7000)],
    ),
    ("pc_inv_dsc", &[0x0001_0007, 0], &[("did", 1)]),
    (
        "pc_inv_dsc",
        &[0x000f_ffff_0001_0017, 0],
        &[("g", 1), ("did", 1), ("pasid", 0xf_ffff)],
    ),
    ("pc_inv_dsc", &[0x37, 0], &[("g", 3)]),
    (
        "p_dev_tlb_inv_dsc",
        &[0x0010_0003_0010_0008, 0x2801],
        &[
            ("pfsid", 0x10),
            ("sid", 0x10),
            ("pasid", 3),
            ("g", 1),
            ("s", 1),
            ("address", 0x2000),
        ],
    ),
    (
        "page_grp_resp_dsc",
        &[0x0000_0003_0010_0019, 0x2c],
        &[
            ("pasid_present", 1),
            ("rid", 0x10),
            ("pasid", 3),
            ("lpig", 1),
            ("prg_index", 5),
        ],
    ),
    (
        "page_grp_resp_dsc",
        &[0x0000_0000_0010_f009, 0],
        &[("resp_code", 0xf), ("rid", 0x10)],
    ),
    // 256-bit descriptors.
    ("iotlb_inv_dsc", &[0x12, 0, 0, 0], &[("g", 1)]),
    (
        "inv_wait_dsc",
        &[0x0000_0001_0000_0075, 0x1000, 0, 0],
        &[
            ("if", 1),
            ("sw", 1),
            ("fn", 1),
            ("status_data", 1),
            ("status_address", 0x1000),
        ],
    ),
    (
        "page_grp_resp_dsc",
        &[0x0000_0003_0010_0039, 0x2c, 0x1111, 0x2222],
        &[
            ("pasid_present", 1),
            ("priv_data_present", 1),
            ("rid", 0x10),
            ("pasid", 3),
            ("lpig", 1),
            ("prg_index", 5),
        ],
    ),
];

/// AMD-Vi (opcode `w0[63:60]`).
pub const AMD: &[Vector] = &[
    (
        "COMPLETION_WAIT",
        &[0x1000_0000_0000_1005, 0xdead_beef_0000_0001],
        &[
            ("s", 1),
            ("f", 1),
            ("store_address", 0x1000),
            ("store_data", 0xdead_beef_0000_0001),
        ],
    ),
    ("COMPLETION_WAIT", &[0x1000_0000_0000_0002, 0], &[("i", 1)]),
    (
        "INVALIDATE_DEVTAB_ENTRY",
        &[0x2000_0000_0000_0010, 0],
        &[("device_id", 0x10)],
    ),
    (
        "INVALIDATE_IOMMU_PAGES",
        &[0x3000_0001_0000_0000, 0x7fff_ffff_ffff_f003],
        &[
            ("domain_id", 1),
            ("s", 1),
            ("pde", 1),
            ("address", 0x7fff_ffff_ffff_f000),
        ],
    ),
    (
        "INVALIDATE_IOMMU_PAGES",
        &[0x3000_0001_0000_0005, 0x4004],
        &[
            ("pasid", 5),
            ("domain_id", 1),
            ("gn", 1),
            ("address", 0x4000),
        ],
    ),
    (
        "INVALIDATE_IOTLB_PAGES",
        &[0x4034_0007_2012_0010, 0x5005],
        &[
            ("device_id", 0x10),
            ("pasid", 0x1234),
            ("maxpend", 0x20),
            ("queue_id", 7),
            ("s", 1),
            ("gn", 1),
            ("address", 0x5000),
        ],
    ),
    (
        "INVALIDATE_INTERRUPT_TABLE",
        &[0x5000_0000_0000_0010, 0],
        &[("device_id", 0x10)],
    ),
    (
        "PREFETCH_IOMMU_PAGES",
        &[0x6000_0005_0400_0010, 0x8014],
        &[
            ("device_id", 0x10),
            ("pfcount", 4),
            ("pasid", 5),
            ("gn", 1),
            ("inv", 1),
            ("address", 0x8000),
        ],
    ),
    (
        "COMPLETE_PPR_REQUEST",
        &[0x7000_0005_0000_0010, 0x0000_f1ff_0000_0004],
        &[
            ("device_id", 0x10),
            ("pasid", 5),
            ("gn", 1),
            ("tag", 0x1ff),
            ("status", 0xf),
        ],
    ),
    ("INVALIDATE_IOMMU_ALL", &[0x8000_0000_0000_0000, 0], &[]),
    // Revision 3.x (layouts of the FreeBSD amdiommu header, but RESET_VMMIO
    // All as AMD's vIOMMU driver writes it, build_reset_vmmio): GuestID in
    // w0[47:32]; GuestID w0[15:0], All w0[28], VCmd w0[31]; pasid[19:16] of
    // INVALIDATE_IOTLB_PAGES in w0[59:56].
    (
        "INSERT_GUEST_EVENT",
        &[0x9000_1234_0000_0000, 0],
        &[("guest_id", 0x1234)],
    ),
    (
        "RESET_VMMIO",
        &[0xa000_0000_9000_0042, 0],
        &[("guest_id", 0x42), ("all", 1), ("vcmd", 1)],
    ),
    (
        "INVALIDATE_IOTLB_PAGES",
        &[0x4ade_0000_00bc_0010, 0x5004],
        &[
            ("device_id", 0x10),
            ("pasid", 0xa_bcde),
            ("gn", 1),
            ("address", 0x5000),
        ],
    ),
    // INVALIDATE_IOTLB_PAGES type w1[5:4] (FreeBSD amd_reg.h `type:2`,
    // VirtualBox "Bit 69:68 - Type"; meaning not public): type 2, kept.
    (
        "INVALIDATE_IOTLB_PAGES",
        &[0x4000_0000_0000_0010, 0x5020],
        &[("device_id", 0x10), ("type", 2), ("address", 0x5000)],
    ),
];

/// Invalid words per architecture, with the error kind each must give.
pub type Bad = (&'static str, &'static [u64], &'static str);

/// Invalid SMMUv3 commands.
pub const SMMUV3_BAD: &[Bad] = &[
    ("opcode 0x08", &[0x08, 0], "unknown_opcode"),
    // CMD_DPTI_PA: its layout is only in the specification's figure, not
    // implemented (docs/REVISIONS.md).
    ("opcode 0x73", &[0x73, 0], "unknown_opcode"),
    (
        "NH_VA ttl128 without ttl",
        &[0x0000_0001_0000_1012, 0x1480],
        "invalid_field",
    ),
    ("opcode 0x00", &[0, 0], "unknown_opcode"),
    ("CMD_SYNC cs = 3", &[0x3046, 0], "invalid_field"),
    (
        "CMD_PRI_RESP resp = 3",
        &[0x0000_0010_0000_0041, 0x3000],
        "invalid_field",
    ),
    (
        "NH_VA tg = 0 with num = 1",
        &[0x0000_0001_0000_1012, 0x1000],
        "invalid_field",
    ),
    (
        "NH_VA tg = 0 with scale = 1",
        &[0x0000_0001_0010_0012, 0x1000],
        "invalid_field",
    ),
    // IHI0070 §4.4.1.1: NUM == 0, SCALE == 0, TTL == 0 with TG != 0 is reserved (CERROR_ILL).
    (
        "EL2_VA tg = 3, num = scale = ttl = 0",
        &[0x0007_0000_0000_0022, 0x1_0c00],
        "invalid_field",
    ),
    (
        "NH_ALL with w0 bit 8",
        &[0x0000_0001_0000_0110, 0],
        "reserved_bits",
    ),
    (
        "NH_ALL with w1 bit 0",
        &[0x0000_0001_0000_0010, 1],
        "reserved_bits",
    ),
    (
        "S2_IPA with w1 bit 63",
        &[0x0000_0003_0000_002a, 0x8000_0000_0000_1000],
        "reserved_bits",
    ),
    (
        "NH_ALL ssec (not an S command)",
        &[0x0000_0001_0000_0410, 0],
        "reserved_bits",
    ),
    ("three words", &[0x10, 0, 0], "bad_length"),
    ("one word", &[0x10], "bad_length"),
];

/// Invalid VT-d descriptors.
pub const VTD_BAD: &[Bad] = &[
    ("type 0", &[0, 0], "unknown_opcode"),
    ("type 0xa", &[0xa, 0], "unknown_opcode"),
    ("type 0x10 (w0 bit 9)", &[0x200, 0], "unknown_opcode"),
    (
        "p_iotlb g = 0",
        &[0x0000_0005_0001_0006, 0],
        "invalid_field",
    ),
    (
        "p_iotlb g = 1",
        &[0x0000_0005_0001_0016, 0],
        "invalid_field",
    ),
    ("pc_inv g = 2", &[0x0000_0000_0001_0027, 0], "invalid_field"),
    (
        "iotlb g = 0 (reserved granularity)",
        &[0x0000_0000_0001_0002, 0],
        "invalid_field|reserved_bits",
    ),
    (
        "cc g = 0 (reserved granularity)",
        &[0x1, 0],
        "invalid_field|reserved_bits",
    ),
    (
        "256-bit iotlb with w2 set",
        &[0x12, 0, 1, 0],
        "reserved_bits",
    ),
    ("iec with w1 set", &[0x4, 1], "reserved_bits"),
    ("three words", &[0x12, 0, 0], "bad_length"),
];

/// Invalid AMD-Vi commands.
pub const AMD_BAD: &[Bad] = &[
    ("opcode 0", &[0, 0], "unknown_opcode"),
    ("opcode 0xb", &[0xb000_0000_0000_0000, 0], "unknown_opcode"),
    (
        "RESET_VMMIO w0 bit 16",
        &[0xa000_0000_0001_0042, 0],
        "reserved_bits",
    ),
    (
        "RESET_VMMIO w0 bit 27 (All is bit 28)",
        &[0xa000_0000_0800_0042, 0],
        "reserved_bits",
    ),
    ("opcode 0xf", &[0xf000_0000_0000_0000, 0], "unknown_opcode"),
    (
        "DEVTAB_ENTRY w0 bit 16",
        &[0x2000_0000_0001_0010, 0],
        "reserved_bits",
    ),
    (
        "IOMMU_ALL w1 bit 0",
        &[0x8000_0000_0000_0000, 1],
        "reserved_bits",
    ),
    (
        "IOMMU_PAGES w1 bit 3",
        &[0x3000_0001_0000_0000, 0x1008],
        "reserved_bits",
    ),
    (
        "four words",
        &[0x8000_0000_0000_0000, 0, 0, 0],
        "bad_length",
    ),
];

/// Valid RISC-V IOMMU commands (RISC-V IOMMU spec §3.1.1-§3.1.4, §9.2,
/// §9.3), computed by hand from the field layouts; the first ones are the
/// Linux driver's shapes.
pub const RISCV: &[Vector] = &[
    (
        "iotinval_vma",
        &[0x0000_0001_0000_5401, 0x0000_0000_1008_0000],
        &[("av", 1), ("pscid", 5), ("pscv", 1), ("addr", 0x4020_0000)],
    ),
    (
        "iotinval_vma",
        &[0x0123_4006_0000_0401, 0x0000_0000_1003_fe00],
        &[
            ("av", 1),
            ("gv", 1),
            ("nl", 1),
            ("gscid", 0x1234),
            ("s", 1),
            ("addr", 0x400f_f000),
        ],
    ),
    (
        "iotinval_gvma",
        &[0x0000_1002_0000_0081, 0],
        &[("gv", 1), ("gscid", 1)],
    ),
    (
        "iofence_c",
        &[0x0000_0000_0000_3002, 0],
        &[("pr", 1), ("pw", 1)],
    ),
    (
        "iofence_c",
        &[0x0000_0001_0000_0402, 0x1fc0_0000],
        &[("av", 1), ("data", 1), ("addr", 0x7f00_0000)],
    ),
    (
        "iodir_inval_ddt",
        &[0x0000_1002_0000_0003, 0],
        &[("dv", 1), ("did", 0x10)],
    ),
    (
        "iodir_inval_pdt",
        &[0x0000_1002_0000_2083, 0],
        &[("pid", 2), ("dv", 1), ("did", 0x10)],
    ),
    (
        "ats_inval",
        &[0x0000_1001_0000_2004, 0x7fff_ffff_ffff_f800],
        &[
            ("pid", 2),
            ("pv", 1),
            ("rid", 0x10),
            ("s", 1),
            ("addr", 0x7fff_ffff_ffff_f000),
        ],
    ),
    (
        "ats_inval",
        &[0x0301_0002_0000_0004, 0x1001],
        &[
            ("dsv", 1),
            ("rid", 0x100),
            ("dseg", 3),
            ("g", 1),
            ("addr", 0x1000),
        ],
    ),
    (
        "ats_prgr",
        &[0x0000_1001_0000_1084, 0x0000_001a_0000_0000],
        &[("pid", 1), ("pv", 1), ("rid", 0x10), ("prg_index", 0x1a)],
    ),
];

/// Invalid RISC-V IOMMU commands.
pub const RISCV_BAD: &[Bad] = &[
    ("opcode 0", &[0, 0], "unknown_opcode"),
    ("opcode 5 (reserved)", &[0x5, 0], "unknown_opcode"),
    ("opcode 64 (custom)", &[0x40, 0], "unknown_opcode"),
    ("IOFENCE func3 1", &[0x82, 0], "unknown_opcode"),
    (
        "IOTINVAL.GVMA with PSCV",
        &[0x0000_0001_0000_0081, 0],
        "invalid_field",
    ),
    ("IODIR.INVAL_PDT with DV = 0", &[0x83, 0], "invalid_field"),
    ("IODIR.INVAL_DDT with a PID", &[0x1003, 0], "reserved_bits"),
    ("IOTINVAL w0 bit 11", &[0x801, 0], "reserved_bits"),
    ("IOTINVAL w1 bit 62", &[0x1, 1 << 62], "reserved_bits"),
    ("IOFENCE.C w1 bit 63", &[0x2, 1 << 63], "reserved_bits"),
    ("ATS.INVAL payload bit 1", &[0x4, 0x2], "reserved_bits"),
    ("ATS.PRGR payload bit 48", &[0x84, 1 << 48], "reserved_bits"),
    ("three words", &[0x3, 0, 0], "bad_length"),
];
