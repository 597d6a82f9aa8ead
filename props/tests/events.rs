//! EventArch laws (issue 32 item 2): lift and lower of every
//! architecture's records round-trip, over the arbitrary generators; a
//! VT-d page request forwarded to an SMMUv3 PRI queue, an AMD-Vi PPR log
//! and a RISC-V page-request queue keeps its device (mapped), PASID,
//! address, access, group index and last flag; dropped by a full guest
//! queue, the automatic response reaches the host for the same group.

mod common;

use arbitrary::Arbitrary;
use common::{ok, scale, tests};
use iommu_inval_amd::AmdVi;
use iommu_inval_arm::Smmuv3;
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::context::Topology;
use iommu_inval_core::event::{Event, PageRequest, Record, RecordQueue};
use iommu_inval_core::IdentityContext;
use iommu_inval_props::events::{check_forward, check_round_trip, Unknown};
use iommu_inval_props::run_cases;
use iommu_inval_riscv::RiscV;
use iommu_inval_vtd::Vtd;

/// `lower(lift(r)) == r` (up to the UNKNOWN fields of the event records,
/// `unknown.0`, and of the page request records, `unknown.1`) over
/// arbitrary records of `A`; at least `min` of each queue's records lift.
fn round_trip<A: EventArch>(seed: u64, unknown: (&[Unknown], &[Unknown]), min: usize)
where
    A::EventRecord: for<'a> Arbitrary<'a>,
    A::PageRequestRecord: for<'a> Arbitrary<'a>,
{
    let (mut events, mut requests) = (0, 0);
    ok(run_cases(seed, 3000 * scale(), 96, |u| {
        let e: A::EventRecord = u.arbitrary().map_err(|e| e.to_string())?;
        let p: A::PageRequestRecord = u.arbitrary().map_err(|e| e.to_string())?;
        events += usize::from(check_round_trip::<A, _>(
            &Record::Event(e),
            unknown.0,
            &IdentityContext,
        )?);
        requests += usize::from(check_round_trip::<A, _>(
            &Record::PageRequest(p),
            unknown.1,
            &IdentityContext,
        )?);
        Ok(())
    }));
    assert!(
        events >= min && requests >= min,
        "{events} events, {requests} page requests lifted"
    );
}

/// A VT-d `page_req_dsc` of a device the guest sees under another id,
/// lifted and forwarded to every other architecture's page request queue.
fn vtd_page_requests_forward() {
    let mut n = [0usize; 3];
    ok(run_cases(0xf0d1, 3000 * scale(), 96, |u| {
        let r: iommu_inval_vtd::prq::PageRequest = u.arbitrary().map_err(|e| e.to_string())?;
        let rid = r.uint("rid").unwrap_or(0);
        let vsid = (rid ^ 0x5a5a) & 0xffff;
        let topo = Topology::from_json(&format!(
            r#"{{"iommufd": {{"vdevices": [{{"vsid": {vsid}, "psid": {rid}}}]}}}}"#
        ))
        .map_err(|e| e.to_string())?;
        let Ok(Event::PageRequest(q)) = Vtd::lift_record(&Record::PageRequest(r), &topo) else {
            return Err(format!("{r:?} does not lift"));
        };
        if u64::from(q.device) != vsid {
            return Err(format!(
                "{r:?}: device {:#x}, not the vSID {vsid:#x}",
                q.device
            ));
        }
        let arm = check_forward::<Smmuv3, _>(&q, &topo)?;
        // SMMUv3 refuses only execute or privileged without a PASID (IHI0070 §8).
        if !arm && !((q.access.exec || q.access.privileged) && q.pasid.is_none()) {
            return Err(format!("{q:?} refused by SMMUv3"));
        }
        let amd = check_forward::<AmdVi, _>(&q, &topo)?;
        let riscv = check_forward::<RiscV, _>(&q, &topo)?;
        if !amd || !riscv {
            return Err(format!("{q:?} refused: AMD-Vi {amd}, RISC-V {riscv}"));
        }
        for (c, k) in n.iter_mut().zip([arm, amd, riscv]) {
            *c += usize::from(k);
        }
        Ok(())
    }));
    assert!(n.iter().all(|&k| k > 100), "{n:?}");
}

