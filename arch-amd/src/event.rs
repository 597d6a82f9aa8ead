//! The AMD-Vi event log entry (AMD I/O Virtualization Technology (IOMMU)
//! Specification #48882, §2.5 "Event Logging"): 16 bytes, two little-endian
//! words, the event code in `w0[63:60]`. Every event code with its fields:
//!
//! | code | kind | fields |
//! |---|---|---|
//! | 0x1 | `ILLEGAL_DEV_TABLE_ENTRY` | `device_id` w0\[15:0\], `pasid` w0\[19:16\]:w0\[47:32\], `gn` 48, `i` 51, `rw` 53, `rz` 55, `tr` 56, `address` w1 |
//! | 0x2 | `IO_PAGE_FAULT` | `device_id`, `domain_or_pasid` w0\[19:16\]:w0\[47:32\], `gn` 48, `nx` 49, `us` 50, `i` 51, `pr` 52, `rw` 53, `pe` 54, `rz` 55, `tr` 56, `address` w1 |
//! | 0x3 | `DEV_TAB_HARDWARE_ERROR` | `device_id`, `i` 51, `rw` 53, `tr` 56, `type` w0\[58:57\], `address` w1 |
//! | 0x4 | `PAGE_TAB_HARDWARE_ERROR` | `device_id`, `domain_or_pasid`, `gn` 48, `i` 51, `rw` 53, `tr` 56, `type` w0\[58:57\], `address` w1 |
//! | 0x5 | `ILLEGAL_COMMAND_ERROR` | `address` w1 (of the command) |
//! | 0x6 | `COMMAND_HARDWARE_ERROR` | `type` w0\[58:57\], `address` w1 |
//! | 0x7 | `IOTLB_INV_TIMEOUT` | `device_id`, `address` w1\[63:4\] (of the command) |
//! | 0x8 | `INVALID_DEVICE_REQUEST` | `device_id`, `pasid`, `gn` 48, `us` 49, `tr` 56, `type` w0\[59:57\], `address` w1 |
//! | 0x9 | `INVALID_PPR_REQUEST` | `device_id`, `pasid` w0\[45:42\]:w0\[31:16\], `tag` w0\[41:32\], `flags` w0\[59:48\], `address` w1 |
//! | 0xa | `EVENT_COUNTER_ZERO` | `counter_note` w1\[19:0\]:w1\[63:32\] |
//! | 0xd | `RMP_PAGE_FAULT` | `device_id`, `flags_rmp` w0\[23:16\], `vmg_tag` w0\[47:32\], `flags` w0\[59:48\], `gpa` w1 |
//! | 0xe | `RMP_HW_ERROR` | `device_id`, `vmg_tag` w0\[47:32\], `flags` w0\[59:48\], `spa` w1 |
//!
//! Sources (the specification itself was not readable here): VirtualBox's
//! AMD IOMMU header (`EVT_*_T`, "in accordance with the AMD spec": the
//! per-event bit positions, `type`, `counter_note`), Linux
//! `drivers/iommu/amd/iommu.c` (`iommu_print_event`: the 20-bit PASID /
//! domain split, INVALID_PPR_REQUEST's PASID and tag, the RMP events) and
//! `amd_iommu_types.h`, QEMU `hw/i386/amd_iommu.h` (`AMDVI_EVENT_*`). Every
//! other bit is reserved (refused); codes 0x0, 0xb, 0xc and 0xf are no
//! event (`unknown_opcode`). The `flags` of INVALID_PPR_REQUEST and the RMP
//! events are kept whole (their bits are not itemised in the sources).

use iommu_inval_core::record::{Kind, RecordFormat};
use iommu_inval_core::{record_format, ArchId, FieldValue};

