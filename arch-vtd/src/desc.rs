//! The descriptor codec: one typed struct per descriptor of the VT-d table of
//! the command tables (docs/SPEC.md) (Intel VT-d rev 3+/4 §6.5.2), bit-exact in both
//! the 128-bit and the 256-bit (IQA_REG.DW = 1) descriptor widths.
//!
//! Field names are those of the table. Every bit that no field covers is
//! reserved: a descriptor with one set is refused, as the hardware reports
//! an Invalidation Queue Error (IQE) for it (§6.5.2.10). `encode` writes
//! back exactly what `decode` read, including fields the hardware ignores
//! (the codec rule of docs/SPEC.md "Codec rules").
//!
//! Layout: the structs are `repr(C, align(8))` and declare their fields in
//! layout order, not table order (table order is what
//! `NativeCommand::field_names` and `for_each_field` give, and what the CLI
//! and the JSON use). Every descriptor starts with one-byte fields in bytes
//! 0..4, keeps its 16-bit ids in bytes 4..8 (any further one-byte fields go
//! there too), its 64-bit address at 8 and its 32-bit PASID or status data
//! at 16 (`PcInv`, with no address, has its PASID at 4), and [`Command`]
//! has a one-byte tag. The arms of `decode` then
//! write the same slots, so a decoded descriptor stays in registers up to
//! `encode` instead of being rebuilt byte by byte where the arms meet (the
//! `codec` benchmark measures it; with rustc's own field order decode +
//! encode took four times as long). The `layout_slots` test pins it.

use iommu_inval_core::native::word::{bit, flag as b, get, mask as m, put};
use iommu_inval_core::native::{ArchId, FieldError, FieldValue};
use iommu_inval_core::DecodeError;

/// Descriptor type codes (`w0[3:0] | w0[11:9] << 4`).
pub(crate) mod ty {
    /// Context-cache invalidate (§6.5.2.1).
    pub const CC_INV: u8 = 0x1;
    /// IOTLB invalidate (§6.5.2.3).
    pub const IOTLB_INV: u8 = 0x2;
    /// Device-TLB invalidate (§6.5.2.5).
    pub const DEV_TLB_INV: u8 = 0x3;
    /// Interrupt entry cache invalidate (§6.5.2.7).
    pub const IEC_INV: u8 = 0x4;
    /// Invalidation wait (§6.5.2.8).
    pub const INV_WAIT: u8 = 0x5;
    /// PASID-based IOTLB invalidate (§6.5.2.4).
    pub const P_IOTLB_INV: u8 = 0x6;
    /// PASID-cache invalidate (§6.5.2.2).
    pub const PC_INV: u8 = 0x7;
    /// PASID-based device-TLB invalidate (§6.5.2.6).
    pub const P_DEV_TLB_INV: u8 = 0x8;
    /// Page group response (page request services chapter, §7.7 in rev 3.x).
    pub const PAGE_GRP_RESP: u8 = 0x9;
}

/// Bits of `w0` holding the type: `[3:0]` and `[11:9]`.
const TYPE_BITS: u64 = m(3, 0) | m(11, 9);
/// Page-aligned address field `w1[63:12]`.
const ADDR: u64 = m(63, 12);

// Bits covered by a field (or the type), per descriptor and word.
const CC_W0: u64 = TYPE_BITS | m(5, 4) | m(31, 16) | m(47, 32) | m(49, 48);
const CC_W1: u64 = 0;
const IOTLB_W0: u64 = TYPE_BITS | m(5, 4) | m(6, 6) | m(7, 7) | m(31, 16);
const IOTLB_W1: u64 = m(5, 0) | m(6, 6) | ADDR;
const DEV_TLB_W0: u64 = TYPE_BITS | m(15, 12) | m(20, 16) | m(47, 32) | m(63, 52);
const DEV_TLB_W1: u64 = m(0, 0) | ADDR;
const IEC_W0: u64 = TYPE_BITS | m(4, 4) | m(31, 27) | m(47, 32);
const IEC_W1: u64 = 0;
const WAIT_W0: u64 = TYPE_BITS | m(7, 4) | m(63, 32);
const WAIT_W1: u64 = m(63, 2);
const P_IOTLB_W0: u64 = TYPE_BITS | m(5, 4) | m(31, 16) | m(51, 32);
const P_IOTLB_W1: u64 = m(6, 0) | ADDR;
const PC_W0: u64 = TYPE_BITS | m(5, 4) | m(31, 16) | m(51, 32);
const PC_W1: u64 = 0;
const P_DEV_TLB_W0: u64 = TYPE_BITS | m(8, 4) | m(15, 12) | m(31, 16) | m(51, 32) | m(63, 52);
const P_DEV_TLB_W1: u64 = m(0, 0) | m(11, 11) | ADDR;
const PGR_W0: u64 = TYPE_BITS | m(4, 4) | m(5, 5) | m(15, 12) | m(31, 16) | m(51, 32);
const PGR_W1: u64 = m(2, 2) | m(11, 3);

/// The type bits of `w0` for type code `t`.
const fn type_bits(t: u8) -> u64 {
    (t as u64 & 0xf) | ((t as u64 >> 4) << 9)
}

/// `pfsid` is split: `w0[15:12]` = pfsid[3:0], `w0[63:52]` = pfsid[15:4] (§6.5.2.5).
const fn pfsid_get(w0: u64) -> u16 {
    (get(w0, 15, 12) | (get(w0, 63, 52) << 4)) as u16
}
const fn pfsid_put(p: u16) -> u64 {
    put(p as u64 & 0xf, 15, 12) | put(p as u64 >> 4, 63, 52)
}

