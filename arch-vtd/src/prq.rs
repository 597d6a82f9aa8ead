//! The VT-d page request descriptor `page_req_dsc`: what the IOMMU writes
//! to the page request queue for a PCIe Page Request (VT-d specification
//! §7.4.1.1 "Page Request Descriptor"), 256 bits as four little-endian words.
//!
//! | bits | field |
//! |---|---|
//! | w0\[7:0\] | type: 0x01 |
//! | w0\[8\] | `pasid_present` |
//! | w0\[9\] | `priv_data_present` (w2, w3 hold private data) |
//! | w0\[15:10\] | reserved |
//! | w0\[31:16\] | `rid`: requester id |
//! | w0\[51:32\] | `pasid` |
//! | w0\[52\] | `exe_req`: execute requested |
//! | w0\[53\] | `pm_req`: privilege mode requested |
//! | w0\[63:54\] | reserved |
//! | w1\[0\] | `rd_req` |
//! | w1\[1\] | `wr_req` |
//! | w1\[2\] | `lpig`: last page in group |
//! | w1\[11:3\] | `prg_index` |
//! | w1\[63:12\] | `address` (byte address) |
//! | w2, w3 | `priv_data` |
//!
//! Sources: Linux `drivers/iommu/intel/prq.c` (`struct page_req_dsc`) and
//! `iommu.h` (`decode_prq_descriptor`: bit 9 = private data present), QEMU
//! `hw/i386/intel_iommu_internal.h` (`VTD_PRD_*`, type `VTD_PRD_TYPE` = 1).
//! A stop marker is `lpig` = 1 with `rd_req` = `wr_req` = 0. Any type but 1
//! is refused (`unknown_opcode`).

use crate::queue::event_fires;
use iommu_inval_core::event::Fate;
use iommu_inval_core::record::{Kind, PageRequestFields};
use iommu_inval_core::ring::Ring;
use iommu_inval_core::{record_format, ArchId};

record_format!(
    /// The `page_req_dsc` layout ([`PageRequest`]).
    PageReqFormat,
    /// A VT-d page request descriptor (`page_req_dsc`).
    ///
    /// ```
    /// use iommu_inval_vtd::prq::PageRequest;
    /// use iommu_inval_core::NativeCommand;
    /// // RID 0x0010, PASID 5 (pasid_present), read, last, PRG index 3, page 0x7000.
    /// let r = PageRequest::decode(&[5 << 32 | 0x10 << 16 | 1 << 8 | 1, 0x7000 | 3 << 3 | 0b101, 0, 0]).unwrap();
    /// assert_eq!((r.uint("rid"), r.uint("pasid"), r.uint("prg_index"), r.uint("address")), (Some(0x10), Some(5), Some(3), Some(0x7000)));
    /// ```
    PageRequest: ArchId::Vtd, crate::Features, 4, code = (0, 0xff), page_request = FIELDS,
    // Type 0x01 (QEMU `VTD_PRD_TYPE`).
    [Kind::new(
        "page_req_dsc",
        0x01,
        &[
            "pasid_present",
            "priv_data_present",
            "rid",
            "pasid",
            "exe_req",
            "pm_req",
            "rd_req",
            "wr_req",
            "lpig",
            "prg_index",
            "address",
            "priv_data",
        ],
        &[
            (0, 0, 8, 8, 0),
            (1, 0, 9, 9, 0),
            (2, 0, 31, 16, 0),
            (3, 0, 51, 32, 0),
            (4, 0, 52, 52, 0),
            (5, 0, 53, 53, 0),
            (6, 1, 0, 0, 0),
            (7, 1, 1, 1, 0),
            (8, 1, 2, 2, 0),
            (9, 1, 11, 3, 0),
            (10, 1, 63, 12, 12),
            (11, 2, 63, 0, 0),
            (11, 3, 63, 0, 0),
        ],
    )]
);

/// `page_req_dsc` as a page request (the response, page_grp_resp_dsc,
/// carries the PASID and the private data of the request).
pub(crate) const FIELDS: PageRequestFields = PageRequestFields::new(
    "page_req_dsc",
    [
        "rid",
        "pasid_present",
        "pasid",
        "rd_req",
        "wr_req",
        "exe_req",
        "pm_req",
        "lpig",
        "prg_index",
        "address",
    ],
)
.with_priv_data("priv_data_present", "priv_data");

