//! The other direction: what an IOMMU's event, fault and page-request
//! records say, in architecture-neutral terms, and the bookkeeping that
//! links a guest's page response to the host's page request it answers.
//!
//! * [`Event`]: a [`Fault`] (of translation or of configuration,
//!   [`FaultKind`]), a [`PageRequest`], or [`Event::Lost`] (records dropped
//!   on overflow). A fault keeps its native reason ([`NativeCode`]) so that
//!   a record lifted and lowered on the same architecture comes back exact.
//! * The contract an architecture implements for its records is
//!   [`EventArch`](crate::arch::EventArch): its record types (codecs on
//!   [`NativeCommand`]), `lift_record` (host
//!   [`Record`] → model, device ids through [`Context::guest_device`]) and
//!   `lower_record` (model → record; what the record cannot hold is
//!   [`LowerError::NoEquivalent`](crate::LowerError), never dropped).
//! * [`PageRequestGroups`]: the outstanding page request groups, so that a
//!   guest's [`PageResponse`] becomes the host's response for the same
//!   group, each group answered once.
//!
//! * [`RecordQueue`]: the production rule of a guest's record queue (room,
//!   overflow, its acknowledgement, a failed write and the abort it flags,
//!   the interrupt, the automatic page response), over the command queues' ring or other [`RecordSlots`];
//!   [`RecordQueue::offer`] says what became of a record ([`Delivery`]).
//!
//! A page request links to its response by (device, PASID when the
//! response must carry it, page request group index): the PCIe PRG
//! Response of the group's last request (PCIe "Page Request Group
//! Response"; docs/EVENTS.md).
//!
//! [`Context::guest_device`]: crate::Context::guest_device

use crate::device::ProduceError;
use crate::model::{PageResponse, RespCode, Stages};
use crate::native::{ArchId, NativeCommand};
use crate::queue::{MemError, QueueMemory};
use crate::record::FormatRecord;
use crate::ring::{Ring, RingRegs, MAX_SLOT_WORDS};

/// The access a faulting transaction or a page request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Access {
    /// A read (SMMU RnW = 1, PCIe R).
    pub read: bool,
    /// A write (SMMU RnW = 0, PCIe W).
    pub write: bool,
    /// An instruction fetch (SMMU InD, PCIe Execute Requested).
    pub exec: bool,
    /// Privileged (SMMU PnU, PCIe Privileged Mode Requested).
    pub privileged: bool,
}

/// The native reason of a record, kept beside its neutral meaning: the
/// event number, fault reason or cause of `arch`, and its implementation
/// defined detail (SMMU `Reason`), 0 when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NativeCode {
    /// The architecture whose code this is.
    pub arch: ArchId,
    /// Event number (SMMU), fault reason (VT-d FR), event code (AMD-Vi),
    /// CAUSE (RISC-V).
    pub code: u16,
    /// Implementation defined detail (SMMU `Reason`), 0 if none.
    pub detail: u32,
    /// The record's words 1 to 3 where no text places their fields
    /// (SMMUv3 F_TLB_CONFLICT, IHI0070 §7.3.17), kept so that the record
    /// lowers back on its architecture; zero otherwise.
    pub raw: [u64; 3],
}

/// Why a translation failed, in neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum FaultReason {
    /// No valid translation (out of range, not present).
    Translation,
    /// An output address beyond the stage's address size.
    AddressSize,
    /// Access flag clear.
    AccessFlag,
    /// The permissions forbid the access.
    Permission,
    /// The table walk itself was aborted (external abort on a descriptor).
    WalkAbort,
}

/// What the failing stage was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum During {
    /// Translating the transaction's address (SMMU CLASS = IN).
    Input,
    /// Walking the first stage's tables (SMMU CLASS = TT): `write` when a
    /// descriptor write (an access-flag or dirty update) faulted.
    TableWalk {
        /// The walk's own access was a write (SMMU TTRnW = 0).
        write: bool,
    },
    /// Fetching the PASID-level configuration (SMMU CLASS = CD).
    ConfigFetch,
}

/// A transaction the IOMMU refused: who, what it was, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Fault {
    /// Requester (the guest's id once lifted).
    pub device: u32,
    /// PASID of the transaction, if it had one (or the one the
    /// configuration names).
    pub pasid: Option<u32>,
    /// The transaction's address and access, when the record has them.
    pub transaction: Option<Transaction>,
    /// Why: translation or configuration.
    pub kind: FaultKind,
    /// The physical address of the descriptor or configuration entry
    /// whose fetch aborted, when recorded.
    pub fetch_addr: Option<u64>,
    /// The native reason.
    pub native: NativeCode,
}

impl Fault {
    /// The native detail when the fault is `arch`'s own (0 otherwise): what
    /// that architecture's record keeps beyond the model, written back by
    /// its lowering.
    pub fn own_detail(&self, arch: ArchId) -> u64 {
        if self.native.arch == arch {
            u64::from(self.native.detail)
        } else {
            0
        }
    }
}

/// What a faulting transaction was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Transaction {
    /// Its input address.
    pub addr: u64,
    /// Its access.
    pub access: Access,
}

/// Why a [`Fault`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum FaultKind {
    /// Translation failed at one stage.
    Translation(Translation),
    /// The device's or PASID's configuration refused the transaction
    /// before translation.
    Config(ConfigReason),
}

