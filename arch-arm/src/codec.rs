//! Bit-exact decode and encode, and the named-field access of
//! [`NativeCommand`](iommu_inval_core::NativeCommand).
//!
//! Decoding checks, in this order: the opcode (unknown → `unknown_opcode`),
//! the reserved bits of the op (any set → `reserved_bits`; IHI0070 §4.1.5
//! lets an implementation raise CERROR_ILL for them, and an emulator should),
//! then the field values the architecture makes ILLEGAL (`invalid_field`).
//! Everything accepted re-encodes to the same words.
//!
//! Decisions where docs/SPEC.md is silent or differs from IHI0070 (each has a
//! test in `tests/spec_deviations.rs`):
//! * TLBI with `tg` ≠ 0 and `num` = `scale` = `ttl` = 0 is ILLEGAL: "The
//!   parameter combination of NUM == 0, SCALE == 0 and TTL = 0b00 is
//!   Reserved. Use of this Reserved combination of parameters causes
//!   CERROR_ILL" (IHI0070 §4.4.1.1). With `tg` = 16 KiB, `ttl` = 1 counts as
//!   0 there (SMMU_IDR5.DS = 0, the 5-bit `scale` of the table: "TTL == 0b01
//!   is Reserved when TG == 0b10 ... treated as TTL == 0b00").
//! * TLBI with `tg` = 0 and `ttl` ≠ 0 is `invalid_field`, like `num`/`scale`:
//!   IHI0070 §4.4.1.1 makes all three "RES0 when TG == 0b00".
//! * CMD_RESUME and CMD_STALL_TERM carry `ssec` in `w0[10]` ("The common
//!   behaviors for SSec apply", IHI0070 §4.7.1, §4.7.2).
//! * CMD_RESUME `resp` = 3 (Ac = 1, Ab = 1) is a retry: "The Abort parameter,
//!   Ab, is IGNORED" when Ac = 1 (IHI0070 §4.7.1); it is accepted.
//! * CMD_ATC_INV `size` > 52 is accepted: IHI0070 §4.5.1 permits but does not
//!   require CERROR_ILL, or an UNKNOWN span; the lift takes it as everything,
//!   the only span that covers an unknown one.
//! * CMD_PREFETCH_ADDR has NS (IHI0070 §4.2.2 lists it among the
//!   parameters) at `w1[11]`, bit 75, where Renode's SMMUv3 model has it
//!   (the position is only in the specification's figure). NS is RES0 with
//!   SSec = 0 on every SMMU: `ns` = 1 with `ssec` = 0 is `invalid_field`
//!   (as the other fields RES0 by another field's value, `num`, `scale`,
//!   `ttl` with `tg` = 0); on the Non-secure queue and without
//!   SMMU_S_IDR1.SEL2 [`Features`](crate::Features) refuses it (its test is
//!   `tests/revisions.rs::prefetch_addr_ns`).

use crate::cmd::*;
use iommu_inval_core::native::{ArchId, FieldError, FieldValue};
use iommu_inval_core::DecodeError;

/// The bits each opcode may set (`[w0, w1]`), indexed by `w0[7:0]`; an
/// unknown opcode has `[0, 0]` (a known one always has the opcode bits in
/// `w0`). One AND per word checks the reserved bits of any command
/// (CMD_CFGI_STE_RANGE and CMD_CFGI_ALL share opcode 4 and their mask).
/// Built from the `commands!` table ([`OPS`]).
const VALID: [[u64; 2]; 256] = {
    let mut t = [[0u64; 2]; 256];
    let mut i = 0;
    while i < OPS.len() {
        t[OPS[i].0 as usize] = OPS[i].1;
        i += 1;
    }
    t
};

/// The complement of [`VALID`]: the reserved bits per opcode (every bit
/// for an unknown one), so that the hot path needs no inversion.
const RESERVED: [[u64; 2]; 256] = iommu_inval_core::native::word::reserved(&VALID);

/// The error of words that failed the [`VALID`] test: an unknown opcode,
/// else the first word with reserved bits set.
#[cold]
#[inline(never)]
fn mask_error(w0: u64, w1: u64) -> DecodeError {
    let m = VALID[usize::from(w0 as u8)];
    if m[0] == 0 {
        return DecodeError::unknown_opcode(w0 & 0xff);
    }
    let r0 = w0 & !m[0];
    if r0 != 0 {
        DecodeError::reserved(0, r0)
    } else {
        DecodeError::reserved(1, w1 & !m[1])
    }
}

