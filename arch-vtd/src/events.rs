//! [`EventArch`](iommu_inval_core::arch::EventArch) for VT-d: the fault record (FRCD_REG, [`FaultRecord`]) and
//! the page request descriptor ([`PageRequest`], `page_req_dsc`) lifted to
//! and lowered from the neutral [`Event`] (docs/EVENTS.md).
//!
//! A fault record's reason (FR) means what `FAULT_CODES` says (a
//! translation fault's reason and stage: second-level for the legacy
//! reasons and the `SM: ... second-level` ones, first-level for the
//! others; or a configuration fault's reason); a reason it does not list is
//! [`ConfigReason::Other`], kept by its code. The request type (T1, T2)
//! is the access: write 00, page request 01 (neither read nor write), read
//! 10, AtomicOp 11 (read and write) (VirtualBox `VTDREQTYPE`; Linux prints
//! "DMA Read" for T1). The native detail keeps what the model has no place
//! for: the address type AT (bits 1:0) and the PASID value of a record
//! without PP (bits 21:2), so that a record lifted and lowered comes back
//! exact. Interrupt-remapping faults and records with F clear do not lift.

use crate::fault::FaultRecord;
use crate::prq::PageRequest;
use crate::Vtd;
use iommu_inval_core::event::{
    fault_code, meaning, Access, ConfigReason, During, Event, Fault, FaultCodes, FaultKind,
    FaultReason, NativeCode, Transaction, Translation,
};
use iommu_inval_core::event_arch;
use iommu_inval_core::{ArchId, Context, FieldValue, LowerError, NativeCommand, Stages};

/// The meaning of each fault reason (VT-d §7.1.3 table, the descriptions
/// Linux prints: docs/EVENTS.md), the first of each meaning the one a
/// lowering from another architecture writes.
const FAULT_CODES: FaultCodes = {
    use ConfigReason::*;
    use FaultReason::*;
    const S1: Option<Stages> = Some(Stages::S1);
    const S2: Option<Stages> = Some(Stages::S2);
    &[
        (Ok((Translation, S1)), &[0x71, 0x72]),
        (Ok((Translation, S2)), &[0x07, 0x0c, 0x7a, 0x7b]),
        (
            Ok((Permission, S1)),
            &[0x85, 0x75, 0x76, 0x77, 0x81, 0x82, 0x86],
        ),
        (Ok((Permission, S2)), &[0x05, 0x06, 0x79]),
        (Ok((AddressSize, S1)), &[0x80, 0x74, 0x83]),
        (Ok((AddressSize, S2)), &[0x04, 0x84]),
        (Ok((WalkAbort, S1)), &[0x70, 0x73]),
        (Ok((WalkAbort, S2)), &[0x78]),
        (Ok((AccessFlag, S1)), &[0x90]),
        (Ok((AccessFlag, S2)), &[0x7c]),
        (
            Err(DeviceEntryInvalid),
            &[0x02, 0x01, 0x03, 0x0a, 0x0b, 0x39, 0x3a, 0x41, 0x42, 0x43],
        ),
        (Err(DeviceEntryFetch), &[0x09, 0x08, 0x30, 0x38, 0x40]),
        (Err(TranslatedForbidden), &[0x0d, 0x44]),
        (Err(Unsupported), &[0x31, 0x32, 0x47]),
        (Err(BadPasid), &[0x46, 0x45]),
        (Err(PasidEntryFetch), &[0x58, 0x50]),
        (Err(PasidEntryInvalid), &[0x59, 0x51, 0x52, 0x5a, 0x5b]),
    ]
};

/// A fault record → the model.
fn lift_fault<C: Context + ?Sized>(r: &FaultRecord, ctx: &C) -> Result<Event, LowerError> {
    if r.op() != "dma_fault" || r.flag("f") != Some(true) {
        return Err(LowerError::NoEquivalent(
            "an interrupt-remapping fault, or a record with F clear",
        ));
    }
    let g = |n: &str| r.uint(n).unwrap_or(0);
    let device = ctx
        .guest_device(g("sid") as u32)
        .ok_or(LowerError::NoEquivalent("device not seen by the guest"))?;
    let pp = g("pp") != 0;
    let (t1, t2) = (g("t1") != 0, g("t2") != 0);
    let kind = match meaning(FAULT_CODES, g("fr") as u16) {
        // Every translation row of the table names its stage.
        Ok((reason, stage)) => FaultKind::Translation(Translation {
            stage: stage.unwrap_or(Stages::S2),
            reason,
            during: During::Input,
            ipa: None,
            stall: None,
        }),
        Err(c) => FaultKind::Config(c),
    };
    Ok(Event::Fault(Fault {
        device,
        pasid: pp.then_some(g("pv") as u32),
        transaction: Some(Transaction {
            addr: g("fi"),
            access: Access {
                read: t1,
                write: t1 == t2,
                exec: g("exe") != 0,
                privileged: g("priv") != 0,
            },
        }),
        kind,
        fetch_addr: None,
        native: NativeCode {
            arch: ArchId::Vtd,
            code: g("fr") as u16,
            detail: (g("at") | if pp { 0 } else { g("pv") << 2 }) as u32,
            raw: [0; 3],
        },
    }))
}

/// The model → a fault record: what FRCD cannot hold (no request address,
/// an address not a page, a table walk, an IPA, a stall, a fetch address)
/// is `NoEquivalent`.
fn lower_fault(f: &Fault) -> Result<FaultRecord, LowerError> {
    let fr = fault_code(f, ArchId::Vtd, FAULT_CODES)?;
    if let FaultKind::Translation(t) = f.kind {
        if t.during != During::Input || t.ipa.is_some() || t.stall.is_some() {
            return Err(LowerError::NoEquivalent(
                "a VT-d fault record has no table walk class, IPA or stall",
            ));
        }
    }
    let (Some(t), None) = (f.transaction, f.fetch_addr) else {
        return Err(LowerError::NoEquivalent(
            "a VT-d fault record names the request's page, and no fetch address",
        ));
    };
    let detail = f.own_detail(ArchId::Vtd);
    if f.pasid.is_some() && detail >> 2 != 0 {
        return Err(LowerError::NoEquivalent("two PASID values"));
    }
    let (u, b) = (FieldValue::Uint, FieldValue::Bool);
    let a = t.access;
    FaultRecord::lower(
        "dma_fault",
        &[
            ("fi", u(t.addr)),
            ("sid", u(f.device.into())),
            ("t1", b(a.read)),
            ("t2", b(a.read == a.write)),
            ("priv", b(a.privileged)),
            ("exe", b(a.exec)),
            ("pp", b(f.pasid.is_some())),
            ("fr", u(fr.into())),
            ("pv", u(f.pasid.map_or(detail >> 2, u64::from))),
            ("at", u(detail & 3)),
            ("f", b(true)),
        ],
    )
}

/// Why [`Event::Lost`] has no record.
const LOST: &str = "lost records are FSTS.PFO / PRS.PRO, not a record";

event_arch! { Vtd, FaultRecord, PageRequest, crate::prq::FIELDS, lift_fault, lower_fault, LOST }