/// Context-cache invalidate descriptor (`cc_inv_dsc`, type 0x1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct CcInv {
    /// Granularity `w0[5:4]`: 1 global, 2 domain-selective, 3 device-selective (0 invalid).
    pub g: u8,
    /// Function mask `w0[49:48]`: 0 none, 1 masks sid\[2\], 2 sid\[2:1\], 3 sid\[2:0\].
    pub fm: u8,
    /// 256-bit descriptor (IQA_REG.DW = 1); not a table field.
    pub wide: bool,
    /// Domain id `w0[31:16]`.
    pub did: u16,
    /// Source id `w0[47:32]`.
    pub sid: u16,
}

/// IOTLB invalidate descriptor (`iotlb_inv_dsc`, type 0x2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct IotlbInv {
    /// Granularity `w0[5:4]`: 1 global, 2 domain, 3 page-selective in domain (0 invalid).
    pub g: u8,
    /// Address mask `w1[5:0]`: 2^am 4 KiB pages.
    pub am: u8,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Invalidation hint `w1[6]` (leaf only).
    pub ih: bool,
    /// Domain id `w0[31:16]`.
    pub did: u16,
    /// Drain writes `w0[6]`.
    pub dw: bool,
    /// Drain reads `w0[7]`.
    pub dr: bool,
    /// Byte address, bits `w1[63:12]` (low 12 bits zero).
    pub address: u64,
}

/// Device-TLB invalidate descriptor (`dev_tlb_inv_dsc`, type 0x3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct DevTlbInv {
    /// Max invalidations pending `w0[20:16]`.
    pub mip: u8,
    /// Size bit `w1[0]` (PCIe ATS size encoding).
    pub s: bool,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Physical-function source id, split over `w0[15:12]` and `w0[63:52]`.
    pub pfsid: u16,
    /// Source id `w0[47:32]`.
    pub sid: u16,
    /// Byte address, bits `w1[63:12]`.
    pub address: u64,
}

/// Interrupt entry cache invalidate descriptor (`iec_inv_dsc`, type 0x4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct IecInv {
    /// Granularity `w0[4]`: false global, true index-selective.
    pub g: bool,
    /// Index mask `w0[31:27]`: 2^im entries.
    pub im: u8,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Interrupt index `w0[47:32]`.
    pub iidx: u16,
}

/// Invalidation wait descriptor (`inv_wait_dsc`, type 0x5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct InvWait {
    /// Interrupt flag `w0[4]`.
    pub r#if: bool,
    /// Status write `w0[5]`.
    pub sw: bool,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Fence `w0[6]`.
    pub r#fn: bool,
    /// Page-request drain `w0[7]`.
    pub pd: bool,
    /// Status byte address, bits `w1[63:2]` (low 2 bits zero).
    pub status_address: u64,
    /// Status data `w0[63:32]`.
    pub status_data: u32,
}

/// PASID-based IOTLB invalidate descriptor (`p_iotlb_inv_dsc`, type 0x6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct PIotlbInv {
    /// Granularity `w0[5:4]`: 2 PASID-selective, 3 page-selective within PASID (0, 1 invalid).
    pub g: u8,
    /// Address mask `w1[5:0]`.
    pub am: u8,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Invalidation hint `w1[6]`.
    pub ih: bool,
    /// Domain id `w0[31:16]`.
    pub did: u16,
    /// Byte address, bits `w1[63:12]`.
    pub address: u64,
    /// PASID `w0[51:32]`.
    pub pasid: u32,
}

/// PASID-cache invalidate descriptor (`pc_inv_dsc`, type 0x7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct PcInv {
    /// Granularity `w0[5:4]`: 0 domain, 1 PASID-selective, 3 global (2 invalid).
    pub g: u8,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Domain id `w0[31:16]`.
    pub did: u16,
    /// PASID `w0[51:32]`.
    pub pasid: u32,
}

/// PASID-based device-TLB invalidate descriptor (`p_dev_tlb_inv_dsc`, type 0x8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct PDevTlbInv {
    /// Max invalidations pending `w0[8:4]`.
    pub mip: u8,
    /// Global `w1[0]`: also the global (all-PASID) translations.
    pub g: bool,
    /// 256-bit descriptor; not a table field.
    pub wide: bool,
    /// Size bit `w1[11]`.
    pub s: bool,
    /// Physical-function source id, split over `w0[15:12]` and `w0[63:52]`.
    pub pfsid: u16,
    /// Source id `w0[31:16]`.
    pub sid: u16,
    /// Byte address, bits `w1[63:12]`.
    pub address: u64,
    /// PASID `w0[51:32]`.
    pub pasid: u32,
}

/// Page group response descriptor (`page_grp_resp_dsc`, type 0x9).
///
/// The descriptor width is carried by `priv_data`: `Some([w2, w3])` exactly
/// for a 256-bit descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct PageGrpResp {
    /// PASID present `w0[4]`.
    pub pasid_present: bool,
    /// Private data present `w0[5]`.
    pub priv_data_present: bool,
    /// Response code `w0[15:12]`: 0 success, 1 invalid request, 0xf failure
    /// (2..=0xe are reserved PCIe codes: decoded and encoded as is, refused by `lift`).
    pub resp_code: u8,
    /// Last page in group `w1[2]`.
    pub lpig: bool,
    /// Requester id `w0[31:16]`.
    pub rid: u16,
    /// Page request group index `w1[11:3]`.
    pub prg_index: u16,
    /// Private data `[w2, w3]` (256-bit descriptors only).
    pub priv_data: Option<[u64; 2]>,
    /// PASID `w0[51:32]`.
    pub pasid: u32,
}