#[cold]
#[inline(never)]
fn bad_length(n: usize) -> DecodeError {
    DecodeError::bad_length(n)
}

#[cold]
#[inline(never)]
fn unknown(op: u64) -> DecodeError {
    DecodeError::unknown_opcode(op)
}

#[cold]
#[inline(never)]
fn invalid(word: u8, mask: u64, field: &'static str) -> DecodeError {
    DecodeError::invalid(word, mask, field)
}

/// The TLBI range rules of IHI0070 §4.4.1.1 on `num`, `scale`, `ttl`,
/// `ttl128`, `tg`, for an SMMU with SMMU_IDR5.DS = 1 (the newest
/// revision: `tg` = 2 with `ttl` = 1 is a level-1 hint; without DS,
/// [`Features`](crate::Features) refuses it), on the fields (the decoder
/// tests the words, [`check_range_words`]).
#[inline(always)]
fn check_range(num: u8, scale: u8, ttl: u8, ttl128: bool, tg: u8) -> Result<(), DecodeError> {
    let bad = if tg == 0 {
        ((num | scale | ttl) != 0) | ttl128
    } else {
        ((num | scale | ttl) == 0) | (ttl128 & (ttl == 0))
    };
    if bad {
        return Err(range_error(num, scale, ttl, tg));
    }
    Ok(())
}

/// The error of a TLBI that failed [`check_range`]. Its `field` is
/// `"F with CONDITION"`, and its mask covers the bits of F alone (F =
/// `num/scale`: both), so that the value read through the mask (the CLI's
/// "invalid value V in field F ...") is F's own: `tg` = 1 with no range
/// and no level hint is `tg` 1, not `tg` and `ttl` read together.
#[cold]
#[inline(never)]
fn range_error(num: u8, scale: u8, ttl: u8, tg: u8) -> DecodeError {
    if tg != 0 && (num | scale | ttl) == 0 {
        DecodeError::invalid(1, bits::TG.mask(), "tg with num=scale=ttl=0")
    } else if tg != 0 {
        DecodeError::invalid(1, bits::TTL128.mask(), "ttl128 with ttl=0")
    } else if num != 0 || scale != 0 {
        DecodeError::invalid(
            0,
            bits::NUM.mask() | bits::SCALE.mask(),
            "num/scale with tg=0",
        )
    } else if ttl != 0 {
        DecodeError::invalid(1, bits::TTL.mask(), "ttl with tg=0")
    } else {
        DecodeError::invalid(1, bits::TTL128.mask(), "ttl128 with tg=0")
    }
}

/// The level hint the hardware uses: `ttl` = 1 with a 16 KiB granule is
/// Reserved and treated as 0 without SMMU_IDR5.DS (IHI0070 §4.4.1.1).
#[inline(always)]
pub(crate) const fn effective_ttl(ttl: u8, tg: u8) -> u8 {
    if tg == 0 || (tg == 2 && ttl == 1) {
        0
    } else {
        ttl
    }
}

/// The command of op `$t` (the reserved bits are already checked).
macro_rules! take {
    ($t:ident, $w:expr) => {{
        op::$t::decode($w)
    }};
}

/// [`take!`], refusing the ILLEGAL value 3 of the 2-bit field `$f` (bit
/// field `$bf`): CMD_SYNC `cs` (IHI0070 §4.7.3), CMD_PRI_RESP `resp`
/// (§4.5.2). A macro, not a function: the decoder's code stays as written.
macro_rules! take_not3 {
    ($t:ident, $w:expr, $f:ident, $bf:ident) => {{
        // Both bits of the field set, tested on the word: the field is
        // then read once, by the decoder (an extracted value compared here
        // is shifted back in by an inlined encode).
        if $w[usize::from(bits::$bf.word)] & bits::$bf.mask() == bits::$bf.mask() {
            return Err(invalid(bits::$bf.word, bits::$bf.mask(), stringify!($f)));
        }
        take!($t, $w)
    }};
}

/// [`take!`] plus the TLBI range rules.
macro_rules! take_range {
    ($t:ident, $w:expr) => {{
        check_range_words($w)?;
        Command::$t(tlbi_addr($w))
    }};
}

