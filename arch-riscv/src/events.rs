//! [`EventArch`](iommu_inval_core::arch::EventArch) for the RISC-V IOMMU: the fault-queue record
//! ([`FaultRecord`]) and the page-request-queue record ([`PageRequest`])
//! lifted to and lowered from the neutral [`Event`] (docs/EVENTS.md).
//!
//! CAUSE means what `CAUSES_MEANING` says (the page faults a
//! first-stage translation fault, the guest-page faults a second-stage
//! one, the DDT / PDT causes configuration faults); any other cause
//! (access faults, misaligned, MSI, custom) is [`ConfigReason::Other`],
//! kept by its code. TTYP 1–3 and 5–7 are a transaction at `iotval`
//! (read-for-execute: read and exec; read; write/AMO), privileged when
//! PRIV. For a guest-page fault `iotval2` is the GPA (bits 63:2) and bit 0
//! says the fault was an implicit access of the first-stage walk, bit 1
//! that the access was a write (the model's table walk). The native detail
//! keeps TTYP (bits 5:0), the PID of a record without PV (bits 25:6) and
//! PRIV of a record without a transaction (bit 26).
//! A record with `custom` bits, or an `iotval` without a transaction,
//! does not lift.

use crate::fault::FaultRecord;
use crate::pq::PageRequest;
use crate::RiscV;
use iommu_inval_core::event::{
    fault_code, meaning, Access, ConfigReason, During, Event, Fault, FaultCodes, FaultKind,
    FaultReason, NativeCode, Transaction, Translation,
};
use iommu_inval_core::event_arch;
use iommu_inval_core::{ArchId, Context, FieldValue, LowerError, Stages};

/// The causes with a neutral meaning, the first of each meaning the one a
/// lowering from another architecture writes.
const CAUSES_MEANING: FaultCodes = {
    use ConfigReason::*;
    use FaultReason::Translation as T;
    &[
        (Ok((T, Some(Stages::S1))), &[13, 12, 15]),
        (Ok((T, Some(Stages::S2))), &[21, 20, 23]),
        (Err(DeviceEntryFetch), &[257, 268]),
        (Err(DeviceEntryInvalid), &[258, 259]),
        (Err(Unsupported), &[260]),
        (Err(PasidEntryFetch), &[265, 269]),
        (Err(PasidEntryInvalid), &[266, 267]),
    ]
};

/// A fault-queue record → the model.
fn lift_fault<C: Context + ?Sized>(r: &FaultRecord, ctx: &C) -> Result<Event, LowerError> {
    let g = |n: &str| r.uint(n).unwrap_or(0);
    let ttyp = g("ttyp");
    let transaction = matches!(ttyp, 1..=3 | 5..=7);
    // iotval2 bit 1 (the implicit access was a write) means nothing without bit 0.
    if g("custom") != 0 || (!transaction && g("iotval") != 0) || g("iotval2") & 3 == 2 {
        return Err(LowerError::NoEquivalent(
            "a fault record with custom bits, an iotval without a transaction, or an iotval2 write bit without its implicit access",
        ));
    }
    let cause = g("cause") as u16;
    let iotval2 = g("iotval2");
    let kind = match meaning(CAUSES_MEANING, cause) {
        // Every translation row of the table names its stage.
        Ok((reason, Some(stage))) => FaultKind::Translation(Translation {
            stage,
            reason,
            during: match iotval2 & 1 {
                0 => During::Input,
                _ => During::TableWalk {
                    write: iotval2 & 2 != 0,
                },
            },
            ipa: (stage == Stages::S2 || iotval2 >> 2 != 0).then_some(iotval2 & !3),
            stall: None,
        }),
        Ok((_, None)) | Err(_) if iotval2 != 0 => {
            return Err(LowerError::NoEquivalent(
                "iotval2 of a cause that is no guest-page fault",
            ))
        }
        Ok((_, None)) => FaultKind::Config(ConfigReason::Other),
        Err(c) => FaultKind::Config(c),
    };
    let pv = g("pv") != 0;
    Ok(Event::Fault(Fault {
        device: ctx
            .guest_device(g("did") as u32)
            .ok_or(LowerError::NoEquivalent("device not seen by the guest"))?,
        pasid: pv.then_some(g("pid") as u32),
        transaction: transaction.then(|| Transaction {
            addr: g("iotval"),
            access: Access {
                read: ttyp & 3 != 3,
                write: ttyp & 3 == 3,
                exec: ttyp & 3 == 1,
                privileged: g("priv") != 0,
            },
        }),
        kind,
        fetch_addr: None,
        native: NativeCode {
            arch: ArchId::Riscv,
            code: cause,
            detail: (ttyp
                | if pv { 0 } else { g("pid") << 6 }
                | if transaction { 0 } else { g("priv") << 26 }) as u32,
            raw: [0; 3],
        },
    }))
}

