//! The RISC-V IOMMU page-request-queue record (RISC-V IOMMU specification,
//! `src/iommu_in_memory_queues.adoc` § "Page-Request-Queue (PQ)"): 16
//! bytes, two 64-bit doublewords (byte order per `fctl.BE`).
//!
//! | bits | field |
//! |---|---|
//! | w0\[11:0\] | reserved |
//! | w0\[31:12\] | `pid`: the PASID (when `pv`) |
//! | w0\[32\] | `pv` |
//! | w0\[33\] | `priv`: Privilege Mode Requested (0 without a PASID) |
//! | w0\[34\] | `exec`: Execute Requested (0 without a PASID) |
//! | w0\[39:35\] | reserved |
//! | w0\[63:40\] | `did`: the requester's device_id |
//! | w1\[0\] | `r`: read (PAYLOAD, bytes 0x08–0x0F of the Page Request message) |
//! | w1\[1\] | `w`: write |
//! | w1\[2\] | `l`: last request in the PRG |
//! | w1\[11:3\] | `prgi`: page request group index |
//! | w1\[63:12\] | `address`: page address (byte address) |
//!
//! `r` = `w` = 0 with `l` = 1 is a Stop Marker. One kind, `page_request`.

use iommu_inval_core::record::{Kind, PageRequestFields};
use iommu_inval_core::{record_format, ArchId};

record_format!(
    /// The page-request-queue record layout ([`PageRequest`]).
    PageRequestFormat,
    /// A RISC-V IOMMU page-request-queue record.
    ///
    /// ```
    /// use iommu_inval_riscv::pq::PageRequest;
    /// use iommu_inval_core::NativeCommand;
    /// // Device 0x10, PASID 3, write, last, PRGI 1, page 0x9000.
    /// let r = PageRequest::decode(&[0x10 << 40 | 1 << 32 | 3 << 12, 0x9000 | 1 << 3 | 0b110]).unwrap();
    /// assert_eq!((r.uint("did"), r.uint("pid"), r.flag("w"), r.flag("l"), r.uint("address")),
    ///            (Some(0x10), Some(3), Some(true), Some(true), Some(0x9000)));
    /// ```
    PageRequest: ArchId::Riscv, crate::Features, 2, page_request = FIELDS,
    [Kind::new(
        "page_request",
        0,
        &["pid", "pv", "priv", "exec", "did", "r", "w", "l", "prgi", "address"],
        &[(0, 0, 31, 12, 0), (1, 0, 32, 32, 0), (2, 0, 33, 33, 0), (3, 0, 34, 34, 0), (4, 0, 63, 40, 0), (5, 1, 0, 0, 0), (6, 1, 1, 1, 0), (7, 1, 2, 2, 0), (8, 1, 11, 3, 0), (9, 1, 63, 12, 12)],
    )]
);

/// The page-request-queue record as a page request; a discarded one
/// answered Response Failure carries its PASID ("PCIe ATS Page Request
/// handling").
pub(crate) const FIELDS: PageRequestFields = PageRequestFields::new(
    "page_request",
    [
        "did", "pv", "pid", "r", "w", "exec", "priv", "l", "prgi", "address",
    ],
)
.failure_echoes_pasid();

impl crate::fault::QueueRecord for PageRequest {
    const IPSR: u32 = 1 << 3;
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::{ErrorKind, NativeCommand};

