//! The SMMUv3 command set: one [`Command`] variant per op, whose payload is
//! one struct per command *format* of IHI0070 chapter 4 (the ops of one
//! format share its fields: [`TlbiAddr`] for the address-based TLBIs,
//! [`TlbiScope`] for the ASID / VMID ones, [`Cfgi`] for the configuration
//! invalidations), and no payload for an op without parameters.
//!
//! Every command is 16 bytes, two little-endian 64-bit words, with the opcode
//! in `w0[7:0]` (IHI0070 §4.1.1). Field positions are one table per format
//! (the crate-private `bits`); each op lists the fields it has, in the order
//! of the command tables (docs/SPEC.md), and the codec, the named-field
//! access ([`NativeCommand`](iommu_inval_core::NativeCommand)) and the
//! reserved-bit masks are all derived from that one list, so they cannot
//! disagree. A field of the format that the op does not list is RES0 for
//! that op: its bits are reserved (a decoder refuses them), and a command
//! holding a non-zero value there is not valid
//! ([`NativeCommand::validate`](iommu_inval_core::NativeCommand::validate)
//! refuses it, [`Command::encode`] drops it).
//!
//! Values are kept exactly as written: `ssid` with `ssv = 0`, MSI fields with
//! `cs = 0`, the ignored `sid` of CMD_CFGI_ALL are decoded and encoded back
//! unchanged (docs/SPEC.md "Codec rules"). Addresses are byte
//! addresses (low bits zero), never shifted field values.

/// Bit fields of the command formats. Private: users reach a field by its
/// name on the op's struct (or [`NativeCommand::for_each_field`](iommu_inval_core::NativeCommand::for_each_field)), never by shifts.
pub(crate) mod bits {
    /// One bit field: `width` bits of word `word` from bit `lo`. An address
    /// field (`addr`) holds a byte address: its value is the word masked, not
    /// shifted down.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Bf {
        /// Word index (0 or 1).
        pub word: u8,
        /// Lowest bit.
        pub lo: u8,
        /// Width in bits (1..=52).
        pub width: u8,
        /// True for byte-address fields.
        pub addr: bool,
    }

    impl Bf {
        const fn f(word: u8, lo: u8, width: u8) -> Bf {
            Bf {
                word,
                lo,
                width,
                addr: false,
            }
        }
        const fn a(word: u8, lo: u8, width: u8) -> Bf {
            Bf {
                word,
                lo,
                width,
                addr: true,
            }
        }
        /// The bits of the field in its word.
        pub const fn mask(&self) -> u64 {
            ((1u64 << self.width) - 1) << self.lo
        }
        /// The field's value in `w`.
        #[inline(always)]
        pub const fn get(&self, w: &[u64; 2]) -> u64 {
            let v = w[(self.word & 1) as usize];
            if self.addr {
                v & self.mask()
            } else {
                (v >> self.lo) & ((1u64 << self.width) - 1)
            }
        }
        /// OR `v` into the field (bits outside the field are dropped).
        #[inline(always)]
        pub fn put(&self, w: &mut [u64; 2], v: u64) {
            let bits = if self.addr { v } else { v << self.lo };
            w[(self.word & 1) as usize] |= bits & self.mask();
        }
        /// True when `v` fits the field exactly (an address: no bit outside it).
        pub const fn fits(&self, v: u64) -> bool {
            if self.addr {
                v & !self.mask() == 0
            } else {
                v >> self.width == 0
            }
        }
    }

    /// Opcode `w0[7:0]`.
    pub const OPCODE: Bf = Bf::f(0, 0, 8);
    /// ATC_INV `global` `w0[9]`.
    pub const GLOBAL: Bf = Bf::f(0, 9, 1);
    /// Secure stream `w0[10]` (IHI0070 §4.1.6).
    pub const SSEC: Bf = Bf::f(0, 10, 1);
    /// Substream valid `w0[11]` (IHI0070 §4.1.6).
    pub const SSV: Bf = Bf::f(0, 11, 1);
    /// SubstreamID `w0[31:12]`.
    pub const SSID: Bf = Bf::f(0, 12, 20);
    /// StreamID `w0[63:32]`.
    pub const SID: Bf = Bf::f(0, 32, 32);
    /// TLBI range `num` `w0[16:12]` (IHI0070 §4.4.1.1).
    pub const NUM: Bf = Bf::f(0, 12, 5);
    /// TLBI range `scale` `w0[25:20]`: 6 bits wide with SMMU_IDR5.DS = 1,
    /// else bit 25 is RES0 (IHI0070 §4.4.1.1; [`Features::ds`](crate::Features::ds)).
    pub const SCALE: Bf = Bf::f(0, 20, 6);
    /// VMID `w0[47:32]`.
    pub const VMID: Bf = Bf::f(0, 32, 16);
    /// ASID `w0[63:48]`.
    pub const ASID: Bf = Bf::f(0, 48, 16);
    /// TLBI / CFGI `leaf` `w1[0]`.
    pub const LEAF: Bf = Bf::f(1, 0, 1);
    /// TLBI `ttl128` `w1[7]`: the level hint is for 128-bit descriptors
    /// (IHI0070 §4.4.1.1, bit \[71\] of the command; RES0 with `tg` = 0 or `ttl` = 0).
    pub const TTL128: Bf = Bf::f(1, 7, 1);
    /// CMD_TLBI_S_S2_IPA `ns` `w1[1]`: the IPA is in the Non-secure IPA
    /// space of the Secure regime (IHI0070 §4.4.3.3).
    pub const NS: Bf = Bf::f(1, 1, 1);
    /// TLBI level hint `ttl` `w1[9:8]`.
    pub const TTL: Bf = Bf::f(1, 8, 2);
    /// TLBI translation granule `tg` `w1[11:10]`.
    pub const TG: Bf = Bf::f(1, 10, 2);
    /// Virtual address `w1[63:12]`.
    pub const VA: Bf = Bf::a(1, 12, 52);
    /// IPA `w1[55:12]` (IHI0070 §4.1.6: bits `[55:52]` RES0 in SMMUv3.1 to
    /// SMMUv3.3, `[55:48]` in SMMUv3.0; [`Features::pa_bits`](crate::Features::pa_bits)).
    pub const IPA: Bf = Bf::a(1, 12, 44);
    /// CFGI_STE_RANGE `range` `w1[4:0]`.
    pub const RANGE: Bf = Bf::f(1, 0, 5);
    /// PREFETCH_ADDR `size` `w1[4:0]`.
    pub const PF_SIZE: Bf = Bf::f(1, 0, 5);
    /// PREFETCH_ADDR `stride` `w1[9:5]`.
    pub const PF_STRIDE: Bf = Bf::f(1, 5, 5);
    /// PREFETCH_ADDR `ns` `w1[11]` (command bit 75). IHI0070 §4.2.2 names
    /// the NS parameter but gives its position only in the command figure,
    /// which the published text does not reproduce; bit 75 is where
    /// Renode's SMMUv3 model (`ARM_SMMUv3.Structures.cs`,
    /// `PrefetchAddressCommand`) has it, after Stride `[73:69]` and a RES0
    /// bit 74 (docs/REVISIONS.md).
    pub const PF_NS: Bf = Bf::f(1, 11, 1);
    /// ATC_INV `size` `w1[5:0]`.
    pub const ATC_SIZE: Bf = Bf::f(1, 0, 6);
    /// PRI_RESP `prg_index` `w1[8:0]`.
    pub const PRG_INDEX: Bf = Bf::f(1, 0, 9);
    /// PRI_RESP `resp` `w1[13:12]`.
    pub const PRI_RESP: Bf = Bf::f(1, 12, 2);
    /// RESUME `resp` `w0[13:12]` (Ac = bit 12, Ab = bit 13, IHI0070 §4.7.1).
    pub const RESUME_RESP: Bf = Bf::f(0, 12, 2);
    /// RESUME `stag` `w1[15:0]`.
    pub const STAG: Bf = Bf::f(1, 0, 16);
    /// CMD_SYNC `cs` `w0[13:12]`.
    pub const CS: Bf = Bf::f(0, 12, 2);
    /// CMD_SYNC `msh` `w0[23:22]`.
    pub const MSH: Bf = Bf::f(0, 22, 2);
    /// CMD_SYNC `msi_attr` `w0[27:24]`.
    pub const MSI_ATTR: Bf = Bf::f(0, 24, 4);
    /// CMD_SYNC `msi_data` `w0[63:32]`.
    pub const MSI_DATA: Bf = Bf::f(0, 32, 32);
    /// CMD_SYNC `msi_address` `w1[55:2]` (IHI0070 §4.1.6: "\[55:2\] for the
    /// case of MSIAddr", upper bits RES0 as for [`IPA`]).
    pub const MSI_ADDR: Bf = Bf::a(1, 2, 54);
}