record_format!(
    /// The event log entry layout ([`EventRecord`]).
    EventFormat,
    /// An AMD-Vi event log entry.
    ///
    /// ```
    /// use iommu_inval_amd::event::EventRecord;
    /// use iommu_inval_core::NativeCommand;
    /// // IO_PAGE_FAULT, device 00:03.0, domain 5, PR and RW (a write to a present page), at 0xfffc8000.
    /// let r = EventRecord::decode(&[0x2 << 60 | 1 << 53 | 1 << 52 | 5 << 32 | 0x18, 0xfffc_8000]).unwrap();
    /// assert_eq!((r.op(), r.uint("device_id"), r.uint("domain_or_pasid")), ("IO_PAGE_FAULT", Some(0x18), Some(5)));
    /// assert_eq!((r.flag("pr"), r.flag("rw"), r.uint("address")), (Some(true), Some(true), Some(0xfffc_8000)));
    /// ```
    EventRecord: ArchId::Amd, crate::Features, 2, code = (0, 0xf << 60),
    [
        Kind::new(
            "ILLEGAL_DEV_TABLE_ENTRY",
            0x1,
            &["device_id", "pasid", "gn", "i", "rw", "rz", "tr", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 47, 32, 0), (1, 0, 19, 16, 16), (2, 0, 48, 48, 0), (3, 0, 51, 51, 0), (4, 0, 53, 53, 0), (5, 0, 55, 55, 0), (6, 0, 56, 56, 0), (7, 1, 63, 0, 0)],
        ),
        Kind::new(
            "IO_PAGE_FAULT",
            0x2,
            &["device_id", "domain_or_pasid", "gn", "nx", "us", "i", "pr", "rw", "pe", "rz", "tr", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 47, 32, 0), (1, 0, 19, 16, 16), (2, 0, 48, 48, 0), (3, 0, 49, 49, 0), (4, 0, 50, 50, 0), (5, 0, 51, 51, 0), (6, 0, 52, 52, 0), (7, 0, 53, 53, 0), (8, 0, 54, 54, 0), (9, 0, 55, 55, 0), (10, 0, 56, 56, 0), (11, 1, 63, 0, 0)],
        ),
        Kind::new(
            "DEV_TAB_HARDWARE_ERROR",
            0x3,
            &["device_id", "i", "rw", "tr", "type", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 51, 51, 0), (2, 0, 53, 53, 0), (3, 0, 56, 56, 0), (4, 0, 58, 57, 0), (5, 1, 63, 0, 0)],
        ),
        Kind::new(
            "PAGE_TAB_HARDWARE_ERROR",
            0x4,
            &["device_id", "domain_or_pasid", "gn", "i", "rw", "tr", "type", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 47, 32, 0), (1, 0, 19, 16, 16), (2, 0, 48, 48, 0), (3, 0, 51, 51, 0), (4, 0, 53, 53, 0), (5, 0, 56, 56, 0), (6, 0, 58, 57, 0), (7, 1, 63, 0, 0)],
        ),
        Kind::new("ILLEGAL_COMMAND_ERROR", 0x5, &["address"], &[(0, 1, 63, 0, 0)]),
        Kind::new(
            "COMMAND_HARDWARE_ERROR",
            0x6,
            &["type", "address"],
            &[(0, 0, 58, 57, 0), (1, 1, 63, 0, 0)],
        ),
        Kind::new(
            "IOTLB_INV_TIMEOUT",
            0x7,
            &["device_id", "address"],
            &[(0, 0, 15, 0, 0), (1, 1, 63, 4, 4)],
        ),
        Kind::new(
            "INVALID_DEVICE_REQUEST",
            0x8,
            &["device_id", "pasid", "gn", "us", "tr", "type", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 47, 32, 0), (1, 0, 19, 16, 16), (2, 0, 48, 48, 0), (3, 0, 49, 49, 0), (4, 0, 56, 56, 0), (5, 0, 59, 57, 0), (6, 1, 63, 0, 0)],
        ),
        Kind::new(
            "INVALID_PPR_REQUEST",
            0x9,
            &["device_id", "pasid", "tag", "flags", "address"],
            &[(0, 0, 15, 0, 0), (1, 0, 31, 16, 0), (1, 0, 45, 42, 16), (2, 0, 41, 32, 0), (3, 0, 59, 48, 0), (4, 1, 63, 0, 0)],
        ),
        Kind::new(
            "EVENT_COUNTER_ZERO",
            0xa,
            &["counter_note"],
            &[(0, 1, 63, 32, 0), (0, 1, 19, 0, 32)],
        ),
        Kind::new(
            "RMP_PAGE_FAULT",
            0xd,
            &["device_id", "flags_rmp", "vmg_tag", "flags", "gpa"],
            &[(0, 0, 15, 0, 0), (1, 0, 23, 16, 0), (2, 0, 47, 32, 0), (3, 0, 59, 48, 0), (4, 1, 63, 0, 0)],
        ),
        Kind::new(
            "RMP_HW_ERROR",
            0xe,
            &["device_id", "vmg_tag", "flags", "spa"],
            &[(0, 0, 15, 0, 0), (1, 0, 47, 32, 0), (2, 0, 59, 48, 0), (3, 1, 63, 0, 0)],
        ),
    ]
);

/// The entry of event code `code` with `values` in its table order (the
/// encode contract: values cut to their fields).
fn entry(code: u64, values: &[FieldValue]) -> EventRecord {
    let kind = EventFormat::KINDS.iter().position(|k| k.code() == code);
    EventRecord::build(kind.unwrap_or(0), values)
}

