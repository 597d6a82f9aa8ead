//! Arm SMMUv3 command queue.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(feature = "std")]
extern crate std;