use bits::*;

/// One named field of an op: its name (docs/SPEC.md) and bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldDef {
    /// Field name, as in docs/SPEC.md and the JSON.
    pub(crate) name: &'static str,
    /// Where it lives.
    pub(crate) bf: Bf,
    /// A 1-bit field shown as a boolean.
    pub(crate) boolean: bool,
}

/// The bits an op may set: opcode, its fields and its fixed bits.
pub(crate) const fn valid_mask(fields: &[FieldDef], fixed1: u64) -> [u64; 2] {
    let mut m = [OPCODE.mask(), fixed1];
    let mut i = 0;
    while i < fields.len() {
        let f = fields[i].bf;
        m[(f.word & 1) as usize] |= f.mask();
        i += 1;
    }
    m
}

/// Whether the struct field a closure reads is a boolean (the field's type
/// decides how it is shown: JSON boolean or integer).
const fn raw_bool<S, T: Raw>(_: fn(&S) -> T) -> bool {
    T::BOOL
}

/// Conversion between a struct field and its raw bit-field value.
pub(crate) trait Raw: Copy {
    const BOOL: bool;
    const ZERO: Self;
    fn from_raw(v: u64) -> Self;
    fn to_raw(self) -> u64;
}

impl Raw for bool {
    const BOOL: bool = true;
    const ZERO: bool = false;
    #[inline(always)]
    fn from_raw(v: u64) -> Self {
        v != 0
    }
    #[inline(always)]
    fn to_raw(self) -> u64 {
        u64::from(self)
    }
}

