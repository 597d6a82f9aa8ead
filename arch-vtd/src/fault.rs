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

use crate::queue::event_fires;
use iommu_inval_core::event::{Fate, RecordSlots};
use iommu_inval_core::record::{CodeTable, Kind};
use iommu_inval_core::ring::Ring;
use iommu_inval_core::{record_format, ArchId, MemError, QueueMemory};

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

/// FSTS_REG.PFO (bit 0): primary fault overflow.
const FSTS_PFO: u32 = 1 << 0;
/// FSTS_REG.PPF (bit 1): primary pending fault.
const FSTS_PPF: u32 = 1 << 1;
/// FSTS_REG status fields PFO, PPF, AFO, APF, IQE, ICE, ITE (bits 6:0).
const FSTS_STATUS: u32 = 0x7f;
/// FSTS_REG.FRI (bits 15:8): the fault record index.
const FSTS_FRI_SHIFT: u32 = 8;

/// The fault recording registers of a guest's VT-d unit as the VMM that
/// records faults into them sees them: not a ring but NFR + 1 FRCD_REGs
/// whose `F` bits say which hold a fault (VT-d §7.2.1 "Primary Fault
/// Logging", §11.4.14; QEMU `vtd_report_frcd_fault`, VirtualBox
/// `dmarPrimaryFaultCanRecord`).
///
/// * The registers live in the VMM's register memory: `base` is the
///   address of FRCD_REG 0 there (register base + 16 · CAP_REG.FRO); the
///   guest clears a record's `F` by writing 1 to it (RW1C).
/// * A fault goes to the register at `next` (the hardware's internal
///   index, wrapping after NFR); when that register's `F` is still set the
///   fault is dropped and FSTS.PFO set, and while PFO is set no fault is
///   recorded ("When this field is Set, hardware does not record any new
///   faults until software clears this field", FSTS_REG.PFO).
/// * A fault recorded with PPF clear sets PPF and FRI (the index); it is an
///   interrupt condition when no FSTS status field (PFO, PPF, AFO, APF,
///   IQE, ICE, ITE) was set: FECTL.IP is set, and the fault event sent and
///   IP cleared unless FECTL.IM masks it (FECTL_REG.IP). PPF is the OR of
///   the `F` bits: [`FaultRecording::update_ppf`] after the guest clears
///   some. `fsts` is the whole FSTS_REG: a VMM with an
///   [`InvQueue`](crate::queue::InvQueue) keeps its IQE, ICE, ITE there too.
///
/// ```
/// use iommu_inval_vtd::fault::{FaultRecording, FaultRecord};
/// use iommu_inval_core::event::{Fate, RecordQueue};
/// use iommu_inval_core::{CellMemory, NativeCommand};
/// let mut regs = [0u8; 0x20];
/// let mem = CellMemory::new(0x200, &mut regs);
/// // Two FRCD_REGs at 0x200, FECTL.IM clear.
/// let mut frcd = FaultRecording { base: 0x200, nfr: 1, ..Default::default() };
/// let f = FaultRecord::decode(&[0xdead_000, 1 << 63 | 1 << 62 | 6 << 32 | 0x10]).unwrap();
/// let d = frcd.offer(&mem, &f, false).unwrap();
/// assert!(d.written() && d.interrupt);
/// frcd.offer(&mem, &f, false).unwrap();
/// assert_eq!(frcd.offer(&mem, &f, false).unwrap().fate, Fate::Full { flagged: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FaultRecording {
    /// Address of FRCD_REG 0 in the VMM's register memory.
    pub base: u64,
    /// CAP_REG.NFR: NFR + 1 fault recording registers.
    pub nfr: u8,
    /// The register the next fault goes to.
    pub next: u8,
    /// FSTS_REG.
    pub fsts: u32,
    /// FECTL_REG (IM, IP).
    pub fectl: u32,
}

impl FaultRecording {
    /// The number of registers.
    fn count(&self) -> u32 {
        u32::from(self.nfr) + 1
    }
    /// The index of the next register (`next` read modulo the count).
    fn index(&self) -> u32 {
        u32::from(self.next) % self.count()
    }
    /// The registers as a ring of 256 two-word slots (NFR is 8 bits), of
    /// which the first NFR + 1 are used.
    fn regs(&self) -> Ring {
        Ring::new(self.base, 8, 2, false, false)
    }
    /// Whether register `i` holds a fault (its `F`, bit 127).
    fn held<M: QueueMemory + ?Sized>(&self, mem: &M, i: u32) -> Result<bool, MemError> {
        let mut w1 = [0u64];
        mem.read_words(self.regs().slot_addr(i).wrapping_add(8), &mut w1)?;
        Ok(w1[0] >> 63 != 0)
    }
    /// Recompute FSTS.PPF as the OR of the `F` bits (after the guest
    /// cleared some).
    pub fn update_ppf<M: QueueMemory + ?Sized>(&mut self, mem: &M) -> Result<(), MemError> {
        let mut any = false;
        for i in 0..self.count() {
            any |= self.held(mem, i)?;
        }
        if !any {
            self.fsts &= !FSTS_PPF;
        }
        Ok(())
    }
}

