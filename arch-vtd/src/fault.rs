//! The VT-d fault record: the 128-bit layout of a Fault Recording Register
//! (FRCD_REG, Intel VT-d specification §11.4.14 "Fault Recording
//! Registers", §7.2.1 "Primary Fault Logging"), as two little-endian words.
//!
//! | bits | field | |
//! |---|---|---|
//! | w0\[11:0\] | reserved | |
//! | w0\[63:12\] | `fi` (DMA faults): page address of the faulted request | byte address |
//! | w0\[63:48\] | `index` (interrupt-remapping faults): the interrupt_index; w0\[47:12\] are clear | |
//! | w1\[15:0\] | `sid`: source id (requester id) | |
//! | w1\[27:16\] | reserved | |
//! | w1\[28\] | `t2`: type bit 2 | |
//! | w1\[29\] | `priv`: privilege mode requested | |
//! | w1\[30\] | `exe`: execute permission requested | |
//! | w1\[31\] | `pp`: PASID present | |
//! | w1\[39:32\] | `fr`: fault reason ([`FAULT_REASONS`], [`IR_FAULT_REASONS`]) | |
//! | w1\[59:40\] | `pv`: PASID value | |
//! | w1\[61:60\] | `at`: address type | |
//! | w1\[62\] | `t1`: type bit 1 | |
//! | w1\[63\] | `f`: fault (the record is valid; RW1C) | |
//!
//! Sources: VirtualBox's VT-d register header (`VTD_BF_0/1_FRCD_REG_*`, "in
//! accordance with the Intel spec"), Linux `drivers/iommu/intel/dmar.c`
//! (`dma_frcd_*`, `dmar_fault_do_one`), QEMU `hw/i386/intel_iommu_internal.h`
//! (`VTD_FRCD_*`). (`t1`, `t2`) is the request type: 00 write, 01 page
//! request, 10 read, 11 AtomicOp (VirtualBox `VTDREQTYPE`; Linux prints
//! "DMA Read" for `t1` = 1).
//!
//! Two kinds, as the fault reason says (Linux `dmar_get_fault_reason`):
//! `ir_fault` for the interrupt-remapping reasons 0x20–0x2F (`fi` holds the
//! interrupt index in its top 16 bits), `dma_fault` for every other reason.
//! A reason neither table names is refused (`invalid_field` "fr"): VT-d
//! reserves no fault reason for custom use.

use iommu_inval_core::record::{CodeTable, Kind};
use iommu_inval_core::{record_format, ArchId};