/// The command of op `$v` (format `$fmt`) from words whose reserved bits
/// are clear, with the op's value rules: the range rules for a TLBI by
/// address, the ILLEGAL 3 of CMD_SYNC `cs` and CMD_PRI_RESP `resp`,
/// CMD_PREFETCH_ADDR `ns` without `ssec`.
macro_rules! take_op {
    (PrefetchAddr, $f:tt, $w:ident) => {{
        if bits::PF_NS.get($w) != 0 && bits::SSEC.get($w) == 0 {
            return Err(invalid(1, bits::PF_NS.mask(), PF_NS_RULE));
        }
        take!(PrefetchAddr, $w)
    }};
    // CMD_CFGI_ALL is CMD_CFGI_STE_RANGE with `range` = 31 (IHI0070
    // §4.3.6): one arm decodes both (the row of CMD_CFGI_ALL, on the same
    // opcode, is never reached).
    (CfgiSteRange, $f:tt, $w:ident) => {
        if bits::RANGE.get($w) == 31 {
            take!(CfgiAll, $w)
        } else {
            take!(CfgiSteRange, $w)
        }
    };
    (CmdSync, $f:tt, $w:ident) => {
        take_not3!(CmdSync, $w, cs, CS)
    };
    (PriResp, $f:tt, $w:ident) => {
        take_not3!(PriResp, $w, resp, PRI_RESP)
    };
    ($v:ident, [TlbiAddr], $w:ident) => {
        take_range!($v, $w)
    };
    ($v:ident, [TlbiScope], $w:ident) => {
        Command::$v(tlbi_scope($w))
    };
    ($v:ident, $f:tt, $w:ident) => {
        take!($v, $w)
    };
}

/// `decode_op`, the decoder's opcode match, from the command table
/// (`command_table!`): one arm per row.
macro_rules! decode_ops {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $opcode:literal, $name:literal, fixed1 = $fixed1:expr,
        $( $fmt:ident )? { $( $field:ident = $bf:expr ),* $(,)? }
    )*) => {
        /// The command of words whose reserved bits are clear (the opcode
        /// known or not).
        #[inline(always)]
        // CMD_CFGI_ALL's arm (opcode 4, after CMD_CFGI_STE_RANGE's) is
        // never reached: CMD_CFGI_STE_RANGE's decodes it. Any other
        // repeated opcode with its own mask fails `valid_table_matches_the_ops`.
        #[allow(unreachable_patterns)]
        fn decode_op(w: &[u64; 2]) -> Result<Command, DecodeError> {
            Ok(match w[0] & 0xff {
                $( $opcode => take_op!($variant, [$($fmt)?], w), )*
                op => return Err(unknown(op)),
            })
        }
    };
}
command_table!(decode_ops);

/// Both fields of [`TlbiScope`] from the words of an ASID / VMID TLBI whose
/// reserved bits are clear (a field the op lacks reads 0).
#[inline(always)]
fn tlbi_scope(w: &[u64; 2]) -> TlbiScope {
    TlbiScope {
        vmid: bits::VMID.get(w) as u16,
        asid: bits::ASID.get(w) as u16,
    }
}

/// Every field of [`TlbiAddr`] from the words of a TLBI by address whose
/// reserved bits are clear: a field the op lacks is RES0, so its bits read
/// 0 (and an IPA's bits above 55 too). One decoder for the nine ops, so
/// that their arms are one (their words test `tlbi_addr_reads_each_op`).
#[inline(always)]
fn tlbi_addr(w: &[u64; 2]) -> TlbiAddr {
    TlbiAddr {
        num: bits::NUM.get(w) as u8,
        scale: bits::SCALE.get(w) as u8,
        vmid: bits::VMID.get(w) as u16,
        asid: bits::ASID.get(w) as u16,
        leaf: bits::LEAF.get(w) != 0,
        ns: bits::NS.get(w) != 0,
        ttl128: bits::TTL128.get(w) != 0,
        ttl: bits::TTL.get(w) as u8,
        tg: bits::TG.get(w) as u8,
        address: bits::VA.get(w),
    }
}

