//! The SMMUv3 command set: one struct per op, with named bit fields.
//!
//! Every command is 16 bytes, two little-endian 64-bit words, with the opcode
//! in `w0[7:0]` (IHI0070 §4.1.1). Field positions are one table per format
//! (the crate-private `bits`); each op lists its fields in the order of
//! the command tables (docs/SPEC.md), and the codec, the named-field access
//! ([`NativeCommand`](iommu_inval_core::NativeCommand)) and the reserved-bit
//! masks are all derived from that one list, so they cannot disagree.
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

/// Conversion between a struct field and its raw bit-field value.
pub(crate) trait Raw: Copy {
    const BOOL: bool;
    fn from_raw(v: u64) -> Self;
    fn to_raw(self) -> u64;
}

impl Raw for bool {
    const BOOL: bool = true;
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
    ($(
        $(#[$doc:meta])*
        $variant:ident = $opcode:literal, $name:literal, fixed1 = $fixed1:expr,
        { $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $bf:expr ),* $(,)? }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            // Every op at 8-byte alignment: the enum then holds each payload
            // at the same offset, so a decoded `Command` stays in registers
            // field by field (no byte packing at the merge of the decode
            // arms) and decode+encode dispatch once (2.1 vs 5.6 ns/command).
            #[repr(align(8))]
            pub struct $variant {
                $( $(#[$fdoc])* pub $field: $ty, )*
            }

            impl $variant {
                /// Opcode `w0[7:0]`.
                pub const OPCODE: u8 = $opcode;
                /// Op name (docs/SPEC.md).
                pub const NAME: &'static str = $name;
                /// Fields in table order.
                pub(crate) const FIELDS: &'static [FieldDef] = &[
                    $( FieldDef { name: stringify!($field), bf: $bf, boolean: <$ty as Raw>::BOOL } ),*
                ];
                /// Field names in table order.
                pub(crate) const FIELD_NAMES: &'static [&'static str] = &[ $( stringify!($field) ),* ];
                /// Bits this op may set, per word; everything else is reserved.
                // CMD_CFGI_ALL's only in the tests: it shares opcode 4's.
                #[allow(dead_code)]
                pub(crate) const MASK: [u64; 2] = valid_mask(Self::FIELDS, $fixed1);

                #[inline(always)]
                #[allow(unused_variables)]
                pub(crate) fn from_words(w: &[u64; 2]) -> Self {
                    $variant { $( $field: <$ty as Raw>::from_raw($bf.get(w)), )* }
                }

                /// The two words (fields wider than their bit field are cut:
                /// use [`NativeCommand::validate`](iommu_inval_core::NativeCommand::validate) to refuse them).
                #[inline(always)]
                #[allow(unused_mut)]
                pub(crate) fn encode(&self) -> [u64; 2] {
                    let mut w = [$opcode as u64, $fixed1];
                    $( $bf.put(&mut w, Raw::to_raw(self.$field)); )*
                    w
                }
            }

            impl From<$variant> for Command {
                fn from(c: $variant) -> Command {
                    Command::$variant(c)
                }
            }
        )*

        /// One SMMUv3 command (IHI0070 chapter 4), as listed in docs/SPEC.md.
        // A one-byte tag (rustc otherwise widens it into the padding before
        // the 8-byte-aligned payload): encode dispatches on a byte load.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Command {
            $( $(#[$doc])* $variant($variant), )*
        }

        /// Every op name, in table order.
        pub(crate) const OP_NAMES: &[&str] = &[ $( $name ),* ];

        impl Command {
            /// The op name (`CMD_TLBI_NH_VA`, ...).
            pub(crate) const fn op_name(&self) -> &'static str {
                match self { $( Command::$variant(_) => $name, )* }
            }
            /// The opcode `w0[7:0]`.
            pub const fn opcode(&self) -> u8 {
                match self { $( Command::$variant(_) => $opcode, )* }
            }
            /// The fields of this command's op, in table order.
            pub(crate) const fn fields(&self) -> &'static [FieldDef] {
                match self { $( Command::$variant(_) => $variant::FIELDS, )* }
            }
            /// The two 64-bit words. Fields wider than their bit field are cut
            /// (a decoded command never has any); see [`NativeCommand::validate`](iommu_inval_core::NativeCommand::validate).
            #[inline(always)]
            pub fn encode(&self) -> [u64; 2] {
                match self { $( Command::$variant(c) => c.encode(), )* }
            }
            /// Field list of op `name`.
            pub(crate) fn fields_of(name: &str) -> Option<(&'static [FieldDef], &'static [&'static str], u8, u64)> {
                match name {
                    $( $name => Some(($variant::FIELDS, $variant::FIELD_NAMES, $opcode, $fixed1)), )*
                    _ => None,
                }
            }
        }
    };
}

