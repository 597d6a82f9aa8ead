//! EventArch laws (issue 32 item 2): lift and lower of every
//! architecture's records round-trip, over the arbitrary generators; a
//! VT-d page request forwarded to an SMMUv3 PRI queue, an AMD-Vi PPR log
//! and a RISC-V page-request queue keeps its device (mapped), PASID,
//! address, access, group index and last flag.

mod common;

use arbitrary::Arbitrary;
use common::{ok, scale, tests};
use iommu_inval_amd::AmdVi;
use iommu_inval_arm::Smmuv3;
use iommu_inval_core::arch::EventArch;
use iommu_inval_core::context::Topology;
use iommu_inval_core::event::{Event, Record};
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
