//! The iommufd event records (issue 32): the vEVENTQ stream and the HWPT
//! fault queue, from the bytes a `read()` returns.
//!
//! Input: one selector byte, then the bytes. Selector bits 0-1: an
//! SMMUv3 vEVENTQ, a Tegra241 CMDQV vEVENTQ, or the fault queue.
//! * vEVENTQ: the decoded vEVENTs re-serialize (header, payload) to the
//!   bytes before the first error; gaps stay below 2^31; an SMMUv3
//!   payload's lift is a typed result.
//! * Fault queue: each decoded record re-encodes to its 40 bytes; its
//!   request and lift are typed results; forwarding every record to
//!   `PgfaultGroups` and answering each forwarded last request with the
//!   code of the next byte gives the response naming the cookie of that
//!   group's last fault, Failure reported as widened INVALID.
//! Never panics.
#![no_main]

use iommu_inval::core::{IdentityContext, PageResponse, RespCode};
use iommu_inval::iommufd::event::{
    HwptPgfault, PgfaultGroups, VeventData, VeventReader, VeventqType, IOMMUFD_PAGE_RESP_INVALID,
    IOMMUFD_PAGE_RESP_SUCCESS,
};
use libfuzzer_sys::fuzz_target;

fn vevents(ty: VeventqType, bytes: &[u8]) {
    let mut r = VeventReader::new(ty);
    let mut again = Vec::new();
    for v in r.read(bytes) {
        let Ok(v) = v else { break };
        assert!(v.gap <= i32::MAX as u32);
        let flags = u32::from(v.data == VeventData::Lost); // LOST_EVENTS
        again.extend_from_slice(&flags.to_le_bytes());
        again.extend_from_slice(&v.sequence.to_le_bytes());
        match v.data {
            VeventData::ArmSmmuv3(e) => {
                let _ = e.lift();
                e.evt
                    .iter()
                    .for_each(|w| again.extend_from_slice(&w.to_le_bytes()));
            }
            VeventData::Tegra241Cmdqv(e) => e
                .lvcmdq_err_map
                .iter()
                .for_each(|w| again.extend_from_slice(&w.to_le_bytes())),
            _ => {}
        }
    }
    assert_eq!(bytes.get(..again.len()), Some(&again[..]));
}

fn pgfaults(bytes: &[u8]) {
    let mut g = PgfaultGroups::<8>::new();
    for (i, f) in HwptPgfault::read(bytes).enumerate() {
        let Ok(f) = f else { break };
        let at = i * HwptPgfault::SIZE;
        assert_eq!(
            bytes.get(at..at + HwptPgfault::SIZE),
            Some(&f.to_le_bytes()[..])
        );
        let Ok(guest) = g.forward(&f, &IdentityContext) else {
            continue;
        };
        if !guest.last {
            continue;
        }
        let code = [RespCode::Success, RespCode::Invalid, RespCode::Failure]
            [usize::from(bytes.get(at).copied().unwrap_or(0)) % 3];
        let resp = PageResponse {
            device: guest.device,
            pasid: guest.pasid,
            prg_index: guest.prg_index,
            code,
            last: true,
            priv_data: None,
            guest: guest.pasid.is_some(),
        };
        if let Ok(a) = g.respond(&resp) {
            // A stop marker is not kept; anything answered is this group's.
            assert_eq!(a.response.cookie, f.cookie);
            let want = match code {
                RespCode::Success => IOMMUFD_PAGE_RESP_SUCCESS,
                _ => IOMMUFD_PAGE_RESP_INVALID,
            };
            assert_eq!(
                (a.response.code, a.widened),
                (want, code == RespCode::Failure)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    match sel & 3 {
        0 => vevents(VeventqType::ArmSmmuv3, bytes),
        1 => vevents(VeventqType::Tegra241Cmdqv, bytes),
        _ => pgfaults(bytes),
    }
});