/// [`check_range`] on the words of a range TLBI (every one has `num`,
/// `scale`, `ttl128`, `ttl` and `tg` at the same bits): a few masks instead
/// of extracting each field.
#[inline(always)]
fn check_range_words(w: &[u64; 2]) -> Result<(), DecodeError> {
    if (RANGE_OK >> range_key(w)) & 1 == 0 {
        return Err(range_error(
            bits::NUM.get(w) as u8,
            bits::SCALE.get(w) as u8,
            bits::TTL.get(w) as u8,
            bits::TG.get(w) as u8,
        ));
    }
    Ok(())
}

/// Whether the words of a range TLBI break [`check_range`]'s rules (the
/// definition [`RANGE_OK`] is built from).
const fn range_bad(w: &[u64; 2]) -> bool {
    let any = (w[0] & (bits::NUM.mask() | bits::SCALE.mask())) | (w[1] & bits::TTL.mask()) != 0;
    let ttl128 = w[1] & bits::TTL128.mask() != 0;
    let tg0 = w[1] & bits::TG.mask() == 0;
    let ttl0 = w[1] & bits::TTL.mask() == 0;
    (tg0 & (any | ttl128)) | (!tg0 & (!any | (ttl128 & ttl0)))
}

/// Per opcode, everything [`Command::check_words`](iommu_inval_core::NativeCommand::check_words) tests, so that one
/// table entry serves the whole test: the reserved bits `r0` / `r1` (as
/// in [`RESERVED`]); the 2-bit fields of which the value 3 is ILLEGAL at
/// `w0[13:12]` (`m0`: CMD_SYNC `cs`, IHI0070 §4.7.3) or `w1[13:12]` (`m1`:
/// CMD_PRI_RESP `resp`, §4.5.2), 0 for the other ops; and the range rules
/// as a 64-entry truth table over [`range_key`] (`range_ok`: [`RANGE_OK`]
/// for the range TLBIs, [`PF_NS_CLEAR`] for CMD_PREFETCH_ADDR, all ones for
/// the other ops, none for an unknown opcode, whose all-zero words pass
/// the reserved-bit mask).
#[derive(Clone, Copy)]
struct Rule {
    r0: u64,
    r1: u64,
    m0: u64,
    m1: u64,
    range_ok: u64,
}

/// The value of `m0` / `m1` that is ILLEGAL (both bits of the field set).
const FIELD3: u64 = 0x3000;
const _: () = assert!(bits::CS.mask() == FIELD3 && bits::PRI_RESP.mask() == FIELD3);

/// What the TLBI range rules depend on, as 6 bits: `w1[11:7]` (`tg`,
/// `ttl`, `ttl128`) and whether `num` or `scale` is non-zero.
#[inline(always)]
const fn range_key(w: &[u64; 2]) -> u64 {
    ((w[1] >> 7) & 0x1f) | (((w[0] & (bits::NUM.mask() | bits::SCALE.mask()) != 0) as u64) << 5)
}

/// The truth table of [`range_bad`] over [`range_key`]: bit `k` set when
/// words of key `k` keep the rules.
const RANGE_OK: u64 = {
    let mut ok = 0u64;
    let mut k = 0u64;
    while k < 64 {
        let w = [((k >> 5) & 1) << bits::NUM.lo, (k & 0x1f) << 7];
        if range_key(&w) == k && !range_bad(&w) {
            ok |= 1 << k;
        }
        k += 1;
    }
    ok
};

/// How many ops of the table are TLBIs by address.
const RANGE_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < OPS.len() {
        n += OPS[i].2 as usize;
        i += 1;
    }
    n
};

/// The range TLBIs: the opcodes [`check_range`]'s rules apply to (the
/// table's ops of format `TlbiAddr`).
const RANGE_OPS: [u8; RANGE_COUNT] = {
    let mut r = [0u8; RANGE_COUNT];
    let (mut n, mut i) = (0, 0);
    while i < OPS.len() {
        if OPS[i].2 {
            r[n] = OPS[i].0;
            n += 1;
        }
        i += 1;
    }
    r
};

/// CMD_PREFETCH_ADDR `ns` = 1 is RES0 with `ssec` = 0 (IHI0070 §4.2.2):
/// the rule's name in the decoder's error.
const PF_NS_RULE: &str = "ns with ssec=0";

