//! The RISC-V IOMMU fault-queue record (RISC-V IOMMU specification,
//! `src/iommu_in_memory_queues.adoc` § "Fault/Event-Queue (FQ)"): 32 bytes,
//! four 64-bit doublewords (byte order per `fctl.BE`; the codec works on
//! the doublewords).
//!
//! | bits | field |
//! |---|---|
//! | w0\[11:0\] | `cause` ([`CAUSES`]; 2048–4095 custom, kept raw) |
//! | w0\[31:12\] | `pid`: process_id (when `pv`) |
//! | w0\[32\] | `pv` |
//! | w0\[33\] | `priv`: the transaction was Supervisor |
//! | w0\[39:34\] | `ttyp` ([`TTYPS`]; 32–63 custom, kept raw) |
//! | w0\[63:40\] | `did`: device_id |
//! | w1\[31:0\] | `custom`: for custom use, kept raw |
//! | w1\[63:32\] | reserved |
//! | w2 | `iotval` |
//! | w3 | `iotval2` (guest-page faults: GPA\[63:2\]; bit 0 implicit access, bit 1 its write) |
//!
//! Reserved `cause` and `ttyp` values are refused (`invalid_field`): the
//! specification reserves them "for future standard use". The rules that
//! tie fields together ("PID and PRIV are 0 if PV is 0", "DID, PV, PID and
//! PRIV are 0 if TTYP is 0") are left to the producer: the codec is exact on
//! whatever record it is given.

use iommu_inval_core::event::{Fate, RecordQueue};
use iommu_inval_core::record::{CodeTable, FormatRecord, Kind};
use iommu_inval_core::ring::{Ring, RingRegs};
use iommu_inval_core::{record_format, ArchId};

/// The `CAUSE` encodings (table "Fault record CAUSE field encodings");
/// 2048–4095 are designated for custom use, every other value is reserved.
pub const CAUSES: CodeTable = CodeTable {
    names: &[
        (1, "Instruction access fault"),
        (4, "Read address misaligned"),
        (5, "Read access fault"),
        (6, "Write/AMO address misaligned"),
        (7, "Write/AMO access fault"),
        (12, "Instruction page fault"),
        (13, "Read page fault"),
        (15, "Write/AMO page fault"),
        (20, "Instruction guest page fault"),
        (21, "Read guest-page fault"),
        (23, "Write/AMO guest-page fault"),
        (256, "All inbound transactions disallowed"),
        (257, "DDT entry load access fault"),
        (258, "DDT entry not valid"),
        (259, "DDT entry misconfigured"),
        (260, "Transaction type disallowed"),
        (261, "MSI PTE load access fault"),
        (262, "MSI PTE not valid"),
        (263, "MSI PTE misconfigured"),
        (264, "MRIF access fault"),
        (265, "PDT entry load access fault"),
        (266, "PDT entry not valid"),
        (267, "PDT entry misconfigured"),
        (268, "DDT data corruption"),
        (269, "PDT data corruption"),
        (270, "MSI PT data corruption"),
        (271, "MSI MRIF data corruption"),
        (272, "Internal data path error"),
        (273, "IOMMU MSI write access fault"),
        (274, "First/second-stage PT data corruption"),
    ],
    custom: Some((2048, 4095)),
};

/// The `TTYP` encodings (table "Fault record TTYP field encodings"). The
/// table prints the custom range as "31 - 63" beside "10 - 31 Reserved";
/// 31 is taken as reserved and 32–63 as custom.
pub const TTYPS: CodeTable = CodeTable {
    names: &[
        (0, "None. Fault not caused by an inbound transaction."),
        (1, "Untranslated read for execute transaction"),
        (2, "Untranslated read transaction"),
        (3, "Untranslated write/AMO transaction"),
        (5, "Translated read for execute transaction"),
        (6, "Translated read transaction"),
        (7, "Translated write/AMO transaction"),
        (8, "PCIe ATS Translation Request"),
        (9, "PCIe Message Request"),
    ],
    custom: Some((32, 63)),
};