macro_rules! raw_int {
    ($($t:ty),*) => {$(
        impl Raw for $t {
            const BOOL: bool = false;
            const ZERO: $t = 0;
            #[inline(always)]
            fn from_raw(v: u64) -> Self {
                // The bit field is never wider than the type.
                v as $t
            }
            #[inline(always)]
            fn to_raw(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}
raw_int!(u8, u16, u32, u64);

macro_rules! commands {
    // Whether an op of format `$fmt` is a TLBI by address (the range
    // rules of IHI0070 §4.4.1.1 apply to it).
    (@range [TlbiAddr]) => { true };
    (@range [$($fmt:ident)?]) => { false };
    // The fields of an op of format `$fmt` (none without a format); in
    // `op`, where `super::$fmt` is the format and `$fmt` may be an op.
    (@fields [] {}) => { &[] };
    (@fields [$fmt:ident] { $( $f:ident = $bf:expr ),* }) => {
        &[ $( FieldDef { name: stringify!($f), bf: $bf, boolean: raw_bool(|c: &super::$fmt| c.$f) } ),* ]
    };
    // The command of op `$v` from words `$w` (its fields only; the other
    // fields of the format are 0).
    (@decode $v:ident [] $w:ident {}) => { Command::$v };
    (@decode $v:ident [$fmt:ident] $w:ident { $( $f:ident = $bf:expr ),* }) => {
        Command::$v(super::$fmt { $( $f: Raw::from_raw($bf.get($w)), )* ..super::$fmt::ZERO })
    };
    // The pattern of op `$v`, its payload bound to `$c`.
    (@pat $v:ident [] $c:ident) => { Command::$v };
    (@pat $v:ident [$fmt:ident] $c:ident) => { Command::$v($c) };
    // The words of op `$opcode` from payload `$c`.
    (@encode $c:ident, $opcode:literal, $fixed1:expr, { $( $f:ident = $bf:expr ),* }) => {{
        #[allow(unused_mut)]
        let mut w = [$opcode as u64, $fixed1];
        $( $bf.put(&mut w, Raw::to_raw($c.$f)); )*
        w
    }};
    ($(
        $(#[$doc:meta])*
        $variant:ident = $opcode:literal, $name:literal, fixed1 = $fixed1:expr,
        $( $fmt:ident )? { $( $field:ident = $bf:expr ),* $(,)? }
    )*) => {
        /// One marker type per op: its opcode, fields and reserved-bit mask,
        /// and its decoder (the reserved bits already checked).
        pub(crate) mod op {
            use super::*;
            $(
                #[doc = concat!("`", $name, "`.")]
                pub(crate) struct $variant;

                impl $variant {
                    /// Opcode `w0[7:0]`.
                    // CMD_CFGI_ALL's is not read: it shares opcode 4.
                    #[allow(dead_code)]
                    pub(crate) const OPCODE: u8 = $opcode;
                    /// Fields in table order.
                    pub(crate) const FIELDS: &'static [FieldDef] =
                        commands!(@fields [$($fmt)?] { $( $field = $bf ),* });
                    /// Field names in table order.
                    pub(crate) const FIELD_NAMES: &'static [&'static str] = &[ $( stringify!($field) ),* ];
                    /// Bits this op may set, per word; everything else is reserved.
                    // CMD_CFGI_ALL's only in the tests: it shares opcode 4's.
                    #[allow(dead_code)]
                    pub(crate) const MASK: [u64; 2] = valid_mask(Self::FIELDS, $fixed1);

                    /// The command of words whose reserved bits are clear.
                    // The TLBI-by-address ops decode through the codec's
                    // one `tlbi_addr` (this is its tests' reference).
                    #[inline(always)]
                    #[allow(dead_code, unused_variables, clippy::needless_update)]
                    pub(crate) fn decode(w: &[u64; 2]) -> Command {
                        commands!(@decode $variant [$($fmt)?] w { $( $field = $bf ),* })
                    }
                }
            )*
        }

        /// One SMMUv3 command (IHI0070 chapter 4), as listed in docs/SPEC.md:
        /// one variant per op, its payload the op's format.
        // A one-byte tag (rustc otherwise widens it into the padding before
        // the 8-byte-aligned payload): encode dispatches on a byte load.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Command {
            $( $(#[$doc])* $variant $( ($fmt) )?, )*
        }

        /// Every op name, in table order.
        pub(crate) const OP_NAMES: &[&str] = &[ $( $name ),* ];

        /// Every op's opcode, the bits it may set, and whether it is a TLBI
        /// by address (format `TlbiAddr`), in table order: the codec's
        /// tables are built from these.
        pub(crate) const OPS: &[(u8, [u64; 2], bool)] =
            &[ $( ($opcode, op::$variant::MASK, commands!(@range [$($fmt)?])) ),* ];

        impl Command {
            /// The op name (`CMD_TLBI_NH_VA`, ...).
            pub(crate) const fn op_name(&self) -> &'static str {
                match self { $( Command::$variant { .. } => $name, )* }
            }
            /// The opcode `w0[7:0]`.
            pub const fn opcode(&self) -> u8 {
                match self { $( Command::$variant { .. } => $opcode, )* }
            }
            /// The fields of this command's op, in table order.
            pub(crate) const fn fields(&self) -> &'static [FieldDef] {
                match self { $( Command::$variant { .. } => op::$variant::FIELDS, )* }
            }
            /// The two 64-bit words. Fields wider than their bit field, and
            /// fields of the format the op does not have, are cut (a decoded
            /// command never has any); see [`NativeCommand::validate`](iommu_inval_core::NativeCommand::validate).
            #[inline(always)]
            pub fn encode(&self) -> [u64; 2] {
                match *self {
                    $( commands!(@pat $variant [$($fmt)?] c) =>
                        commands!(@encode c, $opcode, $fixed1, { $( $field = $bf ),* }), )*
                }
            }
            /// Field list of op `name`.
            pub(crate) fn fields_of(name: &str) -> Option<(&'static [FieldDef], &'static [&'static str], u8, u64)> {
                match name {
                    $( $name => Some((op::$variant::FIELDS, op::$variant::FIELD_NAMES, $opcode, $fixed1)), )*
                    _ => None,
                }
            }
        }
    };
}

/// Declares a command format: a struct whose fields are the union of its
/// ops' fields, and its all-zero value.
macro_rules! formats {
    ($(
        $(#[$doc:meta])*
        $name:ident { $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)? }
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        // Every format at 8-byte alignment: the enum then holds each payload
        // at the same offset, so a decoded `Command` stays in registers
        // field by field (no byte packing at the merge of the decode
        // arms) and decode+encode dispatch once (2.1 vs 5.6 ns/command).
        #[repr(align(8))]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl $name {
            /// Every field 0 (`Default`, in a constant).
            #[allow(dead_code)]
            const ZERO: $name = $name { $( $field: <$ty as Raw>::ZERO, )* };
        }
    )*};
}

formats! {
    /// TLB invalidation by address, VA or IPA (IHI0070 §4.4.1.1: the fields
    /// "common across all address-based invalidation operation commands"):
    /// CMD_TLBI_NH_VA, `_NH_VAA`, `_EL3_VA`, `_EL2_VA`, `_EL2_VAA`,
    /// `_S2_IPA`, `_S_EL2_VA`, `_S_EL2_VAA`, `_S_S2_IPA`. `vmid`, `asid` and
    /// `ns` are the op's own ids: RES0 (0) in an op that has none.
    TlbiAddr {
        /// Range multiplier.
        num: u8,
        /// Range scale.
        scale: u8,
        /// VMID (NH_VA, NH_VAA, S2_IPA, S_S2_IPA).
        vmid: u16,
        /// ASID (NH_VA, EL2_VA, S_EL2_VA).
        asid: u16,
        /// Leaf only.
        leaf: bool,
        /// The IPA is in the Non-secure IPA space of the Secure regime
        /// (S_S2_IPA only, IHI0070 §4.4.3.3).
        ns: bool,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool,
        /// Level hint.
        ttl: u8,
        /// Translation granule (0: no range).
        tg: u8,
        /// Byte address: a VA `w1[63:12]`, or an IPA `w1[55:12]` (S2_IPA, S_S2_IPA).
        address: u64,
    }
    /// TLB invalidation of an ASID or a VMID (IHI0070 §4.4.2, §4.4.3):
    /// CMD_TLBI_NH_ALL (`vmid`), `_NH_ASID` (both), `_EL2_ASID` and
    /// `_S_EL2_ASID` (`asid`), `_S12_VMALL` and `_S_S12_VMALL` (`vmid`); the
    /// field an op does not have is RES0 (0).
    TlbiScope {
        /// VMID.
        vmid: u16,
        /// ASID.
        asid: u16,
    }
    /// Configuration invalidation (IHI0070 §4.3): CMD_CFGI_STE (`ssec`,
    /// `sid`, `leaf`), `_STE_RANGE` (`ssec`, `sid`, `range`), `_ALL` (`ssec`,
    /// `sid`), `_CD` (`ssec`, `ssid`, `sid`, `leaf`), `_CD_ALL` (`ssec`,
    /// `sid`); the fields an op does not have are RES0 (0).
    Cfgi {
        /// Secure stream.
        ssec: bool,
        /// StreamID (CFGI_STE_RANGE: low `range + 1` bits ignored;
        /// CFGI_ALL: ignored by the hardware, kept so that bytes round-trip).
        sid: u32,
        /// SubstreamID, the CD index (CFGI_CD).
        ssid: u32,
        /// Only the STE / CD, not the L1 descriptor (CFGI_STE, CFGI_CD).
        leaf: bool,
        /// log2 of the number of STEs, minus one (CFGI_STE_RANGE, ≤ 30:
        /// 31 is CMD_CFGI_ALL).
        range: u8,
    }
    /// CMD_PREFETCH_CONFIG: prefetch the configuration of a stream (IHI0070 §4.2.1).
    PrefetchConfig {
        /// Secure stream.
        ssec: bool,
        /// Substream valid.
        ssv: bool,
        /// SubstreamID.
        ssid: u32,
        /// StreamID.
        sid: u32,
    }
    /// CMD_PREFETCH_ADDR: prefetch translations of `2^size` addresses at a
    /// `2^(12+stride)` stride (IHI0070 §4.2.2).
    PrefetchAddr {
        /// Secure stream.
        ssec: bool,
        /// Substream valid.
        ssv: bool,
        /// SubstreamID.
        ssid: u32,
        /// StreamID.
        sid: u32,
        /// log2 of the number of translations.
        size: u8,
        /// Stride: `2^(12 + stride)` bytes.
        stride: u8,
        /// NS attribute given to Secure stage 2 when a Secure stream has no
        /// stage 1 (IHI0070 §4.2.2); RES0 on the Non-secure queue, with
        /// `ssec` = 0 and without SMMU_S_IDR1.SEL2.
        ns: bool,
        /// Byte address (`w1[63:12]`).
        address: u64,
    }
    /// CMD_CFGI_VMS_PIDM: invalidate the cached `VMS.PARTID_MAP` of a VMID
    /// (IHI0070 §4.3.5).
    CfgiVmsPidm {
        /// Security state of the VMID.
        ssec: bool,
        /// VMID (`STE.S2VMID` of the streams that use the VMS).
        vmid: u16,
    }
    /// CMD_ATC_INV: ATS invalidation request to a device (IHI0070 §4.5.1).
    AtcInv {
        /// Global invalidate flag (only with `ssv`).
        global: bool,
        /// Substream valid (PASID prefix).
        ssv: bool,
        /// SubstreamID (PASID).
        ssid: u32,
        /// StreamID.
        sid: u32,
        /// `2^size` 4 KiB pages; 52 = everything.
        size: u8,
        /// Byte address.
        address: u64,
    }
    /// CMD_PRI_RESP: page request group response (IHI0070 §4.5.2).
    PriResp {
        /// Substream valid.
        ssv: bool,
        /// SubstreamID (PASID).
        ssid: u32,
        /// StreamID.
        sid: u32,
        /// Page request group index.
        prg_index: u16,
        /// 0 ResponseFailure, 1 InvalidRequest, 2 Success (IHI0070 §4.5.2).
        resp: u8,
    }
    /// CMD_RESUME: resume a stalled transaction (IHI0070 §4.7.1).
    Resume {
        /// Secure stream (IHI0070 §4.7.1).
        ssec: bool,
        /// Bit 12 Ac (1 retry), bit 13 Ab (abort when terminating).
        resp: u8,
        /// StreamID.
        sid: u32,
        /// Stall tag.
        stag: u16,
    }
    /// CMD_STALL_TERM: terminate every stalled transaction of a stream (IHI0070 §4.7.2).
    StallTerm {
        /// Secure stream (IHI0070 §4.7.2).
        ssec: bool,
        /// StreamID.
        sid: u32,
    }
    /// CMD_SYNC: synchronize, with a completion signal (IHI0070 §4.7.3).
    CmdSync {
        /// 0 none, 1 interrupt/MSI, 2 SEV.
        cs: u8,
        /// MSI shareability.
        msh: u8,
        /// MSI memory attributes.
        msi_attr: u8,
        /// MSI data.
        msi_data: u32,
        /// MSI byte address (`w1[55:2]`); 0 = no MSI write.
        msi_address: u64,
    }
}

/// The SMMUv3 command table (docs/SPEC.md, IHI0070 chapter 4), one row
/// per op, handed to the macro `$m`: `commands!` here (the command type,
/// its ops and field lists), `decode_ops!` in the codec (the decoder's
/// opcode match).
macro_rules! command_table {
    ($m:path) => { $m! {
    /// Prefetch the configuration of a stream (IHI0070 §4.2.1).
    PrefetchConfig = 0x01, "CMD_PREFETCH_CONFIG", fixed1 = 0,
        PrefetchConfig { ssec = SSEC, ssv = SSV, ssid = SSID, sid = SID }
    /// Prefetch translations of `2^size` addresses (IHI0070 §4.2.2).
    PrefetchAddr = 0x02, "CMD_PREFETCH_ADDR", fixed1 = 0, PrefetchAddr {
        ssec = SSEC, ssv = SSV, ssid = SSID, sid = SID, size = PF_SIZE, stride = PF_STRIDE,
        ns = PF_NS, address = VA,
    }
    /// Invalidate one STE (and the CDs cached through it) (IHI0070 §4.3.1).
    CfgiSte = 0x03, "CMD_CFGI_STE", fixed1 = 0, Cfgi { ssec = SSEC, sid = SID, leaf = LEAF }
    /// Invalidate `2^(range+1)` STEs, aligned (IHI0070 §4.3.2); `range` ≤ 30 (31 is CMD_CFGI_ALL).
    CfgiSteRange = 0x04, "CMD_CFGI_STE_RANGE", fixed1 = 0, Cfgi { ssec = SSEC, sid = SID, range = RANGE }
    /// Invalidate all configuration: CMD_CFGI_STE_RANGE with range = 31 (IHI0070 §4.3.6).
    CfgiAll = 0x04, "CMD_CFGI_ALL", fixed1 = 31, Cfgi { ssec = SSEC, sid = SID }
    /// Invalidate one CD (IHI0070 §4.3.3).
    CfgiCd = 0x05, "CMD_CFGI_CD", fixed1 = 0, Cfgi { ssec = SSEC, ssid = SSID, sid = SID, leaf = LEAF }
    /// Invalidate every CD of a stream (IHI0070 §4.3.4).
    CfgiCdAll = 0x06, "CMD_CFGI_CD_ALL", fixed1 = 0, Cfgi { ssec = SSEC, sid = SID }
    /// Invalidate the cached `VMS.PARTID_MAP` of a VMID (IHI0070 §4.3.5):
    /// MPAM only (SMMU_IDR3.MPAM). `ssec` in `w0[10]` "encoded the same as
    /// for other CMD_CFGI_* commands"; `vmid` in `w0[47:32]` as in the TLBI
    /// commands (the command figure is not in the text; the layout is the
    /// one public SMMUv3 drivers use).
    CfgiVmsPidm = 0x07, "CMD_CFGI_VMS_PIDM", fixed1 = 0, CfgiVmsPidm { ssec = SSEC, vmid = VMID }
    /// Every stage-1 NS-EL1 entry of a VMID (IHI0070 §4.4.2.1).
    TlbiNhAll = 0x10, "CMD_TLBI_NH_ALL", fixed1 = 0, TlbiScope { vmid = VMID }
    /// Stage-1 non-global entries of an ASID in a VMID (IHI0070 §4.4.2.2).
    TlbiNhAsid = 0x11, "CMD_TLBI_NH_ASID", fixed1 = 0, TlbiScope { vmid = VMID, asid = ASID }
    /// Stage-1 entries by VA, ASID and VMID (IHI0070 §4.4.2.4).
    TlbiNhVa = 0x12, "CMD_TLBI_NH_VA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, vmid = VMID, asid = ASID, leaf = LEAF, ttl128 = TTL128,
        ttl = TTL, tg = TG, address = VA,
    }
    /// Stage-1 entries by VA for every ASID of a VMID (IHI0070 §4.4.2.3).
    TlbiNhVaa = 0x13, "CMD_TLBI_NH_VAA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, vmid = VMID, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG,
        address = VA,
    }
    /// Every EL3 stage-1 entry (IHI0070 §4.4.2.5).
    TlbiEl3All = 0x18, "CMD_TLBI_EL3_ALL", fixed1 = 0, {}
    /// EL3 stage-1 entries by VA (IHI0070 §4.4.2.6).
    TlbiEl3Va = 0x1a, "CMD_TLBI_EL3_VA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG, address = VA,
    }
    /// Every EL2 stage-1 entry (IHI0070 §4.4.2.7).
    TlbiEl2All = 0x20, "CMD_TLBI_EL2_ALL", fixed1 = 0, {}
    /// EL2-E2H non-global entries of an ASID (IHI0070 §4.4.2.10).
    TlbiEl2Asid = 0x21, "CMD_TLBI_EL2_ASID", fixed1 = 0, TlbiScope { asid = ASID }
    /// EL2 entries by VA and ASID (IHI0070 §4.4.2.8).
    TlbiEl2Va = 0x22, "CMD_TLBI_EL2_VA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, asid = ASID, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG,
        address = VA,
    }
    /// EL2 entries by VA, every ASID (IHI0070 §4.4.2.9).
    TlbiEl2Vaa = 0x23, "CMD_TLBI_EL2_VAA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG, address = VA,
    }
    /// Every entry of a VMID, both stages (IHI0070 §4.4.3.2).
    TlbiS12Vmall = 0x28, "CMD_TLBI_S12_VMALL", fixed1 = 0, TlbiScope { vmid = VMID }
    /// Stage-2 entries by IPA (IHI0070 §4.4.3.1).
    TlbiS2Ipa = 0x2a, "CMD_TLBI_S2_IPA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, vmid = VMID, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG,
        address = IPA,
    }
    /// Every non-secure, non-hypervisor entry, all stages (IHI0070 §4.4.4.1).
    TlbiNsnhAll = 0x30, "CMD_TLBI_NSNH_ALL", fixed1 = 0, {}
    /// ATS invalidation request to a device (IHI0070 §4.5.1).
    AtcInv = 0x40, "CMD_ATC_INV", fixed1 = 0, AtcInv {
        global = GLOBAL, ssv = SSV, ssid = SSID, sid = SID, size = ATC_SIZE, address = VA,
    }
    /// Page request group response (IHI0070 §4.5.2).
    PriResp = 0x41, "CMD_PRI_RESP", fixed1 = 0, PriResp {
        ssv = SSV, ssid = SSID, sid = SID, prg_index = PRG_INDEX, resp = PRI_RESP,
    }
    /// Resume a stalled transaction (IHI0070 §4.7.1).
    Resume = 0x44, "CMD_RESUME", fixed1 = 0,
        Resume { ssec = SSEC, resp = RESUME_RESP, sid = SID, stag = STAG }
    /// Terminate every stalled transaction of a stream (IHI0070 §4.7.2).
    StallTerm = 0x45, "CMD_STALL_TERM", fixed1 = 0, StallTerm { ssec = SSEC, sid = SID }
    /// Synchronize, with a completion signal (IHI0070 §4.7.3).
    CmdSync = 0x46, "CMD_SYNC", fixed1 = 0, CmdSync {
        cs = CS, msh = MSH, msi_attr = MSI_ATTR, msi_data = MSI_DATA, msi_address = MSI_ADDR,
    }
    /// Every S-EL2 stage-1 entry (IHI0070 §4.4.2.11): encoded as
    /// CMD_TLBI_EL2_ALL; Secure Command queue with Secure EL2 only.
    TlbiSEl2All = 0x50, "CMD_TLBI_S_EL2_ALL", fixed1 = 0, {}
    /// S-EL2-E2H non-global entries of an ASID (IHI0070 §4.4.2.14): encoded as
    /// CMD_TLBI_EL2_ASID.
    TlbiSEl2Asid = 0x51, "CMD_TLBI_S_EL2_ASID", fixed1 = 0, TlbiScope { asid = ASID }
    /// S-EL2 entries by VA and ASID (IHI0070 §4.4.2.12): encoded as CMD_TLBI_EL2_VA.
    TlbiSEl2Va = 0x52, "CMD_TLBI_S_EL2_VA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, asid = ASID, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG,
        address = VA,
    }
    /// S-EL2 entries by VA, every ASID (IHI0070 §4.4.2.13): encoded as CMD_TLBI_EL2_VAA.
    TlbiSEl2Vaa = 0x53, "CMD_TLBI_S_EL2_VAA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, leaf = LEAF, ttl128 = TTL128, ttl = TTL, tg = TG, address = VA,
    }
    /// Every Secure-regime entry of a VMID, both stages (IHI0070 §4.4.3.4):
    /// the Secure CMD_TLBI_S12_VMALL.
    TlbiSS12Vmall = 0x58, "CMD_TLBI_S_S12_VMALL", fixed1 = 0, TlbiScope { vmid = VMID }
    /// Secure stage-2 entries by IPA (IHI0070 §4.4.3.3): CMD_TLBI_S2_IPA plus
    /// `ns` in `w1[1]` (the bit public SMMUv3 drivers use; the command
    /// figure is not in the text).
    TlbiSS2Ipa = 0x5a, "CMD_TLBI_S_S2_IPA", fixed1 = 0, TlbiAddr {
        num = NUM, scale = SCALE, vmid = VMID, leaf = LEAF, ns = NS, ttl128 = TTL128, ttl = TTL,
        tg = TG, address = IPA,
    }
    /// Every Secure, non-S-EL2 entry, all stages (IHI0070 §4.4.4.2): the
    /// Secure CMD_TLBI_NSNH_ALL.
    TlbiSnhAll = 0x60, "CMD_TLBI_SNH_ALL", fixed1 = 0, {}
    /// Remove every cached Device Permission Table entry (IHI0070 §4.6.1):
    /// SMMU_IDR3.DPT only; no parameters.
    DptiAll = 0x70, "CMD_DPTI_ALL", fixed1 = 0, {}
    } };
}
pub(crate) use command_table;