/// A VT-d invalidation queue descriptor, 128- or 256-bit.
///
/// One-byte tag, payload at offset 8 (see the module documentation).
///
/// ```
/// use iommu_inval_vtd::{Command, IotlbInv};
/// use iommu_inval_core::NativeCommand;
/// // Page-selective IOTLB invalidation: domain 5, 2^1 pages at 0x20_0000, leaf only.
/// let w = [0x0005_0032, 0x20_0000 | 1 | 1 << 6];
/// let c = Command::decode(&w).unwrap();
/// let Command::IotlbInv(d) = c else { panic!() };
/// assert_eq!((d.g, d.did, d.am, d.ih, d.address), (3, 5, 1, true, 0x20_0000));
/// assert_eq!(&c.encode()[..2], &w);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// `cc_inv_dsc`.
    CcInv(CcInv),
    /// `iotlb_inv_dsc`.
    IotlbInv(IotlbInv),
    /// `dev_tlb_inv_dsc`.
    DevTlbInv(DevTlbInv),
    /// `iec_inv_dsc`.
    IecInv(IecInv),
    /// `inv_wait_dsc`.
    InvWait(InvWait),
    /// `p_iotlb_inv_dsc`.
    PIotlbInv(PIotlbInv),
    /// `pc_inv_dsc`.
    PcInv(PcInv),
    /// `p_dev_tlb_inv_dsc`.
    PDevTlbInv(PDevTlbInv),
    /// `page_grp_resp_dsc`.
    PageGrpResp(PageGrpResp),
}

/// The reserved bits [`Command::check_words`](iommu_inval_core::NativeCommand::check_words) tests, `[w0, w1, w2 | w3]`,
/// per descriptor type and granularity: indexed by `w0[5:0]` (the type's
/// low bits and `g`) and `w0[11:9]` (its high bits) as [`legal_index`]
/// builds it. `w2 | w3` are reserved except for the page group response.
/// A granularity the type does not allow (§6.5.2: `g` = 0 is reserved for
/// the context-cache and IOTLB invalidates, `g` < 2 for the PASID-based
/// IOTLB invalidate, `g` = 2 for the PASID-cache invalidate) and an
/// unknown type reserve every bit: their `w0`, which holds the type, is
/// never clear, but for type 0, which the `w0 = 0` test refuses.
const LEGAL: [[u64; 3]; 512] = {
    let mut t = [[!0u64; 3]; 512];
    // (type, w0 mask, w1 mask, the g values allowed as a bit set)
    let types: [(u8, u64, u64, u8); 9] = [
        (ty::CC_INV, CC_W0, CC_W1, 0b1110),
        (ty::IOTLB_INV, IOTLB_W0, IOTLB_W1, 0b1110),
        (ty::DEV_TLB_INV, DEV_TLB_W0, DEV_TLB_W1, 0b1111),
        (ty::IEC_INV, IEC_W0, IEC_W1, 0b1111),
        (ty::INV_WAIT, WAIT_W0, WAIT_W1, 0b1111),
        (ty::P_IOTLB_INV, P_IOTLB_W0, P_IOTLB_W1, 0b1100),
        (ty::PC_INV, PC_W0, PC_W1, 0b1011),
        (ty::P_DEV_TLB_INV, P_DEV_TLB_W0, P_DEV_TLB_W1, 0b1111),
        (ty::PAGE_GRP_RESP, PGR_W0, PGR_W1, 0b1111),
    ];
    let mut i = 0;
    while i < types.len() {
        let (k, u0, u1, g_ok) = types[i];
        let mut g = 0;
        while g < 4 {
            if (g_ok >> g) & 1 != 0 {
                // The words of type k with granularity g.
                let w0 = (k as u64 & 0xf) | ((k as u64 >> 4) << 9) | (g << 4);
                t[legal_index(w0)] = [!u0, !u1, if k == ty::PAGE_GRP_RESP { 0 } else { !0 }];
            }
            g += 1;
        }
        i += 1;
    }
    t
};

/// The [`LEGAL`] index of a descriptor: `w0[5:0]` and `w0[11:9]`.
#[inline(always)]
const fn legal_index(w0: u64) -> usize {
    ((w0 & 0x3f) | ((w0 >> 3) & 0x1c0)) as usize
}

/// The error of words [`Command::check_words`](iommu_inval_core::NativeCommand::check_words)'s fast test refused: the
/// decoder's own.
#[cold]
#[inline(never)]
fn check_error(w: [u64; 4], wide: bool) -> Result<(), DecodeError> {
    let [w0, w1, w2, w3] = w;
    Command::decode_fast(w0, w1, wide.then_some([w2, w3])).map(|_| ())
}

// The named-field table (docs/SPEC.md): op names, field names and widths.
iommu_inval_core::op_table! {
    Command;
    "cc_inv_dsc" => CcInv(CcInv) { g: uint(0b11), did: uint(0xffff), sid: uint(0xffff), fm: uint(0b11) },
    "iotlb_inv_dsc" => IotlbInv(IotlbInv) {
        g: uint(0b11), dw: bool, dr: bool, did: uint(0xffff), am: uint(0x3f), ih: bool, address: addr(ADDR)
    },
    "dev_tlb_inv_dsc" => DevTlbInv(DevTlbInv) {
        pfsid: uint(0xffff), mip: uint(0x1f), sid: uint(0xffff), s: bool, address: addr(ADDR)
    },
    "iec_inv_dsc" => IecInv(IecInv) { g: bool, im: uint(0x1f), iidx: uint(0xffff) },
    "inv_wait_dsc" => InvWait(InvWait) {
        r#if as "if": bool, sw: bool, r#fn as "fn": bool, pd: bool, status_data: uint(u32::MAX.into()),
        status_address: addr(!0b11)
    },
    "p_iotlb_inv_dsc" => PIotlbInv(PIotlbInv) {
        g: uint(0b11), did: uint(0xffff), pasid: uint(PASID20), am: uint(0x3f), ih: bool, address: addr(ADDR)
    },
    "pc_inv_dsc" => PcInv(PcInv) { g: uint(0b11), did: uint(0xffff), pasid: uint(PASID20) },
    "p_dev_tlb_inv_dsc" => PDevTlbInv(PDevTlbInv) {
        mip: uint(0x1f), pfsid: uint(0xffff), sid: uint(0xffff), pasid: uint(PASID20), g: bool, s: bool,
        address: addr(ADDR)
    },
    "page_grp_resp_dsc" => PageGrpResp(PageGrpResp) {
        pasid_present: bool, priv_data_present: bool, resp_code: uint(0xf), rid: uint(0xffff),
        pasid: uint(PASID20), lpig: bool, prg_index: uint(0x1ff), priv_data: pair
    },
}