/// The DMA-remapping fault reasons (legacy 0x01–0x0D, scalable mode
/// 0x30–0x90), with the descriptions Linux prints (`dma_remap_fault_reasons`,
/// `dma_remap_sm_fault_reasons`; QEMU `VTDFaultReason`). 0x00 is reserved
/// (QEMU: for advanced fault logging) and refused.
pub const FAULT_REASONS: CodeTable = CodeTable {
    names: &[
        (0x01, "Present bit in root entry is clear"),
        (0x02, "Present bit in context entry is clear"),
        (0x03, "Invalid context entry"),
        (0x04, "Access beyond MGAW"),
        (0x05, "PTE Write access is not set"),
        (0x06, "PTE Read access is not set"),
        (0x07, "Next page table ptr is invalid"),
        (0x08, "Root table address invalid"),
        (0x09, "Context table ptr is invalid"),
        (0x0a, "non-zero reserved fields in RTP"),
        (0x0b, "non-zero reserved fields in CTP"),
        (0x0c, "non-zero reserved fields in PTE"),
        (0x0d, "PCE for translation request specifies blocking"),
        (0x30, "SM: Invalid Root Table Address"),
        (0x31, "SM: TTM 0 for request with PASID"),
        (0x32, "SM: TTM 0 for page group request"),
        (0x38, "SM: Error attempting to access Root Entry"),
        (0x39, "SM: Present bit in Root Entry is clear"),
        (0x3a, "SM: Non-zero reserved field set in Root Entry"),
        (0x40, "SM: Error attempting to access Context Entry"),
        (0x41, "SM: Present bit in Context Entry is clear"),
        (0x42, "SM: Non-zero reserved field set in the Context Entry"),
        (0x43, "SM: Invalid Context Entry"),
        (0x44, "SM: DTE field in Context Entry is clear"),
        (0x45, "SM: PASID Enable field in Context Entry is clear"),
        (0x46, "SM: PASID is larger than the max in Context Entry"),
        (0x47, "SM: PRE field in Context-Entry is clear"),
        (0x48, "SM: RID_PASID field error in Context-Entry"),
        (
            0x50,
            "SM: Error attempting to access the PASID Directory Entry",
        ),
        (0x51, "SM: Present bit in Directory Entry is clear"),
        (
            0x52,
            "SM: Non-zero reserved field set in PASID Directory Entry",
        ),
        (0x58, "SM: Error attempting to access PASID Table Entry"),
        (0x59, "SM: Present bit in PASID Table Entry is clear"),
        (0x5a, "SM: Non-zero reserved field set in PASID Table Entry"),
        (0x5b, "SM: Invalid Scalable-Mode PASID Table Entry"),
        (0x5c, "SM: ERE field is clear in PASID Table Entry"),
        (0x5d, "SM: SRE field is clear in PASID Table Entry"),
        (
            0x70,
            "SM: Error attempting to access first-level paging entry",
        ),
        (0x71, "SM: Present bit in first-level paging entry is clear"),
        (
            0x72,
            "SM: Non-zero reserved field set in first-level paging entry",
        ),
        (0x73, "SM: Error attempting to access FL-PML4 entry"),
        (
            0x74,
            "SM: First-level entry address beyond MGAW in Nested translation",
        ),
        (
            0x75,
            "SM: Read permission error in FL-PML4 entry in Nested translation",
        ),
        (
            0x76,
            "SM: Read permission error in first-level paging entry in Nested translation",
        ),
        (
            0x77,
            "SM: Write permission error in first-level paging entry in Nested translation",
        ),
        (
            0x78,
            "SM: Error attempting to access second-level paging entry",
        ),
        (
            0x79,
            "SM: Read/Write permission error in second-level paging entry",
        ),
        (
            0x7a,
            "SM: Non-zero reserved field set in second-level paging entry",
        ),
        (0x7b, "SM: Invalid second-level page table pointer"),
        (
            0x7c,
            "SM: A/D bit update needed in second-level entry when set up in no snoop",
        ),
        (
            0x80,
            "SM: Address in first-level translation is not canonical",
        ),
        (
            0x81,
            "SM: U/S set 0 for first-level translation with user privilege",
        ),
        (
            0x82,
            "SM: No execute permission for request with PASID and ER=1",
        ),
        (0x83, "SM: Address beyond the DMA hardware max"),
        (0x84, "SM: Second-level entry address beyond the max"),
        (0x85, "SM: No write permission for Write/AtomicOp request"),
        (0x86, "SM: No read permission for Read/AtomicOp request"),
        (0x87, "SM: Invalid address-interrupt address"),
        (
            0x90,
            "SM: A/D bit update needed in first-level entry when set up in no snoop",
        ),
    ],
    custom: None,
};

/// The interrupt-remapping fault reasons 0x20–0x26 (Linux
/// `irq_remap_fault_reasons`, QEMU `VTD_FR_IR_*`).
pub const IR_FAULT_REASONS: CodeTable = CodeTable {
    names: &[
        (
            0x20,
            "Detected reserved fields in the decoded interrupt-remapped request",
        ),
        (
            0x21,
            "Interrupt index exceeded the interrupt-remapping table size",
        ),
        (0x22, "Present field in the IRTE entry is clear"),
        (
            0x23,
            "Error accessing interrupt-remapping table pointed by IRTA_REG",
        ),
        (0x24, "Detected reserved fields in the IRTE entry"),
        (0x25, "Blocked a compatibility format interrupt request"),
        (
            0x26,
            "Blocked an interrupt request due to source-id verification failure",
        ),
    ],
    custom: None,
};

/// The FRCD_REG fields after `fi` / `index`, the same in both kinds.
const FRCD_FIELDS: [&str; 10] = [
    "sid", "t2", "priv", "exe", "pp", "fr", "pv", "at", "t1", "f",
];

/// The ranges of [`FRCD_FIELDS`] (field indices from 1), after the first
/// field's range `first`.
const fn frcd_ranges(first: (u8, u8, u8, u8, u8)) -> [(u8, u8, u8, u8, u8); 11] {
    [
        first,
        (1, 1, 15, 0, 0),
        (2, 1, 28, 28, 0),
        (3, 1, 29, 29, 0),
        (4, 1, 30, 30, 0),
        (5, 1, 31, 31, 0),
        (6, 1, 39, 32, 0),
        (7, 1, 59, 40, 0),
        (8, 1, 61, 60, 0),
        (9, 1, 62, 62, 0),
        (10, 1, 63, 63, 0),
    ]
}