/// A failed translation: the stage, the reason, what the stage was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Translation {
    /// The stage that faulted ([`Stages::S1`] or [`Stages::S2`]).
    pub stage: Stages,
    /// Why.
    pub reason: FaultReason,
    /// What the stage was doing.
    pub during: During,
    /// The intermediate address (a stage-2 fault), when recorded.
    pub ipa: Option<u64>,
    /// The stall tag when the transaction is stalled, waiting for a
    /// resume ([`Op::Resume`](crate::Op::Resume)); `None` when it was
    /// terminated.
    pub stall: Option<u16>,
}

/// Why a device's or PASID's configuration refused a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum ConfigReason {
    /// An unsupported transaction type (SMMU F_UUT).
    Unsupported,
    /// The device id is out of range (SMMU C_BAD_STREAMID).
    BadDevice,
    /// Fetching the device's entry aborted (SMMU F_STE_FETCH).
    DeviceEntryFetch,
    /// The device's entry is invalid (SMMU C_BAD_STE).
    DeviceEntryInvalid,
    /// Transactions without PASID are disabled for the device (SMMU
    /// F_STREAM_DISABLED).
    NoPasidDisabled,
    /// A translated (ATS) transaction is not allowed (SMMU
    /// F_TRANSL_FORBIDDEN).
    TranslatedForbidden,
    /// The PASID is out of range or PASIDs are disabled (SMMU
    /// C_BAD_SUBSTREAMID).
    BadPasid,
    /// Fetching the PASID's entry aborted (SMMU F_CD_FETCH).
    PasidEntryFetch,
    /// The PASID's entry is invalid (SMMU C_BAD_CD).
    PasidEntryInvalid,
    /// Another configuration fault, named only by its [`NativeCode`].
    Other,
}

/// A PCIe page request (PRI): a device asks for a page to be made present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PageRequest {
    /// Requester (the guest's id once lifted).
    pub device: u32,
    /// PASID of the request, if it had one.
    pub pasid: Option<u32>,
    /// Page address (4 KiB aligned).
    pub addr: u64,
    /// The access requested.
    pub access: Access,
    /// Page request group index (9 bits).
    pub prg_index: u16,
    /// Last request of its group: the group's response is due.
    pub last: bool,
    /// Whether the group's response must carry the PASID (PCIe PRG
    /// Response PASID Required; SMMUv3 always echoes the request's).
    pub response_pasid: bool,
    /// Private data to echo in the response (VT-d), if any.
    pub priv_data: Option<[u64; 2]>,
}

impl PageRequest {
    /// A Stop Marker: last, neither read nor write, with a PASID (PCIe;
    /// IHI0070 §8). It needs no response.
    pub const fn is_stop_marker(&self) -> bool {
        self.last && !self.access.read && !self.access.write && self.pasid.is_some()
    }
}

/// What a host IOMMU reports, in neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Event {
    /// A translation or configuration fault.
    Fault(Fault),
    /// A page request.
    PageRequest(PageRequest),
    /// Records were lost (the producer's queue overflowed).
    Lost,
}

/// A record of an architecture ([`EventArch`](crate::arch::EventArch)):
/// an event (fault) record, or a page request record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Record<E, P> {
    /// An event queue, fault or event log record.
    Event(E),
    /// A page request queue record.
    PageRequest(P),
}

/// One page request group: its requester, PASID and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GroupKey {
    /// Requester.
    pub device: u32,
    /// PASID, if the group's requests had one.
    pub pasid: Option<u32>,
    /// Page request group index.
    pub prg_index: u16,
}

impl GroupKey {
    /// The group of `req`.
    pub const fn of(req: &PageRequest) -> Self {
        GroupKey {
            device: req.device,
            pasid: req.pasid,
            prg_index: req.prg_index,
        }
    }
}

/// Why [`PageRequestGroups`] refused a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// A response (or a time-out) for a group that was never outstanding.
    #[error("page request group not outstanding")]
    NotOutstanding,
    /// A second response for a group already answered.
    #[error("page request group answered twice")]
    AnsweredTwice,
    /// A last request for a group still outstanding (the device reused
    /// its index before the response).
    #[error("page request group already outstanding")]
    AlreadyOutstanding,
    /// Every slot holds an outstanding group.
    #[error("page request group table full")]
    Full,
}

/// A slot of [`PageRequestGroups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot<T> {
    Free,
    /// Outstanding: the guest's key, the host's request (its last, or,
    /// until that arrives, a discarded one with Last = 0), its tag, and the
    /// code the group owes whatever the guest answers
    /// ([`PageRequestGroups::owe`]).
    Outstanding(GroupKey, PageRequest, T, Option<RespCode>),
    /// Answered (kept to report a second answer), with its age.
    Answered(GroupKey, u64),
}

