//! The AMD-Vi PPR (peripheral page request) log entry (AMD #48882 §3.5
//! "Peripheral Page Service Request Logging"): 16 bytes, two little-endian
//! words, the request type in `w0[63:60]`; type 1 is PAGE_SERVICE_REQUEST,
//! the only one defined (any other is refused, `unknown_opcode`).
//!
//! | bits | field |
//! |---|---|
//! | w0\[15:0\] | `device_id` |
//! | w0\[31:16\], w0\[45:42\] | `pasid` (bits 15:0, 19:16) |
//! | w0\[40:32\] | `tag`: the PRG index |
//! | w0\[41\] | `last`: last request in the group |
//! | w0\[47:46\] | reserved |
//! | w0\[49\] | `exec`: execute requested |
//! | w0\[50\] | `read` |
//! | w0\[53\] | `write` |
//! | w0\[54\] | `us`: 1 user, 0 supervisor |
//! | w0\[55\] | `rz`: a reserved bit of the request was not zero |
//! | w0\[56\] | `gn`: guest (the PASID is valid) |
//! | w0\[48\], w0\[52:51\], w0\[59:57\] | reserved |
//! | w1 | `address` |
//!
//! Sources: Linux `drivers/iommu/amd/amd_iommu_types.h` (`PPR_DEVID`,
//! `PPR_PASID1/2`, `PPR_TAG`, `PPR_FLAGS`, `PPR_REQ_TYPE`, `PPR_REQ_FAULT`,
//! `PPR_FLAG_*`) and `ppr.c` (`tag & 0x200` is the last-in-group bit, the
//! group index `tag & 0x1ff`). The flag bits Linux does not name are taken
//! as reserved; w0\[47:46\] likewise, by elimination.

use iommu_inval_core::record::{Kind, PageRequestFields};
use iommu_inval_core::{record_format, ArchId};

record_format!(
    /// The PPR log entry layout ([`PprRecord`]).
    PprFormat,
    /// An AMD-Vi PPR log entry.
    ///
    /// ```
    /// use iommu_inval_amd::ppr::PprRecord;
    /// use iommu_inval_core::NativeCommand;
    /// // Device 0x10, PASID 1 (gn), read, last, tag 2, at 0x4000.
    /// let r = PprRecord::decode(&[1 << 60 | 1 << 56 | 1 << 50 | 1 << 41 | 2 << 32 | 1 << 16 | 0x10, 0x4000]).unwrap();
    /// assert_eq!((r.uint("pasid"), r.uint("tag"), r.flag("last"), r.flag("read")), (Some(1), Some(2), Some(true), Some(true)));
    /// ```
    PprRecord: ArchId::Amd, crate::Features, 2, code = (0, 0xf << 60), page_request = FIELDS,
    // PAGE_SERVICE_REQUEST is type 1 (Linux `PPR_REQ_FAULT`).
    [Kind::new(
        "PAGE_SERVICE_REQUEST",
        0x1,
        &["device_id", "pasid", "tag", "last", "exec", "read", "write", "us", "rz", "gn", "address"],
        &[(0, 0, 15, 0, 0), (1, 0, 31, 16, 0), (1, 0, 45, 42, 16), (2, 0, 40, 32, 0), (3, 0, 41, 41, 0), (4, 0, 49, 49, 0), (5, 0, 50, 50, 0), (6, 0, 53, 53, 0), (7, 0, 54, 54, 0), (8, 0, 55, 55, 0), (9, 0, 56, 56, 0), (10, 1, 63, 0, 0)],
    )]
);

/// The PPR log entry as a page request: `tag` is the group index, US the
/// inverse of privileged, GN the PASID's valid flag; an entry with RZ does
/// not lift.
pub(crate) const FIELDS: PageRequestFields = PageRequestFields::new(
    "PAGE_SERVICE_REQUEST",
    [
        "device_id",
        "gn",
        "pasid",
        "read",
        "write",
        "exec",
        "us",
        "last",
        "tag",
        "address",
    ],
)
.user_flag()
.refusing("rz");