/// PRS_REG.PPR (bit 0): pending page request.
const PRS_PPR: u32 = 1 << 0;
/// PRS_REG.PRO (bit 1): page request overflow.
const PRS_PRO: u32 = 1 << 1;
/// PQH_REG / PQT_REG offset bits `[18:5]` (32-byte descriptors).
const PQ_OFFSET: u64 = 0x7_ffe0;

/// A guest's VT-d page request queue as the VMM that writes page requests
/// into it sees its registers: PQA_REG (base `[63:12]`, PQS `[2:0]`: 2^PQS
/// 4 KiB pages of 32-byte `page_req_dsc`, Linux `PRQ_RING_MASK`), PQH_REG
/// (the guest's) and PQT_REG (the VMM's), offsets in `[18:5]`, head = tail
/// empty; PRS_REG (PPR, PRO) and PECTL_REG (IM, IP).
///
/// * A full queue sets PRS.PRO and drops the request; while PRO is set
///   every request is dropped (Linux `prq_event_thread` clears PRO only
///   once the queue is empty).
/// * Every descriptor written sets PRS.PPR, Last Page In Group or not, and
///   a full queue sets PRO; either is an interrupt condition when PPR and
///   PRO were both clear before (VT-d §7.5; the older PECTL_REG text of
///   the pre-scalable-mode descriptors counted only a last request):
///   PECTL.IP is set, and the page request event sent and IP cleared
///   unless PECTL.IM masks it.
/// * The automatic response (VT-d §7.4.1, Table 31 "Page Request Error
///   Conditions"): hardware answers a dropped request with LPIG set by a
///   Page Group Response of Success when the queue is full (PRO then set)
///   or PRO is already set, and never answers one with LPIG clear; the
///   PASID echoed and the private data kept (Table 31 does not say). The
///   third condition of Table 31, a remapping-table fault (e.g. PRE = 0 in
///   the scalable-mode context entry, fault reason 47h), is answered
///   Invalid Request: it is the VMM's to decide before it offers the
///   request. VT-d defines no failed descriptor write: an `Aborted` offer
///   gets [`Fate::response_code`]'s Failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PageRequestQueue {
    /// PQA_REG.
    pub pqa: u64,
    /// PQH_REG (the guest's).
    pub pqh: u64,
    /// PQT_REG (the VMM's).
    pub pqt: u64,
    /// PRS_REG (PPR, PRO; RW1C).
    pub prs: u32,
    /// PECTL_REG (IM, IP).
    pub pectl: u32,
}

impl PageRequestQueue {
    /// The ring PQA_REG describes.
    fn ring(&self) -> Ring {
        Ring::new(self.pqa & !0xfff, (self.pqa & 7) as u8 + 7, 4, false, false)
    }
}

iommu_inval_core::ring_regs!(
    PageRequestQueue,
    |q| ring = q.ring(),
    head = ((q.pqh & PQ_OFFSET) >> 5) as u32,
    tail = ((q.pqt & PQ_OFFSET) >> 5) as u32,
    |q, pos| set_head = q.pqh = u64::from(q.ring().index(pos)) << 5,
    set_tail = q.pqt = u64::from(q.ring().index(pos)) << 5,
);

crate::queue::vtd_record_queue!(PageRequestQueue, PageRequest, prs, PRS_PRO, prq_signal);