command_table!(commands);

#[cfg(test)]
mod tests {
    use super::*;

    /// Reserved-bit masks, computed by hand from the docs/SPEC.md table and
    /// the widened fields of IHI0070 §4.1.6 / §4.4.1.1 (SCALE `w0[25:20]`,
    /// TTL128 `w1[7]`, physical addresses to bit 55).
    #[test]
    fn masks_by_hand() {
        assert_eq!(
            op::TlbiNhVa::MASK,
            [0xffff_ffff_03f1_f0ff, 0xffff_ffff_ffff_ff81]
        );
        assert_eq!(
            op::TlbiS2Ipa::MASK,
            [0x0000_ffff_03f1_f0ff, 0x00ff_ffff_ffff_ff81]
        );
        assert_eq!(
            op::CmdSync::MASK,
            [0xffff_ffff_0fc0_30ff, 0x00ff_ffff_ffff_fffc]
        );
        assert_eq!(
            op::AtcInv::MASK,
            [0xffff_ffff_ffff_faff, 0xffff_ffff_ffff_f03f]
        );
        assert_eq!(op::CfgiAll::MASK, [0xffff_ffff_0000_04ff, 0x1f]);
        assert_eq!(
            op::PrefetchAddr::MASK,
            // size [4:0], stride [9:5], ns [11] (bit 10 reserved), address.
            [0xffff_ffff_ffff_fcff, 0xffff_ffff_ffff_fbff]
        );
        assert_eq!(op::Resume::MASK, [0xffff_ffff_0000_34ff, 0xffff]);
        assert_eq!(op::TlbiNsnhAll::MASK, [0xff, 0]);
        assert_eq!(op::CfgiVmsPidm::MASK, [0x0000_ffff_0000_04ff, 0]);
        assert_eq!(
            op::TlbiSS2Ipa::MASK,
            [0x0000_ffff_03f1_f0ff, 0x00ff_ffff_ffff_ff83]
        );
        assert_eq!(op::TlbiSEl2Va::MASK, op::TlbiEl2Va::MASK);
        assert_eq!(
            op::TlbiSEl2Asid::MASK[0] & !0xff,
            op::TlbiEl2Asid::MASK[0] & !0xff
        );
        assert_eq!(op::DptiAll::MASK, [0xff, 0]);
        assert_eq!(op::TlbiSnhAll::MASK, [0xff, 0]);
    }