/// The outstanding page request groups of a VMM, at most `N`, without
/// allocating: [`insert`](Self::insert) each forwarded request (the host's,
/// and the guest's view of it), [`respond`](Self::respond) with the guest's
/// response to get the host's, [`expire`](Self::expire) a group the guest
/// does not answer.
///
/// Only the last request of a group is kept: the response is per group and
/// due once its last request has arrived (requests before it need no
/// entry). Stop markers need no response and are not kept. A request the
/// guest's queue discarded and that owes its group a response although it
/// is not the last ([`owe`](Self::owe): SMMUv3's Response Failure to every
/// request, IHI0070 §8.2) keeps its group too, and the group is then closed
/// with that code, once.
///
/// `T` is what the host needs beside the request to answer the group, kept
/// with it: nothing (`()`, the default) when the host's response names the
/// group by its ids, iommufd's `cookie` (a `u32`) when the host's response
/// names it by the cookie of its last request (`insert_tagged` /
/// `respond_tagged`).
///
/// ```
/// use iommu_inval_core::event::{Access, GroupKey, PageRequest, PageRequestGroups};
/// use iommu_inval_core::{PageResponse, RespCode};
/// let host = PageRequest {
///     device: 0x300, pasid: Some(4), addr: 0x1000, access: Access { read: true, ..Access::default() },
///     prg_index: 7, last: true, response_pasid: true, priv_data: None,
/// };
/// let guest = PageRequest { device: 0x8, ..host };
/// let mut t = PageRequestGroups::<16>::new();
/// t.insert(&host, &guest).unwrap();
/// let resp = PageResponse {
///     device: 0x8, pasid: Some(4), prg_index: 7, code: RespCode::Success,
///     last: true, priv_data: None, guest: true,
/// };
/// let h = t.respond(&resp).unwrap();
/// assert_eq!((h.device, h.pasid, h.prg_index, h.code), (0x300, Some(4), 7, RespCode::Success));
/// assert!(t.respond(&resp).is_err()); // answered twice
/// ```
#[derive(Debug, Clone)]
pub struct PageRequestGroups<const N: usize, T: Copy = ()> {
    slots: [Slot<T>; N],
    age: u64,
}

impl<const N: usize, T: Copy> Default for PageRequestGroups<N, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PageRequestGroups<N> {
    /// Record a forwarded request: `host` as the host reported it, `guest`
    /// as it was written to the guest's queue (the guest's ids). `Ok(true)`
    /// when the group is now outstanding, `Ok(false)` for a request that
    /// needs no entry (not the last of its group, or a Stop Marker).
    pub fn insert(&mut self, host: &PageRequest, guest: &PageRequest) -> Result<bool, GroupError> {
        self.insert_tagged(host, guest, ())
    }

    /// The host's response to the group `resp` (a guest's response)
    /// answers: the host's device, PASID, index and private data, the
    /// guest's code (the code it owes, if [`owe`](PageRequestGroups::owe)d). The group is then answered; a second response is
    /// [`GroupError::AnsweredTwice`], one for a group never outstanding
    /// [`GroupError::NotOutstanding`].
    pub fn respond(&mut self, resp: &PageResponse) -> Result<PageResponse, GroupError> {
        self.respond_tagged(resp).map(|(r, ())| r)
    }

    /// Time out the outstanding group `key` (the guest's ids) with `code`
    /// (the code it owes, if [`owe`](PageRequestGroups::owe)d): the host's
    /// response, as [`respond`](Self::respond) gives it.
    pub fn expire(&mut self, key: &GroupKey, code: RespCode) -> Result<PageResponse, GroupError> {
        self.expire_tagged(key, code).map(|(r, ())| r)
    }
}

impl<const N: usize, T: Copy> PageRequestGroups<N, T> {
    /// An empty table.
    pub const fn new() -> Self {
        PageRequestGroups {
            slots: [Slot::Free; N],
            age: 0,
        }
    }

