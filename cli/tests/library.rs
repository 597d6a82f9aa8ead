//! The library as an emulator uses it: `op()` / `words()` with
//! `NativeCommand` in scope, the one-call `convert`, and `FixedBuf`s sized
//! by each architecture's `MAX_LOWERED`.

// The binary's private modules, compiled from source.
#[allow(dead_code)]
#[path = "../src/app/mod.rs"]
mod app;

#[test]
fn op_and_words_with_the_trait() {
    // The command methods are `NativeCommand`'s (no inherent copies).
    use iommu_inval::core::NativeCommand;
    let s = iommu_inval::arm::Command::decode(&[0x0006_0001_0000_0011, 0]).unwrap();
    assert_eq!((s.op(), s.words()), ("CMD_TLBI_NH_ASID", 2));
    let a = iommu_inval::amd::Command::decode(&[0x8000_0000_0000_0000, 0]).unwrap();
    assert_eq!((a.op(), a.words()), ("INVALIDATE_IOMMU_ALL", 2));
    let v = iommu_inval::vtd::Command::decode(&[0x12, 0, 0, 0]).unwrap();
    assert_eq!((v.op(), v.words()), ("iotlb_inv_dsc", 4));
}

#[test]
fn facade_convert_is_what_the_cli_prints() {
    use app::text::{format_words, parse_hex_line};
    use iommu_inval::prelude::*;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let topo = std::fs::read_to_string(root.join("examples/topology.json")).unwrap();
    let ctx = Topology::from_json(&topo).unwrap();
    for (from, to, file) in [
        (ArchId::Smmuv3, ArchId::Vtd, "examples/smmuv3.cmds"),
        (ArchId::Vtd, ArchId::Amd, "examples/vtd.cmds"),
        (ArchId::Amd, ArchId::Smmuv3, "examples/amd.cmds"),
    ] {
        let (f, t) = (Arch::new(from), Arch::new(to));
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut lib = String::new();
        for line in text.lines().filter(|l| !app::text::is_skippable(l)) {
            let (w, n) = parse_hex_line(line, 2).unwrap();
            let cmd = f.decode(&w[..n]).unwrap();
            let mut out = Vec::new();
            let Ok(c) = convert(&cmd, &t, &ctx, &mut out) else {
                continue;
            };
            assert_eq!(c.outcome().emitted, out.len());
            for o in &out {
                let (w, n) = o.to_words();
                lib.push_str(&format_words(&w[..n]));
                lib.push('\n');
            }
        }
        let cli = std::process::Command::new(env!("CARGO_BIN_EXE_iommu-inval"))
            .args(["convert", "--from", from.name(), "--to", to.name()])
            .args(["--topology", "examples/topology.json"])
            .current_dir(&root)
            .stdin(std::fs::File::open(root.join(file)).unwrap())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&cli.stdout), lib, "{file}");
    }
}

#[test]
fn max_lowered_buffers_take_a_whole_lowering() {
    use iommu_inval::core::arch::Arch;
    use iommu_inval::core::model::{Caches, DeviceSel, DomainSel, Inval, Stages};
    use iommu_inval::core::range::AddrRange;
    use iommu_inval::core::{FixedBuf, IdentityContext, Op};
    use iommu_inval::Target;
    // A wide, scattered invalidation of every cache: the kind that emits most.
    let op = Op::Inval(
        Inval::new(Caches::all())
            .stage(Stages::all())
            .domain(DomainSel::One(1))
            .device(DeviceSel::Range { first: 0, last: 7 })
            .range(AddrRange::new(0x1000, 0x7f_f000).unwrap()),
    );
    let mut a: FixedBuf<
        iommu_inval::arm::Command,
        { <iommu_inval::arm::Smmuv3 as Arch>::MAX_LOWERED },
    > = FixedBuf::new();
    let mut v: FixedBuf<
        iommu_inval::vtd::Command,
        { <iommu_inval::vtd::Vtd as Arch>::MAX_LOWERED },
    > = FixedBuf::new();
    let mut m: FixedBuf<
        iommu_inval::amd::Command,
        { <iommu_inval::amd::AmdVi as Arch>::MAX_LOWERED },
    > = FixedBuf::new();
    let ctx = IdentityContext;
    assert!(Target::<iommu_inval::arm::Smmuv3>::default()
        .lower(&op, &ctx, &mut a)
        .is_ok());
    assert!(Target::<iommu_inval::vtd::Vtd>::default()
        .lower(&op, &ctx, &mut v)
        .is_ok());
    assert!(Target::<iommu_inval::amd::AmdVi>::default()
        .lower(&op, &ctx, &mut m)
        .is_ok());
    assert!(a.len() > 1 && v.len() > 1 && m.len() > 1);
}

#[test]
fn the_prelude_leaves_one_op_and_words_on_an_arch_command() {
    // With the whole prelude imported, `op` / `words` on an architecture's
    // command are `NativeCommand`'s alone (the facade's trait does not
    // repeat them), and a `NativeAny` names its op itself.
    use iommu_inval::prelude::*;
    let s = iommu_inval::arm::Command::decode(&[0x0006_0001_0000_0011, 0]).unwrap();
    assert_eq!((s.op(), s.words()), ("CMD_TLBI_NH_ASID", 2));
    let any = Arch::new(ArchId::Vtd).decode(&[0x12, 0, 0, 0]).unwrap();
    assert_eq!((any.op(), any.to_words().1), ("iotlb_inv_dsc", 4));
}
use iommu_inval::core::Flags;