    /// A field of the op's format that the op does not have (RES0 there):
    /// its bits outside the op's fields make the words `reserved_bits` (as
    /// for any reserved bit), a command holding it does not validate (its
    /// encoding drops it), and `from_fields` does not know it for this op.
    /// Returns whether the words were checked (the field has bits of its
    /// own, not shared with the op's fields or fixed bits).
    fn res0_is_refused(c: Command, field: &'static str, bf: Bf, v: u64) -> bool {
        use iommu_inval_core::{ErrorKind, FieldError, FieldValue, NativeCommand};
        let op = c.op_name();
        let (defs, names, _, fixed1) = Command::fields_of(op).unwrap_or_default();
        assert!(!names.contains(&field), "{op} has {field}");
        assert!(c.validate().is_err(), "{op} {field} validates");
        let mut given = core::iter::once((field, FieldValue::Uint(v)));
        assert_eq!(
            Command::from_fields(op, &mut given, 2).err(),
            Some(FieldError::UnknownField(field)),
            "{op} {field}"
        );
        let m = valid_mask(defs, fixed1);
        let mut f = [0u64; 2];
        bf.put(&mut f, v);
        let res0 = [f[0] & !m[0], f[1] & !m[1]];
        if res0 == [0, 0] {
            return false;
        }
        let w = c.encode();
        assert!(Command::decode(&w).is_ok(), "{op}");
        let w = [w[0] | res0[0], w[1] | res0[1]];
        assert_eq!(
            Command::decode(&w).map_err(|e| e.kind),
            Err(ErrorKind::ReservedBits),
            "{op} {field}"
        );
        true
    }