/// Widest PASID (20 bits).
const PASID20: u64 = (1 << 20) - 1;

impl Command {
    /// The hot path of [`Command::decode`](iommu_inval_core::NativeCommand::decode): one dispatch on the type, each
    /// arm checking its reserved bits and granularity with constant masks
    /// and building its variant in place. Anything it does not accept goes
    /// to [`Command::why_refused`], which finds the error in the
    /// documented order (and is the reference for what is accepted).
    #[inline(always)]
    fn decode_fast(w0: u64, w1: u64, hi: Option<[u64; 2]>) -> Result<Command, DecodeError> {
        let t = ((w0 & 0xf) | ((w0 >> 5) & 0x70)) as u8;
        let wide = hi.is_some();
        // w2/w3 of a 256-bit descriptor are reserved except for the page
        // group response (checked in its arm).
        let [w2, w3] = hi.unwrap_or([0, 0]);
        let hi_bits = w2 | w3;
        let g = get(w0, 5, 4) as u8;
        let did = get(w0, 31, 16) as u16;
        let pasid = get(w0, 51, 32) as u32;
        // Each arm: (reserved bits set or invalid field) → slow path.
        macro_rules! check {
            ($u0:expr, $u1:expr, $bad:expr) => {
                if (w0 & !$u0) | (w1 & !$u1) | hi_bits != 0 || $bad {
                    return Err(Command::refusal(w0, w1, hi));
                }
            };
        }
        Ok(match t {
            ty::CC_INV => {
                check!(CC_W0, CC_W1, g == 0);
                Command::CcInv(CcInv {
                    g,
                    did,
                    sid: get(w0, 47, 32) as u16,
                    fm: get(w0, 49, 48) as u8,
                    wide,
                })
            }
            ty::IOTLB_INV => {
                check!(IOTLB_W0, IOTLB_W1, g == 0);
                Command::IotlbInv(IotlbInv {
                    g,
                    dw: bit(w0, 6),
                    dr: bit(w0, 7),
                    did,
                    am: get(w1, 5, 0) as u8,
                    ih: bit(w1, 6),
                    address: w1 & ADDR,
                    wide,
                })
            }
            ty::DEV_TLB_INV => {
                check!(DEV_TLB_W0, DEV_TLB_W1, false);
                Command::DevTlbInv(DevTlbInv {
                    pfsid: pfsid_get(w0),
                    mip: get(w0, 20, 16) as u8,
                    sid: get(w0, 47, 32) as u16,
                    s: bit(w1, 0),
                    address: w1 & ADDR,
                    wide,
                })
            }
            ty::IEC_INV => {
                check!(IEC_W0, IEC_W1, false);
                Command::IecInv(IecInv {
                    g: bit(w0, 4),
                    im: get(w0, 31, 27) as u8,
                    iidx: get(w0, 47, 32) as u16,
                    wide,
                })
            }
            ty::INV_WAIT => {
                check!(WAIT_W0, WAIT_W1, false);
                Command::InvWait(InvWait {
                    r#if: bit(w0, 4),
                    sw: bit(w0, 5),
                    r#fn: bit(w0, 6),
                    pd: bit(w0, 7),
                    status_data: (w0 >> 32) as u32,
                    status_address: w1 & m(63, 2),
                    wide,
                })
            }
            ty::P_IOTLB_INV => {
                check!(P_IOTLB_W0, P_IOTLB_W1, g < 2);
                Command::PIotlbInv(PIotlbInv {
                    g,
                    did,
                    pasid,
                    am: get(w1, 5, 0) as u8,
                    ih: bit(w1, 6),
                    address: w1 & ADDR,
                    wide,
                })
            }
            ty::PC_INV => {
                check!(PC_W0, PC_W1, g == 2);
                Command::PcInv(PcInv {
                    g,
                    did,
                    pasid,
                    wide,
                })
            }
            ty::P_DEV_TLB_INV => {
                check!(P_DEV_TLB_W0, P_DEV_TLB_W1, false);
                Command::PDevTlbInv(PDevTlbInv {
                    mip: get(w0, 8, 4) as u8,
                    pfsid: pfsid_get(w0),
                    sid: did,
                    pasid,
                    g: bit(w1, 0),
                    s: bit(w1, 11),
                    address: w1 & ADDR,
                    wide,
                })
            }
            ty::PAGE_GRP_RESP => {
                if (w0 & !PGR_W0) | (w1 & !PGR_W1) != 0 {
                    return Err(Command::refusal(w0, w1, hi));
                }
                Command::PageGrpResp(PageGrpResp {
                    pasid_present: bit(w0, 4),
                    priv_data_present: bit(w0, 5),
                    resp_code: get(w0, 15, 12) as u8,
                    rid: did,
                    pasid,
                    lpig: bit(w1, 2),
                    prg_index: get(w1, 11, 3) as u16,
                    priv_data: hi,
                })
            }
            _ => return Err(Command::refusal(w0, w1, hi)),
        })
    }

    /// Why [`Command::why_refused`] refuses a descriptor that the hot
    /// path refused. Out of line and cold so that the hot path keeps its
    /// result in registers. (The two paths accept exactly the same words:
    /// tested by `fast_path_agrees_with_reference`.)
    #[cold]
    #[inline(never)]
    fn refusal(w0: u64, w1: u64, hi: Option<[u64; 2]>) -> DecodeError {
        match Command::why_refused(w0, w1, hi) {
            Err(e) => e,
            // Unreachable while the paths agree; refuse rather than accept
            // what the hot path could not vouch for.
            Ok(_) => DecodeError::reserved(0, 0),
        }
    }

