//! The virtio-iommu request codec (the layouts, sources and reserved-byte
//! rules are in the crate docs, "The requests").

use crate::features::{
    Draft, Features, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE, F_MAP_UNMAP, F_MMIO, F_PROBE,
};
use crate::layout::{first, flatten, invalid_at, zero, Check, Layout, Le, Values, MAX_FIELDS};
use iommu_inval_core::{DecodeError, FieldError, FieldValue};

/// `VIRTIO_IOMMU_ATTACH_F_BYPASS`: the domain is a bypass domain.
pub const ATTACH_F_BYPASS: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_READ`.
pub const MAP_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_WRITE`.
pub const MAP_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_MAP_F_MMIO` (with `F_MMIO`).
pub const MAP_F_MMIO: u32 = 1 << 2;

/// RFC21 `inv_gran`: the whole domain.
pub const INVAL_G_DOMAIN: u16 = 1 << 0;
/// RFC21 `inv_gran`: one PASID.
pub const INVAL_G_PASID: u16 = 1 << 1;
/// RFC21 `inv_gran`: an address range of one PASID.
pub const INVAL_G_VA: u16 = 1 << 2;
/// RFC21 `inv_type`: the IOTLB.
pub const INV_T_IOTLB: u16 = 1 << 0;
/// RFC21 `inv_type`: the device IOTLBs (ATS).
pub const INV_T_DEV_IOTLB: u16 = 1 << 1;
/// RFC21 `inv_type`: PASID-table entries (the configuration).
pub const INV_T_PASID: u16 = 1 << 2;
/// RFC21 `flags`: `pasid` is valid.
pub const INVAL_F_PASID: u16 = 1 << 0;
/// RFC21 `flags`: `archid` is valid.
pub const INVAL_F_ARCHID: u16 = 1 << 1;
/// RFC21 `flags`: leaf entries only.
pub const INVAL_F_LEAF: u16 = 1 << 2;

/// DRAFT18 `scope`: the whole domain.
pub const INVAL_S_DOMAIN: u16 = 1 << 0;
/// DRAFT18 `scope`: one PASID (`pasid` and `id` valid).
pub const INVAL_S_PASID: u16 = 1 << 1;
/// DRAFT18 `scope`: an address range of one PASID.
pub const INVAL_S_VA: u16 = 1 << 2;
/// DRAFT18 `flags`: the configuration (PASID-table entry).
pub const INVAL_F_CONFIG_2018: u16 = 1 << 0;
/// DRAFT18 `flags`: leaf entries only.
pub const INVAL_F_LEAF_2018: u16 = 1 << 1;

/// ATTACH_TABLE `format` of an Arm LPAE page table (DRAFT18 `attach_pgt_arm`).
pub const FORMAT_PGTF_ARM_LPAE: u16 = 1;
/// ATTACH_TABLE `format` of an SMMUv3 PASID (context-descriptor) table
/// (`attach_pst_arm`, both drafts).
pub const FORMAT_PSTF_ARM_SMMU_V3: u16 = 2;

/// The longest readable part (ATTACH_TABLE).
pub const MAX_BYTES: usize = 76;
/// The most 64-bit words of a request's word form (ATTACH_TABLE).
pub const MAX_WORDS: usize = MAX_BYTES.div_ceil(8);

/// The readable length of request type `ty`, `None` for an unknown type.
pub const fn len_of_type(ty: u8) -> Option<usize> {
    match first_of_type(ty) {
        Some(r) => Some(OPS[r].layout.len),
        None => None,
    }
}

/// The first row of type `ty` in [`OPS`].
const fn first_of_type(ty: u8) -> Option<usize> {
    /// The first row of each type below 8 (`OPS.len()`: none).
    const FIRST: [usize; 8] = {
        let mut f = [OPS.len(); 8];
        let mut i = OPS.len();
        while i > 0 {
            i -= 1;
            if (OPS[i].ty as usize) < f.len() {
                f[OPS[i].ty as usize] = i;
            }
        }
        f
    };
    if (ty as usize) < FIRST.len() && FIRST[ty as usize] < OPS.len() {
        Some(FIRST[ty as usize])
    } else {
        None
    }
}

/// Field names of [`DecodeError`]s whose status is not `S_INVAL` (see
/// [`crate::status`]).
pub(crate) mod why {
    /// A draft request on a device without that draft (S_UNSUPP).
    pub const DRAFT: &str = "draft (vSVA request not offered)";
    /// MAP / UNMAP without `F_MAP_UNMAP` (S_UNSUPP).
    pub const MAP_UNMAP: &str = "VIRTIO_IOMMU_F_MAP_UNMAP not negotiated";
    /// PROBE without `F_PROBE` (nothing written).
    pub const PROBE: &str = "VIRTIO_IOMMU_F_PROBE not offered";
    /// An address outside `input_range` (S_RANGE).
    pub const INPUT_RANGE: &str = "input_range";
    /// A domain outside `domain_range` (S_RANGE).
    pub const DOMAIN_RANGE: &str = "domain_range";
}

// ---- the requests -------------------------------------------------------

/// ATTACH (type 1, SPEC "ATTACH request"): attach `endpoint` to `domain`,
/// creating the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attach {
    /// The head's `reserved` (the device MUST ignore it; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// `flags`: [`ATTACH_F_BYPASS`] only (any other bit: MUST S_INVAL).
    pub flags: u32,
}

/// DETACH (type 2, SPEC "DETACH request"): detach `endpoint` from `domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Detach {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// `reserved` (the device MUST ignore it; kept).
    pub reserved: [u8; 8],
}

/// MAP (type 3, SPEC "MAP request"): map `[virt_start; virt_end]`
/// (inclusive) of `domain` to `phys_start` onwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Map {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `virt_start`.
    pub virt_start: u64,
    /// `virt_end` (inclusive; the driver MUST make it greater than `virt_start`).
    pub virt_end: u64,
    /// `phys_start`.
    pub phys_start: u64,
    /// `flags`: [`MAP_F_READ`], [`MAP_F_WRITE`], [`MAP_F_MMIO`] (any other
    /// bit: MUST S_INVAL).
    pub flags: u32,
}

/// UNMAP (type 4, SPEC "UNMAP request"): remove every mapping of `domain`
/// inside `[virt_start; virt_end]` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unmap {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `virt_start`.
    pub virt_start: u64,
    /// `virt_end` (inclusive).
    pub virt_end: u64,
    /// `reserved`: kept. Non-zero, the device MAY answer S_INVAL and MAY
    /// still unmap (SPEC); that choice is the front end's.
    pub reserved: [u8; 4],
}