/// For CMD_PREFETCH_ADDR, the [`range_key`]s with `ns` (`w1[11]`, key bit
/// 4) clear: [`Command::check_words`](iommu_inval_core::NativeCommand::check_words) passes those at once and sends the
/// rare `ns` = 1 words on to the decoder, which checks `ssec` (no test
/// added on the path of the other ops).
const PF_NS_CLEAR: u64 = {
    assert!(bits::PF_NS.word == 1 && bits::PF_NS.lo == 7 + 4 && bits::PF_NS.width == 1);
    let mut ok = 0u64;
    let mut k = 0;
    while k < 64 {
        if (k >> 4) & 1 == 0 {
            ok |= 1 << k;
        }
        k += 1;
    }
    ok
};

/// [`Rule`] of every opcode.
const RULES: [Rule; 256] = {
    let mut t = [Rule {
        r0: !0,
        r1: !0,
        m0: 0,
        m1: 0,
        range_ok: 0,
    }; 256];
    let mut i = 0;
    while i < 256 {
        t[i].r0 = RESERVED[i][0];
        t[i].r1 = RESERVED[i][1];
        if VALID[i][0] != 0 {
            t[i].range_ok = !0;
        }
        i += 1;
    }
    let mut i = 0;
    while i < RANGE_OPS.len() {
        t[RANGE_OPS[i] as usize].range_ok = RANGE_OK;
        i += 1;
    }
    t[op::PrefetchAddr::OPCODE as usize].range_ok = PF_NS_CLEAR;
    t[op::CmdSync::OPCODE as usize].m0 = bits::CS.mask();
    t[op::PriResp::OPCODE as usize].m1 = bits::PRI_RESP.mask();
    t
};

/// The error of words [`Command::check_words`](iommu_inval_core::NativeCommand::check_words)'s fast test refused: the
/// decoder's own (`Ok` for the rare words the test sends on to it).
#[cold]
#[inline(never)]
fn check_slow(w0: u64, w1: u64) -> Result<(), DecodeError> {
    Command::decode_words(&[w0, w1]).map(|_| ())
}

impl Command {
    /// [`Command::decode`](iommu_inval_core::NativeCommand::decode) of exactly two words.
    #[inline(always)]
    pub(crate) fn decode_words(w: &[u64; 2]) -> Result<Command, DecodeError> {
        // Opcode and reserved bits of every op: one table load, one test.
        let r = RESERVED[usize::from(w[0] as u8)];
        if (w[0] & r[0]) | (w[1] & r[1]) != 0 {
            return Err(mask_error(w[0], w[1]));
        }
        decode_op(w)
    }

    /// The payload of a TLBI by address (IHI0070 §4.4.1.1): the one list
    /// of the ops of format [`TlbiAddr`].
    #[inline(always)]
    pub(crate) const fn range_fields(&self) -> Option<TlbiAddr> {
        match *self {
            Command::TlbiNhVa(x)
            | Command::TlbiNhVaa(x)
            | Command::TlbiEl3Va(x)
            | Command::TlbiEl2Va(x)
            | Command::TlbiEl2Vaa(x)
            | Command::TlbiS2Ipa(x)
            | Command::TlbiSEl2Va(x)
            | Command::TlbiSEl2Vaa(x)
            | Command::TlbiSS2Ipa(x) => Some(x),
            _ => None,
        }
    }

    /// The field-value rules (the fields already fit their bits): TLBI
    /// ranges, CMD_SYNC `cs` = 3 and CMD_PRI_RESP `resp` = 3 are ILLEGAL
    /// (IHI0070 §4.4.1.1, §4.7.3, §4.5.2); CMD_CFGI_STE_RANGE `range` = 31
    /// is CMD_CFGI_ALL. (`NativeCommand::validate` checks the widths too.)
    pub fn check_values(&self) -> Result<(), DecodeError> {
        if let Some(x) = self.range_fields() {
            return check_range(x.num, x.scale, x.ttl, x.ttl128, x.tg);
        }
        match *self {
            Command::PrefetchAddr(c) if c.ns && !c.ssec => {
                Err(DecodeError::invalid(1, bits::PF_NS.mask(), PF_NS_RULE))
            }
            Command::CmdSync(c) if c.cs == 3 => Err(DecodeError::invalid(0, bits::CS.mask(), "cs")),
            Command::PriResp(c) if c.resp == 3 => {
                Err(DecodeError::invalid(1, bits::PRI_RESP.mask(), "resp"))
            }
            Command::CfgiSteRange(c) if c.range >= 31 => {
                Err(DecodeError::invalid(1, bits::RANGE.mask(), "range"))
            }
            _ => Ok(()),
        }
    }