/// ILLEGAL_COMMAND_ERROR for the command at `cmd_addr`.
pub(crate) fn illegal_command(cmd_addr: u64) -> EventRecord {
    entry(0x5, &[FieldValue::Uint(cmd_addr)])
}

/// COMMAND_HARDWARE_ERROR of `ty` (`w0[58:57]`) for the access at `addr`.
pub(crate) fn command_hardware(addr: u64, ty: u8) -> EventRecord {
    entry(0x6, &[FieldValue::Uint(ty.into()), FieldValue::Uint(addr)])
}

/// IOTLB_INV_TIMEOUT of `device_id` for the command at `cmd_addr` (its low
/// four bits cut: commands are 16-byte aligned).
pub(crate) fn iotlb_inv_timeout(device_id: u16, cmd_addr: u64) -> EventRecord {
    entry(
        0x7,
        &[
            FieldValue::Uint(device_id.into()),
            FieldValue::Uint(cmd_addr & !0xf),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, NativeCommand};

    /// Bit positions of IO_PAGE_FAULT (#48882 §2.5.3, VirtualBox
    /// `EVT_IO_PAGE_FAULT_T`: GN 48, NX 49, US 50, I 51, PR 52, RW 53, PE 54,
    /// RZ 55, TR 56; Linux `EVENT_DOMID_MASK_HI` = w0[19:16]) and of the
    /// code in w0[63:60] for every kind.
    #[test]
    fn io_page_fault_bit_positions() {
        let names = ["gn", "nx", "us", "i", "pr", "rw", "pe", "rz", "tr"];
        for (k, n) in names.iter().enumerate() {
            let r = EventRecord::decode(&[0x2 << 60 | 1 << (48 + k), 0]).unwrap();
            assert_eq!(r.flag(n), Some(true), "{n}");
        }
        let r = EventRecord::decode(&[
            0x2 << 60 | 0xabcd << 32 | 0x7 << 16 | 0x1234,
            0xffff_0000_1000,
        ])
        .unwrap();
        assert_eq!(r.uint("domain_or_pasid"), Some(0x7abcd));
        assert_eq!(r.uint("device_id"), Some(0x1234));
        assert_eq!(r.uint("address"), Some(0xffff_0000_1000));
        for bit in [20u32, 31, 57, 59] {
            let e = EventRecord::decode(&[0x2 << 60 | 1 << bit, 0]).unwrap_err();
            assert_eq!((e.kind, e.mask), (ErrorKind::ReservedBits, 1 << bit));
        }
        for (i, k) in EventFormat::KINDS.iter().enumerate() {
            let r = EventRecord::decode(&[k.code() << 60, 0]).unwrap();
            assert_eq!(r.op(), EventFormat::OP_NAMES[i]);
        }
        for code in [0u64, 0xb, 0xc, 0xf] {
            let e = EventRecord::decode(&[code << 60, 0]).unwrap_err();
            assert_eq!((e.kind, e.mask), (ErrorKind::UnknownOpcode, code));
        }
        // INVALID_PPR_REQUEST: PASID[19:16] in w0[45:42] (Linux `PPR_PASID`), tag w0[41:32].
        let r =
            EventRecord::decode(&[0x9 << 60 | 0xf << 42 | 0x3ff << 32 | 0xbeef << 16, 0]).unwrap();
        assert_eq!(
            (r.uint("pasid"), r.uint("tag")),
            (Some(0xfbeef), Some(0x3ff))
        );
        // EVENT_COUNTER_ZERO: CounterNote[51:32] in w1[19:0], [31:0] in w1[63:32].
        let r = EventRecord::decode(&[0xa << 60, 0x1234_5678 << 32 | 0xabcde]).unwrap();
        assert_eq!(r.uint("counter_note"), Some(0xa_bcde_1234_5678));
    }

    #[test]
    fn the_queue_entries_are_records_of_this_codec() {
        assert_eq!(illegal_command(0x1230).words(), &[0x5 << 60, 0x1230]);
        assert_eq!(
            command_hardware(0x40, 1).words(),
            &[0x6 << 60 | 1 << 57, 0x40]
        );
        assert_eq!(
            iotlb_inv_timeout(0x10, 0x2038).words(),
            &[0x7 << 60 | 0x10, 0x2030]
        );
        for r in [
            illegal_command(u64::MAX),
            command_hardware(8, 3),
            iotlb_inv_timeout(1, 0x48),
        ] {
            assert_eq!(r.validate(), Ok(()));
        }
    }
}
