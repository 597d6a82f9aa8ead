//! Invalidation queue consumer for emulators (VT-d §6.5.2, registers §11.4.9).
//!
//! The queue is described by IQA_REG (base address `[63:12]`, descriptor
//! width DW `[11]`, queue size QS `[2:0]`: 2^QS 4 KiB pages) and walked from
//! IQH_REG to IQT_REG, both holding the byte offset of a descriptor in bits
//! `[18:4]`. With DW = 1 descriptors are 256-bit and an offset with bit 4
//! set is an invalidation queue error (IQE).
//!
//! The walk stops at the first descriptor the hardware would refuse, with
//! the head left pointing at it (as IQH_REG does after an IQE) and the
//! reason. Nothing is allocated.
//!
//! ```
//! use iommu_inval_core::SliceMemory;
//! use iommu_inval_vtd::queue::{Iqa, walk};
//! use iommu_inval_vtd::Command;
//! // A 128-bit queue of one page at 0x1000 holding an inv_wait at offset 0.
//! let mut bytes = [0u8; 4096];
//! bytes[..8].copy_from_slice(&(0x5u64 | 1 << 6).to_le_bytes()); // inv_wait, fence
//! let mem = SliceMemory { base: 0x1000, bytes: &bytes };
//! let iqa = Iqa::from_reg(0x1000);
//! let mut seen = 0;
//! let head = walk(&mem, iqa, 0, 0x10, |_, c| { assert!(matches!(c, Command::InvWait(_))); seen += 1; }).unwrap();
//! assert_eq!((head, seen), (0x10, 1));
//! ```

use crate::desc::{Command, IotlbInv, PIotlbInv};
use iommu_inval_core::error::{DecodeError, ErrorKind, HwError};
use iommu_inval_core::queue::{GuestMemory, MemError};

/// IQA_REG.DW: 256-bit descriptors.
pub const IQA_DW: u64 = 1 << 11;
/// Offset bits of IQH_REG / IQT_REG.
pub const OFFSET_MASK: u64 = 0x7_fff0;

/// The invalidation queue address register, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iqa {
    /// Base address (4 KiB aligned).
    pub base: u64,
    /// 256-bit descriptors.
    pub dw: bool,
    /// Queue size: 2^qs 4 KiB pages (0..=7).
    pub qs: u8,
}

impl Iqa {
    /// Decode IQA_REG (reserved bits `[10:3]` ignored).
    pub const fn from_reg(v: u64) -> Self {
        Iqa {
            base: v & !0xfff,
            dw: v & IQA_DW != 0,
            qs: (v & 7) as u8,
        }
    }
    /// The register value.
    pub const fn to_reg(&self) -> u64 {
        (self.base & !0xfff) | if self.dw { IQA_DW } else { 0 } | (self.qs as u64 & 7)
    }
    /// Queue size in bytes.
    pub const fn size(&self) -> u64 {
        4096 << (self.qs & 7)
    }
    /// Descriptor size in bytes (16 or 32).
    pub const fn desc_bytes(&self) -> u64 {
        if self.dw {
            32
        } else {
            16
        }
    }
    /// Descriptor size in 64-bit words (2 or 4).
    pub const fn desc_words(&self) -> usize {
        if self.dw {
            4
        } else {
            2
        }
    }
    /// Number of descriptors the queue holds.
    pub const fn entries(&self) -> u64 {
        self.size() / self.desc_bytes()
    }
}

/// Why the walk stopped with an invalidation queue error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqeReason {
    /// IQT_REG is not a descriptor boundary (bit 4 set with DW = 1) or lies
    /// outside the queue.
    BadTail,
    /// IQH_REG is not a descriptor boundary or lies outside the queue.
    BadHead,
    /// Reading the descriptor from guest memory failed.
    Fetch(MemError),
    /// The descriptor is invalid: unknown type, reserved bit, invalid field.
    Descriptor(DecodeError),
}

/// An invalidation queue error: the head where the walk stopped and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IqError {
    /// IQH offset of the offending descriptor (the head as it was for a bad
    /// head or tail).
    pub head: u64,
    /// Why.
    pub reason: IqeReason,
}