    /// The number of outstanding groups.
    pub fn outstanding(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Outstanding(..)))
            .count()
    }

    /// Whether `resp`, a guest's response, answers the group `key`: same
    /// device and index, and the same PASID (a response without PASID
    /// answers a group whose response need not carry it).
    fn answers(key: &GroupKey, host: &PageRequest, resp: &PageResponse) -> bool {
        key.device == resp.device
            && key.prg_index == resp.prg_index
            && (key.pasid == resp.pasid || (resp.pasid.is_none() && !host.response_pasid))
    }

    /// [`insert`](PageRequestGroups::insert), keeping `tag` with the
    /// group (given back by [`respond_tagged`](Self::respond_tagged)).
    pub fn insert_tagged(
        &mut self,
        host: &PageRequest,
        guest: &PageRequest,
        tag: T,
    ) -> Result<bool, GroupError> {
        if !guest.last || guest.is_stop_marker() {
            return Ok(false);
        }
        let key = GroupKey::of(guest);
        match self.outstanding_mut(&key) {
            // The last request of a group kept owing: it is kept instead.
            Some(Slot::Outstanding(_, h, t, _)) if !h.last => {
                (*h, *t) = (*host, tag);
                Ok(true)
            }
            Some(_) => Err(GroupError::AlreadyOutstanding),
            None => self.keep(key, host, tag, None),
        }
    }

    /// A request the guest's queue discarded and whose group its IOMMU
    /// answers `code` by itself ([`Delivery::response`]): `host` as the
    /// host reported it, `guest` as forwarded, `tag` as for
    /// [`insert_tagged`](Self::insert_tagged).
    ///
    /// * The last request of its group: the group is due now; the host's
    ///   response, as [`respond`](PageRequestGroups::respond) gives it
    ///   (the group need not have been inserted).
    /// * A request with Last = 0 (SMMUv3 answers every request Response
    ///   Failure when its PRI queue is disabled or its write aborted,
    ///   IHI0070 §8.2): `None`; the group is kept outstanding, owing
    ///   `code`. Its last request is [`insert`](PageRequestGroups::insert)ed
    ///   as usual when it arrives, and the host's response that
    ///   [`respond`](PageRequestGroups::respond) or
    ///   [`expire`](PageRequestGroups::expire) then gives carries `code`,
    ///   whatever the guest answers, once.
    ///
    /// A group already owing keeps its first code. A Stop Marker is owed
    /// nothing (`None`).
    pub fn owe(
        &mut self,
        host: &PageRequest,
        guest: &PageRequest,
        code: RespCode,
        tag: T,
    ) -> Result<Option<(PageResponse, T)>, GroupError> {
        if guest.is_stop_marker() {
            return Ok(None);
        }
        let key = GroupKey::of(guest);
        match self.outstanding_mut(&key) {
            Some(Slot::Outstanding(_, h, t, owed)) => {
                owed.get_or_insert(code);
                if guest.last {
                    (*h, *t) = (*host, tag);
                }
            }
            _ => {
                self.keep(key, host, tag, Some(code))?;
            }
        }
        match guest.last {
            true => self.expire_tagged(&key, code).map(Some),
            false => Ok(None),
        }
    }

    /// The outstanding slot of group `key`.
    fn outstanding_mut(&mut self, key: &GroupKey) -> Option<&mut Slot<T>> {
        self.slots
            .iter_mut()
            .find(|s| matches!(s, Slot::Outstanding(k, ..) if k == key))
    }

    /// Keep group `key` (not outstanding) in a free slot, or the oldest
    /// answered one.
    fn keep(
        &mut self,
        key: GroupKey,
        host: &PageRequest,
        tag: T,
        owed: Option<RespCode>,
    ) -> Result<bool, GroupError> {
        let mut free = None;
        let mut oldest: Option<(usize, u64)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            match s {
                // A new group with the index of an answered one: its slot.
                Slot::Answered(k, _) if *k == key => free = free.or(Some(i)),
                Slot::Answered(_, age) if oldest.is_none_or(|(_, a)| *age < a) => {
                    oldest = Some((i, *age))
                }
                Slot::Free if free.is_none() => free = Some(i),
                _ => {}
            }
        }
        let i = free.or(oldest.map(|(i, _)| i)).ok_or(GroupError::Full)?;
        if let Some(s) = self.slots.get_mut(i) {
            *s = Slot::Outstanding(key, *host, tag, owed);
        }
        Ok(true)
    }

    /// [`respond`](PageRequestGroups::respond), with the tag the group was
    /// inserted with.
    pub fn respond_tagged(&mut self, resp: &PageResponse) -> Result<(PageResponse, T), GroupError> {
        self.close(|k, h| Self::answers(k, h, resp), resp.code, resp)
    }

    /// [`expire`](PageRequestGroups::expire), with the tag the group was
    /// inserted with.
    pub fn expire_tagged(
        &mut self,
        key: &GroupKey,
        code: RespCode,
    ) -> Result<(PageResponse, T), GroupError> {
        let probe = PageResponse {
            device: key.device,
            pasid: key.pasid,
            prg_index: key.prg_index,
            code,
            last: true,
            priv_data: None,
            guest: key.pasid.is_some(),
        };
        self.close(|k, _| k == key, code, &probe)
    }

    /// Close the first outstanding group `matches` selects.
    fn close(
        &mut self,
        matches: impl Fn(&GroupKey, &PageRequest) -> bool,
        code: RespCode,
        resp: &PageResponse,
    ) -> Result<(PageResponse, T), GroupError> {
        self.age += 1;
        let age = self.age;
        let mut answered = false;
        for s in self.slots.iter_mut() {
            match *s {
                Slot::Outstanding(k, host, tag, owed) if matches(&k, &host) => {
                    *s = Slot::Answered(k, age);
                    let code = owed.unwrap_or(code);
                    let r = PageResponse {
                        device: host.device,
                        pasid: host.pasid,
                        prg_index: host.prg_index,
                        code,
                        last: true,
                        priv_data: host.priv_data,
                        guest: host.pasid.is_some(),
                    };
                    return Ok((r, tag));
                }
                Slot::Answered(k, _)
                    if k.device == resp.device && k.prg_index == resp.prg_index =>
                {
                    answered |= k.pasid == resp.pasid || resp.pasid.is_none();
                }
                _ => {}
            }
        }
        Err(if answered {
            GroupError::AnsweredTwice
        } else {
            GroupError::NotOutstanding
        })
    }
}

/// The neutral meaning of a native fault code: a translation fault's
/// reason and stage (`None`: the record says which), or a configuration
/// fault's reason.
pub type Meaning = Result<(FaultReason, Option<Stages>), ConfigReason>;

/// An architecture's table of neutral meanings and the native fault codes
/// that have each, the first of them the one a lowering from another
/// architecture writes (docs/EVENTS.md). A code the table does not list
/// means [`ConfigReason::Other`].
pub type FaultCodes = &'static [(Meaning, &'static [u16])];

/// The meaning of native code `code` in `codes`.
pub fn meaning(codes: FaultCodes, code: u16) -> Meaning {
    codes
        .iter()
        .find(|m| m.1.contains(&code))
        .map_or(Err(ConfigReason::Other), |m| m.0)
}