tests! {
    smmuv3_round_trip => round_trip::<Smmuv3>(0xe501, (&[("ssv", 1, "ssid"), ("stall", 1, "stag"), ("class", 1, "ttrnw")], &[("ssv", 1, "ssid")]), 100);
    vtd_round_trip => round_trip::<Vtd>(0xe502, (&[], &[("pasid_present", 1, "pasid"), ("priv_data_present", 1, "priv_data")]), 100);
    amd_round_trip => round_trip::<AmdVi>(0xe503, (&[], &[("gn", 1, "pasid")]), 100);
    riscv_round_trip => round_trip::<RiscV>(0xe504, (&[], &[("pv", 1, "pid")]), 100);
    vtd_page_request_reaches_every_guest => vtd_page_requests_forward();
}

/// Issue 32 items 3 and 4 together: a host VT-d page request (last in its
/// group, not a Stop Marker) forwarded to a guest page request queue that
/// is full is dropped, and the automatic response the guest's IOMMU owes
/// (Success, the device retries) reaches the host through the group table
/// for the same group: the host's RID, PASID, index and private data.
fn auto_response_reaches_the_host<A: EventArch, Q>(seed: u64, full: fn() -> Q)
where
    Q: iommu_inval_core::event::RecordQueue<Record = A::PageRequestRecord>,
{
    use iommu_inval_core::event::{Fate, PageRequestGroups};
    use iommu_inval_core::model::RespCode;
    let mut bytes = [0u8; 0x40];
    let mem = iommu_inval_core::CellMemory::new(0x1000, &mut bytes);
    let mut answered = 0;
    ok(run_cases(seed, 1000 * scale(), 96, |u| {
        let r: iommu_inval_vtd::prq::PageRequest = u.arbitrary().map_err(|e| e.to_string())?;
        let rid = r.uint("rid").unwrap_or(0);
        let topo = Topology::from_json(&format!(
            r#"{{"iommufd": {{"vdevices": [{{"vsid": {}, "psid": {rid}}}]}}}}"#,
            rid ^ 0x5a5a
        ))
        .map_err(|e| e.to_string())?;
        let rec = Record::PageRequest(r);
        let (Ok(Event::PageRequest(host)), Ok(Event::PageRequest(seen))) = (
            Vtd::lift_record(&rec, &IdentityContext),
            Vtd::lift_record(&rec, &topo),
        ) else {
            return Err(format!("{r:?} does not lift"));
        };
        let fwd = iommu_inval_core::event::PageRequest {
            priv_data: None,
            ..seen
        };
        let Ok(Record::PageRequest(g)) = A::lower_record(&Event::PageRequest(fwd), &topo) else {
            return Ok(()); // what the guest's record cannot hold
        };
        let mut groups = PageRequestGroups::<4>::new();
        let kept = groups.insert(&host, &fwd).map_err(|e| e.to_string())?;
        let mut q = full();
        let d = q.offer(&mem, &g, false).map_err(|e| e.to_string())?;
        if !matches!(d.fate, Fate::Full { flagged: true }) {
            return Err(format!("{:?} on a full queue", d.fate));
        }
        let owed = fwd.last && !fwd.is_stop_marker();
        match (d.response, owed) {
            (None, false) => Ok(()),
            (Some(resp), true) if kept => {
                let h = groups
                    .respond(&resp)
                    .map_err(|e| format!("{resp:?}: {e}"))?;
                let got = (h.device, h.pasid, h.prg_index, h.code, h.priv_data);
                let want = (
                    host.device,
                    host.pasid,
                    host.prg_index,
                    RespCode::Success,
                    host.priv_data,
                );
                answered += 1;
                (got == want)
                    .then_some(())
                    .ok_or(format!("{got:?} != {want:?}"))
            }
            (resp, owed) => Err(format!(
                "{fwd:?}: response {resp:?}, owed {owed}, kept {kept}"
            )),
        }
    }));
    assert!(answered > 100, "{answered}");
}

