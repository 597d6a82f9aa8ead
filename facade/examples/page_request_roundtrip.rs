//! A page request from the host to a guest of another architecture, and the
//! guest's answer back to the host, end to end (issue 32, item 7):
//!
//! 1. the host VT-d IOMMU writes a `page_req_dsc` into its page request
//!    queue (RID 0x0300, PASID 5, read and write of page 0x7000_1000, last
//!    of group 0x1a, with private data);
//! 2. the VMM lifts it twice: in the host's ids (the group the host will
//!    be answered for) and in the guest's (`Context::guest_device`: RID
//!    0x0300 is the guest's vSID 8), and records the group in its table of
//!    outstanding groups (`PageRequestGroups`), which keeps the private
//!    data with the host's request;
//! 3. the request is lowered to an SMMUv3 PRI queue entry and produced
//!    into the guest's PRI queue (`GuestQueue<PriRecord>`: PROD moves);
//! 4. the guest's SMMUv3 driver reads the entry and answers with
//!    `CMD_PRI_RESP` in its command queue; the VMM's command queue front
//!    end (`CmdqDevice`) reads it and lifts it to `Op::PageResponse`;
//! 5. the table gives the host's response for the same group (the host's
//!    RID, PASID, index and private data, the guest's response code), and
//!    VT-d lowers it to the host's `page_grp_resp_dsc`.
//!
//! And when the guest's PRI queue is disabled (SMMU_CR0.PRIQEN = 0), the
//! guest's SMMUv3 answers the request Response Failure by itself (IHI0070
//! §8.2): the producer's `Delivery::response` goes to the table
//! (`PageRequestGroups::owe`), and the host gets Response Failure for its
//! group ([`run_disabled`]).
//!
//! ```text
//! cargo run -p iommu-inval --example page_request_roundtrip
//! ```
//!
//! The test `facade/tests/page_request_roundtrip.rs` runs [`run`].

use iommu_inval::arm::{Command as SmmuCommand, GuestQueue, PriRecord, PriResp, Smmuv3};
use iommu_inval::core::arch::{EventArch, Target};
use iommu_inval::core::device::RecordingBackend;
use iommu_inval::core::event::{Delivery, Event, Fate, PageRequestGroups, Record, RecordQueue};
use iommu_inval::core::{CellMemory, PageResponse};
use iommu_inval::prelude::*;
use iommu_inval::vtd::prq::PageRequest as PageReqDsc;
use iommu_inval::vtd::Vtd;

/// The guest's SMMUv3 PRI queue: 4 entries of 16 bytes (SMMU_PRIQ_BASE).
pub const GUEST_PRIQ: u64 = 0x1000;
/// The guest's SMMUv3 command queue: 4 entries of 16 bytes (SMMU_CMDQ_BASE).
pub const GUEST_CMDQ: u64 = 0x2000;

/// The host's request: `page_req_dsc` of RID 0x0300, PASID 5 (present),
/// read and write, last of group 0x1a, page 0x7000_1000, private data
/// 0xaa, 0xbb (VT-d §7.4.1.1).
pub const HOST_REQUEST: [u64; 4] = [
    5 << 32 | 0x0300 << 16 | 1 << 9 | 1 << 8 | 1,
    0x7000_1000 | 0x1a << 3 | 0b111,
    0xaa,
    0xbb,
];

/// The guest's view of the host's devices: host RID 0x0300 is vSID 8.
pub const TOPOLOGY: &str = r#"{"iommufd": {"vdevices": [{"vsid": 8, "psid": 768}]}}"#;

/// What each step produced.
#[derive(Debug)]
pub struct Report {
    /// The entry the guest's SMMUv3 driver read from its PRI queue.
    pub pri_entry: [u64; 2],
    /// SMMU_PRIQ_PROD after the VMM produced the entry.
    pub priq_prod: u32,
    /// The guest's CMD_PRI_RESP, as read from its command queue.
    pub guest_response: [u64; 2],
    /// The host's `page_grp_resp_dsc`.
    pub host_response: iommu_inval::vtd::Command,
    /// Its words.
    pub host_words: [u64; 4],
    /// A second answer to the same group is refused.
    pub second_answer_refused: bool,
}

/// A record's or command's fields as ` name=value`.
fn fields<C: NativeCommand>(c: &C) -> String {
    let mut s = String::new();
    c.for_each_field(&mut |n, v| {
        let v = match v {
            FieldValue::Bool(b) => u8::from(b).to_string(),
            FieldValue::Uint(x) => format!("{x:#x}"),
            FieldValue::Pair([a, b]) => format!("[{a:#x},{b:#x}]"),
        };
        s.push_str(&format!(" {n}={v}"));
    });
    s
}