    /// The reference check of one 128-bit (`hi` = None) or 256-bit
    /// descriptor: decode's verdict, checking in the order documented on
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode), without
    /// building the descriptor (the hot path builds it).
    /// Only reached through [`Command::refusal`] (out of line) and tests.
    #[inline]
    fn why_refused(w0: u64, w1: u64, hi: Option<[u64; 2]>) -> Result<(), DecodeError> {
        let t = ((w0 & 0xf) | ((w0 >> 5) & 0x70)) as u8;
        let (u0, u1) = match t {
            ty::CC_INV => (CC_W0, CC_W1),
            ty::IOTLB_INV => (IOTLB_W0, IOTLB_W1),
            ty::DEV_TLB_INV => (DEV_TLB_W0, DEV_TLB_W1),
            ty::IEC_INV => (IEC_W0, IEC_W1),
            ty::INV_WAIT => (WAIT_W0, WAIT_W1),
            ty::P_IOTLB_INV => (P_IOTLB_W0, P_IOTLB_W1),
            ty::PC_INV => (PC_W0, PC_W1),
            ty::P_DEV_TLB_INV => (P_DEV_TLB_W0, P_DEV_TLB_W1),
            ty::PAGE_GRP_RESP => (PGR_W0, PGR_W1),
            _ => return Err(DecodeError::unknown_opcode(t as u64)),
        };
        if w0 & !u0 != 0 {
            return Err(DecodeError::reserved(0, w0 & !u0));
        }
        if w1 & !u1 != 0 {
            return Err(DecodeError::reserved(1, w1 & !u1));
        }
        if let (Some([w2, w3]), false) = (hi, t == ty::PAGE_GRP_RESP) {
            if w2 != 0 {
                return Err(DecodeError::reserved(2, w2));
            }
            if w3 != 0 {
                return Err(DecodeError::reserved(3, w3));
            }
        }
        // The granularities each type allows (§6.5.2.1 – §6.5.2.4).
        let g = get(w0, 5, 4) as u8;
        let g_ok = match t {
            ty::CC_INV | ty::IOTLB_INV => g != 0,
            ty::P_IOTLB_INV => g >= 2,
            ty::PC_INV => g != 2,
            _ => true,
        };
        if g_ok {
            Ok(())
        } else {
            Err(DecodeError::invalid(0, m(5, 4), "g"))
        }
    }

    /// Encode to four words; a 128-bit descriptor leaves `w2`, `w3` zero
    /// (use [`Command::words`](iommu_inval_core::NativeCommand::words) for the count). Values wider than their field
    /// are masked to it (build with `from_fields` to have them refused).
    #[inline(always)]
    pub fn encode(&self) -> [u64; 4] {
        let tb = type_bits(self.type_code());
        let [w0, w1] = match *self {
            Command::CcInv(d) => [
                tb | put(d.g as u64, 5, 4)
                    | put(d.did as u64, 31, 16)
                    | put(d.sid as u64, 47, 32)
                    | put(d.fm as u64, 49, 48),
                0,
            ],
            Command::IotlbInv(d) => [
                tb | put(d.g as u64, 5, 4) | b(d.dw, 6) | b(d.dr, 7) | put(d.did as u64, 31, 16),
                put(d.am as u64, 5, 0) | b(d.ih, 6) | (d.address & ADDR),
            ],
            Command::DevTlbInv(d) => [
                tb | pfsid_put(d.pfsid) | put(d.mip as u64, 20, 16) | put(d.sid as u64, 47, 32),
                b(d.s, 0) | (d.address & ADDR),
            ],
            Command::IecInv(d) => [
                tb | b(d.g, 4) | put(d.im as u64, 31, 27) | put(d.iidx as u64, 47, 32),
                0,
            ],
            Command::InvWait(d) => [
                tb | b(d.r#if, 4)
                    | b(d.sw, 5)
                    | b(d.r#fn, 6)
                    | b(d.pd, 7)
                    | ((d.status_data as u64) << 32),
                d.status_address & m(63, 2),
            ],
            Command::PIotlbInv(d) => [
                tb | put(d.g as u64, 5, 4)
                    | put(d.did as u64, 31, 16)
                    | put(d.pasid as u64, 51, 32),
                put(d.am as u64, 5, 0) | b(d.ih, 6) | (d.address & ADDR),
            ],
            Command::PcInv(d) => [
                tb | put(d.g as u64, 5, 4)
                    | put(d.did as u64, 31, 16)
                    | put(d.pasid as u64, 51, 32),
                0,
            ],
            Command::PDevTlbInv(d) => [
                tb | put(d.mip as u64, 8, 4)
                    | pfsid_put(d.pfsid)
                    | put(d.sid as u64, 31, 16)
                    | put(d.pasid as u64, 51, 32),
                b(d.g, 0) | b(d.s, 11) | (d.address & ADDR),
            ],
            Command::PageGrpResp(d) => [
                tb | b(d.pasid_present, 4)
                    | b(d.priv_data_present, 5)
                    | put(d.resp_code as u64, 15, 12)
                    | put(d.rid as u64, 31, 16)
                    | put(d.pasid as u64, 51, 32),
                b(d.lpig, 2) | put(d.prg_index as u64, 11, 3),
            ],
        };
        let [w2, w3] = match self {
            Command::PageGrpResp(PageGrpResp {
                priv_data: Some(p), ..
            }) => *p,
            _ => [0, 0],
        };
        [w0, w1, w2, w3]
    }

    /// The descriptor type code (`w0[3:0] | w0[11:9] << 4`).
    pub const fn type_code(&self) -> u8 {
        match self {
            Command::CcInv(_) => ty::CC_INV,
            Command::IotlbInv(_) => ty::IOTLB_INV,
            Command::DevTlbInv(_) => ty::DEV_TLB_INV,
            Command::IecInv(_) => ty::IEC_INV,
            Command::InvWait(_) => ty::INV_WAIT,
            Command::PIotlbInv(_) => ty::P_IOTLB_INV,
            Command::PcInv(_) => ty::PC_INV,
            Command::PDevTlbInv(_) => ty::P_DEV_TLB_INV,
            Command::PageGrpResp(_) => ty::PAGE_GRP_RESP,
        }
    }

    /// True for a 256-bit descriptor.
    pub const fn is_wide(&self) -> bool {
        match self {
            Command::CcInv(d) => d.wide,
            Command::IotlbInv(d) => d.wide,
            Command::DevTlbInv(d) => d.wide,
            Command::IecInv(d) => d.wide,
            Command::InvWait(d) => d.wide,
            Command::PIotlbInv(d) => d.wide,
            Command::PcInv(d) => d.wide,
            Command::PDevTlbInv(d) => d.wide,
            Command::PageGrpResp(d) => d.priv_data.is_some(),
        }
    }

    /// The same descriptor in the other width (`wide` true: 256-bit). A page
    /// group response made wide gets zero private data; made narrow, loses it.
    pub fn with_width(mut self, wide: bool) -> Command {
        match &mut self {
            Command::CcInv(d) => d.wide = wide,
            Command::IotlbInv(d) => d.wide = wide,
            Command::DevTlbInv(d) => d.wide = wide,
            Command::IecInv(d) => d.wide = wide,
            Command::InvWait(d) => d.wide = wide,
            Command::PIotlbInv(d) => d.wide = wide,
            Command::PcInv(d) => d.wide = wide,
            Command::PDevTlbInv(d) => d.wide = wide,
            Command::PageGrpResp(d) => {
                d.priv_data = if wide {
                    Some(d.priv_data.unwrap_or([0, 0]))
                } else {
                    None
                };
            }
        }
        self
    }
}

iommu_inval_core::native_command! {
    Command: ArchId::Vtd, crate::Features, |cmd, features| features.check(cmd);
    op_names OP_NAMES, op = name, fields = visit_fields, Command::names_of;

    /// Decode a descriptor from exactly 2 (128-bit) or 4 (256-bit) words.
    ///
    /// Checks, in order: length (`bad_length`), type (`unknown_opcode`),
    /// reserved bits of w0, w1, then w2, w3 (`reserved_bits`; w2/w3 are
    /// reserved except for the page group response), then granularity
    /// values (`invalid_field`). Reserved page-response codes are kept.
    #[inline(always)]
    fn decode(words: &[u64]) -> Result<Command, DecodeError> {
        match *words {
            [w0, w1] => Command::decode_fast(w0, w1, None),
            [w0, w1, w2, w3] => Command::decode_fast(w0, w1, Some([w2, w3])),
            _ => Err(DecodeError::bad_length(words.len())),
        }
    }

    /// Whether 2 or 4 words decode, without building the descriptor: `Ok`
    /// exactly when [`Command::decode`](iommu_inval_core::NativeCommand::decode) is `Ok`, else the same error (the
    /// [`NativeCommand::check_words`](iommu_inval_core::NativeCommand::check_words) of VT-d): one table look-up by type
    /// and granularity gives the reserved bits of every word (all of them
    /// where the granularity is not allowed), one test.
    ///
    /// ```
    /// use iommu_inval_vtd::Command;
    /// use iommu_inval_core::copy_checked;
    /// use iommu_inval_core::NativeCommand;
    /// // 256-bit queue: an inv_wait_dsc (SW, status 1 at 0x1000), then an
    /// // iotlb_inv_dsc with g = 0 (reserved).
    /// let guest = [0x1_0000_0025, 0x1000, 0, 0, 0x2, 0, 0, 0];
    /// assert!(Command::check_words(&guest[..4]).is_ok());
    /// let mut host = [0u64; 8];
    /// let e = copy_checked::<Command>(&guest, &mut host, 4).unwrap_err();
    /// assert_eq!((e.index, e.error.field), (1, "g"));
    /// assert_eq!(host[..4], guest[..4]);
    /// ```
    #[inline(always)]
    fn check_words(words: &[u64]) -> Result<(), DecodeError> {
        let ([w0, w1, w2, w3], wide) = match *words {
            [w0, w1] => ([w0, w1, 0, 0], false),
            [w0, w1, w2, w3] => ([w0, w1, w2, w3], true),
            _ => return Err(DecodeError::bad_length(words.len())),
        };
        let [r0, r1, r_hi] = LEGAL[legal_index(w0)];
        if (((w0 & r0) | (w1 & r1) | ((w2 | w3) & r_hi)) != 0) | (w0 == 0) {
            return check_error([w0, w1, w2, w3], wide);
        }
        Ok(())
    }

    /// Number of 64-bit words: 2 or 4.
    fn words(&self) -> usize {
        if self.is_wide() {
            4
        } else {
            2
        }
    }

    /// Encode into `out[..self.words()]` (a queue slot), returning the
    /// count; `bad_length` if `out` is shorter. Each width is copied with a
    /// fixed length, so this costs no more than `encode` itself.
    #[inline(always)]
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        let [w0, w1, w2, w3] = self.encode();
        match (self.is_wide(), out) {
            (false, [d0, d1, ..]) => {
                (*d0, *d1) = (w0, w1);
                Ok(2)
            }
            (true, [d0, d1, d2, d3, ..]) => {
                (*d0, *d1, *d2, *d3) = (w0, w1, w2, w3);
                Ok(4)
            }
            (_, out) => Err(DecodeError::bad_length(out.len())),
        }
    }

    /// The op's descriptor, `words` 2 (128-bit) or 4 (256-bit), with the
    /// fields given (the others 0 / false; `priv_data` only in 256-bit
    /// descriptors), refused where the decoder would refuse it (invalid
    /// granularity, response code).
    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError> {
        let blank = blank(op).ok_or(FieldError::UnknownOp)?;
        let wide = match words {
            2 => false,
            4 => true,
            n => return Err(FieldError::Invalid(DecodeError::bad_length(n))),
        };
        let names = Command::names_of(op).unwrap_or(&[]);
        let mut cmd = blank.with_width(wide);
        for (name, value) in fields {
            let n = names
                .iter()
                .copied()
                .find(|&n| n == name)
                .ok_or(FieldError::UnknownField(leak_name(name)))?;
            if !wide && n == "priv_data" && matches!(value, FieldValue::Pair(_)) {
                // 128-bit page group responses have no private data.
                return Err(FieldError::UnknownField(n));
            }
            set_field(&mut cmd, n, value)?;
        }
        // Refuse what the decoder refuses (invalid granularity, response code).
        let w = cmd.encode();
        Command::decode(w.get(..words).unwrap_or(&w)).map_err(FieldError::Invalid)
    }
}