/// PROBE (type 5, SPEC "PROBE request"): ask for `endpoint`'s properties
/// (written by the device into the request's writable part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probe {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `endpoint`.
    pub endpoint: u32,
    /// `reserved` (the device MUST ignore it; kept).
    pub reserved: [u8; 64],
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            head_reserved: [0; 3],
            endpoint: 0,
            reserved: [0; 64],
        }
    }
}

/// The table an ATTACH_TABLE binds, by its `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `format` 2, `struct virtio_iommu_req_attach_pst_arm` (RFC21 11/15,
    /// and the same layout in DRAFT18): an SMMUv3 context-descriptor table.
    PstArm {
        /// `s1fmt`: 0 linear, 1 4 KiB level 2, 2 64 KiB level 2.
        s1fmt: u8,
        /// `s1dss`: 0 terminate, 1 bypass, 2 substream 0.
        s1dss: u8,
        /// `s1contextptr`: the table's address.
        s1contextptr: u64,
        /// `s1cdmax`: log2 of the number of context descriptors.
        s1cdmax: u32,
    },
    /// `format` 1, `struct virtio_iommu_req_attach_pgt_arm` (DRAFT18 only):
    /// an Arm LPAE page table.
    PgtArm {
        /// `asid`.
        asid: u16,
        /// `tcr`.
        tcr: u64,
        /// `ttbr0`.
        ttbr0: u64,
        /// `ttbr1`.
        ttbr1: u64,
        /// `mair`.
        mair: u64,
    },
}

/// ATTACH_TABLE (type 6, a vSVA draft): attach `endpoint` to `domain` and
/// bind the domain to a guest table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttachTable {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `domain`.
    pub domain: u32,
    /// `endpoint`.
    pub endpoint: u32,
    /// The table (and so `format`).
    pub table: Table,
}

/// INVALIDATE of the 2021 RFC (type 7; RFC21 11/15 and 12/15).
///
/// `inv_gran` is one of [`INVAL_G_DOMAIN`], [`INVAL_G_PASID`],
/// [`INVAL_G_VA`] (one-hot: the RFC never combines them); `inv_type` a
/// non-empty set of [`INV_T_IOTLB`], [`INV_T_DEV_IOTLB`], [`INV_T_PASID`];
/// `flags` of [`INVAL_F_PASID`], [`INVAL_F_ARCHID`], [`INVAL_F_LEAF`]. With
/// `G_PASID` or `G_VA` the PASID is named by `pasid` (`F_PASID`) or by the
/// architecture's address-space id `archid` (`F_ARCHID`; the Arm ASID):
/// one of them is required. With `G_VA` the range is `virt_start ..
/// virt_start + (nr_pages << granule)` and `nr_pages` is not 0. Fields a
/// granularity does not use are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Invalidate {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `inv_gran`.
    pub inv_gran: u16,
    /// `inv_type`.
    pub inv_type: u16,
    /// `flags`.
    pub flags: u16,
    /// `domain`.
    pub domain: u32,
    /// `pasid`.
    pub pasid: u32,
    /// `archid` (e.g. the Arm ASID).
    pub archid: u64,
    /// `virt_start`.
    pub virt_start: u64,
    /// `nr_pages`.
    pub nr_pages: u64,
    /// `granule`: log2 of the page size (below 64).
    pub granule: u8,
}

/// INVALIDATE of the 2018 draft (type 7; DRAFT18 "v0.9-devel").
///
/// `scope` is one of [`INVAL_S_DOMAIN`], [`INVAL_S_PASID`],
/// [`INVAL_S_VA`]; `flags` of [`INVAL_F_CONFIG_2018`] (the PASID-table
/// entry; without it, the TLBs — how the 2018 driver flushes a PASID's
/// TLB) and [`INVAL_F_LEAF_2018`]. `pasid` and `id` (the arch-specific
/// tag, e.g. the Arm ASID) are valid with `S_PASID` and `S_VA`; with
/// `S_VA` the range is `virt_start .. virt_start + (nr_pages << granule)`
/// and `nr_pages` is not 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Invalidate2018 {
    /// The head's `reserved` (ignored; kept).
    pub head_reserved: [u8; 3],
    /// `scope`.
    pub scope: u16,
    /// `flags`.
    pub flags: u16,
    /// `domain`.
    pub domain: u32,
    /// `pasid`.
    pub pasid: u32,
    /// `id`: the architecture-specific tag (a hint beside `pasid`).
    pub id: u64,
    /// `virt_start`.
    pub virt_start: u64,
    /// `nr_pages`.
    pub nr_pages: u64,
    /// `granule`: log2 of the page size (below 64).
    pub granule: u8,
}

/// One virtio-iommu request (its device-readable part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// ATTACH (type 1).
    Attach(Attach),
    /// DETACH (type 2).
    Detach(Detach),
    /// MAP (type 3).
    Map(Map),
    /// UNMAP (type 4).
    Unmap(Unmap),
    /// PROBE (type 5).
    Probe(Probe),
    /// ATTACH_TABLE (type 6, drafts).
    AttachTable(AttachTable),
    /// INVALIDATE (type 7) of the 2021 RFC.
    Invalidate(Invalidate),
    /// INVALIDATE (type 7) of the 2018 draft.
    Invalidate2018(Invalidate2018),
}

macro_rules! from_req {
    ($($v:ident),*) => {$(
        impl From<$v> for Command {
            fn from(r: $v) -> Command {
                Command::$v(r)
            }
        }
    )*};
}
from_req!(
    Attach,
    Detach,
    Map,
    Unmap,
    Probe,
    AttachTable,
    Invalidate,
    Invalidate2018
);

impl Table {
    /// Its `format`.
    pub const fn format(&self) -> u16 {
        match self {
            Table::PstArm { .. } => FORMAT_PSTF_ARM_SMMU_V3,
            Table::PgtArm { .. } => FORMAT_PGTF_ARM_LPAE,
        }
    }
}

// ---- the layouts --------------------------------------------------------

/// The draft named, if any.
macro_rules! also {
    () => {
        None
    };
    ($d:ident) => {
        Some(Draft::$d)
    };
}

/// The names of a field: its own, or (`as NAMES`) one per 8 bytes.
macro_rules! field_names {
    ($f:ident) => {
        &[stringify!($f)]
    };
    ($f:ident, $parts:expr) => {
        &$parts
    };
}