impl IqError {
    /// The architected error: always FSTS.IQE.
    pub const fn hw(&self) -> HwError {
        HwError::VtdIqe
    }
    /// The IQERCD_REG.IQEI code the hardware records (VT-d §11.4.9,
    /// IQERCD_REG; the same encoding is in Intel's register documentation):
    /// 1 invalid tail pointer, 2 descriptor fetch error, 3 invalid descriptor
    /// type, 4 reserved-field violation of a valid type (invalid field values
    /// included), 0 info not available (a bad head, which only an emulator's
    /// own state can produce).
    pub const fn iqei(&self) -> u8 {
        match self.reason {
            IqeReason::BadTail => 1,
            IqeReason::Fetch(_) => 2,
            IqeReason::Descriptor(d) => match d.kind {
                ErrorKind::UnknownOpcode => 3,
                _ => 4,
            },
            IqeReason::BadHead => 0,
        }
    }
}

/// An iterator over the descriptors from head to tail (no allocation).
#[derive(Debug, Clone)]
pub struct Walker<'m, M: GuestMemory + ?Sized> {
    mem: &'m M,
    iqa: Iqa,
    head: u64,
    tail: u64,
    failed: bool,
    mamv: Option<u8>,
}

impl<'m, M: GuestMemory + ?Sized> Walker<'m, M> {
    /// Start at IQH `head`, stop at IQT `tail` (register values; offsets in
    /// bits `[18:4]`). A bad head or tail is reported by the first `next`.
    pub fn new(mem: &'m M, iqa: Iqa, head: u64, tail: u64) -> Self {
        Walker {
            mem,
            iqa,
            head: head & OFFSET_MASK,
            tail: tail & OFFSET_MASK,
            failed: false,
            mamv: None,
        }
    }
    /// Also refuse page-selective IOTLB / PASID-IOTLB invalidations with
    /// `am` above CAP.MAMV (commands.md: "am above CAP.MAMV is an error";
    /// reported as an invalid `am` field, as QEMU's VT-d model does).
    pub fn with_mamv(mut self, mamv: u8) -> Self {
        self.mamv = Some(mamv);
        self
    }
    /// The current head offset (the next descriptor to fetch).
    pub fn head(&self) -> u64 {
        self.head
    }
    fn bad(&self, off: u64) -> bool {
        off >= self.iqa.size() || off % self.iqa.desc_bytes() != 0
    }
}

impl<M: GuestMemory + ?Sized> Iterator for Walker<'_, M> {
    /// `(offset, descriptor)` or the error that stops the walk.
    type Item = Result<(u64, Command), IqError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.head == self.tail {
            return None;
        }
        let err = |reason| IqError {
            head: self.head,
            reason,
        };
        let fail = if self.bad(self.tail) {
            Some(err(IqeReason::BadTail))
        } else if self.bad(self.head) {
            Some(err(IqeReason::BadHead))
        } else {
            None
        };
        if let Some(e) = fail {
            self.failed = true;
            return Some(Err(e));
        }
        let mut buf = [0u64; 4];
        let n = self.iqa.desc_words();
        let words = buf.get_mut(..n).unwrap_or(&mut []);
        let addr = self.iqa.base.wrapping_add(self.head);
        if let Err(e) = self.mem.read_words(addr, words) {
            self.failed = true;
            return Some(Err(err(IqeReason::Fetch(e))));
        }
        let decoded = Command::decode(words).and_then(|c| match (self.mamv, c) {
            (Some(mx), Command::IotlbInv(IotlbInv { g: 3, am, .. }))
            | (Some(mx), Command::PIotlbInv(PIotlbInv { g: 3, am, .. }))
                if am > mx =>
            {
                Err(DecodeError::invalid(1, 0x3f, "am"))
            }
            _ => Ok(c),
        });
        match decoded {
            Ok(c) => {
                let at = self.head;
                self.head = (self.head + self.iqa.desc_bytes()) % self.iqa.size();
                Some(Ok((at, c)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(err(IqeReason::Descriptor(e))))
            }
        }
    }
}

/// Walk the queue from `head` to `tail` (IQH/IQT register values), calling
/// `f(offset, descriptor)` for each; returns the new head (= tail), or the
/// error with the head left at the offending descriptor.
pub fn walk<M: GuestMemory + ?Sized>(
    mem: &M,
    iqa: Iqa,
    head: u64,
    tail: u64,
    mut f: impl FnMut(u64, &Command),
) -> Result<u64, IqError> {
    let mut w = Walker::new(mem, iqa, head, tail);
    for item in w.by_ref() {
        let (at, c) = item?;
        f(at, &c);
    }
    Ok(w.head())
}