tests! {
    smmuv3_pri_auto_response => auto_response_reaches_the_host::<Smmuv3, _>(0xa701, || {
        // One slot (LOG2SIZE 0), PROD one lap ahead of CONS: full.
        iommu_inval_arm::GuestQueue::<iommu_inval_arm::PriRecord>::new(0x1000, 1, 0, true)
    });
    vtd_prq_auto_response => auto_response_reaches_the_host::<Vtd, _>(0xa702, || {
        iommu_inval_vtd::prq::PageRequestQueue { pqa: 0x1000, pqh: 0x20, ..Default::default() }
    });
    amd_ppr_auto_response => auto_response_reaches_the_host::<AmdVi, _>(0xa703, || {
        let mut l = iommu_inval_amd::event::GuestLog::<iommu_inval_amd::ppr::PprRecord>::new(8 << 56 | 0x1000, 1 << 13);
        l.head = 0x10;
        l
    });
    riscv_pq_auto_response => auto_response_reaches_the_host::<RiscV, _>(0xa704, || {
        // Two records (LOG2SZ-1 = 0), one usable; pqh = 1, pqt = 0: full.
        let mut q = iommu_inval_riscv::fault::GuestQueue::<iommu_inval_riscv::pq::PageRequest>::new(1 << 10, false);
        q.write_csr(1);
        q.head = 1;
        q
    });
}

/// An arbitrary host VT-d page request as the host reported it and as its
/// guest sees it (the device mapped, RID ^ 0x5a5a), with that topology.
fn host_request(
    u: &mut arbitrary::Unstructured<'_>,
) -> Result<(PageRequest, PageRequest, Topology), String> {
    let r: iommu_inval_vtd::prq::PageRequest = u.arbitrary().map_err(|e| e.to_string())?;
    let rid = r.uint("rid").unwrap_or(0);
    let json = format!(
        r#"{{"iommufd": {{"vdevices": [{{"vsid": {}, "psid": {rid}}}]}}}}"#,
        rid ^ 0x5a5a
    );
    let topo = Topology::from_json(&json).map_err(|e| e.to_string())?;
    let rec = Record::PageRequest(r);
    match (
        Vtd::lift_record(&rec, &IdentityContext),
        Vtd::lift_record(&rec, &topo),
    ) {
        (Ok(Event::PageRequest(host)), Ok(Event::PageRequest(seen))) => Ok((host, seen, topo)),
        _ => Err(format!("{r:?} does not lift")),
    }
}

/// Issue 32 item 4 with a request the guest's queue drops although it is
/// not the last of its group: a host VT-d group of two requests (the first
/// with Last = 0) forwarded to a guest page request queue whose writes
/// abort. The first request is dropped; the response the guest's IOMMU
/// owes for it (`Delivery::response`: SMMUv3 Response Failure, IHI0070
/// §8.2; VT-d none for LPIG clear, Table 31) goes to
/// `PageRequestGroups::owe`. When the last request is then answered by the
/// guest (Success), the host's group gets, once, the code owed (SMMUv3:
/// Failure) or else the guest's; when it is never answered, the VMM's
/// time-out gives the code owed once (nothing is kept when none is owed).
fn dropped_request_owes_its_group<A: EventArch, Q>(seed: u64, queue: fn() -> Q, owes: bool)
where
    Q: iommu_inval_core::event::RecordQueue<Record = A::PageRequestRecord>,
{
    use iommu_inval_core::event::{Fate, GroupError, GroupKey, PageRequestGroups};
    use iommu_inval_core::model::{PageResponse, RespCode};
    let ro = [0u8; 0x40];
    let refusing = iommu_inval_core::SliceMemory::new(0x1000, &ro);
    let mut owed = 0;
    ok(run_cases(seed, 1000 * scale(), 96, |u| {
        let (host, seen, topo) = host_request(u)?;
        // The group: a first request with Last = 0, then its last (a read).
        let access = iommu_inval_core::event::Access {
            read: true,
            ..host.access
        };
        let (host0, host1) = (
            PageRequest {
                last: false,
                ..host
            },
            PageRequest {
                last: true,
                access,
                ..host
            },
        );
        let fwd = |h: &PageRequest| PageRequest {
            device: seen.device,
            priv_data: None,
            ..*h
        };
        let (fwd0, fwd1) = (fwd(&host0), fwd(&host1));
        let Ok(Record::PageRequest(g0)) = A::lower_record(&Event::PageRequest(fwd0), &topo) else {
            return Ok(()); // what the guest's record cannot hold
        };
        let d = queue()
            .offer(&refusing, &g0, false)
            .map_err(|e| e.to_string())?;
        if !matches!(d.fate, Fate::Aborted(_)) || d.response.is_some() != owes {
            return Err(format!("{fwd0:?}: {d}"));
        }
        let code = d.response.map(|r| r.code);
        // Answered by the guest after its last request, or timed out.
        let mut answered = PageRequestGroups::<4>::new();
        let mut timed_out = PageRequestGroups::<4>::new();
        for t in [&mut answered, &mut timed_out] {
            if let Some(c) = code {
                let due = t.owe(&host0, &fwd0, c, ()).map_err(|e| e.to_string())?;
                if due.is_some() {
                    return Err(format!("{fwd0:?}: due before its last request"));
                }
            }
        }
        answered.insert(&host1, &fwd1).map_err(|e| e.to_string())?;
        let guest = PageResponse {
            device: fwd1.device,
            pasid: fwd1.pasid,
            prg_index: fwd1.prg_index,
            code: RespCode::Success,
            last: true,
            priv_data: None,
            guest: fwd1.pasid.is_some(),
        };
        let h = answered.respond(&guest).map_err(|e| e.to_string())?;
        let want = (
            host.device,
            host.pasid,
            host.prg_index,
            code.unwrap_or(RespCode::Success),
        );
        if (h.device, h.pasid, h.prg_index, h.code) != want {
            return Err(format!("{h:?}, not {want:?}"));
        }
        if answered.respond(&guest) != Err(GroupError::AnsweredTwice) {
            return Err("answered twice".into());
        }
        let key = GroupKey::of(&fwd0);
        let expired = timed_out.expire(&key, RespCode::Success).map(|h| h.code);
        let again = timed_out.expire(&key, RespCode::Success);
        match code {
            Some(c) if expired == Ok(c) && again == Err(GroupError::AnsweredTwice) => owed += 1,
            None if expired == Err(GroupError::NotOutstanding) => {}
            _ => return Err(format!("{fwd0:?}: timed out {expired:?}, then {again:?}")),
        }
        Ok(())
    }));
    assert!(owed > 100 || !owes, "{owed}");
}

