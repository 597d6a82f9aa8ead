//! Intel VT-d invalidation queue descriptors.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(feature = "std")]
extern crate std;