/// The native code of `arch` that `f` lowers to: its own native code when
/// `f` comes from `arch` and the code still means what `f` says, else the
/// first code of `codes` with `f`'s meaning; [`ConfigReason::Other`] only
/// through its own code. None: [`LowerError::NoEquivalent`](crate::LowerError).
pub fn fault_code(f: &Fault, arch: ArchId, codes: FaultCodes) -> Result<u16, crate::LowerError> {
    let fits = |m: Meaning| match (m, f.kind) {
        (Ok((r, s)), FaultKind::Translation(t)) => r == t.reason && s.is_none_or(|s| s == t.stage),
        (Err(c), FaultKind::Config(k)) => c == k,
        _ => false,
    };
    if f.native.arch == arch && fits(meaning(codes, f.native.code)) {
        return Ok(f.native.code);
    }
    codes
        .iter()
        .find(|m| m.0 != Err(ConfigReason::Other) && fits(m.0))
        .and_then(|m| m.1.first().copied())
        .ok_or(crate::LowerError::NoEquivalent(
            "fault with no code of the target architecture",
        ))
}

/// Writes `impl EventArch` for an architecture:
/// `event_arch!(Arch, EventRecord, PageRequestRecord, FIELDS, lift, lower, LOST)`,
/// from the lift and lower of its event record (`lift: fn(&EventRecord,
/// &C) -> Result<Event, LowerError>`, `lower: fn(&Fault) ->
/// Result<EventRecord, LowerError>`) and the
/// [`PageRequestFields`](crate::record::PageRequestFields) of its page
/// request record; [`Event::Lost`] lowers to `NoEquivalent(LOST)` (an
/// overflow is a register flag, not a record).
#[macro_export]
macro_rules! event_arch {
    ($arch:ty, $event:ty, $page:ty, $fields:expr, $lift:path, $lower:path, $lost:expr) => {
        impl $crate::arch::EventArch for $arch {
            type EventRecord = $event;
            type PageRequestRecord = $page;

            fn lift_record<C: $crate::Context + ?Sized>(
                rec: &$crate::event::Record<$event, $page>,
                ctx: &C,
            ) -> ::core::result::Result<$crate::event::Event, $crate::LowerError> {
                match rec {
                    $crate::event::Record::Event(r) => $lift(r, ctx),
                    $crate::event::Record::PageRequest(r) => {
                        $fields.lift(r, ctx).map($crate::event::Event::PageRequest)
                    }
                }
            }
            fn lower_record<C: $crate::Context + ?Sized>(
                event: &$crate::event::Event,
                _ctx: &C,
            ) -> ::core::result::Result<$crate::event::Record<$event, $page>, $crate::LowerError>
            {
                match event {
                    $crate::event::Event::PageRequest(q) => {
                        $fields.lower(q).map($crate::event::Record::PageRequest)
                    }
                    $crate::event::Event::Fault(f) => $lower(f).map($crate::event::Record::Event),
                    _ => Err($crate::LowerError::NoEquivalent($lost)),
                }
            }
        }
    };
}

/// What the producer did with a record offered to a guest queue
/// ([`RecordQueue::offer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Written in the next slot (a ring's tail); the producer moved past
    /// it.
    Written,
    /// Discarded: the queue is disabled (no overflow).
    Disabled,
    /// Discarded: the queue was full. `flagged`: this record raised the
    /// overflow (none was pending).
    Full {
        /// The overflow was raised by this record.
        flagged: bool,
    },
    /// Discarded: an overflow is pending and the queue takes no record
    /// until the guest acknowledges it.
    Overflowed,
    /// Discarded: writing the slot failed. The queue flags it where its
    /// architecture names a flag ([`RecordQueue::raise_abort`]: SMMUv3
    /// GERROR.EVENTQ_ABT_ERR / PRIQ_ABT_ERR, RISC-V `fqmf` / `pqmf`) and
    /// then takes nothing until the guest acknowledges it ([`Fate::Stopped`]).
    Aborted(MemError),
    /// Discarded: a failed write is flagged and not yet acknowledged
    /// ([`RecordQueue::abort_pending`]): "Delivery into the Event queue
    /// stops when an abort is flagged" (IHI0070 §7.5); RISC-V: "no more
    /// fault records are generated until software clears the `fqmf` bit".
    Stopped,
}

/// What became of a record offered to a guest queue ([`RecordQueue::offer`]):
/// what the producer did, whether the architecture's interrupt for the
/// queue is raised now, and the automatic page response the device is owed
/// when a last page request was discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// What the producer did.
    pub fate: Fate,
    /// The queue's interrupt (or MSI) is raised now, by the architecture's
    /// rule and its enable and mask bits; for an SMMUv3 [`Fate::Aborted`],
    /// the GERROR interrupt (IHI0070 §7.5.1).
    pub interrupt: bool,
    /// The PRG response the IOMMU itself sends for a discarded page request
    /// (last in its group, or any for SMMUv3's Response Failure; never a
    /// Stop Marker), in the guest's ids: a VMM answers the host with it
    /// through [`PageRequestGroups::owe`] (due at once for a last request;
    /// kept with its group until its last request for one with Last = 0).
    pub response: Option<PageResponse>,
}