tests! {
    smmuv3_pri_failure_owed_to_its_group => dropped_request_owes_its_group::<Smmuv3, _>(0xa711, || {
        iommu_inval_arm::GuestQueue::<iommu_inval_arm::PriRecord>::new(0x1000 | 1, 0, 0, true)
    }, true);
    vtd_prq_owes_nothing_for_lpig_clear => dropped_request_owes_its_group::<Vtd, _>(0xa712, || {
        iommu_inval_vtd::prq::PageRequestQueue { pqa: 0x1000, ..Default::default() }
    }, false);
}

/// SMMUv3 F_TLB_CONFLICT (IHI0070 §7.3.17) lifts with what every event
/// places (device, PASID with SSV) and its words 1–3 kept, lowers back to
/// SMMUv3 bit-exactly (the round trips above cover every arbitrary one);
/// VT-d, AMD-Vi and RISC-V have no TLB-conflict record: a reported
/// refusal, never a record that says something else.
#[test]
fn tlb_conflict_lowers_to_smmuv3_only() {
    use iommu_inval_core::{LowerError, NativeCommand};
    // StreamID 0x10, SSV, SubstreamID 3, words 1–3.
    let w = [0x0000_0010_0000_3820, 0x1234, 0x8000_1000, 0x5000];
    let rec = Record::Event(iommu_inval_arm::EventRecord::decode(&w).unwrap());
    let ev = Smmuv3::lift_record(&rec, &IdentityContext).unwrap();
    assert_eq!(Smmuv3::lower_record(&ev, &IdentityContext), Ok(rec));
    let refused = |r: Result<(), LowerError>| matches!(r, Err(LowerError::NoEquivalent(_)));
    assert!(refused(
        Vtd::lower_record(&ev, &IdentityContext).map(|_| ())
    ));
    assert!(refused(
        AmdVi::lower_record(&ev, &IdentityContext).map(|_| ())
    ));
    assert!(refused(
        RiscV::lower_record(&ev, &IdentityContext).map(|_| ())
    ));
}

