//! AMD-Vi command buffer.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(feature = "std")]
extern crate std;
