//! Byte layouts as tables: one little-endian codec for every request,
//! reply record and PROBE property of the crate.
//!
//! A [`Layout`] is a byte length, the fixed codes (a request's `type`, an
//! ATTACH_TABLE `format`, a property's header), the fields in byte order
//! (name, offset, width of 1 to 8 bytes) and the rules on field values. A
//! byte that no code or field covers is reserved: decoding refuses it when
//! non-zero (`reserved`, the set bits of the first non-zero byte's word
//! within its run). Decoding checks the rules in table order, then the
//! reserved bytes. [`Layout::new`] checks a table at compile time: fields
//! and codes inside the length and not overlapping, every rule naming a
//! field. core's `record` is the same idea on 64-bit words and bit ranges;
//! virtio-iommu's structures are byte-addressed, longer than four words,
//! and decode into the crate's typed requests.

use iommu_inval_core::{DecodeError, FieldError, FieldValue};

/// The most fields of a layout (PROBE: the head's `reserved`, `endpoint`
/// and eight 8-byte words of `reserved`).
pub(crate) const MAX_FIELDS: usize = 10;
/// Field values, in table order.
pub(crate) type Values = [u64; MAX_FIELDS];

/// What a rule asks of its field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// No bit outside the mask (else `reserved`: those bits).
    Bits(u64),
    /// One of the values (else `invalid_field`, the field's name).
    OneOf(&'static [u64]),
    /// At most the value (else `invalid_field`, the field's name).
    Max(u64),
    /// Not zero (else `invalid_field` with this name).
    NonZero(&'static str),
}

/// A rule on the field of that name (resolved to its index by
/// [`Layout::new`]).
pub(crate) type Rule = (&'static str, Check);

/// The most rules of a layout.
const MAX_RULES: usize = 4;
/// The most runs of reserved bytes of a layout.
const MAX_RUNS: usize = 4;

/// One byte layout (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Its name (a request's op).
    pub(crate) name: &'static str,
    /// Its length in bytes.
    pub(crate) len: usize,
    /// Fixed bytes `(offset, width, value, name)`, the first the one that
    /// selects the layout (a request's `type`).
    pub(crate) codes: &'static [(u8, u8, u64, &'static str)],
    /// The field names, in byte order.
    pub(crate) names: &'static [&'static str],
    /// `(offset, width)` of each field.
    places: &'static [(u8, u8)],
    rules: [(u8, Check); MAX_RULES],
    n_rules: usize,
    /// `(offset, length)` of each run of reserved bytes.
    runs: [(u8, u8); MAX_RUNS],
    n_runs: usize,
}

/// A [`Layout`] of fields of 1 to 8 bytes: `layout!("NAME", length,
/// [codes], { field @ offset: width, .. }[, [rules]])`.
macro_rules! layout {
    ($name:literal, $len:expr, [$($code:expr),* $(,)?],
     { $($f:ident @ $off:literal: $w:literal),* $(,)? } $(, [$($rule:expr),* $(,)?])?) => {
        $crate::layout::Layout::new(
            $name,
            $len,
            &[$($code),*],
            &[$(stringify!($f)),*],
            &[$(($off, $w)),*],
            &[$($($rule),*)?],
        )
    };
}
pub(crate) use layout;