impl Fate {
    /// The code of the PRG response an IOMMU sends by itself for a page
    /// request discarded with this fate: Success when the queue was full
    /// or overflowed, so that the device retries (IHI0070 §8.1; VT-d
    /// §7.4.1 Table 31; RISC-V IOMMU "PCIe ATS Page Request handling"),
    /// Failure when the queue is disabled, its write aborted or an abort is
    /// pending (IHI0070 §8.2: PRIQEN = 0 or PRIQ_ABT_ERR active; RISC-V:
    /// `pqen`, `pqon`, `pqmf`); `None` when written.
    pub const fn response_code(&self) -> Option<RespCode> {
        match self {
            Fate::Written => None,
            Fate::Full { .. } | Fate::Overflowed => Some(RespCode::Success),
            Fate::Disabled | Fate::Aborted(_) | Fate::Stopped => Some(RespCode::Failure),
        }
    }
}

impl Delivery {
    /// Whether the record was written.
    pub const fn written(&self) -> bool {
        matches!(self.fate, Fate::Written)
    }
}

/// `written`, `dropped: queue disabled`, `dropped: queue full, overflow
/// raised`, `dropped: queue full`, `dropped: overflow pending`, `dropped:
/// <memory error>`, `dropped: write abort pending`.
impl core::fmt::Display for Fate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fate::Written => f.write_str("written"),
            Fate::Disabled => f.write_str("dropped: queue disabled"),
            Fate::Full { flagged: true } => f.write_str("dropped: queue full, overflow raised"),
            Fate::Full { flagged: false } => f.write_str("dropped: queue full"),
            Fate::Overflowed => f.write_str("dropped: overflow pending"),
            Fate::Aborted(e) => write!(f, "dropped: {e}"),
            Fate::Stopped => f.write_str("dropped: write abort pending"),
        }
    }
}

/// The fate, `, interrupt` when one is raised, and the automatic response
/// owed: `, owed Success to device 0x10 PASID 3 group 5`.
impl core::fmt::Display for Delivery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.fate)?;
        if self.interrupt {
            f.write_str(", interrupt")?;
        }
        if let Some(r) = &self.response {
            write!(f, ", owed {:?} to device {:#x}", r.code, r.device)?;
            if let Some(p) = r.pasid {
                write!(f, " PASID {p}")?;
            }
            write!(f, " group {}", r.prg_index)?;
        }
        Ok(())
    }
}

/// Where a producer writes the next record of a guest queue. Every ring
/// ([`RingRegs`]) is one: the slot at its tail, none when the ring is full.
/// A queue that is not a ring (the VT-d fault recording registers, whose
/// `F` bits say which are taken) implements it itself.
pub trait RecordSlots {
    /// The ring the next slot is addressed in and its position, `None` when
    /// no slot is free.
    fn next_slot<M: QueueMemory + ?Sized>(&self, mem: &M) -> Result<Option<(Ring, u32)>, MemError>;
    /// The record went into the slot [`next_slot`](RecordSlots::next_slot) gave.
    fn advance(&mut self);
}

impl<T: RingRegs> RecordSlots for T {
    fn next_slot<M: QueueMemory + ?Sized>(&self, _: &M) -> Result<Option<(Ring, u32)>, MemError> {
        let ring = self.ring();
        let tail = self.tail();
        Ok((ring.free(self.head(), tail) != 0).then_some((ring, tail)))
    }
    fn advance(&mut self) {
        let next = self.ring().next(self.tail());
        self.set_tail(next);
    }
}

/// A guest queue the VMM writes records into (an event, fault, PRI or PPR
/// queue): the consumer register is the guest's (`head`), the producer
/// register the VMM's (`tail`), through [`RingRegs`] as a command queue's
/// (an architecture writes its `impl RingRegs` with
/// [`ring_regs!`](crate::ring_regs)), or another [`RecordSlots`]. The
/// architecture says how its queue is enabled, how it flags and
/// acknowledges an overflow and which status bits and interrupt each
/// [`Fate`] raises; the page response a discarded request is owed is its
/// record format's ([`FormatRecord::owed_response`]); the production rule
/// is written once, in [`RecordQueue::offer`].
pub trait RecordQueue: RecordSlots {
    /// The record the queue holds (the automatic response a discarded one
    /// is owed is its format's: [`FormatRecord::owed_response`]).
    type Record: FormatRecord;
    /// Whether the queue takes records (a disabled queue discards them
    /// without an overflow: SMMU_CR0.EVENTQEN = 0, IHI0070 §7.4).
    fn enabled(&self) -> bool;
    /// Whether an overflow is flagged and not yet acknowledged.
    fn overflow_pending(&self) -> bool;
    /// Flag an overflow (called when none is pending).
    fn raise_overflow(&mut self);
    /// Whether every record is discarded while an overflow is pending
    /// (SMMUv3 PRI queue, §8.1) rather than delivered as space allows
    /// (SMMUv3 event queue, §7.4).
    fn discards_while_overflowed(&self) -> bool;
    /// Whether a failed write is flagged and not yet acknowledged: the
    /// queue then takes nothing ([`Fate::Stopped`]). SMMUv3:
    /// GERROR.EVENTQ_ABT_ERR / PRIQ_ABT_ERR active (GERROR ≠ GERRORN,
    /// IHI0070 §7.2.1, §7.5, §8.2); RISC-V: `fqmf` / `pqmf`. The default is
    /// for an architecture that names no such flag: never.
    fn abort_pending(&self) -> bool {
        false
    }
    /// Flag a failed write (called when none is pending). The default
    /// flags nothing.
    fn raise_abort(&mut self) {}
    /// Set the status and pending bits `fate` sets (after the write, or
    /// the overflow or abort flag) and say whether an interrupt is raised
    /// now: the queue's, or on SMMUv3 for [`Fate::Aborted`] the GERROR
    /// interrupt.
    fn signal(&mut self, fate: &Fate, rec: &Self::Record) -> bool;