    /// Visit every field (name, value) in table order.
    fn visit_fields(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
        let w = self.encode();
        for d in self.fields() {
            let v = d.bf.get(&w);
            f(
                d.name,
                if d.boolean {
                    FieldValue::Bool(v != 0)
                } else {
                    FieldValue::Uint(v)
                },
            );
        }
    }

    /// Build a command from an op name and named fields (missing ones are 0).
    /// A value that does not fit its field (an address with bits outside
    /// it) is [`FieldError::TooWide`]; fields that make an ILLEGAL command
    /// are [`FieldError::Invalid`].
    pub(crate) fn from_named(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
    ) -> Result<Command, FieldError> {
        let (defs, _, opcode, fixed1) = Command::fields_of(op).ok_or(FieldError::UnknownOp)?;
        let mut w = [u64::from(opcode), fixed1];
        for (name, value) in fields {
            let d = defs
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| FieldError::UnknownField(static_name(defs, name)))?;
            // A boolean only for a 1-bit field; 0/1 are accepted there too.
            let v = match (value, d.boolean) {
                (FieldValue::Bool(b), true) => u64::from(b),
                (FieldValue::Uint(v), _) => v,
                _ => return Err(FieldError::TooWide(d.name)),
            };
            if !d.bf.fits(v) {
                return Err(FieldError::TooWide(d.name));
            }
            // A field given twice: the last value wins.
            w[(d.bf.word & 1) as usize] &= !d.bf.mask();
            d.bf.put(&mut w, v);
        }
        // CMD_CFGI_STE_RANGE with range 31 is CMD_CFGI_ALL: refuse the alias
        // so that the op name survives a round trip.
        let c = Command::decode_words(&w).map_err(FieldError::Invalid)?;
        if c.op_name() != op {
            return Err(FieldError::Invalid(DecodeError::invalid(
                1,
                bits::RANGE.mask(),
                "range",
            )));
        }
        Ok(c)
    }
}

/// `FieldError::UnknownField` wants a `'static` name: the same name from
/// another op's table when there is one, else a placeholder.
fn static_name(_defs: &[FieldDef], name: &str) -> &'static str {
    OP_NAMES
        .iter()
        .filter_map(|op| Command::fields_of(op))
        .flat_map(|(_, names, _, _)| names.iter())
        .find(|n| **n == name)
        .copied()
        .unwrap_or("(not a field of this op)")
}