/// Whether two names are the same (in a `const fn`).
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The fields of a layout from its declaration (the `layout!` rows):
/// `(names, offset, width)` per declared field; a field wider than 8 bytes
/// is several 8-byte fields, one per name. Returns names, places, count.
pub(crate) const fn flatten(
    decl: &[(&'static [&'static str], u8, usize)],
) -> ([&'static str; MAX_FIELDS], [(u8, u8); MAX_FIELDS], usize) {
    let mut names = [""; MAX_FIELDS];
    let mut places = [(0u8, 0u8); MAX_FIELDS];
    let mut n = 0;
    let mut i = 0;
    while i < decl.len() {
        let (ns, off, size) = decl[i];
        let parts = if size > 8 { size / 8 } else { 1 };
        assert!(
            ns.len() == parts && (size <= 8 || size % 8 == 0),
            "a layout field wider than 8 bytes has one name per 8 bytes"
        );
        let mut k = 0;
        while k < parts {
            names[n] = ns[k];
            places[n] = if size > 8 {
                (off + 8 * k as u8, 8)
            } else {
                (off, size as u8)
            };
            n += 1;
            k += 1;
        }
        i += 1;
    }
    (names, places, n)
}

/// The first `n` of `a` (in a `const fn`).
pub(crate) const fn first<T>(a: &[T], n: usize) -> &[T] {
    a.split_at(n).0
}

impl Layout {
    /// The layout `name` of `len` bytes with `codes`, the fields `names` at
    /// `places` and `rules`. A malformed table does not build (this runs
    /// at compile time): a field or code past `len` or over another, a
    /// width not 1 to 8, a rule naming no field, too many rules or
    /// reserved runs.
    pub(crate) const fn new(
        name: &'static str,
        len: usize,
        codes: &'static [(u8, u8, u64, &'static str)],
        names: &'static [&'static str],
        places: &'static [(u8, u8)],
        rules: &[Rule],
    ) -> Layout {
        assert!(names.len() == places.len() && len <= 256);
        let mut used = [false; 256];
        let mut k = 0;
        while k < codes.len() + places.len() {
            let (off, w) = if k < codes.len() {
                (codes[k].0, codes[k].1)
            } else {
                places[k - codes.len()]
            };
            assert!(w >= 1 && w <= 8 && off as usize + w as usize <= len);
            let mut b = off as usize;
            while b < off as usize + w as usize {
                assert!(!used[b], "two fields of a layout share a byte");
                used[b] = true;
                b += 1;
            }
            k += 1;
        }
        let mut runs = [(0u8, 0u8); MAX_RUNS];
        let mut n_runs = 0;
        let mut b = 0;
        while b < len {
            if !used[b] && (b == 0 || used[b - 1]) {
                assert!(n_runs < MAX_RUNS);
                runs[n_runs] = (b as u8, 0);
                n_runs += 1;
            }
            if !used[b] {
                runs[n_runs - 1].1 += 1;
            }
            b += 1;
        }
        assert!(rules.len() <= MAX_RULES);
        let mut resolved = [(0u8, Check::Max(0)); MAX_RULES];
        let mut r = 0;
        while r < rules.len() {
            let mut i = 0;
            while i < names.len() && !same(names[i], rules[r].0) {
                i += 1;
            }
            assert!(i < names.len(), "a layout rule names no field");
            resolved[r] = (i as u8, rules[r].1);
            r += 1;
        }
        Layout {
            name,
            len,
            codes,
            names,
            places,
            rules: resolved,
            n_rules: rules.len(),
            runs,
            n_runs,
        }
    }

    /// The value of its first code (0: none).
    pub(crate) const fn code(&self) -> u64 {
        match self.codes.first() {
            Some(c) => c.2,
            None => 0,
        }
    }

    /// Whether `b` holds this layout's codes (the first, which selected
    /// it, aside); else `invalid_field` at the first code that differs.
    #[inline(always)]
    pub(crate) fn codes_match(&self, b: &[u8]) -> Result<(), DecodeError> {
        for &(off, w, value, name) in self.codes.iter().skip(1) {
            if le(b, off, w) != value {
                return Err(invalid_at(off, w, name));
            }
        }
        Ok(())
    }

    /// The field values of `b` (at least [`Layout::len`] bytes).
    #[inline(always)]
    pub(crate) fn read(&self, b: &[u8]) -> Values {
        let mut v = [0u64; MAX_FIELDS];
        for (d, &(off, w)) in v.iter_mut().zip(self.places) {
            *d = le(b, off, w);
        }
        v
    }

    /// The rules on the field values of `b` in table order, then its
    /// reserved bytes.
    #[inline(always)]
    pub(crate) fn check(&self, b: &[u8]) -> Result<(), DecodeError> {
        for &(i, check) in self.rules.get(..self.n_rules).unwrap_or(&[]) {
            let i = usize::from(i);
            let (off, w) = self.places.get(i).copied().unwrap_or((0, 0));
            let (x, name) = (le(b, off, w), self.names.get(i).copied().unwrap_or(""));
            match check {
                Check::Bits(mask) if x & !mask != 0 => {
                    return Err(DecodeError::reserved(
                        off / 8,
                        (x & !mask) << (8 * (off % 8)),
                    ));
                }
                Check::OneOf(ok) if !ok.contains(&x) => return Err(invalid_at(off, w, name)),
                Check::Max(m) if x > m => return Err(invalid_at(off, w, name)),
                Check::NonZero(what) if x == 0 => return Err(invalid_at(off, w, what)),
                _ => {}
            }
        }
        for &(off, n) in self.runs.get(..self.n_runs).unwrap_or(&[]) {
            zero(b, usize::from(off), usize::from(n))?;
        }
        Ok(())
    }

    /// Write the codes and the values `v` into `out[..self.len]` (zero
    /// elsewhere; each value's bits beyond its width cut); returns the
    /// length (0 when `out` is shorter).
    pub(crate) fn write(&self, v: &Values, out: &mut [u8]) -> usize {
        let Some(o) = out.get_mut(..self.len) else {
            return 0;
        };
        o.fill(0);
        let codes = self.codes.iter().map(|&(off, w, x, _)| (off, w, x));
        let fields = self.places.iter().zip(v).map(|(&(off, w), &x)| (off, w, x));
        for (off, w, x) in codes.chain(fields) {
            let (off, w) = (usize::from(off), usize::from(w));
            if let Some(d) = o.get_mut(off..off + w) {
                d.copy_from_slice(&x.to_le_bytes()[..w]);
            }
        }
        self.len
    }

    /// The index of field `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    /// Field `i` (named `name`) of `v` set to `value`: `TooWide` when it
    /// does not fit the field's width (a `Bool` is 0 or 1).
    pub(crate) fn set(
        &self,
        v: &mut Values,
        i: usize,
        value: FieldValue,
    ) -> Result<(), FieldError> {
        let name = self.names.get(i).copied().unwrap_or("field");
        let w = self.places.get(i).map_or(0, |p| p.1);
        let max = u64::MAX >> (64 - 8 * u32::from(w.clamp(1, 8)));
        let x = match value {
            FieldValue::Uint(x) if x <= max => x,
            FieldValue::Bool(b) => u64::from(b),
            _ => return Err(FieldError::TooWide(name)),
        };
        match v.get_mut(i) {
            Some(d) => {
                *d = x;
                Ok(())
            }
            None => Err(FieldError::UnknownField(name)),
        }
    }

    /// Each field's name and value in `v`, in table order.
    pub(crate) fn visit(&self, v: &Values, f: &mut dyn FnMut(&'static str, FieldValue)) {
        for (n, &x) in self.names.iter().zip(v) {
            f(n, FieldValue::Uint(x));
        }
    }

    /// `reserved` for the bits `bits` of field `name`.
    pub(crate) fn reserved(&self, name: &str, bits: u64) -> DecodeError {
        let (off, _) = self.place(name);
        DecodeError::reserved(off / 8, bits << (8 * (off % 8)))
    }

    /// `(offset, width)` of field `name` (`(0, 0)`: none).
    fn place(&self, name: &str) -> (u8, u8) {
        self.position(name)
            .and_then(|i| self.places.get(i).copied())
            .unwrap_or((0, 0))
    }

    /// `invalid_field` `what` at field `name`'s bytes.
    pub(crate) fn invalid(&self, name: &str, what: &'static str) -> DecodeError {
        let (off, w) = self.place(name);
        invalid_at(off, w, what)
    }
}