record_format!(
    /// The fault-queue record layout ([`FaultRecord`]).
    FaultFormat,
    /// A RISC-V IOMMU fault-queue record (one kind, `fault_record`).
    ///
    /// ```
    /// use iommu_inval_riscv::fault::FaultRecord;
    /// use iommu_inval_core::NativeCommand;
    /// // CAUSE 13 (read page fault), TTYP 2 (untranslated read), device 0x10, IOVA 0x8000.
    /// let r = FaultRecord::decode(&[0x10 << 40 | 2 << 34 | 13, 0, 0x8000, 0]).unwrap();
    /// assert_eq!((r.uint("cause"), r.uint("did"), r.uint("iotval")), (Some(13), Some(0x10), Some(0x8000)));
    /// assert_eq!((r.code_name("cause"), r.code_name("ttyp")), (Some("Read page fault"), Some("Untranslated read transaction")));
    /// ```
    FaultRecord: ArchId::Riscv, crate::Features, 4,
    [Kind::new(
        "fault_record",
        0,
        &["cause", "pid", "pv", "priv", "ttyp", "did", "custom", "iotval", "iotval2"],
        &[(0, 0, 11, 0, 0), (1, 0, 31, 12, 0), (2, 0, 32, 32, 0), (3, 0, 33, 33, 0), (4, 0, 39, 34, 0), (5, 0, 63, 40, 0), (6, 1, 31, 0, 0), (7, 2, 63, 0, 0), (8, 3, 63, 0, 0)],
    )
    .with_tables(&[(0, &CAUSES), (4, &TTYPS)])]
);

/// `fqcsr.fqen` / `pqcsr.pqen` (bit 0).
const CSR_EN: u32 = 1 << 0;
/// `fqcsr.fie` / `pqcsr.pie` (bit 1).
const CSR_IE: u32 = 1 << 1;
/// `fqcsr.fqmf` / `pqcsr.pqmf` (bit 8, RW1C).
const CSR_MF: u32 = 1 << 8;
/// `fqcsr.fqof` / `pqcsr.pqof` (bit 9, RW1C).
const CSR_OF: u32 = 1 << 9;
/// `fqcsr.fqon` / `pqcsr.pqon` (bit 16, RO).
const CSR_ON: u32 = 1 << 16;

/// A record a RISC-V IOMMU output queue holds: its interrupt pending bit
/// in `ipsr` (`src/iommu_registers.adoc`).
pub trait QueueRecord: FormatRecord {
    /// `ipsr.fip` (bit 1) / `ipsr.pip` (bit 3).
    const IPSR: u32;
}

impl QueueRecord for FaultRecord {
    const IPSR: u32 = 1 << 1;
}

/// A guest's RISC-V IOMMU fault queue (`GuestQueue<FaultRecord>`) or
/// page-request queue (`GuestQueue<pq::PageRequest>`) as the VMM that
/// produces into it sees its registers (`src/iommu_in_memory_queues.adoc`
/// "Fault/Event-Queue", "Page-Request-Queue"; `src/iommu_registers.adoc`):
/// `base` is `fqb` / `pqb` (PPN `[53:10]`, LOG2SZ-1 `[4:0]`), `head` the
/// guest's `fqh` / `pqh`, `tail` the VMM's `fqt` / `pqt` (head = tail
/// empty, tail = head - 1 full), `csr` `fqcsr` / `pqcsr`, `ipsr` the
/// interrupt pending register, `be` `fctl.BE`.
///
/// * Records go in only while `en` and `on` are 1; a full queue sets `of`
///   and a failed write `mf`, and "while either error bit is set ... the
///   IOMMU discards the record that led to the fault and all further
///   fault records".
/// * "When an error bit ... is 1 or when a new fault record is produced
///   ..., the fault interrupt pending (`fip`) bit is set in the `ipsr` if
///   ... `fqcsr.fie` is 1" (`pip`, `pie` likewise); the interrupt is
///   raised when the bit is set from 0.
/// * A dropped last page request (not a Stop Marker) is answered
///   (`src/iommu_data_structures.adoc` "PCIe ATS Page Request handling"):
///   Success when the queue is full or `pqof` is set, Response Failure
///   when it is off or `pqmf` is set; the PASID echoed when the request had
///   one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestQueue<R> {
    /// `fqb` / `pqb`.
    pub base: u64,
    /// `fqh` / `pqh` (the guest's).
    pub head: u32,
    /// `fqt` / `pqt` (the VMM's).
    pub tail: u32,
    /// `fqcsr` / `pqcsr`.
    pub csr: u32,
    /// `ipsr`.
    pub ipsr: u32,
    /// `fctl.BE`: records are stored big-endian.
    pub be: bool,
    record: core::marker::PhantomData<R>,
}