/// The request layouts, one row per op in type order (the table of the
/// crate docs, "The requests"): `Id "OP", type T[, code "name" @ offset:
/// width = value], N bytes, its draft[ | another draft that reads it]:
/// Variant(Struct { field @ offset: type, .. }[, field: Enum::Variant {
/// .. }])[, rules]`. Each field is little-endian, its width its type's;
/// the bytes no field or code covers are reserved (refused when
/// non-zero). It writes `Op`, `OPS` (each op's row and [`Layout`]),
/// `OP_NAMES`, and `Command::op` (a request's row), `Command::decode_op`
/// (bytes to the typed request), `Command::values` and
/// `Command::from_values` (the typed request to and from its field
/// values, in table order).
macro_rules! requests {
    ($(
        $id:ident $op:literal, type $ty:literal $(, code $cn:literal @ $coff:literal: $cw:literal = $cv:expr)?,
        $len:literal bytes, $draft:ident $(| $also:ident)?:
        $v:ident($s:ident { $($f:ident @ $off:literal: $t:ty $(as $parts:expr)?),* $(,)? }
            $(, $nf:ident: $nt:ident::$nv:ident { $($g:ident @ $goff:literal: $gt:ty),* $(,)? })?)
        $(, [$($rule:expr),* $(,)?])?;
    )+) => {
        /// An op: a row of the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Op {
            $($id,)+
        }

        /// Every op's layout, in table order.
        const OPS: &[Req] = &[$(Req {
            op: Op::$id,
            ty: $ty,
            draft: Draft::$draft,
            also: also!($($also)?),
            layout: {
                const F: Flat = flatten(&[
                    $((field_names!($f $(, $parts)?), $off, size_of::<$t>()),)*
                    $($((&[stringify!($g)], $goff, size_of::<$gt>()),)*)?
                ]);
                Layout::new(
                    $op,
                    $len,
                    &[(0, 1, $ty, "type") $(, ($coff, $cw, $cv as u64, $cn))?],
                    first(&F.0, F.2),
                    first(&F.1, F.2),
                    &[$($($rule),*)?],
                )
            },
        },)+];

        /// Every op name, in type order.
        pub(crate) const OP_NAMES: [&str; OPS.len()] = [$($op),+];

        impl Command {
            /// Its op.
            const fn op(&self) -> Op {
                match self {
                    $(Command::$v($s { $($nf: $nt::$nv { .. },)? .. }) => Op::$id,)+
                }
            }

            /// Its field values, in table order.
            #[inline(always)]
            fn values(&self) -> Values {
                let mut v = [0u64; MAX_FIELDS];
                let mut out = v.iter_mut();
                match *self {
                    $(Command::$v($s { $($f,)* $($nf: $nt::$nv { $($g),* })? }) => {
                        $(Le::put(&$f, &mut out);)*
                        $($(Le::put(&$g, &mut out);)*)?
                    })+
                }
                v
            }

            /// Decode `b` (its codes matched) as op `op`: its length, the
            /// rules and reserved bytes of its layout, then the request's
            /// own checks ([`Command::verify`]). In each arm the row is a
            /// constant, so that the table folds into straight code.
            #[inline(always)]
            fn decode_op(op: Op, b: &[u8]) -> Result<Command, DecodeError> {
                match op {
                    $(Op::$id => {
                        const R: &Req = &OPS[Op::$id as usize];
                        let Ok(b) = <&[u8; $len]>::try_from(b) else {
                            return Err(DecodeError::bad_length(b.len()));
                        };
                        R.layout.check(b)?;
                        let c = Command::$v($s {
                            $($f: Le::read(b, $off),)*
                            $($nf: $nt::$nv { $($g: Le::read(b, $goff)),* })?
                        });
                        c.verify()?;
                        Ok(c)
                    })+
                }
            }

            /// The request of op `op` with the field values `v`.
            #[inline(always)]
            fn from_values(op: Op, v: &Values) -> Command {
                let mut it = v.iter();
                match op {
                    $(Op::$id => {
                        $(let $f = <$t as Le>::take(&mut it);)*
                        $($(let $g = <$gt as Le>::take(&mut it);)*)?
                        Command::$v($s { $($f,)* $($nf: $nt::$nv { $($g),* })? })
                    })+
                }
            }
        }
    };
}

