//! What the binary does, over readers and writers, so that `main.rs` stays
//! a thin clap layer. Private to the binary: none of this is library API.
//! The integration tests and the fuzz harness compile these files from
//! source (`#[path = ".../src/app/mod.rs"] mod app;`).

pub mod caps;
pub mod explain;
pub mod generic;
pub mod help;
pub mod human;
pub mod json;
pub mod jsonval;
pub mod kmsg;
pub mod paste;
pub mod progress;
pub mod records;
pub mod run;
pub mod text;
pub mod to_iommufd;