const fn with_first(first: &'static str) -> [&'static str; 11] {
    let mut n = [first; 11];
    let mut i = 0;
    while i < FRCD_FIELDS.len() {
        n[i + 1] = FRCD_FIELDS[i];
        i += 1;
    }
    n
}

const DMA_FIELDS: [&str; 11] = with_first("fi");
const IR_FIELDS: [&str; 11] = with_first("index");
const DMA_RANGES: [(u8, u8, u8, u8, u8); 11] = frcd_ranges((0, 0, 63, 12, 12));
const IR_RANGES: [(u8, u8, u8, u8, u8); 11] = frcd_ranges((0, 0, 63, 48, 0));
const FR_LO: u64 = 0x20;
const FR_HI: u64 = 0x2f;

record_format!(
    /// The FRCD_REG layout ([`FaultRecord`]).
    FaultFormat,
    /// A VT-d fault record (FRCD_REG): kinds `dma_fault` and `ir_fault`.
    ///
    /// ```
    /// use iommu_inval_vtd::fault::FaultRecord;
    /// use iommu_inval_core::NativeCommand;
    /// // F, T1 (read), FR 6 "PTE Read access is not set", SID 00:02.0, page 0xdead000.
    /// let r = FaultRecord::decode(&[0xdead_000, 1 << 63 | 1 << 62 | 6 << 32 | 0x10]).unwrap();
    /// assert_eq!((r.op(), r.uint("fi"), r.uint("sid"), r.flag("t1")), ("dma_fault", Some(0xdead_000), Some(0x10), Some(true)));
    /// assert_eq!(r.code_name("fr"), Some("PTE Read access is not set"));
    /// ```
    FaultRecord: ArchId::Vtd, crate::Features, 2,
    [
        Kind::new("dma_fault", 0, &DMA_FIELDS, &DMA_RANGES).with_tables(&[(6, &FAULT_REASONS)]),
        Kind::new("ir_fault", 0, &IR_FIELDS, &IR_RANGES).with_tables(&[(6, &IR_FAULT_REASONS)]),
    ],
    |w| {
        let fr = w.get(1).map_or(0, |x| (x >> 32) & 0xff);
        Ok(usize::from((FR_LO..=FR_HI).contains(&fr)))
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, NativeCommand};

    /// Bit positions of every field (VT-d §11.4.14, FRCD_REG; VirtualBox
    /// `VTD_BF_1_FRCD_REG_*` shifts 0, 28, 29, 30, 31, 32, 40, 60, 62, 63).
    #[test]
    fn frcd_bit_positions() {
        let w1 = 1 << 63 | 0b10 << 60 | 0xabcde << 40 | 0x59 << 32 | 0xf << 28 | 0x0102;
        let r = FaultRecord::decode(&[0x1234_5678_9000, w1]).unwrap();
        let names = [
            "fi", "sid", "t2", "priv", "exe", "pp", "fr", "pv", "at", "t1", "f",
        ];
        let want = [
            0x1234_5678_9000,
            0x0102,
            1,
            1,
            1,
            1,
            0x59,
            0xabcde,
            0b10,
            0,
            1,
        ];
        assert_eq!(names.map(|n| r.uint(n)), want.map(Some));
        // Interrupt-remapping fault: the index in w0[63:48], w0[47:12] clear.
        let r = FaultRecord::decode(&[0x00ab << 48, 1 << 63 | 0x21 << 32 | 0x08]).unwrap();
        assert_eq!((r.op(), r.uint("index")), ("ir_fault", Some(0xab)));
        let e = FaultRecord::decode(&[0x00ab << 48 | 0x1000, 0x21 << 32]).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 0, 0x1000)
        );
    }

    #[test]
    fn reserved_and_unknown_reasons() {
        // w0[11:0] and w1[27:16] are reserved.
        let e = FaultRecord::decode(&[1, 5 << 32]).unwrap_err();
        assert_eq!((e.kind, e.mask), (ErrorKind::ReservedBits, 1));
        let e = FaultRecord::decode(&[0, 5 << 32 | 1 << 16]).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 1, 1 << 16)
        );
        // Reason 0x0e, 0x27 and 0 are no reason: invalid_field "fr".
        for fr in [0u64, 0x0e, 0x27, 0x2f, 0xff] {
            let e = FaultRecord::decode(&[0, fr << 32]).unwrap_err();
            assert_eq!(
                (e.kind, e.field),
                (ErrorKind::InvalidField, "fr"),
                "{fr:#x}"
            );
        }
        assert_eq!(
            FaultRecord::decode(&[0]).unwrap_err().kind,
            ErrorKind::BadLength
        );
    }
}
