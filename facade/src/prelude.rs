//! One import for a VMM: `use iommu_inval::prelude::*;` brings the
//! architecture handle and command traits, [`convert()`](crate::convert),
//! the four queue front ends (SMMUv3 [`CmdqDevice`], VT-d [`InvQueue`],
//! AMD-Vi [`CmdBufDevice`], RISC-V [`CqDevice`]) and core's prelude
//! ([`iommu_inval_core::prelude`]: the generic model's [`Op`], contexts,
//! [`CommandQueue`], [`Backend`], [`LowerToHost`], guest memory).
//!
//! ```
//! use iommu_inval::prelude::*;
//!
//! /// A back end that logs what the guest invalidates.
//! #[derive(Default)]
//! struct Log(Vec<String>);
//! impl Backend for Log {
//!     fn execute(&mut self, ops: &[Op]) -> Result<(), BackendError> {
//!         self.0.extend(ops.iter().map(Op::to_string));
//!         Ok(())
//!     }
//! }
//!
//! // A RISC-V guest's command queue (256 entries at 0x1000) holding
//! // IOTINVAL.VMA of everything; the guest wrote cqt = 1.
//! let mut ram = vec![0u8; 0x1000];
//! let mem = iommu_inval::core::CellMemory::new(0x1000, &mut ram);
//! mem.write_words(0x1000, &[0x1, 0])?;
//! let mut q = CqDevice::from_registers((0x1000 >> 12) << 10 | 7, 0, 0)?;
//! q.doorbell(1);
//! let mut log = Log::default();
//! let p = q.process(&mem, &IdentityContext, &mut log);
//! assert_eq!((p.consumed, p.fault), (1, None));
//! assert_eq!(log.0, ["invalidate EL2/host stage-1 IOTLB, all addresses, all PASIDs"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::{
    convert, AnyCommand, Arch, ArchOps, Converted, DecodeCheck, DecodeFeatures, NativeAny, Target,
};
pub use iommu_inval_amd::queue::CmdBufDevice;
pub use iommu_inval_arm::queue::CmdqDevice;
pub use iommu_inval_core::prelude::*;
pub use iommu_inval_riscv::queue::CqDevice;
pub use iommu_inval_vtd::queue::InvQueue;