iommu_inval_core::native_command! {
    Command: ArchId::Smmuv3, crate::Features, |cmd, features| features.check(cmd);
    op_names OP_NAMES, op = op_name, encode = encode;

    /// Decode one command from its two 64-bit words (lowest first).
    ///
    /// ```
    /// use iommu_inval_arm::{Command, TlbiAddr};
    /// use iommu_inval_core::NativeCommand;
    /// // CMD_TLBI_NH_VA, vmid 1, asid 5, 4 KiB granule, 32 pages (num 31) at 0x10_0000, leaf.
    /// let w = [0x0005_0001_0001_f012, 0x0000_0000_0010_0401];
    /// let c = Command::decode(&w).unwrap();
    /// assert_eq!(c, Command::TlbiNhVa(TlbiAddr {
    ///     num: 31, scale: 0, vmid: 1, asid: 5, leaf: true, ns: false, ttl128: false, ttl: 0,
    ///     tg: 1, address: 0x10_0000,
    /// }));
    /// assert_eq!(c.encode(), w);
    /// ```
    #[inline(always)]
    fn decode(words: &[u64]) -> Result<Command, DecodeError> {
        match words {
            [w0, w1] => Self::decode_words(&[*w0, *w1]),
            _ => Err(bad_length(words.len())),
        }
    }

    /// Whether two words decode, without building the command: `Ok`
    /// exactly when [`Command::decode`](iommu_inval_core::NativeCommand::decode) is `Ok`, else the same error (the
    /// [`NativeCommand::check_words`](iommu_inval_core::NativeCommand::check_words) of SMMUv3). One table entry per
    /// opcode holds the whole test: the reserved bits and the `cs` / `resp`
    /// rule tested together, then, for the range TLBIs only, the range
    /// rules as a truth table (for CMD_PREFETCH_ADDR the same table sends
    /// `ns` = 1 on to the decoder, which checks it against `ssec`).
    ///
    /// ```
    /// use iommu_inval_arm::Command;
    /// use iommu_inval_core::copy_checked;
    /// use iommu_inval_core::NativeCommand;
    /// // CMD_TLBI_NH_VA (vmid 1, asid 5, 32 pages at 0x10_0000), then a CMD_SYNC with cs = 3.
    /// let guest = [0x0005_0001_0001_f012, 0x0000_0000_0010_0401, 0x3046, 0];
    /// assert!(Command::check_words(&guest[..2]).is_ok());
    /// assert_eq!(Command::check_words(&guest[2..]), Command::decode(&guest[2..]).map(|_| ()));
    /// let mut host = [0u64; 4];
    /// let e = copy_checked::<Command>(&guest, &mut host, 2).unwrap_err();
    /// assert_eq!((e.index, e.error.field), (1, "cs"));
    /// assert_eq!(host[..2], guest[..2]);
    /// ```
    #[inline(always)]
    fn check_words(words: &[u64]) -> Result<(), DecodeError> {
        let w = match words {
            [w0, w1] => [*w0, *w1],
            _ => return Err(bad_length(words.len())),
        };
        let rule = RULES[usize::from(w[0] as u8)];
        if ((w[0] & rule.r0) | (w[1] & rule.r1) != 0)
            | ((w[0] & rule.m0) | (w[1] & rule.m1) == FIELD3)
        {
            return check_slow(w[0], w[1]);
        }
        // The range rules only where there are some (the range TLBIs, and
        // an unknown opcode's empty table): a branch the op pattern predicts.
        if rule.range_ok != !0 && (rule.range_ok >> range_key(&w)) & 1 == 0 {
            return check_slow(w[0], w[1]);
        }
        Ok(())
    }

    fn for_each_field(&self, f: &mut dyn FnMut(&'static str, FieldValue)) {
        self.visit_fields(f)
    }

    fn field_names(op: &str) -> Option<&'static [&'static str]> {
        Command::fields_of(op).map(|(_, names, _, _)| names)
    }

    fn from_fields(
        op: &str,
        fields: &mut dyn Iterator<Item = (&str, FieldValue)>,
        words: usize,
    ) -> Result<Self, FieldError> {
        if words != 2 {
            return Err(FieldError::Invalid(DecodeError::bad_length(words)));
        }
        Command::from_named(op, fields)
    }
}