impl<R> GuestQueue<R> {
    /// The queue `base` describes, off and empty.
    pub const fn new(base: u64, be: bool) -> Self {
        GuestQueue {
            base,
            head: 0,
            tail: 0,
            csr: 0,
            ipsr: 0,
            be,
            record: core::marker::PhantomData,
        }
    }
    /// The guest wrote `fqcsr` / `pqcsr`: `en` and `ie` as written, `mf`
    /// and `of` written as 1 cleared; `en` from 0 to 1 clears the tail,
    /// `mf` and `of`; `on` follows `en` (at once: `busy` never reads 1 here).
    pub fn write_csr(&mut self, value: u32) {
        let enabling = value & CSR_EN != 0 && self.csr & CSR_EN == 0;
        let mut csr = self.csr & !(value & (CSR_MF | CSR_OF)) & (CSR_MF | CSR_OF);
        if enabling {
            self.tail = 0;
            csr = 0;
        }
        let on = if value & CSR_EN != 0 { CSR_ON } else { 0 };
        self.csr = csr | value & (CSR_EN | CSR_IE) | on;
    }
}

impl<R: QueueRecord> RingRegs for GuestQueue<R> {
    fn ring(&self) -> Ring {
        let log2 = (self.base & crate::queue::CQB_LOG2SZ_MASK) as u8 + 1;
        let base = (self.base & crate::queue::CQB_PPN_MASK) << 2;
        Ring::new(base, log2, R::MAX_WORDS as u8, false, self.be)
    }
    fn head(&self) -> u32 {
        self.head
    }
    fn tail(&self) -> u32 {
        self.tail
    }
    fn set_head(&mut self, pos: u32) {
        self.head = self.ring().index(pos);
    }
    fn set_tail(&mut self, pos: u32) {
        self.tail = self.ring().index(pos);
    }
}

impl<R: QueueRecord> RecordQueue for GuestQueue<R> {
    type Record = R;
    fn enabled(&self) -> bool {
        self.csr & (CSR_EN | CSR_ON) == CSR_EN | CSR_ON
    }
    fn overflow_pending(&self) -> bool {
        self.csr & CSR_OF != 0
    }
    fn raise_overflow(&mut self) {
        self.csr |= CSR_OF;
    }
    fn discards_while_overflowed(&self) -> bool {
        true
    }
    fn abort_pending(&self) -> bool {
        self.csr & CSR_MF != 0
    }
    fn raise_abort(&mut self) {
        self.csr |= CSR_MF;
    }
    fn signal(&mut self, fate: &Fate, _: &R) -> bool {
        let raised = match fate {
            Fate::Written => true,
            Fate::Disabled => false,
            _ => self.csr & (CSR_MF | CSR_OF) != 0,
        };
        let fresh = self.ipsr & R::IPSR == 0;
        if !raised || self.csr & CSR_IE == 0 {
            return false;
        }
        self.ipsr |= R::IPSR;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, NativeCommand};

    /// Bit positions (§ Fault/Event-Queue, "Fault-queue record": CAUSE 12,
    /// PID 20, PV 1, PRIV 1, TTYP 6, DID 24 | custom 32, reserved 32 |
    /// iotval 64 | iotval2 64).
    #[test]
    fn fault_record_bit_positions() {
        let w0 = 0xabcdef << 40 | 9 << 34 | 1 << 33 | 1 << 32 | 0xfedcb << 12 | 274;
        let r = FaultRecord::decode(&[w0, 0xdead_beef, 1, 2]).unwrap();
        let got = [
            "cause", "pid", "pv", "priv", "ttyp", "did", "custom", "iotval", "iotval2",
        ]
        .map(|n| r.uint(n));
        let want = [274, 0xfedcb, 1, 1, 9, 0xabcdef, 0xdead_beef, 1, 2].map(Some);
        assert_eq!(got, want);
        let e = FaultRecord::decode(&[1, 1 << 32, 0, 0]).unwrap_err();
        assert_eq!(
            (e.kind, e.word, e.mask),
            (ErrorKind::ReservedBits, 1, 1 << 32)
        );
    }

