//! [`flags!`](crate::flags): a set of one-bit flags with names, without the
//! dozens of methods a general bit-flags type carries; [`Flags`]: what
//! every such set has.

/// What every set declared with [`flags!`](crate::flags) has (`Caches`,
/// `Stages`, `Widened`, `Signals`, `SeedFlags`, iommufd's `VmmWork`): the
/// set operators are the types' own (`|`, `&`, `-`, `!`); these are the
/// rest. In every prelude.
pub trait Flags: Copy {
    /// The unsigned integer holding the bits.
    type Bits;
    /// No flag.
    fn empty() -> Self;
    /// Every declared flag.
    fn all() -> Self;
    /// The bits.
    fn bits(self) -> Self::Bits;
    /// The declared flags among `bits` (the others are dropped).
    fn from_bits_truncate(bits: Self::Bits) -> Self;
    /// True when every flag of `other` is set.
    fn contains(self, other: Self) -> bool;
    /// True when a flag of `other` is set.
    fn intersects(self, other: Self) -> bool;
    /// True when no flag is set.
    fn is_empty(self) -> bool;
    /// `self` where `cond` holds, else no flag.
    #[inline]
    fn when(self, cond: bool) -> Self {
        if cond {
            self
        } else {
            Self::empty()
        }
    }
}