/// The model → a fault-queue record: what it cannot hold (an access not
/// one of read-for-execute, read and write; an IPA not 4-byte aligned; a
/// stall; a fetch address; a PASID-configuration fetch) is
/// `NoEquivalent`.
fn lower_fault(f: &Fault) -> Result<FaultRecord, LowerError> {
    let cause = fault_code(f, ArchId::Riscv, CAUSES_MEANING)?;
    let detail = f.own_detail(ArchId::Riscv);
    if f.pasid.is_some() && detail >> 6 & 0xf_ffff != 0 {
        return Err(LowerError::NoEquivalent("two PASID values"));
    }
    let mut iotval2 = 0;
    if let FaultKind::Translation(t) = f.kind {
        let ipa = t.ipa.unwrap_or(0);
        if t.stall.is_some() || ipa & 3 != 0 {
            return Err(LowerError::NoEquivalent(
                "a stall, or a GPA not of a guest-page fault or not 4-byte aligned",
            ));
        }
        iotval2 = ipa
            | match t.during {
                During::Input => 0,
                During::TableWalk { write } => 1 | u64::from(write) << 1,
                During::ConfigFetch => {
                    return Err(LowerError::NoEquivalent("a PASID-configuration fetch"))
                }
            };
    }
    let native_ttyp = detail & 0x3f;
    let ttyp = match f.transaction.map(|t| t.access) {
        None if f.fetch_addr.is_none() && !matches!(native_ttyp, 1..=3 | 5..=7) => native_ttyp,
        Some(a) if f.fetch_addr.is_none() => {
            let untranslated = match (a.read, a.write, a.exec) {
                (true, false, true) => 1,
                (true, false, false) => 2,
                (false, true, false) => 3,
                _ => {
                    return Err(LowerError::NoEquivalent(
                        "an access not one of read-for-execute, read and write/AMO",
                    ))
                }
            };
            // The translated form when the record was one.
            match native_ttyp {
                5..=7 => untranslated | 4,
                _ => untranslated,
            }
        }
        _ => {
            return Err(LowerError::NoEquivalent(
                "a fetch address, or a transaction type without a transaction",
            ))
        }
    };
    let privileged = match f.transaction {
        Some(t) => t.access.privileged,
        None => detail >> 26 & 1 != 0,
    };
    let (u, b) = (FieldValue::Uint, FieldValue::Bool);
    FaultRecord::lower(
        "fault_record",
        &[
            ("cause", u(cause.into())),
            ("pid", u(f.pasid.map_or(detail >> 6 & 0xf_ffff, u64::from))),
            ("pv", b(f.pasid.is_some())),
            ("priv", b(privileged)),
            ("ttyp", u(ttyp)),
            ("did", u(f.device.into())),
            ("iotval", u(f.transaction.map_or(0, |t| t.addr))),
            ("iotval2", u(iotval2)),
        ],
    )
}

/// Why [`Event::Lost`] has no record.
const LOST: &str = "lost records are fqcsr.fqof / pqcsr.pqof, not a record";

event_arch! { RiscV, FaultRecord, PageRequest, crate::pq::FIELDS, lift_fault, lower_fault, LOST }