/// A layout's fields as [`flatten`] gives them.
type Flat = ([&'static str; MAX_FIELDS], [(u8, u8); MAX_FIELDS], usize);

/// One op: its type, layout and draft.
struct Req {
    op: Op,
    ty: u8,
    layout: Layout,
    /// The draft of its layout (`None`: ratified).
    draft: Draft,
    /// Another draft whose device reads it with this layout.
    also: Option<Draft>,
}

impl Req {
    /// Whether a device reading with the layouts of `draft` reads it.
    fn reads(&self, draft: Draft) -> bool {
        self.draft == Draft::None || self.draft == draft || self.also == Some(draft)
    }
}

/// PROBE's 64 reserved bytes as eight little-endian words.
const PROBE_RESERVED: [&str; 8] = [
    "reserved_0",
    "reserved_1",
    "reserved_2",
    "reserved_3",
    "reserved_4",
    "reserved_5",
    "reserved_6",
    "reserved_7",
];

/// A granularity / scope: one of three one-hot values.
const ONE_HOT: &[u64] = &[1, 2, 4];

requests! {
    // SPEC "ATTACH request": a set reserved byte or unknown flag, MUST S_INVAL.
    Attach "ATTACH", type 1, 20 bytes, None: Attach(Attach {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, endpoint @ 8: u32, flags @ 12: u32,
    }), [("flags", Check::Bits(ATTACH_F_BYPASS as u64))];
    // SPEC "DETACH request": `reserved` ignored (kept).
    Detach "DETACH", type 2, 20 bytes, None: Detach(Detach {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, endpoint @ 8: u32, reserved @ 12: [u8; 8],
    });
    // SPEC "MAP request".
    Map "MAP", type 3, 36 bytes, None: Map(Map {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, virt_start @ 8: u64, virt_end @ 16: u64,
        phys_start @ 24: u64, flags @ 32: u32,
    }), [("flags", Check::Bits((MAP_F_READ | MAP_F_WRITE | MAP_F_MMIO) as u64))];
    // SPEC "UNMAP request": `reserved` kept (the front end's choice).
    Unmap "UNMAP", type 4, 28 bytes, None: Unmap(Unmap {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, virt_start @ 8: u64, virt_end @ 16: u64,
        reserved @ 24: [u8; 4],
    });
    // SPEC "PROBE request": `reserved` ignored (kept).
    Probe "PROBE", type 5, 72 bytes, None: Probe(Probe {
        head_reserved @ 1: [u8; 3], endpoint @ 4: u32, reserved @ 8: [u8; 64] as PROBE_RESERVED,
    });
    // RFC21 11/15, and the same layout in DRAFT18: `attach_pst_arm`.
    PstArm "ATTACH_TABLE_PST_ARM", type 6, code "format" @ 12: 2 = FORMAT_PSTF_ARM_SMMU_V3, 76 bytes,
    Rfc2021 | Brucker2018: AttachTable(AttachTable {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, endpoint @ 8: u32,
    }, table: Table::PstArm {
        s1fmt @ 14: u8, s1dss @ 15: u8, s1contextptr @ 16: u64, s1cdmax @ 24: u32,
    }), [("s1fmt", Check::Max(2)), ("s1dss", Check::Max(2))];
    // DRAFT18 `attach_pgt_arm`.
    PgtArm "ATTACH_TABLE_PGT_ARM", type 6, code "format" @ 12: 2 = FORMAT_PGTF_ARM_LPAE, 76 bytes,
    Brucker2018: AttachTable(AttachTable {
        head_reserved @ 1: [u8; 3], domain @ 4: u32, endpoint @ 8: u32,
    }, table: Table::PgtArm {
        asid @ 14: u16, tcr @ 16: u64, ttbr0 @ 24: u64, ttbr1 @ 32: u64, mair @ 40: u64,
    });
    // RFC21 11/15 and 12/15.
    Invalidate "INVALIDATE", type 7, 60 bytes, Rfc2021: Invalidate(Invalidate {
        head_reserved @ 1: [u8; 3], inv_gran @ 4: u16, inv_type @ 6: u16, flags @ 8: u16,
        domain @ 12: u32, pasid @ 16: u32, archid @ 24: u64, virt_start @ 32: u64,
        nr_pages @ 40: u64, granule @ 48: u8,
    }), [
        ("inv_gran", Check::OneOf(ONE_HOT)),
        ("inv_type", Check::Bits((INV_T_IOTLB | INV_T_DEV_IOTLB | INV_T_PASID) as u64)),
        ("inv_type", Check::NonZero("inv_type (no cache)")),
        ("flags", Check::Bits((INVAL_F_PASID | INVAL_F_ARCHID | INVAL_F_LEAF) as u64)),
    ];
    // DRAFT18 "v0.9-devel".
    Invalidate2018 "INVALIDATE_2018", type 7, 60 bytes, Brucker2018: Invalidate2018(Invalidate2018 {
        head_reserved @ 1: [u8; 3], scope @ 4: u16, flags @ 6: u16, domain @ 8: u32,
        pasid @ 12: u32, id @ 16: u64, virt_start @ 24: u64, nr_pages @ 32: u64, granule @ 40: u8,
    }), [
        ("scope", Check::OneOf(ONE_HOT)),
        ("flags", Check::Bits((INVAL_F_CONFIG_2018 | INVAL_F_LEAF_2018) as u64)),
    ];
}

/// The layout of op `op`.
const fn layout_of(op: Op) -> &'static Layout {
    &OPS[op as usize].layout
}

/// A range-scoped request's `granule` below 64 and `nr_pages` not 0.
fn va_fields(l: &Layout, granule: u8, nr_pages: u64) -> Result<(), DecodeError> {
    if granule >= 64 {
        return Err(l.invalid("granule", "granule"));
    }
    if nr_pages == 0 {
        return Err(l.invalid("nr_pages", "nr_pages"));
    }
    Ok(())
}

impl Command {
    /// Its op's row of the table.
    const fn req(&self) -> &'static Req {
        &OPS[self.op() as usize]
    }

    /// The checks beyond its layout's rules, after them.
    #[inline(always)]
    fn verify(&self) -> Result<(), DecodeError> {
        match self {
            // The driver MUST make virt_end strictly greater (SPEC, MAP driver
            // requirements); the device's status is not named: S_INVAL, as crosvm.
            Command::Map(m) if m.virt_end <= m.virt_start => {
                Err(layout_of(Op::Map).invalid("virt_end", "virt_end (not above virt_start)"))
            }
            Command::Invalidate(i) => {
                let l = layout_of(Op::Invalidate);
                if i.inv_gran != INVAL_G_DOMAIN && i.flags & (INVAL_F_PASID | INVAL_F_ARCHID) == 0 {
                    return Err(l.invalid(
                        "flags",
                        "flags (G_PASID / G_VA without F_PASID or F_ARCHID)",
                    ));
                }
                match i.inv_gran {
                    INVAL_G_VA => va_fields(l, i.granule, i.nr_pages),
                    _ => Ok(()),
                }
            }
            Command::Invalidate2018(i) if i.scope == INVAL_S_VA => {
                va_fields(layout_of(Op::Invalidate2018), i.granule, i.nr_pages)
            }
            _ => Ok(()),
        }
    }
}

/// Request type `ty` refused by the device's features: `unknown_opcode`
/// with the reason `why` as its field (the status depends on it).
fn refused(ty: u8, why: &'static str) -> DecodeError {
    let mut e = DecodeError::unknown_opcode(u64::from(ty));
    e.field = why;
    e
}

/// The layout of types 6 and 7 a device of `draft` reads: its own, and
/// the newest for a device without a draft (which refuses them anyway).
pub(crate) const fn parse_draft(draft: Draft) -> Draft {
    match draft {
        Draft::None => Draft::Rfc2021,
        d => d,
    }
}

impl Command {
    /// The request type (`head.type`).
    pub const fn type_byte(&self) -> u8 {
        self.req().ty
    }

    /// The length of the readable part: 20, 20, 36, 28, 72, 76 or 60 bytes.
    pub const fn byte_len(&self) -> usize {
        self.req().layout.len
    }

    /// The word count of op `op`'s requests (its type's readable length in
    /// 64-bit words), which the contract's `from_fields` takes: a tool that
    /// builds a request from named fields needs no width of its own.
    pub fn words_of_op(op: &str) -> Option<usize> {
        blank(op).map(|c| c.word_count())
    }

    /// The draft whose layout the request has (`None`: a ratified request).
    pub const fn draft(&self) -> Draft {
        self.req().draft
    }