    /// A RES0 field: its name, bits, the value given to it, and its setter.
    type Res0<F> = (&'static str, Bf, u64, fn(&mut F, u64));

    /// [`res0_is_refused`] for every op of a format and every field of the
    /// format the op lacks; the count of words checks.
    fn format_res0<F: Copy + Default>(ops: &[fn(F) -> Command], fields: &[Res0<F>]) -> usize {
        let mut words = 0;
        for op in ops {
            for &(name, bf, v, set) in fields {
                if op(F::default()).fields().iter().any(|d| d.name == name) {
                    continue;
                }
                let mut p = F::default();
                set(&mut p, v);
                words += usize::from(res0_is_refused(op(p), name, bf, v));
            }
        }
        words
    }

    /// [`TlbiAddr`]: `vmid`, `asid` and `ns` are RES0 in the ops without them.
    #[test]
    fn tlbi_addr_res0_fields_are_refused() {
        let words = format_res0::<TlbiAddr>(
            &[
                Command::TlbiNhVa,
                Command::TlbiNhVaa,
                Command::TlbiEl3Va,
                Command::TlbiEl2Va,
                Command::TlbiEl2Vaa,
                Command::TlbiS2Ipa,
                Command::TlbiSEl2Va,
                Command::TlbiSEl2Vaa,
                Command::TlbiSS2Ipa,
            ],
            &[
                ("vmid", VMID, 0x8001, |a, v| a.vmid = v as u16),
                ("asid", ASID, 0x8001, |a, v| a.asid = v as u16),
                ("ns", NS, 1, |a, v| a.ns = v != 0),
            ],
        );
        // vmid lacking in 5 ops, asid in 6, ns in 8.
        assert_eq!(words, 19);
    }

    /// [`TlbiScope`]: `vmid` and `asid` are RES0 in the ops without them.
    #[test]
    fn tlbi_scope_res0_fields_are_refused() {
        let words = format_res0::<TlbiScope>(
            &[
                Command::TlbiNhAll,
                Command::TlbiNhAsid,
                Command::TlbiEl2Asid,
                Command::TlbiS12Vmall,
                Command::TlbiSEl2Asid,
                Command::TlbiSS12Vmall,
            ],
            &[
                ("vmid", VMID, 0x8001, |a, v| a.vmid = v as u16),
                ("asid", ASID, 0x8001, |a, v| a.asid = v as u16),
            ],
        );
        assert_eq!(words, 5);
    }

    /// [`Cfgi`]: `ssid`, `leaf` and `range` are RES0 in the ops without
    /// them (CMD_CFGI_STE_RANGE's `range` covers `leaf`'s bit, CMD_CFGI_ALL's
    /// fixed `range` both: there only the struct is refused).
    #[test]
    fn cfgi_res0_fields_are_refused() {
        let words = format_res0::<Cfgi>(
            &[
                Command::CfgiSte,
                Command::CfgiSteRange,
                Command::CfgiAll,
                Command::CfgiCd,
                Command::CfgiCdAll,
            ],
            &[
                ("ssid", SSID, 0x8001, |a, v| a.ssid = v as u32),
                ("leaf", LEAF, 1, |a, v| a.leaf = v != 0),
                ("range", RANGE, 2, |a, v| a.range = v as u8),
            ],
        );
        assert_eq!(words, 8);
    }

    #[test]
    fn bit_fields() {
        let mut w = [0u64; 2];
        bits::MSI_ADDR.put(&mut w, 0x1234_5678_9abc);
        assert_eq!(w, [0, 0x1234_5678_9abc]);
        assert_eq!(bits::MSI_ADDR.get(&w), 0x1234_5678_9abc);
        assert!(!bits::MSI_ADDR.fits(0x1002) && !bits::MSI_ADDR.fits(1 << 56));
        assert!(bits::MSI_ADDR.fits(1 << 55));
        bits::ASID.put(&mut w, 0xbeef);
        assert_eq!(bits::ASID.get(&w), 0xbeef);
        assert_eq!(w[0], 0xbeef_0000_0000_0000);
        assert!(bits::SSID.fits(0xf_ffff) && !bits::SSID.fits(0x10_0000));
    }
}