/// What a run prints: each step when `verbose`.
fn printer(verbose: bool) -> impl Fn(String) {
    move |s| {
        if verbose {
            println!("{s}");
        }
    }
}

/// Steps 1 to 3: the host's request decoded and lifted in the host's ids
/// and in the guest's (without the private data, which stays with the
/// host's group), lowered to the guest's SMMUv3 PRI queue entry; and the
/// guest's topology.
fn lifted(say: &dyn Fn(String)) -> Result<(PageRequest, PageRequest, PriRecord, Topology), String> {
    let guest_ctx = Topology::from_json(TOPOLOGY).map_err(|e| e.to_string())?;

    // 1. The host's page request.
    let dsc = PageReqDsc::decode(&HOST_REQUEST).map_err(|e| e.to_string())?;
    say(format!(
        "1. host VT-d page request ({}):{}",
        dsc.op(),
        fields(&dsc)
    ));
    let host_rec = Record::PageRequest(dsc);

    // 2. Lifted in the host's ids and in the guest's; the group recorded.
    let Ok(Event::PageRequest(host)) = Vtd::lift_record(&host_rec, &IdentityContext) else {
        return Err("the host's request does not lift".into());
    };
    let Ok(Event::PageRequest(seen)) = Vtd::lift_record(&host_rec, &guest_ctx) else {
        return Err("the guest does not see the device".into());
    };
    // The private data stays with the host's group; the guest's record has
    // no room for it.
    let forwarded = PageRequest {
        priv_data: None,
        ..seen
    };
    let Ok(Record::PageRequest(pri)) =
        Smmuv3::lower_record(&Event::PageRequest(forwarded), &guest_ctx)
    else {
        return Err("no SMMUv3 PRI entry for the request".into());
    };
    Ok((host, forwarded, pri, guest_ctx))
}

/// Step 5: the host's response lowered to its `page_grp_resp_dsc`, and
/// its words.
fn host_descriptor(
    h: PageResponse,
    say: &dyn Fn(String),
) -> Result<(iommu_inval::vtd::Command, [u64; 4]), String> {
    let mut out = Vec::new();
    Target::<Vtd>::default()
        .lower(&Op::PageResponse(h), &IdentityContext, &mut out)
        .map_err(|e| e.to_string())?;
    let [host_response] = out.as_slice() else {
        return Err(format!("expected one host descriptor, got {out:?}"));
    };
    let mut host_words = [0u64; 4];
    host_response
        .encode_into(&mut host_words)
        .map_err(|e| e.to_string())?;
    say(format!(
        "5. host VT-d response ({}):{}\n   words {:#018x},{:#018x},{:#018x},{:#018x}",
        host_response.op(),
        fields(host_response),
        host_words[0],
        host_words[1],
        host_words[2],
        host_words[3]
    ));
    Ok((*host_response, host_words))
}