    /// Decode the readable part of a request, as a device of every feature
    /// and the newest draft does ([`Features::ALL`]: type 7 is the 2021
    /// RFC's INVALIDATE). The length must be exactly the type's
    /// ([`len_of_type`]), else `bad_length` (in bytes); an unknown type is
    /// `unknown_opcode`; reserved bytes the spec or this crate refuses are
    /// `reserved`; forbidden values `invalid_field`. [`crate::status`]
    /// gives the device's answer to each.
    ///
    /// ```
    /// use iommu_inval_virtio::{Command, Unmap};
    /// // UNMAP domain 1, [0x1000; 0x1fff].
    /// let mut b = [0u8; 28];
    /// b[0] = 4;
    /// b[4] = 1;
    /// b[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
    /// b[16..24].copy_from_slice(&0x1fffu64.to_le_bytes());
    /// let c = Command::decode_bytes(&b).unwrap();
    /// assert_eq!(c, Command::Unmap(Unmap { domain: 1, virt_start: 0x1000, virt_end: 0x1fff, ..Default::default() }));
    /// let mut out = [0u8; 28];
    /// assert_eq!(c.encode_bytes_into(&mut out), Ok(28));
    /// assert_eq!(out, b);
    /// ```
    pub fn decode_bytes(bytes: &[u8]) -> Result<Command, DecodeError> {
        Self::parse(bytes, Draft::Rfc2021)
    }

    /// Decode as a device with `features` does: the layout of its draft
    /// (type 7 of [`Draft::Brucker2018`] is [`Invalidate2018`]), then its
    /// checks ([`Command::check_with`]).
    pub fn decode_bytes_with(bytes: &[u8], features: &Features) -> Result<Command, DecodeError> {
        let c = Self::parse(bytes, parse_draft(features.draft))?;
        c.check_with(features)?;
        Ok(c)
    }

    /// The layout of `draft` for types 6 and 7 (`Rfc2021` or `Brucker2018`).
    pub(crate) fn parse(bytes: &[u8], draft: Draft) -> Result<Command, DecodeError> {
        let Some(&ty) = bytes.first() else {
            return Err(DecodeError::bad_length(0));
        };
        let rows = first_of_type(ty).and_then(|r| OPS.get(r..));
        let Some(rows) = rows else {
            return Err(DecodeError::unknown_opcode(u64::from(ty)));
        };
        if Some(bytes.len()) != rows.first().map(|r| r.layout.len) {
            return Err(DecodeError::bad_length(bytes.len()));
        }
        // The first op of the type that `draft` reads and whose codes match;
        // else the first code that did not.
        let mut ops = rows.iter().take_while(|r| r.ty == ty);
        if let Some(r) = ops
            .clone()
            .find(|r| r.reads(draft) && r.layout.codes_match(bytes).is_ok())
        {
            return Command::decode_op(r.op, bytes);
        }
        let unknown = DecodeError::unknown_opcode(u64::from(ty));
        Err(ops
            .find(|r| r.reads(draft))
            .and_then(|r| r.layout.codes_match(bytes).err())
            .unwrap_or(unknown))
    }

    /// Write the readable part into `out[..self.byte_len()]`; returns the
    /// length. A shorter `out` is `bad_length` (its length). Fields are not
    /// re-checked (the encode contract of
    /// [`NativeCommand`](iommu_inval_core::NativeCommand)).
    pub fn encode_bytes_into(&self, out: &mut [u8]) -> Result<usize, DecodeError> {
        let (b, n) = self.readable();
        let got = out.len();
        let dst = out.get_mut(..n).ok_or(DecodeError::bad_length(got))?;
        dst.copy_from_slice(&b[..n]);
        Ok(n)
    }

    /// The readable part in a [`MAX_BYTES`] buffer, and its length.
    pub(crate) fn readable(&self) -> ([u8; MAX_BYTES], usize) {
        let mut o = [0u8; MAX_BYTES];
        let n = self.req().layout.write(&self.values(), &mut o);
        (o, n)
    }

    /// `Ok` when a device with `features` accepts this request; otherwise
    /// the error it answers (see [`crate::status`] for the status):
    ///
    /// * MAP, UNMAP without `F_MAP_UNMAP`; a draft request on a device
    ///   without that draft → S_UNSUPP;
    /// * PROBE without `F_PROBE` → nothing written (used length 0);
    /// * `MAP_F_MMIO` without `F_MMIO`, `ATTACH_F_BYPASS` without
    ///   `F_BYPASS_CONFIG` → an unrecognised flag, S_INVAL;
    /// * with `F_INPUT_RANGE`, a MAP / UNMAP outside `input_range`, and with
    ///   `F_DOMAIN_RANGE`, a `domain` outside `domain_range` → S_RANGE.
    pub fn check_with(&self, f: &Features) -> Result<(), DecodeError> {
        let draft_ok = self.draft() == Draft::None || self.draft() == f.draft;
        if !draft_ok {
            return Err(refused(self.type_byte(), why::DRAFT));
        }
        let domain = match self {
            Command::Attach(a) => {
                if a.flags & ATTACH_F_BYPASS != 0 && !f.has(F_BYPASS_CONFIG) {
                    return Err(self.req().layout.reserved("flags", ATTACH_F_BYPASS.into()));
                }
                Some(a.domain)
            }
            Command::Detach(d) => Some(d.domain),
            Command::Map(m) => {
                map_unmap(f, self.req(), m.virt_start, m.virt_end)?;
                if m.flags & MAP_F_MMIO != 0 && !f.has(F_MMIO) {
                    return Err(self.req().layout.reserved("flags", MAP_F_MMIO.into()));
                }
                Some(m.domain)
            }
            Command::Unmap(u) => {
                map_unmap(f, self.req(), u.virt_start, u.virt_end)?;
                Some(u.domain)
            }
            Command::Probe(_) => {
                if !f.has(F_PROBE) {
                    return Err(refused(self.type_byte(), why::PROBE));
                }
                None
            }
            Command::AttachTable(a) => Some(a.domain),
            Command::Invalidate(i) => Some(i.domain),
            Command::Invalidate2018(i) => Some(i.domain),
        };
        match domain {
            Some(d) if f.has(F_DOMAIN_RANGE) && (d < f.domain_range.0 || d > f.domain_range.1) => {
                // At ATTACH's `domain` (bytes 4 to 7) whatever the request.
                Err(invalid_at(4, 4, why::DOMAIN_RANGE))
            }
            _ => Ok(()),
        }
    }
}

