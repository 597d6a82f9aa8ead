//! The CLI's record input (`decode --queue`, `convert --queue`) on
//! arbitrary text: hex words and the kernel's messages (SMMUv3 event dumps
//! and PRI lines, VT-d DMAR fault and page request lines, AMD-Vi `Event
//! logged [...]`, RISC-V `Fault ... devid: ...`), mixed with any other
//! lines.
//!
//! Input: one selector byte, then the text (stdin). Selector: bit 0 the
//! queue (event / fault, page requests), bit 1 convert instead of decode,
//! bit 2 `--json`, bit 3 a topology with a vDEVICE (pSID 0x100 as vSID
//! 0x10), bits 5:4 the architecture and bits 7:6 the conversion's target
//! (smmuv3, vtd, amd, riscv). The run ends with status 0, 1 or 2, never a
//! panic; with `--json` every line of stdout is a JSON object, and a
//! record's `words` decode again to the same op in its architecture's
//! queue.
#![no_main]

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../../cli/src/app/mod.rs"]
mod app;

use app::records::{self, Action, Queue};
use app::run::{Io, Source, Status};
use app::text::parse_hex_line;
use iommu_inval::core::context::Topology;
use iommu_inval::core::{ArchId, Context, IdentityContext};
use libfuzzer_sys::fuzz_target;

const TOPOLOGY: &str = r#"{"domains": [], "devices": [], "iommufd": {"vsmmu_vmid": 1, "vdevices": [{"vsid": 16, "psid": 256}]}}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    const ARCHES: [ArchId; 4] = [ArchId::Smmuv3, ArchId::Vtd, ArchId::Amd, ArchId::Riscv];
    let arch = |bits: u8| ARCHES[usize::from(bits & 3)];
    let (Some(rec), Some(to)) = (
        records::records_of(arch(sel >> 4)),
        records::records_of(arch(sel >> 6)),
    ) else {
        return;
    };
    let q = if sel & 1 == 0 {
        Queue::Event
    } else {
        Queue::PageRequest
    };
    let json = sel & 4 != 0;
    let topo = Topology::from_json(TOPOLOGY).ok();
    let ctx: &dyn Context = match (&topo, sel & 8 != 0) {
        (Some(t), true) => t,
        _ => &IdentityContext,
    };
    let action = if sel & 2 == 0 {
        Action::Decode
    } else {
        Action::Convert(&to)
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        status: Status::default(),
    };
    let src = Source::Lines(Box::new(std::io::Cursor::new(text)));
    records::run(&rec, q, action, json, ctx, src, &mut io).expect("in-memory streams");
    let status = io.status.0;
    assert!(status <= 2, "status {status}");
    if json {
        let out = String::from_utf8(out).expect("UTF-8 output");
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            if let Some(w) = v.get("words").and_then(|w| w.as_str()) {
                // The record is the output architecture's, in the queue it names.
                let out = if sel & 2 == 0 { &rec } else { &to };
                let name = v.get("queue").and_then(|n| n.as_str()).expect("queue");
                let oq = out.queue(name).expect("a queue of the architecture");
                let (words, n) = parse_hex_line(w, out.words(oq)).expect("printed words parse");
                let again = records::decode(out, oq, &words[..n]).expect("printed words decode");
                assert_eq!(Some(again.op), v.get("op").and_then(|o| o.as_str()));
            }
        }
    }
});