/// The round trip for the guest's response code `resp` (SMMUv3
/// CMD_PRI_RESP: 0b00 Denied / ResponseFailure, 0b01 InvalidRequest,
/// 0b10 Success), printing each step when `verbose`.
pub fn run(resp: u8, verbose: bool) -> Result<Report, String> {
    let say = printer(verbose);
    let (host, forwarded, pri, guest_ctx) = lifted(&say)?;
    let mut groups = PageRequestGroups::<8>::new();
    groups
        .insert(&host, &forwarded)
        .map_err(|e| format!("{e:?}"))?;
    say(format!(
        "2. lifted: host device {:#x}, guest device {:#x}, PASID {}, group {:#x}{}, page {:#x}; outstanding",
        host.device,
        forwarded.device,
        forwarded.pasid.map_or("none".into(), |p| p.to_string()),
        forwarded.prg_index,
        if forwarded.last { " (last)" } else { "" },
        forwarded.addr
    ));

    // 3. The SMMUv3 PRI queue entry produced into the guest's queue.
    let mut ram = vec![0u8; 0x2000];
    let mem = CellMemory::new(0x1000, &mut ram);
    // SMMU_PRIQ_BASE: LOG2SIZE 2; PROD 0, CONS 0; SMMU_CR0.PRIQEN.
    let mut priq = GuestQueue::<PriRecord>::new(GUEST_PRIQ | 2, 0, 0, true);
    match priq.offer(&mem, &pri, false) {
        Ok(Delivery {
            fate: Fate::Written,
            ..
        }) => {}
        other => return Err(format!("the guest's PRI queue did not take it: {other:?}")),
    }
    say(format!(
        "3. guest SMMUv3 PRI entry ({}):{}; SMMU_PRIQ_PROD = {}",
        pri.op(),
        fields(&pri),
        priq.prod
    ));

    // 4. The guest's driver reads its PRI queue and answers in its command queue.
    let mut pri_entry = [0u64; 2];
    mem.read_words(GUEST_PRIQ, &mut pri_entry)
        .map_err(|e| e.to_string())?;
    let read = PriRecord::decode(&pri_entry).map_err(|e| e.to_string())?;
    let answer = SmmuCommand::PriResp(PriResp {
        ssv: read.flag("ssv").unwrap_or(false),
        ssid: read.uint("ssid").unwrap_or(0) as u32,
        sid: read.uint("sid").unwrap_or(0) as u32,
        prg_index: read.uint("prg_index").unwrap_or(0) as u16,
        resp,
    });
    let mut guest_response = [0u64; 2];
    answer
        .encode_into(&mut guest_response)
        .map_err(|e| e.to_string())?;
    mem.write_words(GUEST_CMDQ, &guest_response)
        .map_err(|e| e.to_string())?;
    // SMMU_CMDQ_BASE: LOG2SIZE 2; the guest writes SMMU_CMDQ_PROD = 1.
    let mut cmdq =
        CmdqDevice::from_registers(GUEST_CMDQ | 2, 0, 0).map_err(|e| format!("{e:?}"))?;
    cmdq.doorbell(1);
    let mut seen_ops = RecordingBackend::default();
    let p = cmdq.process(&mem, &guest_ctx, &mut seen_ops);
    if p.fault.is_some() {
        return Err(format!("the guest's command queue stopped: {p:?}"));
    }
    let Some(Op::PageResponse(r)) = seen_ops.ops().next().copied() else {
        return Err("no page response in the guest's command queue".into());
    };
    say(format!(
        "4. guest CMD_PRI_RESP read from its command queue ({} command): {}",
        p.consumed,
        Op::PageResponse(r)
    ));

    // 5. The host's response for the same group.
    let h = groups.respond(&r).map_err(|e| format!("{e:?}"))?;
    let second_answer_refused = groups.respond(&r).is_err();
    let (host_response, host_words) = host_descriptor(h, &say)?;
    Ok(Report {
        pri_entry,
        priq_prod: priq.prod,
        guest_response,
        host_response,
        host_words,
        second_answer_refused,
    })
}

/// The same request offered to a guest PRI queue that is disabled
/// (SMMU_CR0.PRIQEN = 0): nothing is written, the guest's SMMUv3 answers
/// Response Failure by itself (IHI0070 §8.2), and the table gives the
/// host that answer for its group. Returns the guest queue's PROD (still
/// 0), the host's `page_grp_resp_dsc` and its words.
pub fn run_disabled(verbose: bool) -> Result<(u32, iommu_inval::vtd::Command, [u64; 4]), String> {
    let say = printer(verbose);
    let (host, forwarded, pri, _) = lifted(&say)?;
    let mut ram = vec![0u8; 0x1000];
    let mem = CellMemory::new(0x1000, &mut ram);
    let mut priq = GuestQueue::<PriRecord>::new(GUEST_PRIQ | 2, 0, 0, false);
    let d = priq
        .offer(&mem, &pri, false)
        .map_err(|e| format!("{e:?}"))?;
    let Some(owed) = d.response else {
        return Err(format!("no automatic response: {d:?}"));
    };
    say(format!(
        "3. guest SMMUv3 PRI queue disabled: {}; it answers {}",
        d.fate,
        Op::PageResponse(owed)
    ));
    let mut groups = PageRequestGroups::<8>::new();
    let Some((h, ())) = groups
        .owe(&host, &forwarded, owed.code, ())
        .map_err(|e| format!("{e:?}"))?
    else {
        return Err("the group is not due".into());
    };
    let (host_response, host_words) = host_descriptor(h, &say)?;
    Ok((priq.prod, host_response, host_words))
}

fn main() {
    for (resp, what) in [
        (0b10, "Success"),
        (0b01, "InvalidRequest"),
        (0b00, "Denied"),
    ] {
        println!("== the guest answers {what}");
        if let Err(e) = run(resp, true) {
            eprintln!("page_request_roundtrip: {e}");
            std::process::exit(1);
        }
    }
    println!("== the guest's PRI queue is disabled");
    if let Err(e) = run_disabled(true) {
        eprintln!("page_request_roundtrip: {e}");
        std::process::exit(1);
    }
}