impl RecordSlots for FaultRecording {
    fn next_slot<M: QueueMemory + ?Sized>(&self, mem: &M) -> Result<Option<(Ring, u32)>, MemError> {
        let i = self.index();
        Ok((!self.held(mem, i)?).then_some((self.regs(), i)))
    }
    fn advance(&mut self) {
        // Below 256: the index is at most NFR.
        self.next = ((self.index() + 1) % self.count()) as u8;
    }
}

crate::queue::vtd_record_queue!(FaultRecording, FaultRecord, fsts, FSTS_PFO, frcd_signal);

/// A fault recorded with PPF clear sets PPF and FRI, and is the fault
/// event's condition when no FSTS status field was set. PFO is not an
/// interrupt condition (FECTL_REG.IP lists PPF, APF, IQE, ICE, ITE).
fn frcd_signal(q: &mut FaultRecording, fate: &Fate, _: &FaultRecord) -> bool {
    if *fate != Fate::Written || q.fsts & FSTS_PPF != 0 {
        return false;
    }
    let fresh = q.fsts & FSTS_STATUS == 0;
    let written = (q.index() + q.count() - 1) % q.count();
    q.fsts = (q.fsts & !(0xff << FSTS_FRI_SHIFT)) | FSTS_PPF | written << FSTS_FRI_SHIFT;
    fresh && event_fires(&mut q.fectl)
}

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

    /// Primary fault logging (VT-d §7.2.1; FSTS_REG, FECTL_REG): the next
    /// register in turn, PPF and FRI on the first fault, the fault event
    /// only when no FSTS status field was set, PFO when the next register
    /// still holds a fault, nothing recorded while PFO is set.
    #[test]
    fn fault_recording_registers() {
        use iommu_inval_core::event::{Fate::*, RecordQueue};
        use iommu_inval_core::{CellMemory, QueueMemory};
        let mut regs = [0u8; 0x30];
        let mem = CellMemory::new(0x200, &mut regs);
        let mut q = FaultRecording {
            base: 0x200,
            nfr: 1,
            ..Default::default()
        };
        let f = |sid: u64| FaultRecord::decode(&[0x5000, 1 << 63 | 6 << 32 | sid]).unwrap();
        let go = |q: &mut FaultRecording, sid| {
            let d = q.offer(&mem, &f(sid), false).unwrap();
            assert_eq!(d.response, None);
            (d.fate, d.interrupt)
        };
        assert_eq!(go(&mut q, 1), (Written, true));
        assert_eq!((q.fsts, q.next, q.fectl), (FSTS_PPF, 1, 0));
        assert_eq!(go(&mut q, 2), (Written, false));
        let mut w = [0u64; 2];
        mem.read_words(0x210, &mut w).unwrap();
        assert_eq!(w, [0x5000, 1 << 63 | 6 << 32 | 2]);
        // Register 0 still holds its fault: PFO, then nothing while it is set.
        assert_eq!(go(&mut q, 3), (Full { flagged: true }, false));
        assert_eq!(q.fsts, FSTS_PPF | FSTS_PFO);
        mem.write_words(0x208, &[0]).unwrap(); // the guest clears F of register 0
        assert_eq!(go(&mut q, 4), (Overflowed, false));
        q.fsts &= !FSTS_PFO;
        assert_eq!(go(&mut q, 5), (Written, false)); // PPF was set
                                                     // Every F cleared: PPF clear; the next fault is held pending by IM.
        mem.write_words(0x208, &[0]).unwrap();
        mem.write_words(0x218, &[0]).unwrap();
        q.update_ppf(&mem).unwrap();
        assert_eq!(q.fsts, 0);
        q.fectl = crate::queue::CTL_IM;
        assert_eq!(go(&mut q, 6), (Written, false));
        assert_eq!(q.fsts, FSTS_PPF | 1 << FSTS_FRI_SHIFT);
        assert_eq!(q.fectl, crate::queue::CTL_IM | crate::queue::CTL_IP);
        // A pending IQE: the fault sets PPF but is no new interrupt condition.
        let mut r = FaultRecording {
            base: 0x200,
            nfr: 1,
            fsts: crate::queue::FSTS_IQE,
            ..Default::default()
        };
        mem.write_words(0x208, &[0]).unwrap();
        assert_eq!(go(&mut r, 7), (Written, false));
        assert_eq!(r.fsts, crate::queue::FSTS_IQE | FSTS_PPF);
    }
}