/// Issue 32 item 7's end-to-end path: a host VT-d page request reaches a
/// guest's SMMUv3 PRI queue (with the guest's StreamID), the guest's
/// CMD_PRI_RESP lifts to `Op::PageResponse`, the page request group table
/// gives the host's response, and it lowers to the host's
/// page_grp_resp_dsc for the same group (RID, PASID, index, private data)
/// with the code translated (SMMUv3 InvalidRequest 0b01 → VT-d 0x1, Success
/// 0b10 → 0x0, ResponseFailure 0b00 → 0xF).
#[test]
fn vtd_page_request_answered_through_a_guest_smmuv3() {
    use iommu_inval_arm::{GuestQueue, PriRecord};
    use iommu_inval_core::arch::{Arch, Target};
    use iommu_inval_core::event::{PageRequestGroups, RecordQueue};
    use iommu_inval_core::{CellMemory, NativeCommand, Op, QueueMemory};
    let guest =
        Topology::from_json(r#"{"iommufd": {"vdevices": [{"vsid": 8, "psid": 768}]}}"#).unwrap();
    for (resp, vtd_code) in [(1u8, 0x1u8), (2, 0x0), (0, 0xf)] {
        // RID 0x0300, PASID 5, read and write, last, group 0x1a, page
        // 0x7000_1000, private data [0xaa, 0xbb].
        let host_rec = iommu_inval_vtd::prq::PageRequest::decode(&[
            5 << 32 | 0x0300 << 16 | 1 << 9 | 1 << 8 | 1,
            0x7000_1000 | 0x1a << 3 | 0b111,
            0xaa,
            0xbb,
        ])
        .unwrap();
        let host_rec = Record::PageRequest(host_rec);
        let Ok(Event::PageRequest(host)) = Vtd::lift_record(&host_rec, &IdentityContext) else {
            panic!()
        };
        let Ok(Event::PageRequest(seen)) = Vtd::lift_record(&host_rec, &guest) else {
            panic!()
        };
        // The private data stays with the host: the group table keeps it.
        let fwd = iommu_inval_core::event::PageRequest {
            priv_data: None,
            ..seen
        };
        let Ok(Record::PageRequest(pri)) = Smmuv3::lower_record(&Event::PageRequest(fwd), &guest)
        else {
            panic!()
        };
        let mut groups = PageRequestGroups::<8>::new();
        assert_eq!(groups.insert(&host, &fwd), Ok(true));

        // The guest's PRI queue: 4 slots of 16 bytes at 0x1000, enabled.
        let mut bytes = [0u8; 0x100];
        let mem = CellMemory::new(0x1000, &mut bytes);
        let mut q = GuestQueue::<PriRecord>::new(0x1000 | 2, 0, 0, true);
        assert!(q.offer(&mem, &pri, false).unwrap().written());
        let mut w = [0u64; 2];
        mem.read_words(0x1000, &mut w).unwrap();
        let read = PriRecord::decode(&w).unwrap();
        assert_eq!((read.uint("sid"), read.uint("ssid")), (Some(8), Some(5)));
        assert_eq!(
            (read.uint("prg_index"), read.flag("last")),
            (Some(0x1a), Some(true))
        );
        assert_eq!(read.uint("address"), Some(0x7000_1000));

        // The guest answers with CMD_PRI_RESP.
        let cmd = iommu_inval_arm::Command::PriResp(iommu_inval_arm::PriResp {
            ssv: true,
            ssid: 5,
            sid: 8,
            prg_index: 0x1a,
            resp,
        });
        let mut ops = Vec::new();
        Smmuv3::lift(&cmd, &guest, &mut ops).unwrap();
        let [Op::PageResponse(r)] = ops.as_slice() else {
            panic!("{ops:?}")
        };
        let h = groups.respond(r).unwrap();
        assert_eq!(
            (h.device, h.pasid, h.prg_index, h.priv_data),
            (0x300, Some(5), 0x1a, Some([0xaa, 0xbb]))
        );
        assert!(groups.respond(r).is_err(), "answered twice");

        // The host's page_grp_resp_dsc.
        let mut out = Vec::new();
        Target::<Vtd>::default()
            .lower(&Op::PageResponse(h), &IdentityContext, &mut out)
            .unwrap();
        let [iommu_inval_vtd::Command::PageGrpResp(d)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            (
                d.rid,
                d.pasid_present,
                d.pasid,
                d.prg_index,
                d.lpig,
                d.resp_code
            ),
            (0x300, true, 5, 0x1a, true, vtd_code)
        );
        assert_eq!(d.priv_data, Some([0xaa, 0xbb]));
    }
}

/// The fault and its translation that `rec` of `A` lifts to (identity
/// context).
fn lifted_translation<A: EventArch>(
    rec: &Record<A::EventRecord, A::PageRequestRecord>,
) -> (
    iommu_inval_core::event::Fault,
    iommu_inval_core::event::Translation,
) {
    match A::lift_record(rec, &IdentityContext) {
        Ok(Event::Fault(f)) => match f.kind {
            iommu_inval_core::event::FaultKind::Translation(t) => (f, t),
            k => panic!("{k:?}"),
        },
        e => panic!("{e:?}"),
    }
}

/// The fault mapping tables (docs/EVENTS.md) on one record each, and a
/// fault carried across architectures by its neutral meaning: an SMMUv3
/// F_TRANSLATION (stage 1, a read at a page) becomes VT-d FR 0x71, AMD-Vi
/// IO_PAGE_FAULT (with GN: a PASID) and RISC-V CAUSE 13 (read page fault,
/// TTYP 2); what a record cannot hold is `NoEquivalent`.
#[test]
fn faults_map_through_the_tables() {
    use iommu_inval_core::event::{FaultKind, FaultReason};
    use iommu_inval_core::{LowerError, NativeCommand, Stages};
    let id = IdentityContext;
    // VT-d FR 0x06 "PTE Read access is not set": a second-level permission fault.
    let vtd =
        iommu_inval_vtd::fault::FaultRecord::decode(&[0x5000, 1 << 63 | 1 << 62 | 6 << 32 | 0x10])
            .unwrap();
    let (f, t) = lifted_translation::<Vtd>(&Record::Event(vtd));
    assert_eq!(
        (t.reason, t.stage, f.native.code, f.device),
        (FaultReason::Permission, Stages::S2, 6, 0x10)
    );
    assert!(f
        .transaction
        .is_some_and(|x| x.access.read && !x.access.write && x.addr == 0x5000));
    // An interrupt-remapping fault has no neutral meaning.
    let ir = iommu_inval_vtd::fault::FaultRecord::decode(&[0, 1 << 63 | 0x21 << 32]).unwrap();
    assert!(matches!(
        Vtd::lift_record(&Record::Event(ir), &id),
        Err(LowerError::NoEquivalent(_))
    ));

    // SMMUv3 F_TRANSLATION, sid 0x10, ssid 3, stage 1, a read of 0x8000_1000.
    let smmu = iommu_inval_arm::EventRecord::decode(&[
        0x0000_0010_0000_3810,
        0x0000_0208_0000_0000,
        0x8000_1000,
        0,
    ])
    .unwrap();
    let Ok(ev) = Smmuv3::lift_record(&Record::Event(smmu), &id) else {
        panic!()
    };
    let Ok(Record::Event(v)) = Vtd::lower_record(&ev, &id) else {
        panic!()
    };
    assert_eq!(
        (
            v.uint("fr"),
            v.uint("fi"),
            v.uint("pv"),
            v.flag("pp"),
            v.flag("t1")
        ),
        (
            Some(0x71),
            Some(0x8000_1000),
            Some(3),
            Some(true),
            Some(true)
        )
    );
    let Ok(Record::Event(a)) = AmdVi::lower_record(&ev, &id) else {
        panic!()
    };
    assert_eq!(
        (
            a.op(),
            a.flag("gn"),
            a.uint("domain_or_pasid"),
            a.flag("rw"),
            a.flag("pe")
        ),
        (
            "IO_PAGE_FAULT",
            Some(true),
            Some(3),
            Some(false),
            Some(false)
        )
    );
    let Ok(Record::Event(r)) = RiscV::lower_record(&ev, &id) else {
        panic!()
    };
    assert_eq!(
        (
            r.uint("cause"),
            r.uint("ttyp"),
            r.uint("pid"),
            r.uint("iotval")
        ),
        (Some(13), Some(2), Some(3), Some(0x8000_1000))
    );
    // Each lifts back to the same meaning.
    for back in [
        Vtd::lift_record(&Record::Event(v), &id),
        AmdVi::lift_record(&Record::Event(a), &id),
        RiscV::lift_record(&Record::Event(r), &id),
    ] {
        let Ok(Event::Fault(g)) = back else {
            panic!("{back:?}")
        };
        let FaultKind::Translation(t) = g.kind else {
            panic!()
        };
        assert_eq!(
            (g.device, g.pasid, t.reason, t.stage),
            (0x10, Some(3), FaultReason::Translation, Stages::S1)
        );
    }
    // An unaligned address: VT-d FRCD holds a page; AMD-Vi and RISC-V keep it.
    let odd = iommu_inval_arm::EventRecord::decode(&[
        0x0000_0010_0000_3810,
        0x0000_0208_0000_0000,
        0x8000_1234,
        0,
    ])
    .unwrap();
    let ev = Smmuv3::lift_record(&Record::Event(odd), &id).unwrap();
    assert!(matches!(
        Vtd::lower_record(&ev, &id),
        Err(LowerError::NoEquivalent(_))
    ));
    assert!(AmdVi::lower_record(&ev, &id).is_ok() && RiscV::lower_record(&ev, &id).is_ok());
    // RISC-V CAUSE 21 (read guest-page fault) of an implicit first-stage
    // write: stage 2, the GPA, a table walk that wrote.
    let gpf = iommu_inval_riscv::fault::FaultRecord::decode(&[
        7 << 40 | 2 << 34 | 21,
        0,
        0x4000,
        0x9000 | 3,
    ])
    .unwrap();
    let (_, t) = lifted_translation::<RiscV>(&Record::Event(gpf));
    assert_eq!(
        (t.stage, t.ipa, t.during),
        (
            Stages::S2,
            Some(0x9000),
            iommu_inval_core::event::During::TableWalk { write: true }
        )
    );
    // Lost records are a register flag on every architecture.
    assert!(
        Vtd::lower_record(&Event::Lost, &id).is_err()
            && AmdVi::lower_record(&Event::Lost, &id).is_err()
            && RiscV::lower_record(&Event::Lost, &id).is_err()
    );
}

/// A record write guest memory refuses, on a fresh `q` at 0x10_0000
/// (docs/EVENTS.md, "A write guest memory refuses"): `Aborted`, the slot
/// unmoved, a dropped last page request (`request`) owed a response. Where
/// the architecture names a flag (`stops`: SMMUv3 GERROR.*_ABT_ERR, RISC-V
/// `fqmf` / `pqmf`) the queue is then `Stopped` (a kept record refused as
/// `Full`) until the guest's `ack`; elsewhere the next record goes in.
/// Returns the queue after a record written, and whether the abort raised
/// an interrupt.
fn refused_write<Q: RecordQueue + Copy>(
    mut q: Q,
    rec: &Q::Record,
    stops: bool,
    ack: fn(&mut Q),
    request: bool,
) -> (Q, bool) {
    use iommu_inval_core::device::ProduceError;
    use iommu_inval_core::event::Fate;
    use iommu_inval_core::{CellMemory, SliceMemory};
    let ro = vec![0u8; 0x1_0000];
    let refusing = SliceMemory::new(0x10_0000, &ro);
    let mut ram = vec![0u8; 0x1_0000];
    let mem = CellMemory::new(0x10_0000, &mut ram);
    let slot = q.next_slot(&mem);
    let d = q.offer(&refusing, rec, false).unwrap();
    assert!(matches!(d.fate, Fate::Aborted(_)), "{d}");
    assert_eq!(d.response.is_some(), request, "{d}");
    assert_eq!((q.abort_pending(), q.next_slot(&mem)), (stops, slot));
    let interrupt = d.interrupt;
    let d = q.offer(&mem, rec, false).unwrap();
    if stops {
        assert_eq!((d.fate, d.response.is_some()), (Fate::Stopped, request));
        assert_eq!(q.offer(&mem, rec, true), Err(ProduceError::Full));
        ack(&mut q);
        let d = q.offer(&mem, rec, false).unwrap();
        assert!(d.written(), "{d}");
    } else {
        assert!(d.written(), "{d}");
    }
    (q, interrupt)
}

/// Refused writes on the eight producers: SMMUv3 toggles only its queue's
/// GERROR bit (IHI0070 §6.3.19, §7.2.2, §8.2) and raises the GERROR
/// interrupt; RISC-V sets `fqmf` / `pqmf`; VT-d and AMD-Vi flag nothing
/// (their texts name no flag).
#[test]
fn refused_writes_follow_each_architecture() {
    use iommu_inval_amd::event::GuestLog;
    use iommu_inval_arm::{EventRecord, GuestQueue, PriRecord};
    use iommu_inval_core::NativeCommand;
    use iommu_inval_riscv::fault::GuestQueue as RvQueue;
    const AT: u64 = 0x10_0000;
    // SMMUv3: CMDQ_ERR (bit 0) active beforehand stays as it is.
    let mut q = GuestQueue::<EventRecord>::new(AT | 1, 0, 0, true);
    (q.gerror, q.gerror_irqen) = (1, true);
    let ev = EventRecord::decode(&[1 << 32 | 4, 0, 0, 0]).unwrap();
    let (q, irq) = refused_write(q, &ev, true, |q| q.gerrorn ^= 1 << 2, false);
    assert_eq!(
        (q.gerror, q.gerrorn, q.prod, irq),
        (1 | 1 << 2, 1 << 2, 1, true)
    );
    // SID 0x10, SSV, SSID 3, Last, Read; group 5.
    let pri = PriRecord::decode(&[1 << 63 | 0b101 << 60 | 3 << 32 | 0x10, 0x4000 | 5]).unwrap();
    let q = GuestQueue::<PriRecord>::new(AT | 1, 0, 0, true);
    let (q, irq) = refused_write(q, &pri, true, |q| q.gerrorn ^= 1 << 3, true);
    assert_eq!((q.gerror, q.gerrorn, irq), (1 << 3, 1 << 3, false));
    // VT-d: two fault recording registers; the page request queue.
    let frcd = iommu_inval_vtd::fault::FaultRecording {
        base: AT,
        nfr: 1,
        ..Default::default()
    };
    let f = iommu_inval_vtd::fault::FaultRecord::decode(&[
        0x0dea_d000,
        1 << 63 | 1 << 62 | 6 << 32 | 0x10,
    ])
    .unwrap();
    let (q, irq) = refused_write(frcd, &f, false, |_| {}, false);
    assert_eq!((q.next, irq), (1, false));
    let prq = iommu_inval_vtd::prq::PageRequestQueue {
        pqa: AT,
        ..Default::default()
    };
    let req = iommu_inval_vtd::prq::PageRequest::decode(&[
        5 << 32 | 0x10 << 16 | 1 << 8 | 1,
        0x7000 | 3 << 3 | 1 << 2 | 1,
        0,
        0,
    ])
    .unwrap();
    let (q, irq) = refused_write(prq, &req, false, |_| {}, true);
    assert_eq!((q.pqt, irq), (1 << 5, false));
    // AMD-Vi: EventLogEn, EventIntEn; PPRLogEn, PPRIntEn.
    let log = GuestLog::<iommu_inval_amd::event::EventRecord>::new(8 << 56 | AT, 1 << 2 | 1 << 3);
    let ill = iommu_inval_amd::event::EventRecord::decode(&[0x5 << 60, 0x1230]).unwrap();
    let (q, irq) = refused_write(log, &ill, false, |_| {}, false);
    assert_eq!((q.status, q.tail, irq), (1 << 1, 0x10, false)); // EventLogInt only
    let ppr = GuestLog::<iommu_inval_amd::ppr::PprRecord>::new(8 << 56 | AT, 1 << 13 | 1 << 14);
    // Device 0x10, PASID 1, read, last, tag 2.
    let r = iommu_inval_amd::ppr::PprRecord::decode(&[
        1 << 60 | 1 << 56 | 1 << 50 | 1 << 41 | 2 << 32 | 1 << 16 | 0x10,
        0x4000,
    ])
    .unwrap();
    let (q, irq) = refused_write(ppr, &r, false, |_| {}, true);
    assert_eq!((q.status, q.tail, irq), (1 << 6, 0x10, false));
    // RISC-V: four records; `fqen` / `pqen` and the interrupt enable; the
    // guest clears `fqmf` / `pqmf` (bit 8, RW1C).
    let mut fq = RvQueue::<iommu_inval_riscv::fault::FaultRecord>::new(AT >> 2 | 1, false);
    fq.write_csr(0b11);
    let fault =
        iommu_inval_riscv::fault::FaultRecord::decode(&[0x10 << 40 | 2 << 34 | 13, 0, 0x8000, 0])
            .unwrap();
    let (q, irq) = refused_write(fq, &fault, true, |q| q.write_csr(0b11 | 1 << 8), false);
    assert_eq!((q.csr & 0x300, q.ipsr, q.tail, irq), (0, 1 << 1, 1, true));
    let mut pq = RvQueue::<iommu_inval_riscv::pq::PageRequest>::new(AT >> 2 | 1, false);
    pq.write_csr(0b11);
    // Device 0x10, PASID 3, read, last; group 1.
    let rq = iommu_inval_riscv::pq::PageRequest::decode(&[
        0x10 << 40 | 1 << 32 | 3 << 12,
        0x9000 | 1 << 3 | 0b101,
    ])
    .unwrap();
    let (q, irq) = refused_write(pq, &rq, true, |q| q.write_csr(0b11 | 1 << 8), true);
    assert_eq!((q.csr & 0x300, q.tail, irq), (0, 1, true));
}