/// Declares a flag set: a `Copy` newtype over an unsigned integer with one
/// associated constant per flag (a flag may combine others: `Self::A.0 |
/// Self::B.0`), the set operators (`|`, `&`, `-`, `!` and their
/// assignments; `!` stays within the declared flags), `Debug`
/// (`Name(A | B)`) and [`Flags`] (set with `|=`, clear with `-=`); within
/// the declaring crate, `EMPTY` and `union` serve a `const` context. A flag followed by
/// `=> "text"` is named; with a method name after the integer type (`names`
/// below), that method yields the texts of the named flags the set
/// contains, in declaration order.
///
/// The derives are the caller's (`Clone` and `Copy` are required).
///
/// ```
/// use iommu_inval_core::Flags;
/// iommu_inval_core::flags! {
///     /// Colours.
///     #[derive(Clone, Copy, PartialEq, Eq)]
///     pub struct Rgb: u8, names {
///         /// Red.
///         const R = 1 => "red";
///         /// Green.
///         const G = 2 => "green";
///         /// Both.
///         const RG = Self::R.0 | Self::G.0;
///     }
/// }
/// let c = Rgb::R | Rgb::G;
/// assert!(c.contains(Rgb::RG) && !(c - Rgb::G).contains(Rgb::G));
/// assert_eq!(c.names().collect::<Vec<_>>(), ["red", "green"]);
/// assert_eq!(format!("{:?}", Rgb::R), "Rgb(R)");
/// ```
#[macro_export]
macro_rules! flags {
    (
        $(#[$outer:meta])*
        $vis:vis struct $Name:ident: $T:ty $(, $names:ident)? {
            $(
                $(#[$inner:meta])*
                const $Flag:ident = $value:expr $(=> $text:literal)?;
            )*
        }
    ) => {
        $(#[$outer])*
        $vis struct $Name($T);

        // A crate's own set need not use every method.
        #[allow(dead_code)]
        impl $Name {
            $(
                $(#[$inner])*
                pub const $Flag: Self = Self($value);
            )*
            /// Every named flag with its text, in declaration order.
            #[allow(dead_code)]
            pub(crate) const NAMED: &'static [(Self, &'static str)] = &[$($((Self::$Flag, $text),)?)*];
            /// Every flag with its identifier, in declaration order (`Debug`).
            const IDENTS: &'static [(Self, &'static str)] = &[$((Self::$Flag, stringify!($Flag)),)*];

            /// No flag, in a `const` context of the declaring crate.
            pub(crate) const EMPTY: Self = Self(0);
            /// `self | other`, in a `const` context of the declaring crate.
            pub(crate) const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
            $(
                /// The texts of the named flags that are set, in declaration order.
                pub fn $names(self) -> impl Iterator<Item = &'static str> {
                    Self::NAMED
                        .iter()
                        .filter(move |(f, _)| $crate::Flags::contains(self, *f))
                        .map(|(_, t)| *t)
                }
            )?
        }

        impl $crate::Flags for $Name {
            type Bits = $T;
            fn empty() -> Self {
                Self(0)
            }
            fn all() -> Self {
                Self(0 $(| Self::$Flag.0)*)
            }
            fn bits(self) -> $T {
                self.0
            }
            fn from_bits_truncate(bits: $T) -> Self {
                Self(bits & <Self as $crate::Flags>::all().0)
            }
            fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }
            fn is_empty(self) -> bool {
                self.0 == 0
            }
        }

        impl ::core::ops::BitOr for $Name {
            type Output = Self;
            fn bitor(self, o: Self) -> Self {
                Self(self.0 | o.0)
            }
        }
        impl ::core::ops::BitOrAssign for $Name {
            fn bitor_assign(&mut self, o: Self) {
                self.0 |= o.0;
            }
        }
        impl ::core::ops::BitAnd for $Name {
            type Output = Self;
            fn bitand(self, o: Self) -> Self {
                Self(self.0 & o.0)
            }
        }
        impl ::core::ops::BitAndAssign for $Name {
            fn bitand_assign(&mut self, o: Self) {
                self.0 &= o.0;
            }
        }
        impl ::core::ops::Sub for $Name {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                Self(self.0 & !o.0)
            }
        }
        impl ::core::ops::SubAssign for $Name {
            fn sub_assign(&mut self, o: Self) {
                self.0 &= !o.0;
            }
        }
        impl ::core::ops::Not for $Name {
            type Output = Self;
            fn not(self) -> Self {
                Self(!self.0 & <Self as $crate::Flags>::all().0)
            }
        }
        impl ::core::fmt::Debug for $Name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(f, "{}(", stringify!($Name))?;
                let mut left = *self;
                let mut first = true;
                for (flag, ident) in Self::IDENTS {
                    if flag.0 != 0 && left.0 & flag.0 == flag.0 && self.0 & flag.0 == flag.0 {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(ident)?;
                        first = false;
                        left.0 &= !flag.0;
                    }
                }
                if left.0 != 0 || first {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    ::core::write!(f, "{:#x}", left.0)?;
                }
                f.write_str(")")
            }
        }
    };
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use crate::Flags;
    use alloc::{format, vec::Vec};

    crate::flags! {
        /// Test set.
        #[derive(Clone, Copy, PartialEq, Eq)]
        struct Set: u8, texts {
            /// A.
            const A = 1 => "a";
            /// B (unnamed).
            const B = 2;
            /// C.
            const C = 4 => "c";
            /// A and C.
            const AC = Self::A.0 | Self::C.0;
        }
    }

    #[test]
    fn complement_and_truncation_stay_within_the_declared_flags() {
        assert_eq!(Set::all().bits(), 7);
        assert_eq!((!Set::A).bits(), 6);
        assert_eq!(!Set::all(), Set::empty());
        assert_eq!(Set::from_bits_truncate(0xff), Set::all());
        assert_eq!(Set::AC - Set::A, Set::C);
    }

    #[test]
    fn texts_are_the_named_flags_set_in_declaration_order() {
        let t: Vec<_> = Set::all().texts().collect();
        assert_eq!(t, ["a", "c"]);
        assert_eq!(Set::B.texts().count(), 0);
    }

    #[test]
    fn debug_names_each_flag_once_then_unknown_bits() {
        assert_eq!(format!("{:?}", Set::all()), "Set(A | B | C)");
        assert_eq!(format!("{:?}", Set::empty()), "Set(0x0)");
        assert_eq!(format!("{:?}", Set(0x9)), "Set(A | 0x8)");
    }
}