    #[test]
    fn reserved_codes_are_refused_and_custom_ones_kept() {
        for cause in [0u64, 2, 24, 255, 275, 2047] {
            let e = FaultRecord::decode(&[cause, 0, 0, 0]).unwrap_err();
            assert_eq!(
                (e.kind, e.field),
                (ErrorKind::InvalidField, "cause"),
                "{cause}"
            );
        }
        for ttyp in [4u64, 10, 31] {
            let e = FaultRecord::decode(&[ttyp << 34 | 1, 0, 0, 0]).unwrap_err();
            assert_eq!(
                (e.kind, e.field),
                (ErrorKind::InvalidField, "ttyp"),
                "{ttyp}"
            );
        }
        let r = FaultRecord::decode(&[63 << 34 | 4095, 0, 0, 0]).unwrap();
        assert_eq!((r.uint("cause"), r.code_name("cause")), (Some(4095), None));
        assert_eq!((r.uint("ttyp"), r.code_name("ttyp")), (Some(63), None));
    }

    /// The fault queue (`fqb`, `fqh`, `fqt`, `fqcsr`, `ipsr.fip`): nothing
    /// while off, `fip` set with `fie` on a record written or an error bit,
    /// the interrupt when it is set from 0; `fqof` on a full queue and
    /// `fqmf` on a failed write, nothing written while either is set;
    /// records in the byte order of `fctl.BE`.
    #[test]
    fn fault_queue_as_a_guest_queue() {
        use iommu_inval_core::event::Fate::*;
        use iommu_inval_core::{CellMemory, QueueMemory};
        let mut ram = [0u8; 0x80];
        let mem = CellMemory::new(0x1000, &mut ram);
        // Four 32-byte records at 0x1000 (LOG2SZ-1 = 1): three fit.
        let mut q = GuestQueue::<FaultRecord>::new(1 << 10 | 1, true);
        let rec = FaultRecord::decode(&[0x10 << 40 | 2 << 34 | 13, 0, 0x8000, 0]).unwrap();
        let go = |q: &mut GuestQueue<FaultRecord>| {
            let d = q.offer(&mem, &rec, false).unwrap();
            assert_eq!(d.response, None);
            (d.fate, d.interrupt)
        };
        assert_eq!(go(&mut q), (Disabled, false));
        q.write_csr(CSR_EN | CSR_IE);
        assert_eq!(q.csr, CSR_EN | CSR_IE | CSR_ON);
        assert_eq!(go(&mut q), (Written, true));
        assert_eq!((q.ipsr, q.tail), (1 << 1, 1));
        let mut w = [0u64; 1];
        mem.read_words(0x1000, &mut w).unwrap();
        assert_eq!(w[0], (0x10 << 40 | 2 << 34 | 13u64).swap_bytes());
        assert_eq!(go(&mut q), (Written, false));
        q.ipsr = 0; // the guest clears fip (RW1C)
        assert_eq!(go(&mut q), (Written, true));
        q.ipsr = 0;
        assert_eq!(go(&mut q), (Full { flagged: true }, true));
        assert_eq!(q.csr & CSR_OF, CSR_OF);
        q.head = q.tail;
        assert_eq!(go(&mut q), (Overflowed, false));
        q.write_csr(CSR_EN | CSR_IE | CSR_OF);
        assert_eq!(go(&mut q), (Written, false));
        // A queue outside guest memory: fqmf, then nothing.
        let mut far = GuestQueue::<FaultRecord>::new(0x100 << 10 | 1, false);
        far.write_csr(CSR_EN | CSR_IE);
        assert!(matches!(go(&mut far), (Aborted(_), true)));
        assert_eq!(far.csr & CSR_MF, CSR_MF);
        assert_eq!(go(&mut far), (Stopped, false));
    }
}