impl crate::event::LogRecord for PprRecord {
    const LOG_EN: u64 = 1 << 13;
    const INT_EN: u64 = 1 << 14;
    const OVERFLOW: u32 = 1 << 5;
    const INT: u32 = 1 << 6;
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, NativeCommand};

    /// Bit positions (Linux amd_iommu_types.h: `PPR_PASID1` w0[31:16],
    /// `PPR_PASID2` w0[45:42], `PPR_TAG` w0[41:32], `PPR_FLAGS` w0[59:48] with
    /// EXEC 0x002, READ 0x004, WRITE 0x020, US 0x040, RVSD 0x080, GN 0x100).
    #[test]
    fn ppr_bit_positions() {
        let r = PprRecord::decode(&[
            1 << 60 | 0xa << 42 | 0x1ff << 32 | 0xbcde << 16 | 0x0102,
            0x1234_5000,
        ])
        .unwrap();
        assert_eq!(r.uint("pasid"), Some(0xabcde));
        assert_eq!((r.uint("tag"), r.flag("last")), (Some(0x1ff), Some(false)));
        assert_eq!(
            (r.uint("device_id"), r.uint("address")),
            (Some(0x0102), Some(0x1234_5000))
        );
        for (flag, n) in [
            (0x002, "exec"),
            (0x004, "read"),
            (0x020, "write"),
            (0x040, "us"),
            (0x080, "rz"),
            (0x100, "gn"),
        ] {
            let r = PprRecord::decode(&[1 << 60 | flag << 48, 0]).unwrap();
            assert_eq!(r.flag(n), Some(true), "{n}");
        }
        for bit in [46u32, 47, 48, 51, 52, 57, 59] {
            let e = PprRecord::decode(&[1 << 60 | 1 << bit, 0]).unwrap_err();
            assert_eq!((e.kind, e.mask), (ErrorKind::ReservedBits, 1 << bit));
        }
        let e = PprRecord::decode(&[2 << 60, 0]).unwrap_err();
        assert_eq!((e.kind, e.mask), (ErrorKind::UnknownOpcode, 2));
    }

    /// The PPR log (PPRLogEn, PPRIntEn, PPROverflow, PPRInt) and the
    /// response a dropped last request is owed: Success (PASID echoed) when
    /// full or overflowed, Failure without a PASID when disabled.
    #[test]
    fn ppr_log_and_automatic_responses() {
        extern crate std;
        use crate::event::GuestLog;
        use iommu_inval_core::event::RecordQueue;
        use iommu_inval_core::CellMemory;
        use std::string::ToString;
        let mut ram = [0u8; 0x1000];
        let mem = CellMemory::new(0x1000, &mut ram);
        let mut log = GuestLog::<PprRecord>::new(8 << 56 | 0x1000, 1 << 13 | 1 << 14);
        // Device 0x10, PASID 1 (gn), read, tag 2; `last`.
        let ppr = |last: u64| {
            PprRecord::decode(&[
                1 << 60 | 1 << 56 | 1 << 50 | last << 41 | 2 << 32 | 1 << 16 | 0x10,
                0x4000,
            ])
            .unwrap()
        };
        let go = |l: &mut GuestLog<PprRecord>, last| {
            l.offer(&mem, &ppr(last), false).unwrap().to_string()
        };
        assert_eq!(go(&mut log, 1), "written, interrupt");
        assert_eq!(log.status, 1 << 6);
        log.head = 0x10;
        log.tail = 0; // full: tail + 1 == head
        assert_eq!(
            go(&mut log, 1),
            "dropped: queue full, overflow raised, interrupt, owed Success to device 0x10 PASID 1 group 2"
        );
        assert_eq!(go(&mut log, 0), "dropped: overflow pending");
        log.control = 0;
        assert_eq!(
            go(&mut log, 1),
            "dropped: queue disabled, owed Failure to device 0x10 group 2"
        );
    }
}
