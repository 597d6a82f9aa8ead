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

use iommu_inval_core::event::{Fate, RecordQueue};
use iommu_inval_core::record::{Kind, RecordFormat};
use iommu_inval_core::ring::{Ring, RingRegs};
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

/// A record an AMD-Vi log holds, with its log's control and status bits
/// (IOMMU Control Register 0018h, IOMMU Status Register 2020h; Linux
/// `amd_iommu_types.h` `CONTROL_*`, `MMIO_STATUS_*`).
pub trait LogRecord: iommu_inval_core::record::FormatRecord {
    /// EventLogEn (bit 2) / PPRLogEn (bit 13).
    const LOG_EN: u64;
    /// EventIntEn (bit 3) / PPRIntEn (bit 14).
    const INT_EN: u64;
    /// EventOverflow (bit 0) / PPROverflow (bit 5).
    const OVERFLOW: u32;
    /// EventLogInt (bit 1) / PPRInt (bit 6).
    const INT: u32;
}

impl LogRecord for EventRecord {
    const LOG_EN: u64 = 1 << 2;
    const INT_EN: u64 = 1 << 3;
    const OVERFLOW: u32 = crate::queue::STATUS_EVENT_OVERFLOW;
    const INT: u32 = crate::queue::STATUS_EVENT_LOG_INT;
}

/// A guest's AMD-Vi event log (`GuestLog<EventRecord>`) or PPR log
/// (`GuestLog<PprRecord>`) as the VMM that logs into it sees its registers
/// (#48882 §2.5, §3.5; Linux `MMIO_*_OFFSET`): `base` is Event Log Base
/// Address (0010h) or PPR Log Base Address (0038h) (base `[51:12]`, length
/// `[59:56]`: 2^len 16-byte entries, read as 8..=15), `head` the head
/// pointer the guest writes (2010h / 2030h), `tail` the VMM's (2018h /
/// 2038h), byte offsets in `[18:4]`, head = tail empty; `control` the IOMMU
/// Control Register, `status` the IOMMU Status Register.
///
/// * A full log sets the overflow bit and drops the record, and "no new
///   event log entries are written while this bit is set" (EventOverflow,
///   quoted in Linux commit "iommu/amd: Recover from event log
///   overflow"); the PPR log likewise.
/// * A record written sets EventLogInt / PPRInt; "an interrupt is
///   generated when EventOverflow = 1b and ... EventIntEn = 1b", and as
///   much for EventLogInt: the interrupt is raised when the status bit is
///   set from 0 with the log's interrupt enable set.
/// * A log whose enable bit is clear drops records without an overflow.
/// * The automatic response to a dropped last PPR: no AMD-Vi text found
///   states one (docs/EVENTS.md lists what was searched), so the rule the
///   other three specifications share is applied: Success when the log is
///   full or overflowed (SMMUv3 §8.1, VT-d §7.4.1 Table 31, RISC-V "PCIe
///   ATS Page Request handling"), Failure when it is disabled (SMMUv3
///   §8.2, RISC-V `pqen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestLog<R> {
    /// Event Log / PPR Log Base Address.
    pub base: u64,
    /// Event Log / PPR Log Head Pointer (the guest's).
    pub head: u64,
    /// Event Log / PPR Log Tail Pointer (the VMM's).
    pub tail: u64,
    /// IOMMU Control Register.
    pub control: u64,
    /// IOMMU Status Register (RW1C). Not used in a
    /// [`CmdBufDevice`](crate::queue::CmdBufDevice)'s log, which uses the
    /// device's.
    pub status: u32,
    record: core::marker::PhantomData<R>,
}

impl<R> GuestLog<R> {
    /// The log of these base and control register values, empty.
    pub const fn new(base: u64, control: u64) -> Self {
        GuestLog {
            base,
            head: 0,
            tail: 0,
            control,
            status: 0,
            record: core::marker::PhantomData,
        }
    }
}