    /// Offer `rec` to the guest: written at the next slot when there is
    /// one. On a full queue, or one stopped by a pending abort, a record
    /// the producer must `keep` (an SMMUv3 stall record, which is never
    /// discarded and never overflows the queue, §7.2.1, §7.4) is
    /// `Err(ProduceError::Full)`, to be offered again; any other is
    /// discarded (on a full queue the overflow flagged). A failed write
    /// discards the record and flags the abort ([`Fate::Aborted`]). A
    /// record that does not encode is `Err(ProduceError::Encode)` and
    /// changes nothing.
    fn offer<M: QueueMemory + ?Sized>(
        &mut self,
        mem: &M,
        rec: &Self::Record,
        keep: bool,
    ) -> Result<Delivery, ProduceError> {
        let mut w = [0u64; MAX_SLOT_WORDS];
        let n = rec.encode_into(&mut w).map_err(ProduceError::Encode)?;
        let fate = if !self.enabled() {
            Fate::Disabled
        } else if self.abort_pending() {
            if keep {
                return Err(ProduceError::Full);
            }
            Fate::Stopped
        } else if self.discards_while_overflowed() && self.overflow_pending() {
            Fate::Overflowed
        } else {
            match self.next_slot(mem) {
                Err(e) => Fate::Aborted(e),
                Ok(None) if keep => return Err(ProduceError::Full),
                Ok(None) => {
                    let flagged = !self.overflow_pending();
                    if flagged {
                        self.raise_overflow();
                    }
                    Fate::Full { flagged }
                }
                Ok(Some((ring, pos))) => {
                    if n > ring.words() {
                        return Err(ProduceError::Encode(crate::DecodeError::bad_length(n)));
                    }
                    match ring.write(mem, pos, w.get(..ring.words()).unwrap_or(&w)) {
                        Ok(()) => {
                            self.advance();
                            Fate::Written
                        }
                        Err(e) => Fate::Aborted(e),
                    }
                }
            }
        };
        if let Fate::Aborted(_) = fate {
            self.raise_abort();
        }
        Ok(Delivery {
            fate,
            interrupt: self.signal(&fate, rec),
            response: rec.owed_response(&fate),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 (the generator of `arb::xorshift`, which needs the
    /// `arbitrary` feature).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    fn req(device: u32, pasid: Option<u32>, prg_index: u16, last: bool) -> PageRequest {
        PageRequest {
            device,
            pasid,
            addr: 0x4000,
            access: Access {
                read: true,
                ..Access::default()
            },
            prg_index,
            last,
            response_pasid: pasid.is_some(),
            priv_data: None,
        }
    }

    fn resp(device: u32, pasid: Option<u32>, prg_index: u16, code: RespCode) -> PageResponse {
        PageResponse {
            device,
            pasid,
            prg_index,
            code,
            last: true,
            priv_data: None,
            guest: pasid.is_some(),
        }
    }

    #[test]
    fn errors_are_typed() {
        let mut t = PageRequestGroups::<2>::new();
        let r = resp(1, None, 3, RespCode::Invalid);
        assert_eq!(t.respond(&r), Err(GroupError::NotOutstanding));
        // Not last, stop marker: nothing kept.
        assert_eq!(
            t.insert(&req(9, None, 3, false), &req(1, None, 3, false)),
            Ok(false)
        );
        let mut stop = req(1, Some(2), 3, true);
        stop.access = Access::default();
        assert!(stop.is_stop_marker());
        assert_eq!(t.insert(&stop, &stop), Ok(false));
        // Group index → the verdict on its last request, in order.
        let inserts = [
            (3, Ok(true)),
            (3, Err(GroupError::AlreadyOutstanding)),
            (4, Ok(true)),
            (5, Err(GroupError::Full)),
        ];
        for (g, want) in inserts {
            assert_eq!(
                t.insert(&req(9, None, g, true), &req(1, None, g, true)),
                want,
                "{g}"
            );
        }
        let h = t.respond(&r).unwrap();
        assert_eq!((h.device, h.prg_index, h.code), (9, 3, RespCode::Invalid));
        assert_eq!(t.respond(&r), Err(GroupError::AnsweredTwice));
        // The answered slot is reused; the group expired with a stated code.
        assert_eq!(
            t.insert(&req(9, None, 5, true), &req(1, None, 5, true)),
            Ok(true)
        );
        let key = GroupKey::of(&req(1, None, 5, true));
        assert_eq!(
            t.expire(&key, RespCode::Failure).map(|h| h.code),
            Ok(RespCode::Failure)
        );
        assert_eq!(
            t.expire(&key, RespCode::Failure),
            Err(GroupError::AnsweredTwice)
        );
        assert_eq!(t.outstanding(), 1);
    }

    /// Every forwarded request whose group the guest answers reaches the
    /// host once, for the same group (host ids, index, private data), with
    /// the guest's code; answering again, or a group never forwarded, is
    /// an error and reaches the host nothing.
    #[test]
    fn every_answered_group_reaches_the_host_once() {
        let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let mut t = PageRequestGroups::<32>::new();
            // (guest key, host request, answered)
            let mut sent: [(GroupKey, PageRequest, bool); 24] = [(
                GroupKey::of(&req(0, None, 0, true)),
                req(0, None, 0, true),
                true,
            ); 24];
            let mut n = 0;
            while n < sent.len() {
                let x = rnd();
                let pasid = (x & 1 == 1).then_some(((x >> 1) & 3) as u32);
                let guest = req(
                    ((x >> 3) & 3) as u32,
                    pasid,
                    ((x >> 5) & 0x1ff) as u16,
                    true,
                );
                let mut host = req(
                    0x100 + guest.device,
                    pasid.map(|p| p + 10),
                    guest.prg_index,
                    true,
                );
                host.priv_data = Some([x, !x]);
                let key = GroupKey::of(&guest);
                if sent[..n].iter().any(|(k, _, _)| *k == key) {
                    continue;
                }
                assert_eq!(t.insert(&host, &guest), Ok(true));
                sent[n] = (key, host, false);
                n += 1;
            }
            for _ in 0..80 {
                let i = (rnd() % sent.len() as u64) as usize;
                let (k, host, done) = sent[i];
                let code =
                    [RespCode::Success, RespCode::Invalid, RespCode::Failure][(rnd() % 3) as usize];
                let got = t.respond(&resp(k.device, k.pasid, k.prg_index, code));
                if done {
                    assert_eq!(got, Err(GroupError::AnsweredTwice));
                } else {
                    let h = got.unwrap();
                    assert_eq!(
                        (h.device, h.pasid, h.prg_index, h.code, h.priv_data),
                        (
                            host.device,
                            host.pasid,
                            host.prg_index,
                            code,
                            host.priv_data
                        )
                    );
                    sent[i].2 = true;
                }
            }
            let open = sent.iter().filter(|s| !s.2).count();
            assert_eq!(t.outstanding(), open);
            assert_eq!(
                t.respond(&resp(7, None, 0x1ff, RespCode::Success)),
                Err(GroupError::NotOutstanding)
            );
        }
    }

    /// A discarded request owing its group a code (SMMUv3's Response
    /// Failure to every request, IHI0070 §8.2): the group is closed with
    /// that code once, whether the guest answers it after its last request
    /// or the VMM times it out; a discarded last request is due at once.
    #[test]
    fn owed_groups_close_once_with_their_code() {
        use RespCode::{Failure, Success};
        let mut t = PageRequestGroups::<4>::new();
        let host = |g, last| req(9, Some(1), g, last);
        let guest = |g, last| req(1, Some(1), g, last);
        let seen = |r: Result<Option<(PageResponse, ())>, GroupError>| {
            r.map(|o| o.map(|(h, ())| (h.device, h.pasid, h.prg_index, h.code)))
        };
        // Group 3: its first request discarded (Failure owed), the second
        // one too (the first code stays), the last forwarded and answered
        // Success by the guest: the host gets Failure, once.
        assert_eq!(
            t.owe(&host(3, false), &guest(3, false), Failure, ()),
            Ok(None)
        );
        assert_eq!(
            t.owe(&host(3, false), &guest(3, false), Success, ()),
            Ok(None)
        );
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.insert(&host(3, true), &guest(3, true)), Ok(true));
        assert_eq!(
            t.insert(&host(3, true), &guest(3, true)),
            Err(GroupError::AlreadyOutstanding)
        );
        let answer = resp(1, Some(1), 3, Success);
        let h = t.respond(&answer).unwrap();
        assert_eq!(
            (h.device, h.pasid, h.prg_index, h.code),
            (9, Some(1), 3, Failure)
        );
        assert_eq!(t.respond(&answer), Err(GroupError::AnsweredTwice));
        // Group 4: its last request never arrives; timed out: Failure, once.
        assert_eq!(
            t.owe(&host(4, false), &guest(4, false), Failure, ()),
            Ok(None)
        );
        let key = GroupKey::of(&guest(4, false));
        assert_eq!(t.expire(&key, Success).map(|h| h.code), Ok(Failure));
        assert_eq!(t.expire(&key, Success), Err(GroupError::AnsweredTwice));
        // Group 5: a last request discarded, never inserted: due at once.
        let due = Ok(Some((9, Some(1), 5, Success)));
        assert_eq!(
            seen(t.owe(&host(5, true), &guest(5, true), Success, ())),
            due
        );
        // Group 6: owing, then its last request discarded too: due at once,
        // with the first code.
        assert_eq!(
            t.owe(&host(6, false), &guest(6, false), Failure, ()),
            Ok(None)
        );
        let due = Ok(Some((9, Some(1), 6, Failure)));
        assert_eq!(
            seen(t.owe(&host(6, true), &guest(6, true), Success, ())),
            due
        );
        // A Stop Marker is owed nothing.
        let mut stop = guest(7, true);
        stop.access = Access::default();
        assert_eq!(t.owe(&stop, &stop, Failure, ()), Ok(None));
        assert_eq!(t.outstanding(), 0);
    }
}
