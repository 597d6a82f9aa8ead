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

use iommu_inval_core::record::{CodeTable, Kind};
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
}