/// MAP / UNMAP: `F_MAP_UNMAP`, and `input_range` with `F_INPUT_RANGE`.
fn map_unmap(f: &Features, r: &Req, start: u64, end: u64) -> Result<(), DecodeError> {
    if !f.has(F_MAP_UNMAP) {
        return Err(refused(r.ty, why::MAP_UNMAP));
    }
    if f.has(F_INPUT_RANGE) && (start < f.input_range.0 || end > f.input_range.1) {
        return Err(r.layout.invalid("virt_start", why::INPUT_RANGE));
    }
    Ok(())
}

// ---- the word form ------------------------------------------------------

impl Command {
    /// 64-bit words of the word form: the readable bytes, zero-padded.
    #[inline]
    pub(crate) const fn word_count(&self) -> usize {
        self.byte_len().div_ceil(8)
    }

    /// Decode the word form with the layout of `draft`: the type in the
    /// low byte of `words[0]`, exactly the type's word count (else
    /// `bad_length` in words), the padding bytes zero (else `reserved`).
    pub(crate) fn decode_words(words: &[u64], draft: Draft) -> Result<Command, DecodeError> {
        let Some(&w0) = words.first() else {
            return Err(DecodeError::bad_length(0));
        };
        let ty = w0 as u8;
        let len = len_of_type(ty).ok_or(DecodeError::unknown_opcode(u64::from(ty)))?;
        if words.len() != len.div_ceil(8) {
            return Err(DecodeError::bad_length(words.len()));
        }
        let mut b = [0u8; MAX_WORDS * 8];
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        zero(&b, len, words.len() * 8 - len)?;
        Self::parse(&b[..len], draft)
    }

    /// Write the word form into `out[..self.word_count()]`.
    pub(crate) fn encode_words(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        let (b, n) = self.readable();
        let words = n.div_ceil(8);
        let got = out.len();
        let dst = out.get_mut(..words).ok_or(DecodeError::bad_length(got))?;
        for (w, chunk) in dst.iter_mut().zip(b.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            *w = u64::from_le_bytes(a);
        }
        Ok(words)
    }

    /// Whether this request is one [`Command::decode_bytes`] (with its own
    /// draft's layout) gives back unchanged: every field within its width
    /// and value range.
    pub(crate) fn check_valid(&self) -> Result<(), DecodeError> {
        let (b, n) = self.readable();
        match Self::parse(&b[..n], parse_draft(self.draft())) {
            Ok(c) if c == *self => Ok(()),
            Ok(_) => Err(DecodeError::invalid(0, 0, "field too wide")),
            Err(e) => Err(e),
        }
    }
}

// ---- named fields -------------------------------------------------------

/// The row of op `op`.
fn req_of(op: &str) -> Option<&'static Req> {
    OPS.iter().find(|r| r.layout.name == op)
}

impl Command {
    /// The op name: `ATTACH`, `DETACH`, `MAP`, `UNMAP`, `PROBE`,
    /// `ATTACH_TABLE_PST_ARM`, `ATTACH_TABLE_PGT_ARM`, `INVALIDATE` (2021
    /// RFC), `INVALIDATE_2018`.
    pub(crate) const fn name(&self) -> &'static str {
        self.req().layout.name
    }

    /// Field names of op `op`, in layout order.
    pub(crate) fn names_of(op: &str) -> Option<&'static [&'static str]> {
        req_of(op).map(|r| r.layout.names)
    }

    /// Visit every field in layout order (reserved byte arrays as their
    /// little-endian value).
    pub(crate) fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
        self.req().layout.visit(&self.values(), f);
    }

    /// Build a request from an op and named fields (fields not given are
    /// 0), for a word form of `words` words (the op's, else `bad_length`).
    /// The request must be one the decoder (with the op's draft) accepts.
    pub(crate) fn build(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Command, FieldError> {
        let r = req_of(op).ok_or(FieldError::UnknownOp)?;
        if words != r.layout.len.div_ceil(8) {
            return Err(FieldError::Invalid(DecodeError::bad_length(words)));
        }
        let mut v = [0u64; MAX_FIELDS];
        for (name, x) in fields {
            let Some(i) = r.layout.position(name) else {
                let all = OPS
                    .iter()
                    .flat_map(|r| r.layout.names.iter().copied())
                    .find(|x| *x == name);
                return Err(FieldError::UnknownField(
                    all.unwrap_or("(not a field of this op)"),
                ));
            };
            r.layout.set(&mut v, i, x)?;
        }
        let c = Command::from_values(r.op, &v);
        c.check_valid().map_err(FieldError::Invalid)?;
        Ok(c)
    }
}

/// The op's request with every field 0 (for ATTACH_TABLE, its format).
fn blank(op: &str) -> Option<Command> {
    req_of(op).map(|r| Command::from_values(r.op, &[0; MAX_FIELDS]))
}

// ---- the contract: NativeCommand ----------------------------------------

