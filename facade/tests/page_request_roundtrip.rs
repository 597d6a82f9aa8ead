//! The `page_request_roundtrip` example as a test (issue 32, item 7): a
//! host VT-d page request reaches a guest SMMUv3 driver's PRI queue with
//! the guest's StreamID, and the guest's CMD_PRI_RESP, read from its
//! command queue, comes back as the host's page_grp_resp_dsc for the same
//! group (RID, PASID, index, private data) with the response code
//! translated (SMMUv3 Success 0b10 → 0x0, InvalidRequest 0b01 → 0x1,
//! Denied 0b00 → Response Failure 0xF).

#[allow(dead_code)]
#[path = "../examples/page_request_roundtrip.rs"]
mod example;

use iommu_inval::core::NativeCommand;
use iommu_inval::vtd::Command;

#[test]
fn a_host_vtd_page_request_answered_by_a_guest_smmuv3() {
    for (resp, vtd_code) in [(0b10u8, 0x0u8), (0b01, 0x1), (0b00, 0xf)] {
        let r = example::run(resp, false).unwrap();
        // The guest's PRI entry: vSID 8, SSID 5 (SSV), read and write, last
        // of group 0x1a, page 0x7000_1000 (Linux PRIQ_0_*, PRIQ_1_*).
        let e = iommu_inval::arm::PriRecord::decode(&r.pri_entry).unwrap();
        assert_eq!(
            (e.uint("sid"), e.uint("ssid"), e.flag("ssv")),
            (Some(8), Some(5), Some(true))
        );
        assert_eq!(
            (e.flag("read"), e.flag("write"), e.flag("last")),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(
            (e.uint("prg_index"), e.uint("address")),
            (Some(0x1a), Some(0x7000_1000))
        );
        assert_eq!(r.priq_prod, 1);
        // CMD_PRI_RESP (opcode 0x41) names the same vSID, SSID and group.
        assert_eq!(r.guest_response[0] & 0xff, 0x41);
        let Command::PageGrpResp(d) = r.host_response else {
            panic!("{:?}", r.host_response)
        };
        assert_eq!(
            (d.rid, d.pasid_present, d.pasid, d.prg_index, d.lpig),
            (0x300, true, 5, 0x1a, true)
        );
        assert_eq!((d.resp_code, d.priv_data), (vtd_code, Some([0xaa, 0xbb])));
        assert_eq!(Command::decode(&r.host_words).unwrap(), r.host_response);
        assert!(r.second_answer_refused);
    }
}

/// A disabled guest PRI queue (SMMU_CR0.PRIQEN = 0) writes nothing and
/// answers Response Failure by itself (IHI0070 §8.2); the host gets
/// Response Failure (0xF) for the same group, through
/// `PageRequestGroups::owe`, with its own RID, PASID and private data.
#[test]
fn a_disabled_guest_pri_queue_fails_the_hosts_group() {
    let (prod, host, words) = example::run_disabled(false).unwrap();
    assert_eq!(prod, 0);
    let Command::PageGrpResp(d) = host else {
        panic!("{host:?}")
    };
    assert_eq!(
        (d.rid, d.pasid_present, d.pasid, d.prg_index, d.lpig),
        (0x300, true, 5, 0x1a, true)
    );
    assert_eq!((d.resp_code, d.priv_data), (0xf, Some([0xaa, 0xbb])));
    assert_eq!(Command::decode(&words).unwrap(), host);
}