/// `impl RingRegs` and `impl RecordQueue` for a log `$t` of records `$r`:
/// `$log` its registers and `$status` its Status Register, from `$q`, the
/// log (a [`GuestLog`], or a [`SharedLog`] whose Status Register is the
/// command buffer's).
macro_rules! log_queue {
    ([$($g:tt)*] $t:ty, $r:ty, |$q:ident| $log:expr, $status:expr) => {
        impl<$($g)*> RingRegs for $t {
            fn ring(&self) -> Ring {
                let $q = self;
                let len = (($log.base >> 56) & 0xf) as u8;
                let len = len.clamp(crate::queue::MIN_COM_LEN, crate::queue::MAX_COM_LEN);
                Ring::new($log.base & crate::queue::BASE_MASK, len, 2, false, false)
            }
            fn head(&self) -> u32 {
                let $q = self;
                (($log.head & crate::queue::PTR_MASK) >> 4) as u32
            }
            fn tail(&self) -> u32 {
                let $q = self;
                (($log.tail & crate::queue::PTR_MASK) >> 4) as u32
            }
            fn set_head(&mut self, pos: u32) {
                let at = u64::from(self.ring().index(pos)) << 4;
                let $q = self;
                $log.head = at;
            }
            fn set_tail(&mut self, pos: u32) {
                let at = u64::from(self.ring().index(pos)) << 4;
                let $q = self;
                $log.tail = at;
            }
        }

        impl<$($g)*> RecordQueue for $t {
            type Record = $r;
            fn enabled(&self) -> bool {
                let $q = self;
                $log.control & <$r>::LOG_EN != 0
            }
            fn overflow_pending(&self) -> bool {
                let $q = self;
                $status & <$r>::OVERFLOW != 0
            }
            fn raise_overflow(&mut self) {
                let $q = self;
                $status |= <$r>::OVERFLOW;
            }
            fn discards_while_overflowed(&self) -> bool {
                true
            }
            fn signal(&mut self, fate: &Fate, _: &$r) -> bool {
                let $q = self;
                let fresh = match fate {
                    Fate::Written => $status & <$r>::INT == 0,
                    Fate::Full { flagged } => *flagged,
                    _ => false,
                };
                if *fate == Fate::Written {
                    $status |= <$r>::INT;
                }
                fresh && $log.control & <$r>::INT_EN != 0
            }
        }
    };
}

log_queue!([R: LogRecord] GuestLog<R>, R, |q| q, q.status);

/// A command buffer's event log for one entry
/// ([`CmdBufDevice`](crate::queue::CmdBufDevice)): the log's registers and
/// the device's IOMMU Status Register, borrowed. The device and its log
/// share that one register (CmdBufRun, ComWaitInt, EventOverflow,
/// EventLogInt), so the log's own `status` is not used.
pub(crate) struct SharedLog<'a> {
    /// The log's registers.
    pub(crate) log: &'a mut GuestLog<EventRecord>,
    /// The device's Status Register.
    pub(crate) status: &'a mut u32,
}

log_queue!(['a] SharedLog<'a>, EventRecord, |q| q.log, *q.status);

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

    /// The event log as a guest queue (EventLogEn, EventIntEn,
    /// EventOverflow, EventLogInt): nothing while disabled, the interrupt
    /// when a status bit is set from 0 with EventIntEn, overflow on a full
    /// log and nothing written until the guest clears it.
    #[test]
    fn event_log_as_a_guest_queue() {
        use iommu_inval_core::event::{Fate::*, RecordQueue};
        use iommu_inval_core::CellMemory;
        let mut ram = [0u8; 0x1000];
        let mem = CellMemory::new(0x1000, &mut ram);
        let mut log = GuestLog::<EventRecord>::new(8 << 56 | 0x1000, 0);
        let e = illegal_command(0x40);
        let go = |l: &mut GuestLog<EventRecord>| {
            let d = l.offer(&mem, &e, false).unwrap();
            assert_eq!(d.response, None);
            (d.fate, d.interrupt)
        };
        assert_eq!(go(&mut log), (Disabled, false));
        log.control = 1 << 2 | 1 << 3;
        assert_eq!(go(&mut log), (Written, true));
        assert_eq!(
            (log.status, log.tail),
            (crate::queue::STATUS_EVENT_LOG_INT, 0x10)
        );
        assert_eq!(go(&mut log), (Written, false));
        log.status = 0; // the guest clears EventLogInt (RW1C)
        assert_eq!(go(&mut log), (Written, true));
        for _ in 3..255 {
            assert_eq!(go(&mut log).0, Written);
        }
        assert_eq!(go(&mut log), (Full { flagged: true }, true));
        log.head = log.tail; // consumed, EventOverflow still set
        assert_eq!(go(&mut log), (Overflowed, false));
        log.status = 0;
        assert_eq!(go(&mut log), (Written, true));
        assert_eq!(log.tail, 0);
    }
}