/// Little-endian value of `b[off..off + w]` (`w` at most 8; 0 past `b`).
#[inline(always)]
pub(crate) fn le(b: &[u8], off: u8, w: u8) -> u64 {
    let (off, w) = (usize::from(off), usize::from(w).min(8));
    let mut a = [0u8; 8];
    if let (Some(d), Some(s)) = (a.get_mut(..w), b.get(off..off + w)) {
        d.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// `InvalidField` `field`, for the `w` bytes at `off`.
pub(crate) fn invalid_at(off: u8, w: u8, field: &'static str) -> DecodeError {
    let full = u64::MAX >> (64 - 8 * u32::from(w.clamp(1, 8)));
    DecodeError::invalid(off / 8, full << (8 * (off % 8)), field)
}

/// `ReservedBits` unless `b[off..off + len]` is zero: the set bits of
/// that run in the word of its first non-zero byte.
pub(crate) fn zero(b: &[u8], off: usize, len: usize) -> Result<(), DecodeError> {
    let run = b.iter().enumerate().skip(off).take(len);
    let Some((first, _)) = run.clone().find(|(_, &x)| x != 0) else {
        return Ok(());
    };
    let w = first / 8;
    let mask = run
        .filter(|(k, _)| k / 8 == w)
        .fold(0u64, |m, (k, &x)| m | u64::from(x) << (8 * (k % 8)));
    Err(DecodeError::reserved(w as u8, mask))
}

/// A field type of the typed requests: an integer or a byte array, kept
/// as one value (8 bytes or less) or as 8-byte parts (a longer array).
pub(crate) trait Le: Copy {
    /// It from `b[off..]` (zero past `b`).
    fn read(b: &[u8], off: usize) -> Self;
    /// Its values, in order, into `out`.
    fn put(&self, out: &mut core::slice::IterMut<'_, u64>);
    /// It from the next values of `v` (bits beyond its width cut).
    fn take(v: &mut core::slice::Iter<'_, u64>) -> Self;
}

macro_rules! le_int {
    ($($t:ty),*) => {$(
        impl Le for $t {
            #[inline(always)]
            fn read(b: &[u8], off: usize) -> Self {
                let mut a = [0u8; size_of::<$t>()];
                if let Some(s) = b.get(off..off + a.len()) {
                    a.copy_from_slice(s);
                }
                <$t>::from_le_bytes(a)
            }
            #[inline(always)]
            fn put(&self, out: &mut core::slice::IterMut<'_, u64>) {
                if let Some(d) = out.next() {
                    *d = u64::from(*self);
                }
            }
            #[inline(always)]
            fn take(v: &mut core::slice::Iter<'_, u64>) -> Self {
                v.next().map_or(0, |&x| x as $t)
            }
        }
    )*};
}
le_int!(u8, u16, u32, u64);

impl<const N: usize> Le for [u8; N] {
    #[inline(always)]
    fn read(b: &[u8], off: usize) -> Self {
        let mut a = [0u8; N];
        if let Some(s) = b.get(off..off + N) {
            a.copy_from_slice(s);
        }
        a
    }
    #[inline(always)]
    fn put(&self, out: &mut core::slice::IterMut<'_, u64>) {
        for (chunk, d) in self.chunks(8).zip(out) {
            *d = chunk
                .iter()
                .rev()
                .fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        }
    }
    #[inline(always)]
    fn take(v: &mut core::slice::Iter<'_, u64>) -> Self {
        let mut a = [0u8; N];
        for (chunk, x) in a.chunks_mut(8).zip(v) {
            let n = chunk.len();
            chunk.copy_from_slice(&x.to_le_bytes()[..n]);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: Layout = layout!(
        "DEMO", 20, [(0, 1, 9, "type")],
        { a @ 1: 3, b @ 8: 4, c @ 16: 2 },
        [("b", Check::Bits(0xff)), ("c", Check::OneOf(&[1, 2, 4]))]
    );

    /// The reserved runs are the bytes no code or field covers; the rules
    /// run in table order, then the runs, lowest first.
    #[test]
    fn reserved_runs_and_rules() {
        assert_eq!(first(&DEMO.runs, DEMO.n_runs), &[(4, 4), (12, 4), (18, 2)]);
        let mut b = [0u8; 20];
        (b[0], b[1], b[8], b[16]) = (9, 0xaa, 0x12, 2);
        assert_eq!(DEMO.check(&b), Ok(()));
        assert_eq!(DEMO.read(&b)[..3], [0xaa, 0x12, 2]);
        b[13] = 0x80;
        assert_eq!(DEMO.check(&b), Err(DecodeError::reserved(1, 0x80 << 40)));
        b[9] = 1;
        assert_eq!(DEMO.check(&b), Err(DecodeError::reserved(1, 1 << 8)));
        b[16] = 3;
        assert_eq!(DEMO.check(&b), Err(DecodeError::reserved(1, 1 << 8)));
        b[9] = 0;
        assert_eq!(DEMO.check(&b), Err(DecodeError::invalid(2, 0xffff, "c")));
        // Writing gives back the codes and fields, zero elsewhere.
        let mut out = [0xffu8; 24];
        assert_eq!(DEMO.write(&DEMO.read(&b), &mut out), 20);
        assert_eq!(
            out[..20],
            [9, 0xaa, 0, 0, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]
        );
        assert_eq!(DEMO.write(&[0; MAX_FIELDS], &mut out[..19]), 0);
    }

    /// Named fields: widths from the table, `Bool` as 0 / 1.
    #[test]
    fn set_checks_widths() {
        let mut v = [0u64; MAX_FIELDS];
        assert_eq!(DEMO.set(&mut v, 0, FieldValue::Uint(0xff_ffff)), Ok(()));
        assert_eq!(
            DEMO.set(&mut v, 0, FieldValue::Uint(1 << 24)),
            Err(FieldError::TooWide("a"))
        );
        assert_eq!(DEMO.set(&mut v, 2, FieldValue::Bool(true)), Ok(()));
        assert_eq!(
            DEMO.set(&mut v, 1, FieldValue::Pair([0, 0])),
            Err(FieldError::TooWide("b"))
        );
        assert_eq!(v[..3], [0xff_ffff, 0, 1]);
        assert_eq!(
            DEMO.invalid("b", "b?"),
            DecodeError::invalid(1, 0xffff_ffff, "b?")
        );
        assert_eq!(DEMO.reserved("c", 1), DecodeError::reserved(2, 1));
    }

    /// A field wider than 8 bytes is one value per 8 bytes, in order.
    #[test]
    fn long_arrays_are_parts() {
        let a: [u8; 16] = core::array::from_fn(|k| k as u8);
        let mut v = [0u64; MAX_FIELDS];
        a.put(&mut v.iter_mut());
        assert_eq!(v[..3], [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, 0]);
        assert_eq!(<[u8; 16]>::take(&mut v.iter()), a);
        assert_eq!(
            <[u8; 3]>::take(&mut [0x0a_0b0c0d].iter()),
            [0x0d, 0x0c, 0x0b]
        );
        const F: ([&str; MAX_FIELDS], [(u8, u8); MAX_FIELDS], usize) =
            flatten(&[(&["x"], 1, 3), (&["y0", "y1"], 8, 16)]);
        assert_eq!(
            (first(&F.0, F.2), first(&F.1, F.2)),
            (&["x", "y0", "y1"][..], &[(1, 3), (8, 8), (16, 8)][..])
        );
    }

    /// A malformed table does not build (the checks run at compile time
    /// where a layout is a constant; here at run time).
    #[test]
    fn malformed_tables_are_refused() {
        let bad: [fn() -> Layout; 5] = [
            // Two fields share byte 2.
            || Layout::new("X", 8, &[], &["a", "b"], &[(0, 4), (2, 4)], &[]),
            // A field over the type code.
            || Layout::new("X", 8, &[(0, 1, 1, "type")], &["a"], &[(0, 2)], &[]),
            // Past the length; wider than 8 bytes.
            || Layout::new("X", 8, &[], &["a"], &[(6, 4)], &[]),
            || Layout::new("X", 16, &[], &["a"], &[(0, 9)], &[]),
            // A rule naming no field.
            || Layout::new("X", 8, &[], &["a"], &[(0, 4)], &[("b", Check::Max(1))]),
        ];
        for (i, f) in bad.into_iter().enumerate() {
            assert!(std::panic::catch_unwind(f).is_err(), "case {i}");
        }
        let _ = Layout::new("X", 8, &[], &["a"], &[(0, 4)], &[("a", Check::Max(1))]);
    }
}