/// One line: the op name, then `field=value` in table order (addresses and
/// MSI data in hex, 1-bit fields as 0/1), e.g.
/// `CMD_TLBI_NH_ASID vmid=1 asid=5`.
impl core::fmt::Display for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.op_name())?;
        let w = self.encode();
        for d in self.fields() {
            let v = d.bf.get(&w);
            if d.bf.addr || d.name == "msi_data" {
                write!(f, " {}={:#x}", d.name, v)?;
            } else {
                write!(f, " {}={}", d.name, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_inval_core::arb::xorshift;
    use iommu_inval_core::NativeCommand;

    /// `check_words` gives decode's verdict for every opcode byte, with
    /// the low 14 bits of `w1` (the range, `cs` / `resp` neighbourhood and
    /// `w1[13:12]`) drawn at random and the other bits either the op's
    /// fields or anything; `w0[25:8]` likewise (`num`, `scale`, `cs`).
    #[test]
    fn check_words_agrees_with_decode() {
        let mut rnd = xorshift(0x1234_5678_9abc_def1);
        let (mut ok, mut err) = (0u32, 0u32);
        for op in 0..256u64 {
            let [v0, v1] = VALID[op as usize];
            for i in 0..4096u32 {
                let (a, b, c) = (rnd(), rnd(), rnd());
                let (w0, w1) = match i % 4 {
                    0 => (op | (a & v0 & !0xff), b & v1),
                    1 => (op | (a & v0 & 0x03ff_ff00), (b & v1) | (c & 0x3fff)),
                    2 => (op | (a & !0xff), b),
                    _ => (op | (a & v0 & !0xff), (b & v1) ^ (1 << (c % 64))),
                };
                let d = Command::decode(&[w0, w1]).map(|_| ());
                assert_eq!(Command::check_words(&[w0, w1]), d, "{w0:#x} {w1:#x}");
                if d.is_ok() {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
        }
        assert_eq!(
            Command::check_words(&[0, 0]),
            Command::decode(&[0, 0]).map(|_| ())
        );
        assert_eq!(
            Command::check_words(&[0x46, 0, 0]).unwrap_err().kind,
            iommu_inval_core::ErrorKind::BadLength
        );
        assert!(ok > 20_000 && err > 50_000, "ok {ok} err {err}");
    }

    /// The range rules on raw words (the decode path) agree with
    /// `check_range` on the decoded fields, error for error, for every
    /// range TLBI.
    #[test]
    fn range_rules_on_words_match_the_fields() {
        let mut rnd = xorshift(0x853c_49e6_748f_ea9b);
        for i in 0..100_000 {
            let op = RANGE_OPS[i % RANGE_OPS.len()];
            let m = VALID[usize::from(op)];
            // Sparse range fields, so that each rule's corner is hit.
            let sparse = rnd() & rnd() & rnd();
            let w = [
                (rnd() & m[0] & !0xff & sparse) | u64::from(op),
                rnd() & m[1] & sparse,
            ];
            let f = (
                bits::NUM.get(&w) as u8,
                bits::SCALE.get(&w) as u8,
                bits::TTL.get(&w) as u8,
                bits::TTL128.get(&w) != 0,
                bits::TG.get(&w) as u8,
            );
            let want = check_range(f.0, f.1, f.2, f.3, f.4);
            assert_eq!(check_range_words(&w), want, "{:#x} {:#x}", w[0], w[1]);
            assert_eq!(
                Command::decode(&w).map(|_| ()),
                want,
                "{:#x} {:#x}",
                w[0],
                w[1]
            );
        }
    }

    /// `tlbi_addr` reads what each TLBI-by-address op's own field list
    /// reads, its RES0 fields 0, on words the decoder accepts.
    #[test]
    fn tlbi_addr_reads_each_op() {
        let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
        type Own = fn(&[u64; 2]) -> Command;
        let ops: [(u8, Own); 9] = [
            (op::TlbiNhVa::OPCODE, op::TlbiNhVa::decode),
            (op::TlbiNhVaa::OPCODE, op::TlbiNhVaa::decode),
            (op::TlbiEl3Va::OPCODE, op::TlbiEl3Va::decode),
            (op::TlbiEl2Va::OPCODE, op::TlbiEl2Va::decode),
            (op::TlbiEl2Vaa::OPCODE, op::TlbiEl2Vaa::decode),
            (op::TlbiS2Ipa::OPCODE, op::TlbiS2Ipa::decode),
            (op::TlbiSEl2Va::OPCODE, op::TlbiSEl2Va::decode),
            (op::TlbiSEl2Vaa::OPCODE, op::TlbiSEl2Vaa::decode),
            (op::TlbiSS2Ipa::OPCODE, op::TlbiSS2Ipa::decode),
        ];
        let mut n = 0;
        for i in 0..20_000 {
            let (code, own) = ops[i % ops.len()];
            let m = VALID[usize::from(code)];
            let w = [(rnd() & m[0] & !0xff) | u64::from(code), rnd() & m[1]];
            if let Ok(c) = Command::decode(&w) {
                assert_eq!(c, own(&w), "{:#x} {:#x}", w[0], w[1]);
                n += 1;
            }
        }
        assert!(n > 1000, "{n}");
    }

    /// The table holds each op's mask at its opcode, and nothing else.
    #[test]
    fn valid_table_matches_the_ops() {
        assert_eq!(op::CfgiAll::MASK, op::CfgiSteRange::MASK);
        let mut known = 0;
        for name in OP_NAMES {
            let (defs, _, opcode, fixed1) = Command::fields_of(name).unwrap_or_default();
            assert_eq!(
                VALID[usize::from(opcode)],
                valid_mask(defs, fixed1),
                "{name}"
            );
            known += 1;
        }
        assert_eq!(known, 34);
        let nonzero = VALID.iter().filter(|m| **m != [0, 0]).count();
        assert_eq!(nonzero, 33); // CMD_CFGI_ALL shares opcode 4.
                                 // An all-zero command (opcode 0) passes the AND test and is still
                                 // an unknown opcode.
        assert_eq!(
            Command::decode_words(&[0, 0]).map_err(|e| e.kind),
            Err(iommu_inval_core::ErrorKind::UnknownOpcode)
        );
    }
}