commands! {
    /// Prefetch the configuration of a stream (IHI0070 §4.2.1).
    PrefetchConfig = 0x01, "CMD_PREFETCH_CONFIG", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// Substream valid.
        ssv: bool = SSV,
        /// SubstreamID.
        ssid: u32 = SSID,
        /// StreamID.
        sid: u32 = SID,
    }
    /// Prefetch translations of `2^size` addresses at a `2^(12+stride)` stride (IHI0070 §4.2.2).
    PrefetchAddr = 0x02, "CMD_PREFETCH_ADDR", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// Substream valid.
        ssv: bool = SSV,
        /// SubstreamID.
        ssid: u32 = SSID,
        /// StreamID.
        sid: u32 = SID,
        /// log2 of the number of translations.
        size: u8 = PF_SIZE,
        /// Stride: `2^(12 + stride)` bytes.
        stride: u8 = PF_STRIDE,
        /// NS attribute given to Secure stage 2 when a Secure stream has no
        /// stage 1 (IHI0070 §4.2.2); RES0 on the Non-secure queue, with
        /// `ssec` = 0 and without SMMU_S_IDR1.SEL2.
        ns: bool = PF_NS,
        /// Byte address (`w1[63:12]`).
        address: u64 = VA,
    }
    /// Invalidate one STE (and the CDs cached through it) (IHI0070 §4.3.1).
    CfgiSte = 0x03, "CMD_CFGI_STE", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// StreamID.
        sid: u32 = SID,
        /// Only the STE, not the L1 stream table descriptor.
        leaf: bool = LEAF,
    }
    /// Invalidate `2^(range+1)` STEs, aligned (IHI0070 §4.3.2); `range` ≤ 30 (31 is CMD_CFGI_ALL).
    CfgiSteRange = 0x04, "CMD_CFGI_STE_RANGE", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// StreamID (low `range + 1` bits ignored).
        sid: u32 = SID,
        /// log2 of the number of STEs, minus one.
        range: u8 = RANGE,
    }
    /// Invalidate all configuration: CMD_CFGI_STE_RANGE with range = 31 (IHI0070 §4.3.6).
    CfgiAll = 0x04, "CMD_CFGI_ALL", fixed1 = 31, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// Ignored by the hardware; kept so that bytes round-trip.
        sid: u32 = SID,
    }
    /// Invalidate one CD (IHI0070 §4.3.3).
    CfgiCd = 0x05, "CMD_CFGI_CD", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// SubstreamID (the CD index).
        ssid: u32 = SSID,
        /// StreamID.
        sid: u32 = SID,
        /// Only the CD, not the L1 CD descriptor.
        leaf: bool = LEAF,
    }
    /// Invalidate every CD of a stream (IHI0070 §4.3.4).
    CfgiCdAll = 0x06, "CMD_CFGI_CD_ALL", fixed1 = 0, {
        /// Secure stream.
        ssec: bool = SSEC,
        /// StreamID.
        sid: u32 = SID,
    }
    /// Invalidate the cached `VMS.PARTID_MAP` of a VMID (IHI0070 §4.3.5):
    /// MPAM only (SMMU_IDR3.MPAM). `ssec` in `w0[10]` "encoded the same as
    /// for other CMD_CFGI_* commands"; `vmid` in `w0[47:32]` as in the TLBI
    /// commands (the command figure is not in the text; the layout is the
    /// one public SMMUv3 drivers use).
    CfgiVmsPidm = 0x07, "CMD_CFGI_VMS_PIDM", fixed1 = 0, {
        /// Security state of the VMID.
        ssec: bool = SSEC,
        /// VMID (`STE.S2VMID` of the streams that use the VMS).
        vmid: u16 = VMID,
    }
    /// Every stage-1 NS-EL1 entry of a VMID (IHI0070 §4.4.2.1).
    TlbiNhAll = 0x10, "CMD_TLBI_NH_ALL", fixed1 = 0, {
        /// VMID.
        vmid: u16 = VMID,
    }
    /// Stage-1 non-global entries of an ASID in a VMID (IHI0070 §4.4.2.2).
    TlbiNhAsid = 0x11, "CMD_TLBI_NH_ASID", fixed1 = 0, {
        /// VMID.
        vmid: u16 = VMID,
        /// ASID.
        asid: u16 = ASID,
    }
    /// Stage-1 entries by VA, ASID and VMID (IHI0070 §4.4.2.4).
    TlbiNhVa = 0x12, "CMD_TLBI_NH_VA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// VMID.
        vmid: u16 = VMID,
        /// ASID.
        asid: u16 = ASID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule (0: no range).
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// Stage-1 entries by VA for every ASID of a VMID (IHI0070 §4.4.2.3).
    TlbiNhVaa = 0x13, "CMD_TLBI_NH_VAA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// VMID.
        vmid: u16 = VMID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule.
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// Every EL3 stage-1 entry (IHI0070 §4.4.2.5).
    TlbiEl3All = 0x18, "CMD_TLBI_EL3_ALL", fixed1 = 0, {}
    /// EL3 stage-1 entries by VA (IHI0070 §4.4.2.6).
    TlbiEl3Va = 0x1a, "CMD_TLBI_EL3_VA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule.
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// Every EL2 stage-1 entry (IHI0070 §4.4.2.7).
    TlbiEl2All = 0x20, "CMD_TLBI_EL2_ALL", fixed1 = 0, {}
    /// EL2-E2H non-global entries of an ASID (IHI0070 §4.4.2.10).
    TlbiEl2Asid = 0x21, "CMD_TLBI_EL2_ASID", fixed1 = 0, {
        /// ASID.
        asid: u16 = ASID,
    }
    /// EL2 entries by VA and ASID (IHI0070 §4.4.2.8).
    TlbiEl2Va = 0x22, "CMD_TLBI_EL2_VA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// ASID.
        asid: u16 = ASID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule.
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// EL2 entries by VA, every ASID (IHI0070 §4.4.2.9).
    TlbiEl2Vaa = 0x23, "CMD_TLBI_EL2_VAA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule.
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// Every entry of a VMID, both stages (IHI0070 §4.4.3.2).
    TlbiS12Vmall = 0x28, "CMD_TLBI_S12_VMALL", fixed1 = 0, {
        /// VMID.
        vmid: u16 = VMID,
    }
    /// Stage-2 entries by IPA (IHI0070 §4.4.3.1).
    TlbiS2Ipa = 0x2a, "CMD_TLBI_S2_IPA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// VMID.
        vmid: u16 = VMID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule.
        tg: u8 = TG,
        /// Byte address (`w1[51:12]`).
        address: u64 = IPA,
    }
    /// Every non-secure, non-hypervisor entry, all stages (IHI0070 §4.4.4.1).
    TlbiNsnhAll = 0x30, "CMD_TLBI_NSNH_ALL", fixed1 = 0, {}
    /// ATS invalidation request to a device (IHI0070 §4.5.1).
    AtcInv = 0x40, "CMD_ATC_INV", fixed1 = 0, {
        /// Global invalidate flag (only with `ssv`).
        global: bool = GLOBAL,
        /// Substream valid (PASID prefix).
        ssv: bool = SSV,
        /// SubstreamID (PASID).
        ssid: u32 = SSID,
        /// StreamID.
        sid: u32 = SID,
        /// `2^size` 4 KiB pages; 52 = everything.
        size: u8 = ATC_SIZE,
        /// Byte address.
        address: u64 = VA,
    }
    /// Page request group response (IHI0070 §4.5.2).
    PriResp = 0x41, "CMD_PRI_RESP", fixed1 = 0, {
        /// Substream valid.
        ssv: bool = SSV,
        /// SubstreamID (PASID).
        ssid: u32 = SSID,
        /// StreamID.
        sid: u32 = SID,
        /// Page request group index.
        prg_index: u16 = PRG_INDEX,
        /// 0 ResponseFailure, 1 InvalidRequest, 2 Success (IHI0070 §4.5.2).
        resp: u8 = PRI_RESP,
    }
    /// Resume a stalled transaction (IHI0070 §4.7.1).
    Resume = 0x44, "CMD_RESUME", fixed1 = 0, {
        /// Secure stream (IHI0070 §4.7.1).
        ssec: bool = SSEC,
        /// Bit 12 Ac (1 retry), bit 13 Ab (abort when terminating).
        resp: u8 = RESUME_RESP,
        /// StreamID.
        sid: u32 = SID,
        /// Stall tag.
        stag: u16 = STAG,
    }
    /// Terminate every stalled transaction of a stream (IHI0070 §4.7.2).
    StallTerm = 0x45, "CMD_STALL_TERM", fixed1 = 0, {
        /// Secure stream (IHI0070 §4.7.2).
        ssec: bool = SSEC,
        /// StreamID.
        sid: u32 = SID,
    }
    /// Synchronize, with a completion signal (IHI0070 §4.7.3).
    CmdSync = 0x46, "CMD_SYNC", fixed1 = 0, {
        /// 0 none, 1 interrupt/MSI, 2 SEV.
        cs: u8 = CS,
        /// MSI shareability.
        msh: u8 = MSH,
        /// MSI memory attributes.
        msi_attr: u8 = MSI_ATTR,
        /// MSI data.
        msi_data: u32 = MSI_DATA,
        /// MSI byte address (`w1[51:2]`); 0 = no MSI write.
        msi_address: u64 = MSI_ADDR,
    }
    /// Every S-EL2 stage-1 entry (IHI0070 §4.4.2.11): encoded as
    /// CMD_TLBI_EL2_ALL; Secure Command queue with Secure EL2 only.
    TlbiSEl2All = 0x50, "CMD_TLBI_S_EL2_ALL", fixed1 = 0, {}
    /// S-EL2-E2H non-global entries of an ASID (IHI0070 §4.4.2.14): encoded as
    /// CMD_TLBI_EL2_ASID.
    TlbiSEl2Asid = 0x51, "CMD_TLBI_S_EL2_ASID", fixed1 = 0, {
        /// ASID.
        asid: u16 = ASID,
    }
    /// S-EL2 entries by VA and ASID (IHI0070 §4.4.2.12): encoded as CMD_TLBI_EL2_VA.
    TlbiSEl2Va = 0x52, "CMD_TLBI_S_EL2_VA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// ASID.
        asid: u16 = ASID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule (0: no range).
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// S-EL2 entries by VA, every ASID (IHI0070 §4.4.2.13): encoded as CMD_TLBI_EL2_VAA.
    TlbiSEl2Vaa = 0x53, "CMD_TLBI_S_EL2_VAA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule (0: no range).
        tg: u8 = TG,
        /// Byte address.
        address: u64 = VA,
    }
    /// Every Secure-regime entry of a VMID, both stages (IHI0070 §4.4.3.4):
    /// the Secure CMD_TLBI_S12_VMALL.
    TlbiSS12Vmall = 0x58, "CMD_TLBI_S_S12_VMALL", fixed1 = 0, {
        /// Secure VMID.
        vmid: u16 = VMID,
    }
    /// Secure stage-2 entries by IPA (IHI0070 §4.4.3.3): CMD_TLBI_S2_IPA plus
    /// `ns` in `w1[1]` (the bit public SMMUv3 drivers use; the command
    /// figure is not in the text).
    TlbiSS2Ipa = 0x5a, "CMD_TLBI_S_S2_IPA", fixed1 = 0, {
        /// Range multiplier.
        num: u8 = NUM,
        /// Range scale.
        scale: u8 = SCALE,
        /// Secure VMID.
        vmid: u16 = VMID,
        /// Leaf only.
        leaf: bool = LEAF,
        /// The IPA is in the Non-secure IPA space of the Secure regime.
        ns: bool = NS,
        /// The level hint is for 128-bit descriptors (IHI0070 §4.4.1.1).
        ttl128: bool = TTL128,
        /// Level hint.
        ttl: u8 = TTL,
        /// Translation granule (0: no range).
        tg: u8 = TG,
        /// Byte address (`w1[55:12]`).
        address: u64 = IPA,
    }
    /// Every Secure, non-S-EL2 entry, all stages (IHI0070 §4.4.4.2): the
    /// Secure CMD_TLBI_NSNH_ALL.
    TlbiSnhAll = 0x60, "CMD_TLBI_SNH_ALL", fixed1 = 0, {}
    /// Remove every cached Device Permission Table entry (IHI0070 §4.6.1):
    /// SMMU_IDR3.DPT only; no parameters.
    DptiAll = 0x70, "CMD_DPTI_ALL", fixed1 = 0, {}

}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reserved-bit masks, computed by hand from the docs/SPEC.md table and
    /// the widened fields of IHI0070 §4.1.6 / §4.4.1.1 (SCALE `w0[25:20]`,
    /// TTL128 `w1[7]`, physical addresses to bit 55).
    #[test]
    fn masks_by_hand() {
        assert_eq!(
            TlbiNhVa::MASK,
            [0xffff_ffff_03f1_f0ff, 0xffff_ffff_ffff_ff81]
        );
        assert_eq!(
            TlbiS2Ipa::MASK,
            [0x0000_ffff_03f1_f0ff, 0x00ff_ffff_ffff_ff81]
        );
        assert_eq!(
            CmdSync::MASK,
            [0xffff_ffff_0fc0_30ff, 0x00ff_ffff_ffff_fffc]
        );
        assert_eq!(AtcInv::MASK, [0xffff_ffff_ffff_faff, 0xffff_ffff_ffff_f03f]);
        assert_eq!(CfgiAll::MASK, [0xffff_ffff_0000_04ff, 0x1f]);
        assert_eq!(
            PrefetchAddr::MASK,
            // size [4:0], stride [9:5], ns [11] (bit 10 reserved), address.
            [0xffff_ffff_ffff_fcff, 0xffff_ffff_ffff_fbff]
        );
        assert_eq!(Resume::MASK, [0xffff_ffff_0000_34ff, 0xffff]);
        assert_eq!(TlbiNsnhAll::MASK, [0xff, 0]);
        assert_eq!(CfgiVmsPidm::MASK, [0x0000_ffff_0000_04ff, 0]);
        assert_eq!(
            TlbiSS2Ipa::MASK,
            [0x0000_ffff_03f1_f0ff, 0x00ff_ffff_ffff_ff83]
        );
        assert_eq!(TlbiSEl2Va::MASK, TlbiEl2Va::MASK);
        assert_eq!(TlbiSEl2Asid::MASK[0] & !0xff, TlbiEl2Asid::MASK[0] & !0xff);
        assert_eq!(DptiAll::MASK, [0xff, 0]);
        assert_eq!(TlbiSnhAll::MASK, [0xff, 0]);
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