// The word form and named fields of the contract. `decode` reads type 7
// as the 2021 RFC's INVALIDATE (the newest draft, as `Features::LATEST`
// does); `decode_with` reads it with the features' draft.
iommu_inval_core::native_command! {
    Command: iommu_inval_core::ArchId::VirtioIommu, Features, |cmd, features| cmd.check_with(features);
    op_names &OP_NAMES, op = name, fields = visit_fields, Command::names_of;

    const MAX_WORDS: usize = MAX_WORDS;

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        Self::decode_words(words, Draft::Rfc2021)
    }
    fn decode_with(words: &[u64], features: &Features) -> Result<Self, DecodeError> {
        let c = Self::decode_words(words, parse_draft(features.draft))?;
        c.check_with(features)?;
        Ok(c)
    }
    fn words(&self) -> usize {
        self.word_count()
    }
    fn encode_into(&self, out: &mut [u64]) -> Result<usize, DecodeError> {
        self.encode_words(out)
    }
    /// The provided `validate` re-decodes with `decode`, which reads type 7
    /// as the 2021 RFC's: a 2018-draft request reads back with its own
    /// draft's layout instead (the buffer is `MAX_WORDS` either way).
    fn validate(&self) -> Result<(), DecodeError> {
        self.check_valid()
    }
    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError> {
        Command::build(op, fields, words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Features;
    use std::vec::Vec;

    /// Every field of every op at the offset and width its source gives: a
    /// field set to all ones (as the codec's value range allows) writes
    /// exactly those bytes, and nothing else (beyond the type byte).
    #[test]
    fn fields_land_where_the_layouts_put_them() {
        // (op, field, offset, bytes, value all-ones within the field's range)
        let table: &[(&str, &str, usize, usize, u64)] = &[
            ("ATTACH", "head_reserved", 1, 3, 0xff_ffff),
            ("ATTACH", "domain", 4, 4, 0xffff_ffff),
            ("ATTACH", "endpoint", 8, 4, 0xffff_ffff),
            ("ATTACH", "flags", 12, 1, 1),
            ("DETACH", "domain", 4, 4, 0xffff_ffff),
            ("DETACH", "endpoint", 8, 4, 0xffff_ffff),
            ("DETACH", "reserved", 12, 8, u64::MAX),
            ("MAP", "domain", 4, 4, 0xffff_ffff),
            ("MAP", "virt_start", 8, 8, u64::MAX - 1),
            ("MAP", "virt_end", 16, 8, u64::MAX),
            ("MAP", "phys_start", 24, 8, u64::MAX),
            ("MAP", "flags", 32, 1, 7),
            ("UNMAP", "domain", 4, 4, 0xffff_ffff),
            ("UNMAP", "virt_start", 8, 8, u64::MAX),
            ("UNMAP", "virt_end", 16, 8, u64::MAX),
            ("UNMAP", "reserved", 24, 4, 0xffff_ffff),
            ("PROBE", "endpoint", 4, 4, 0xffff_ffff),
            ("PROBE", "reserved_0", 8, 8, u64::MAX),
            ("PROBE", "reserved_7", 64, 8, u64::MAX),
            ("ATTACH_TABLE_PST_ARM", "domain", 4, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PST_ARM", "endpoint", 8, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PST_ARM", "s1fmt", 14, 1, 2),
            ("ATTACH_TABLE_PST_ARM", "s1dss", 15, 1, 2),
            ("ATTACH_TABLE_PST_ARM", "s1contextptr", 16, 8, u64::MAX),
            ("ATTACH_TABLE_PST_ARM", "s1cdmax", 24, 4, 0xffff_ffff),
            ("ATTACH_TABLE_PGT_ARM", "asid", 14, 2, 0xffff),
            ("ATTACH_TABLE_PGT_ARM", "tcr", 16, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "ttbr0", 24, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "ttbr1", 32, 8, u64::MAX),
            ("ATTACH_TABLE_PGT_ARM", "mair", 40, 8, u64::MAX),
            ("INVALIDATE", "domain", 12, 4, 0xffff_ffff),
            ("INVALIDATE", "pasid", 16, 4, 0xffff_ffff),
            ("INVALIDATE", "archid", 24, 8, u64::MAX),
            ("INVALIDATE", "virt_start", 32, 8, u64::MAX),
            ("INVALIDATE_2018", "domain", 8, 4, 0xffff_ffff),
            ("INVALIDATE_2018", "pasid", 12, 4, 0xffff_ffff),
            ("INVALIDATE_2018", "id", 16, 8, u64::MAX),
            ("INVALIDATE_2018", "virt_start", 24, 8, u64::MAX),
        ];
        for &(op, field, off, len, v) in table {
            let base = base_fields(op);
            let words = blank(op).unwrap().word_count();
            let mut it = base.iter().copied().chain([(field, FieldValue::Uint(v))]);
            let c = Command::build(op, &mut it, words)
                .unwrap_or_else(|e| panic!("{op}.{field}: {e:?}"));
            let mut it0 = base.iter().copied();
            let c0 = Command::build(op, &mut it0, words).unwrap();
            let (b, n) = c.readable();
            let (b0, _) = c0.readable();
            for k in 0..n {
                let inside = (off..off + len).contains(&k);
                let want = if inside {
                    (v >> (8 * (k - off))) as u8
                } else {
                    b0[k]
                };
                assert_eq!(b[k], want, "{op}.{field} byte {k}");
            }
            assert_eq!(c.name(), op);
        }
    }

    /// The fields an op needs to be valid besides the one under test.
    fn base_fields(op: &str) -> Vec<(&'static str, FieldValue)> {
        let u = FieldValue::Uint;
        match op {
            "MAP" => [("virt_end", u(u64::MAX))].into(),
            "INVALIDATE" => [("inv_gran", u(1)), ("inv_type", u(1))].into(),
            "INVALIDATE_2018" => [("scope", u(1))].into(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn lengths_and_types() {
        for (ty, len) in [
            (1, 20),
            (2, 20),
            (3, 36),
            (4, 28),
            (5, 72),
            (6, 76),
            (7, 60),
        ] {
            assert_eq!(len_of_type(ty), Some(len));
        }
        for ty in [0u8, 8, 9, 0x80, 0xff] {
            assert_eq!(len_of_type(ty), None);
        }
        assert_eq!(MAX_WORDS, 10);
        for op in OP_NAMES {
            let c = blank(op).unwrap();
            assert_eq!(c.byte_len(), len_of_type(c.type_byte()).unwrap());
            assert_eq!(c.word_count(), c.byte_len().div_ceil(8));
        }
    }

    /// The word form: the readable bytes as little-endian words, the
    /// padding bytes zero, the count exactly the type's.
    #[test]
    fn word_form() {
        let c = Command::Attach(Attach {
            head_reserved: [1, 2, 3],
            domain: 0x0a0b_0c0d,
            endpoint: 0x11,
            flags: ATTACH_F_BYPASS,
        });
        let mut w = [0u64; MAX_WORDS];
        assert_eq!(c.encode_words(&mut w), Ok(3));
        assert_eq!(w[..3], [0x0a0b_0c0d_0302_0101, 0x1_0000_0011, 0]);
        assert_eq!(Command::decode_words(&w[..3], Draft::Rfc2021), Ok(c));
        // Padding (bytes 20..24) set: reserved.
        let mut p = w;
        p[2] |= 1 << 40;
        assert_eq!(
            Command::decode_words(&p[..3], Draft::Rfc2021),
            Err(DecodeError::reserved(2, 1 << 40))
        );
        assert_eq!(
            Command::decode_words(&w[..4], Draft::Rfc2021),
            Err(DecodeError::bad_length(4))
        );
        assert_eq!(
            Command::decode_words(&[], Draft::Rfc2021),
            Err(DecodeError::bad_length(0))
        );
        assert_eq!(
            Command::decode_words(&[9], Draft::Rfc2021),
            Err(DecodeError::unknown_opcode(9))
        );
        assert_eq!(
            c.encode_words(&mut [0u64; 2]),
            Err(DecodeError::bad_length(2))
        );
    }

    /// One type byte, two layouts: the draft decides.
    #[test]
    fn invalidate_layout_follows_the_draft() {
        let mut b = [0u8; 60];
        b[0] = 7; // VIRTIO_IOMMU_T_INVALIDATE
        b[4] = 4; // 2021 inv_gran G_VA / 2018 scope S_VA
        b[6] = 1; // 2021 inv_type IOTLB / 2018 flags CONFIG
        b[8] = 1; // 2021 flags F_PASID / 2018 domain 1
        b[40] = 1; // 2021 nr_pages 1 / 2018 granule 1
        b[32] = 1; // 2018 nr_pages 1 / 2021 virt_start 1
        b[48] = 12; // 2021 granule
        let c21 = Command::parse(&b, Draft::Rfc2021).unwrap();
        let Command::Invalidate(i) = c21 else {
            panic!()
        };
        assert_eq!(
            (i.inv_gran, i.inv_type, i.flags),
            (INVAL_G_VA, INV_T_IOTLB, INVAL_F_PASID)
        );
        assert_eq!((i.virt_start, i.nr_pages, i.granule), (1, 1, 12));
        // 12 at byte 48 is inside the 2018 layout's reserved bytes.
        assert_eq!(
            Command::parse(&b, Draft::Brucker2018),
            Err(DecodeError::reserved(6, 12))
        );
        b[48] = 0;
        let c18 = Command::parse(&b, Draft::Brucker2018).unwrap();
        let Command::Invalidate2018(j) = c18 else {
            panic!()
        };
        assert_eq!(
            (j.scope, j.flags, j.domain),
            (INVAL_S_VA, INVAL_F_CONFIG_2018, 1)
        );
        assert_eq!((j.nr_pages, j.granule), (1, 1));
        // Each encodes back its own layout.
        assert_eq!(c18.readable().0[..60], b);
        assert_eq!(c18.check_valid(), Ok(()));
        assert_eq!(c21.check_valid(), Ok(()));
        // A device without a draft refuses type 7.
        let e = Command::decode_bytes_with(&b, &Features::VIRTIO_1_2).unwrap_err();
        assert_eq!(e.field, why::DRAFT);
        let f18 = Features::VSVA_2018;
        assert_eq!(Command::decode_bytes_with(&b, &f18), Ok(c18));
        // A 2021 request on a 2018 device (built, not decoded) is refused.
        assert_eq!(c21.check_with(&f18).unwrap_err().field, why::DRAFT);
    }

    #[test]
    fn from_fields_checks_widths_ops_and_validity() {
        let u = FieldValue::Uint;
        let mut it = [("domain", u(1 << 32))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::TooWide("domain"))
        );
        let mut it = [("s1fmt", u(1))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::UnknownField("s1fmt"))
        );
        let mut it = [("nope", u(1))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::UnknownField("(not a field of this op)"))
        );
        let mut it = core::iter::empty();
        assert_eq!(
            Command::build("NOPE", &mut it, 3),
            Err(FieldError::UnknownOp)
        );
        let mut it = core::iter::empty();
        assert_eq!(
            Command::build("ATTACH", &mut it, 2),
            Err(FieldError::Invalid(DecodeError::bad_length(2)))
        );
        // An undefined flag: what the decoder refuses.
        let mut it = [("flags", u(2))].into_iter();
        assert_eq!(
            Command::build("ATTACH", &mut it, 3),
            Err(FieldError::Invalid(DecodeError::reserved(1, 2 << 32)))
        );
        // Every decoded request's fields rebuild it.
        let mut b = [0u8; 76];
        b[0] = 6; // VIRTIO_IOMMU_T_ATTACH_TABLE
        b[12] = 2;
        b[14] = 1;
        b[16] = 0x40;
        let c = Command::decode_bytes(&b).unwrap();
        let mut fields = Vec::new();
        c.visit_fields(&mut |n, v| fields.push((n, v)));
        assert_eq!(
            fields.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            Command::names_of(c.name()).unwrap()
        );
        let mut it = fields.into_iter();
        assert_eq!(Command::build(c.name(), &mut it, 10), Ok(c));
    }

    #[test]
    fn feature_checks() {
        let map = Command::Map(Map {
            virt_end: 0xfff,
            flags: MAP_F_READ | MAP_F_MMIO,
            ..Map::default()
        });
        let ch = Features::CLOUD_HYPERVISOR;
        // MMIO without F_MMIO: an unrecognised flag.
        assert_eq!(map.check_with(&ch), Err(DecodeError::reserved(4, 4)));
        assert_eq!(map.check_with(&Features::ALL), Ok(()));
        let no_map = Features {
            bits: ch.bits & !crate::features::F_MAP_UNMAP,
            ..ch
        };
        assert_eq!(map.check_with(&no_map).unwrap_err().field, why::MAP_UNMAP);
        let probe = Command::Probe(Probe::default());
        let no_probe = Features { bits: 0, ..ch };
        assert_eq!(probe.check_with(&no_probe).unwrap_err().field, why::PROBE);
        let bypass = Command::Attach(Attach {
            flags: ATTACH_F_BYPASS,
            ..Attach::default()
        });
        assert_eq!(bypass.check_with(&ch), Ok(()));
        assert!(bypass.check_with(&Features::CROSVM).is_err());
        // Ranges.
        let small = Features {
            bits: Features::ALL.bits,
            input_range: (0x1000, 0xffff),
            domain_range: (1, 10),
            ..Features::ALL
        };
        let unmap = |s, e, d| {
            Command::Unmap(Unmap {
                domain: d,
                virt_start: s,
                virt_end: e,
                ..Unmap::default()
            })
        };
        assert_eq!(unmap(0x1000, 0xffff, 1).check_with(&small), Ok(()));
        assert_eq!(
            unmap(0, 0xffff, 1).check_with(&small).unwrap_err().field,
            why::INPUT_RANGE
        );
        assert_eq!(
            unmap(0x1000, 0x10000, 1)
                .check_with(&small)
                .unwrap_err()
                .field,
            why::INPUT_RANGE
        );
        assert_eq!(
            unmap(0x1000, 0xffff, 11)
                .check_with(&small)
                .unwrap_err()
                .field,
            why::DOMAIN_RANGE
        );
        assert_eq!(unmap(0, 0xffff, 11).check_with(&Features::ALL), Ok(()));
    }
}
