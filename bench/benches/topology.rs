//! Loading a topology file (parse, check, index) and resolving ids
//! through it, at sizes the CLI meets: up to 65 536 devices in 4 096
//! domains (the issue's target: under 0.2 s) and, with
//! `DIVAN_ARGS`/filtering, 262 144 devices to show the growth is n log n.

use std::fmt::Write;
use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;

use iommu_inval_core::context::{Context, Topology};
use iommu_inval_core::model::{DomainSel, PasidSel};
use iommu_inval_core::ArchId;

fn main() {
    divan::main();
}

/// `devices` devices spread over `domains` domains, each device with one
/// PASID whose ASID is shared by 16 devices, ATS on every other device.
fn topology_json(devices: u32, domains: u32) -> String {
    let mut s = String::from("{\"domains\":[");
    for d in 0..domains {
        if d > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"id":{d},"smmuv3":{{"vmid":{d}}},"vtd":{{"did":{}}},"amd":{{"domain_id":{d}}}}}"#,
            d + 1
        );
    }
    s.push_str("],\"devices\":[");
    for r in 0..devices {
        if r > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"rid":{r},"domain":{},"ats":{},"pasids":[{{"pasid":{},"asid":{}}}]}}"#,
            r % domains,
            r % 2 == 0,
            r % 4096 + 1,
            (r / 16) % 65536
        );
    }
    s.push_str("]}");
    s
}

const SIZES: [(u32, u32); 3] = [(4096, 256), (65536, 4096), (262_144, 4096)];

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn load(b: Bencher, (devices, domains): (u32, u32)) {
    let json = topology_json(devices, domains);
    b.counter(ItemsCount::new(devices as usize))
        .bench_local(|| Topology::from_json(black_box(&json)).map(|t| t.file().devices.len()));
}

/// One of each lookup the lift and lower paths make, per call.
#[divan::bench(args = SIZES, sample_count = 20)]
fn lookups(b: Bencher, (devices, domains): (u32, u32)) {
    let t = Topology::from_json(&topology_json(devices, domains)).unwrap_or_default();
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(7919) % devices;
        let mut n = 0u32;
        let ctx: &dyn Context = black_box(&t);
        n += ctx
            .domain_from_native(ArchId::Vtd, i % domains + 1)
            .unwrap_or(0);
        n += ctx.domain_of_device(i).unwrap_or(0);
        n += u32::from(ctx.ats_enabled(i));
        ctx.tags_of_pasid(
            ArchId::Smmuv3,
            DomainSel::One(i % domains),
            PasidSel::One(i % 4096 + 1),
            &mut |a| n = n.wrapping_add(a),
        );
        ctx.pasids_of_tag(
            ArchId::Smmuv3,
            DomainSel::All,
            i / 16 % 0x1_0000,
            &mut |p| {
                if let PasidSel::One(p) = p {
                    n = n.wrapping_add(p)
                }
            },
        );
        n
    });
}