/// Every descriptor written sets PPR, and PRO is set on a full queue; either
/// is the page request event's condition when PPR and PRO were both clear
/// before (VT-d §7.5; QEMU `vtd_generate_page_request_event` agrees). A
/// `Full { flagged: true }` record found PRO clear: it raised it.
fn prq_signal(q: &mut PageRequestQueue, fate: &Fate, _rec: &PageRequest) -> bool {
    let fresh = q.prs & PRS_PPR == 0;
    match fate {
        Fate::Written => {
            q.prs |= PRS_PPR;
            fresh && event_fires(&mut q.pectl)
        }
        Fate::Full { flagged: true } => fresh && event_fires(&mut q.pectl),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::record::RecordFormat;
    use iommu_inval_core::{ErrorKind, FieldValue, NativeCommand};

    /// Bit positions (VT-d §7.4.1.1; Linux `struct page_req_dsc`: type:8,
    /// pasid_present:1, (pdp), rsvd, rid:16, pasid:20, exe_req:1, pm_req:1 |
    /// rd_req:1, wr_req:1, lpig:1, prg_index:9, addr:52 | priv_data[2]).
    #[test]
    fn page_req_dsc_bit_positions() {
        let w = [
            1 << 53 | 1 << 52 | 0xfedcb << 32 | 0xbeef << 16 | 1 << 9 | 1 << 8 | 1,
            0xffff_ffff_ffff_f000 | 0x1ff << 3 | 0b111,
            7,
            9,
        ];
        let r = PageRequest::decode(&w).unwrap();
        let want = [
            1,
            1,
            0xbeef,
            0xfedcb,
            1,
            1,
            1,
            1,
            1,
            0x1ff,
            0xffff_ffff_ffff_f000,
        ];
        for (n, v) in PageReqFormat::KINDS[0].fields().iter().zip(want) {
            assert_eq!(r.uint(n), Some(v), "{n}");
        }
        assert_eq!(r.get("priv_data"), Some(FieldValue::Pair([7, 9])));
        // w0[15:10] and w0[63:54] are reserved; w1 and the private data have none.
        for bit in [10u32, 15, 54, 63] {
            let e = PageRequest::decode(&[1 | 1 << bit, 0, 0, 0]).unwrap_err();
            assert_eq!((e.kind, e.mask), (ErrorKind::ReservedBits, 1 << bit));
        }
        let e = PageRequest::decode(&[2, 0, 0, 0]).unwrap_err();
        assert_eq!((e.kind, e.mask), (ErrorKind::UnknownOpcode, 2));
    }

    /// The page request queue (PQA/PQH/PQT, PRS, PECTL): a full queue sets
    /// PRO and drops requests until the guest clears it, a dropped request
    /// with LPIG is answered Success, one without is not (§7.4.1 Table
    /// 31); the page request event on a last
    /// request written with PPR clear, held pending by PECTL.IM.
    #[test]
    fn page_request_queue_overflow_and_event() {
        use iommu_inval_core::event::RecordQueue;
        use iommu_inval_core::CellMemory;
        use std::string::ToString;
        let mut ram = std::vec![0u8; 0x1000];
        let mem = CellMemory::new(0x1000, &mut ram);
        // 128 descriptors at 0x1000 (PQS 0): 127 fit.
        let mut q = PageRequestQueue {
            pqa: 0x1000,
            ..Default::default()
        };
        // RID 0x10, PASID 5, read; `last` sets LPIG; group 3.
        let req = |last: u64| {
            PageRequest::decode(&[
                5 << 32 | 0x10 << 16 | 1 << 8 | 1,
                0x7000 | 3 << 3 | last << 2 | 1,
                0,
                0,
            ])
            .unwrap()
        };
        let go =
            |q: &mut PageRequestQueue, last| q.offer(&mem, &req(last), false).unwrap().to_string();
        // Every descriptor written sets PPR (§7.5), LPIG or not: the first
        // one with PPR and PRO clear is the event's condition.
        assert_eq!(go(&mut q, 0), "written, interrupt");
        assert_eq!(q.prs, PRS_PPR);
        assert_eq!(go(&mut q, 1), "written");
        assert_eq!(q.prs, PRS_PPR);
        for _ in 2..127 {
            assert_eq!(go(&mut q, 1), "written");
        }
        assert_eq!(q.pqt, 127 << 5);
        assert_eq!(
            go(&mut q, 1),
            "dropped: queue full, overflow raised, owed Success to device 0x10 PASID 5 group 3"
        );
        assert_eq!(q.prs, PRS_PPR | PRS_PRO);
        // PRO set on a full queue with PPR clear is the event's condition too.
        q.prs = 0;
        q.pqt = 0x1000 - (1 << 5);
        q.pqh = 0;
        assert_eq!(
            go(&mut q, 0),
            "dropped: queue full, overflow raised, interrupt"
        );
        assert_eq!(q.prs, PRS_PRO);
        q.pqt = 127 << 5;
        q.pqh = q.pqt; // the guest consumed everything, PRO still set
        assert_eq!(go(&mut q, 0), "dropped: overflow pending");
        // Table 31: PRQ Overflow, LPIG set: Success.
        assert_eq!(
            go(&mut q, 1),
            "dropped: overflow pending, owed Success to device 0x10 PASID 5 group 3"
        );
        // PRO and PPR cleared (RW1C), the event masked: held pending.
        (q.prs, q.pectl) = (0, crate::queue::CTL_IM);
        assert_eq!(go(&mut q, 1), "written");
        assert_eq!(q.pectl, crate::queue::CTL_IM | crate::queue::CTL_IP);
        assert_eq!(q.pqt, 0);
    }
}