    /// Bit positions (§ Page-Request-Queue, "Page-request-queue record":
    /// reserved 12, PID 20, PV, PRIV, EXEC, reserved 5, DID 24 | PAYLOAD: R,
    /// W, L, PRGI 9, Page Address[31:12], [63:32]).
    #[test]
    fn page_request_bit_positions() {
        let r =
            PageRequest::decode(&[0xfedcba << 40 | 0b111 << 32 | 0xabcde << 12, u64::MAX]).unwrap();
        let got = [
            "pid", "pv", "priv", "exec", "did", "r", "w", "l", "prgi", "address",
        ]
        .map(|n| r.uint(n));
        let want = [
            0xabcde,
            1,
            1,
            1,
            0xfedcba,
            1,
            1,
            1,
            0x1ff,
            0xffff_ffff_ffff_f000,
        ]
        .map(Some);
        assert_eq!(got, want);
        for bit in [0u32, 11, 35, 39] {
            let e = PageRequest::decode(&[1 << bit, 0]).unwrap_err();
            assert_eq!(
                (e.kind, e.word, e.mask),
                (ErrorKind::ReservedBits, 0, 1 << bit)
            );
        }
    }

    /// The page-request queue (`pqcsr`, `ipsr.pip`) and the responses the
    /// IOMMU sends itself ("PCIe ATS Page Request handling"): Success when
    /// full or `pqof`, Response Failure when off or `pqmf`, the PASID
    /// echoed; nothing for Last = 0 or a Stop Marker.
    #[test]
    fn page_request_queue_and_automatic_responses() {
        extern crate std;
        use crate::fault::GuestQueue;
        use iommu_inval_core::event::RecordQueue;
        use iommu_inval_core::CellMemory;
        use std::{format, string::ToString};
        let mut ram = [0u8; 0x40];
        let mem = CellMemory::new(0x1000, &mut ram);
        // Four 16-byte records at 0x1000.
        let mut q = GuestQueue::<PageRequest>::new(1 << 10 | 1, false);
        q.write_csr(0b11);
        // Device 0x10, PASID 3; `rwl` = R, W, L bits; group 1.
        let req = |rwl: u64| {
            PageRequest::decode(&[0x10 << 40 | 1 << 32 | 3 << 12, 0x9000 | 1 << 3 | rwl]).unwrap()
        };
        let go = |q: &mut GuestQueue<PageRequest>, rwl| {
            q.offer(&mem, &req(rwl), false).unwrap().to_string()
        };
        assert_eq!(go(&mut q, 0b101), "written, interrupt");
        assert_eq!(q.ipsr, 1 << 3);
        assert_eq!(go(&mut q, 0b001), "written");
        assert_eq!(go(&mut q, 0b001), "written");
        let ok = ", owed Success to device 0x10 PASID 3 group 1";
        let failed = ", owed Failure to device 0x10 PASID 3 group 1";
        assert_eq!(
            go(&mut q, 0b101),
            format!("dropped: queue full, overflow raised{ok}")
        );
        assert_eq!(go(&mut q, 0b001), "dropped: overflow pending");
        assert_eq!(go(&mut q, 0b100), "dropped: overflow pending"); // Stop Marker
        q.write_csr(0); // off
        assert_eq!(
            go(&mut q, 0b101),
            format!("dropped: queue disabled{failed}")
        );
        // A queue outside guest memory: pqmf, answered Response Failure.
        let mut far = GuestQueue::<PageRequest>::new(0x100 << 10 | 1, false);
        far.write_csr(0b01);
        assert_eq!(
            go(&mut far, 0b101),
            format!("dropped: guest memory write failed at 0x100000{failed}")
        );
        assert_eq!(
            go(&mut far, 0b111),
            format!("dropped: write abort pending{failed}")
        );
        // The same with guest memory that refuses the store.
        let ro = [0u8; 0x40];
        let refusing = iommu_inval_core::SliceMemory::new(0x1000, &ro);
        let mut q = GuestQueue::<PageRequest>::new(1 << 10 | 1, false);
        q.write_csr(0b01);
        let d = q.offer(&refusing, &req(0b101), false).unwrap();
        assert_eq!(
            d.to_string(),
            format!("dropped: guest memory write failed at 0x1000{failed}")
        );
        assert_eq!(q.tail, 0);
        assert_eq!(
            go(&mut q, 0b101),
            format!("dropped: write abort pending{failed}")
        );
    }
}