/// The `'static` spelling of a field name of another op, else a marker
/// (names given by the caller are not `'static`).
fn leak_name(name: &str) -> &'static str {
    ALL_FIELD_NAMES
        .iter()
        .find(|&&n| n == name)
        .copied()
        .unwrap_or("(not a VT-d field)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::arb::xorshift;
    use iommu_inval_core::NativeCommand;

    /// How many words of a random sweep decoded and how many were refused.
    #[derive(Default)]
    struct Tally {
        ok: u32,
        err: u32,
    }

    impl Tally {
        fn add<T, E>(&mut self, r: &Result<T, E>) {
            if r.is_ok() {
                self.ok += 1;
            } else {
                self.err += 1;
            }
        }

        /// Both outcomes were exercised in bulk.
        fn assert_over(&self, ok: u32, err: u32) {
            assert!(
                self.ok > ok && self.err > err,
                "ok {} err {}",
                self.ok,
                self.err
            );
        }
    }

    /// The named-field refusals the table-driven `from_fields` keeps: a
    /// pair for a field that is none is too wide (whatever the width), a
    /// field of another op is named by its own spelling, one of no op by a
    /// marker, and `priv_data` takes only a pair.
    #[test]
    fn from_fields_names_and_kinds() {
        let f = |op: &str, field: (&str, FieldValue), words: usize| {
            Command::from_fields(op, &mut [field].into_iter(), words)
        };
        let pair = FieldValue::Pair([1, 2]);
        for words in [2, 4] {
            assert_eq!(
                f("pc_inv_dsc", ("did", pair), words),
                Err(FieldError::TooWide("did"))
            );
            assert_eq!(
                f("pc_inv_dsc", ("sid", FieldValue::Uint(1)), words),
                Err(FieldError::UnknownField("sid"))
            );
            assert_eq!(
                f("pc_inv_dsc", ("nope", FieldValue::Uint(1)), words),
                Err(FieldError::UnknownField("(not a VT-d field)"))
            );
            assert_eq!(
                f(
                    "page_grp_resp_dsc",
                    ("priv_data", FieldValue::Uint(1)),
                    words
                ),
                Err(FieldError::TooWide("priv_data"))
            );
            assert_eq!(
                f("inv_wait_dsc", ("if", FieldValue::Uint(2)), words),
                Err(FieldError::TooWide("if"))
            );
        }
        let c = f("inv_wait_dsc", ("fn", FieldValue::Uint(1)), 2).unwrap();
        assert_eq!(
            c,
            Command::InvWait(InvWait {
                r#fn: true,
                ..InvWait::default()
            })
        );
    }

    /// The layout that keeps decode + encode in registers (module docs).
    #[test]
    fn layout_slots() {
        use core::mem::{align_of, offset_of, size_of};
        assert_eq!(size_of::<Command>(), 48);
        for a in [
            align_of::<CcInv>(),
            align_of::<IotlbInv>(),
            align_of::<DevTlbInv>(),
            align_of::<IecInv>(),
            align_of::<InvWait>(),
            align_of::<PIotlbInv>(),
            align_of::<PcInv>(),
            align_of::<PDevTlbInv>(),
            align_of::<PageGrpResp>(),
        ] {
            assert_eq!(a, 8);
        }
        // 64-bit addresses at 8, 32-bit PASID / status data at 16.
        assert_eq!(offset_of!(IotlbInv, address), 8);
        assert_eq!(offset_of!(DevTlbInv, address), 8);
        assert_eq!(offset_of!(InvWait, status_address), 8);
        assert_eq!(offset_of!(PIotlbInv, address), 8);
        assert_eq!(offset_of!(PDevTlbInv, address), 8);
        assert_eq!(offset_of!(InvWait, status_data), 16);
        assert_eq!(offset_of!(PIotlbInv, pasid), 16);
        assert_eq!(offset_of!(PDevTlbInv, pasid), 16);
        // 16-bit ids in bytes 4..8.
        assert_eq!(offset_of!(CcInv, did), 4);
        assert_eq!(offset_of!(CcInv, sid), 6);
        assert_eq!(offset_of!(IotlbInv, did), 4);
        assert_eq!(offset_of!(DevTlbInv, pfsid), 4);
        assert_eq!(offset_of!(DevTlbInv, sid), 6);
        assert_eq!(offset_of!(IecInv, iidx), 4);
        assert_eq!(offset_of!(PIotlbInv, did), 4);
        assert_eq!(offset_of!(PDevTlbInv, pfsid), 4);
        assert_eq!(offset_of!(PDevTlbInv, sid), 6);
        assert_eq!(offset_of!(PageGrpResp, rid), 4);
        assert_eq!(offset_of!(PageGrpResp, prg_index), 6);
        // The payload of every variant at offset 8 of the enum.
        let c = Command::IotlbInv(IotlbInv {
            address: 0x1234_5000,
            ..IotlbInv::default()
        });
        let Command::IotlbInv(d) = &c else {
            unreachable!()
        };
        let base = &c as *const Command as usize;
        assert_eq!(d as *const IotlbInv as usize - base, 8);
    }

    #[test]
    fn masks() {
        assert_eq!(m(3, 0), 0xf);
        assert_eq!(m(63, 52), 0xfff0_0000_0000_0000);
        assert_eq!(m(63, 0), u64::MAX);
        assert_eq!(type_bits(0x9), 0x9);
        assert_eq!(type_bits(0x19), 0x209);
    }

    #[test]
    fn pfsid_split_both_halves() {
        // pfsid 0xabcd: low nibble 0xd in w0[15:12], 0xabc in w0[63:52].
        let w0 = 0xabc0_0000_0000_d003u64;
        let Ok(Command::DevTlbInv(d)) = Command::decode(&[w0, 0]) else {
            panic!("decode")
        };
        assert_eq!(d.pfsid, 0xabcd);
        assert_eq!(Command::DevTlbInv(d).encode()[0], w0);
    }

    #[test]
    fn type_high_bits_make_unknown_types() {
        // Type 0x11: w0[3:0] = 1 and w0[9] = 1.
        let e = Command::decode(&[0x201, 0]).unwrap_err();
        assert_eq!(e, DecodeError::unknown_opcode(0x11));
        assert_eq!(
            Command::decode(&[0x0, 0]).unwrap_err().kind,
            iommu_inval_core::ErrorKind::UnknownOpcode
        );
        assert_eq!(
            Command::decode(&[0xa, 0]).unwrap_err().kind,
            iommu_inval_core::ErrorKind::UnknownOpcode
        );
    }

    /// The hot path of `decode` accepts and refuses exactly what the
    /// reference decoder does, with the same error, in both widths.
    #[test]
    fn fast_path_agrees_with_reference() {
        let masks: [(u8, u64, u64); 9] = [
            (ty::CC_INV, CC_W0, CC_W1),
            (ty::IOTLB_INV, IOTLB_W0, IOTLB_W1),
            (ty::DEV_TLB_INV, DEV_TLB_W0, DEV_TLB_W1),
            (ty::IEC_INV, IEC_W0, IEC_W1),
            (ty::INV_WAIT, WAIT_W0, WAIT_W1),
            (ty::P_IOTLB_INV, P_IOTLB_W0, P_IOTLB_W1),
            (ty::PC_INV, PC_W0, PC_W1),
            (ty::P_DEV_TLB_INV, P_DEV_TLB_W0, P_DEV_TLB_W1),
            (ty::PAGE_GRP_RESP, PGR_W0, PGR_W1),
        ];
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut tally = Tally::default();
        for i in 0..200_000u32 {
            let (t, u0, u1) = masks[(i % 9) as usize];
            let (r0, r1, r2, r3, sel) = (next(), next(), next(), next(), next());
            // Mostly valid words of type t; sometimes one stray bit, a
            // random type, or non-zero w2/w3.
            let mut w0 = (r0 & u0 & !TYPE_BITS) | type_bits(t);
            let mut w1 = r1 & u1;
            match sel % 8 {
                0 => w0 ^= 1 << (r2 % 64),
                1 => w1 ^= 1 << (r2 % 64),
                2 => w0 = r0,
                _ => {}
            }
            let (w2, w3) = match (sel >> 8) % 4 {
                0 => (r2, r3),
                1 => (0, 1 << (r3 % 64)),
                _ => (0, 0),
            };
            for (words, hi) in [
                (&[w0, w1][..], None),
                (&[w0, w1, w2, w3][..], Some([w2, w3])),
            ] {
                let fast = Command::decode(words);
                let reference = Command::why_refused(w0, w1, hi);
                assert_eq!(fast.map(|_| ()), reference, "{words:x?}");
                assert_eq!(Command::check_words(words), fast.map(|_| ()), "{words:x?}");
                // Every field the hot path built is the one in the words:
                // encoding gives them back.
                if let Ok(c) = fast {
                    assert_eq!(c.encode()[..words.len()], *words, "{c:?}");
                }
                tally.add(&fast);
            }
        }
        tally.assert_over(100_000, 50_000);
    }

    /// `check_words` gives decode's verdict for every type, granularity
    /// and low bit pattern of `w0[11:0]`, with empty and random valid
    /// upper fields and `w1`, in both widths.
    #[test]
    fn check_words_agrees_on_every_type_and_granularity() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut tally = Tally::default();
        for low in 0..4096u64 {
            for _ in 0..4 {
                let (r0, r1, r2) = (next(), next(), next());
                // The table only draws fields here; decode is the oracle.
                let [u0, u1, _] = LEGAL[legal_index(low)];
                for (w0, w1) in [
                    (low, 0),
                    (low | (r0 & !0xfff), r1),
                    (low | (r0 & !u0 & !0xfff), r1 & !u1),
                ] {
                    for words in [&[w0, w1][..], &[w0, w1, 0, 0][..], &[w0, w1, r2, 0][..]] {
                        let d = Command::decode(words).map(|_| ());
                        assert_eq!(Command::check_words(words), d, "{words:x?}");
                        tally.add(&d);
                    }
                }
            }
        }
        tally.assert_over(1000, 1000);
    }

    #[test]
    fn lengths() {
        for n in [0usize, 1, 3, 5, 8] {
            let w = [0x15u64; 8];
            assert_eq!(
                Command::decode(&w[..n]).unwrap_err(),
                DecodeError::bad_length(n)
            );
        }
    }
}
