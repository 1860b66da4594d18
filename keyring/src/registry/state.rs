//! The registry's state, rebuilt from its log, and the checks that stage new entries.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use crate::bundle::Bundle;
use crate::digest::ContentDigest;
use crate::envelope::Envelope;
use crate::hashlog::{Checked, Head, LogLine};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::binding::{BindingError, Position, bind};
use crate::kel::log::KelErrorKind;
use crate::kel::{Comparison, Kel, find_transfer};
use crate::receipt::SubjectType;
use crate::registry::store::{Changes, Counts, EntryInfo, Published, Release, Store, StoreError};
use crate::registry::{AcceptOptions, Plan, Refusal, RegistryRecord, refuse};
use crate::similar::{lookalike, lookalike_namespace};
use crate::statement::{Namespace, PackageName, Signer, Statement, Version};
use crate::threshold::check_threshold;
use crate::time::Timestamp;
use crate::tlog::tile::MAX_ENTRY_BYTES;
use crate::trust::gate::follow_transfers;
use crate::verdict::Advice;

/// A look-alike of a name being published: the distance, the published name, its publisher,
/// and the two namespaces when it is the namespaces that look alike.
type Similar<'a> = (usize, &'a PackageName, IdentityId, Option<(String, String)>);

/// The registry's state as the checks see it: a [`Store`] with the changes of the run being
/// staged on top. Reads go to the changes first, then to the store; nothing reaches the store
/// until [`State::into_changes`] is committed. A store that fails to answer makes the run fail
/// ([`State::failure`]) rather than decide on a missing answer.
#[derive(Clone)]
pub struct State<'s> {
    base: &'s dyn Store,
    changes: Changes,
    kel_cache: RefCell<HashMap<IdentityId, Arc<Kel>>>,
    names_cache: OnceCell<Vec<(PackageName, IdentityId)>>,
    failed: RefCell<Option<StoreError>>,
    pending: Vec<(Envelope, Vec<Envelope>)>,
}

/// Room kept in a log line for the registry's signatures on its entry.
const MAX_SIGNATURES_BYTES: usize = 2048;

fn kel_check(kind: &KelErrorKind) -> &'static str {
    match kind {
        KelErrorKind::Signatures { .. }
        | KelErrorKind::UncommittedKey { .. }
        | KelErrorKind::TooFewRevealed { .. } => "signature",
        _ => "key-event-log",
    }
}

impl<'s> State<'s> {
    /// The state of `base`, with nothing staged.
    pub fn new(base: &'s dyn Store) -> Result<Self, StoreError> {
        Ok(State {
            base,
            changes: Changes::over(base)?,
            kel_cache: RefCell::default(),
            names_cache: OnceCell::new(),
            failed: RefCell::default(),
            pending: Vec::new(),
        })
    }

    /// The changes staged, to commit once their entries are durable.
    pub fn into_changes(self) -> Result<Changes, StoreError> {
        match self.failed.into_inner() {
            Some(e) => Err(e),
            None => Ok(self.changes),
        }
    }

    /// The first error the store answered with, if any.
    pub fn failure(&self) -> Option<StoreError> {
        self.failed.borrow().clone()
    }

    /// The registry's identity.
    pub fn registry(&self) -> Option<IdentityId> {
        self.changes.registry
    }

    /// The log's head, with the staged entries.
    pub fn head(&self) -> Head {
        self.changes.head
    }

    /// Publishes, key events and yanks.
    pub fn counts(&self) -> Counts {
        self.changes.counts
    }

    fn read<T>(&self, result: Result<T, StoreError>, otherwise: T) -> T {
        result.unwrap_or_else(|e| {
            self.failed.borrow_mut().get_or_insert(e);
            otherwise
        })
    }

    /// The key event log the registry holds for an identity.
    pub fn kel(&self, identity: &IdentityId) -> Option<Arc<Kel>> {
        if let Some(kel) = self.changes.kels.get(identity) {
            return Some(kel.clone());
        }
        if let Some(kel) = self.kel_cache.borrow().get(identity) {
            return Some(kel.clone());
        }
        let kel = self.read(self.base.kel(identity), None)?;
        self.kel_cache.borrow_mut().insert(*identity, kel.clone());
        Some(kel)
    }

    /// A published version.
    pub fn release(&self, name: &PackageName, version: &Version) -> Option<Release> {
        match self.changes.releases.get(&(name.clone(), version.clone())) {
            Some(r) => Some(r.clone()),
            None => self.read(self.base.release(name, version), None),
        }
    }

    /// An accepted statement.
    pub fn published(&self, statement: &Sha256Digest) -> Option<Published> {
        match self.changes.published.get(statement) {
            Some(p) => Some(*p),
            None => self.read(self.base.published(statement), None),
        }
    }

    fn event(&self, digest: &Sha256Digest) -> Option<(u64, IdentityId)> {
        match self.changes.events.get(digest) {
            Some(e) => Some(*e),
            None => self.read(self.base.event(digest), None),
        }
    }

    fn name_owner(&self, name: &PackageName) -> Option<IdentityId> {
        match self.changes.names.get(name) {
            Some(i) => Some(*i),
            None => self.read(self.base.name_owner(name), None),
        }
    }

    fn holders_overlapping(&self, namespace: &Namespace) -> Vec<(Namespace, IdentityId)> {
        let mut found = self.read(self.base.holders_overlapping(namespace), Vec::new());
        found.extend(
            self.changes
                .holders
                .iter()
                .filter(|(h, _)| h.contains(namespace) || namespace.contains(h))
                .cloned(),
        );
        found
    }

    /// The identity that registered the most specific namespace covering `name`.
    pub fn registrant(&self, name: &PackageName) -> Option<IdentityId> {
        self.holders_overlapping(&Namespace::from(name))
            .into_iter()
            .filter(|(ns, _)| ns.covers(name))
            .max_by_key(|(ns, _)| ns.depth())
            .map(|(_, id)| id)
    }

    /// Digest, time and registry position of a log entry.
    pub fn entry_info(&self, index: u64) -> Option<EntryInfo> {
        let base_len = self.changes.head.len - self.changes.entries.len() as u64;
        if index >= base_len {
            return self
                .changes
                .entries
                .get(usize::try_from(index - base_len).ok()?)
                .copied();
        }
        self.read(self.base.entry(index), None)
    }

    pub(crate) fn take_pending(&mut self) -> Vec<(Envelope, Vec<Envelope>)> {
        std::mem::take(&mut self.pending)
    }

    /// Applies one entry read from the log. With `full`, also checks the entry's signature by
    /// the registry's keys and each statement's signature at its position.
    pub(crate) fn replay(
        &mut self,
        checked: &Checked<RegistryRecord>,
        full: bool,
    ) -> Result<(), String> {
        self.apply(
            &checked.entry.record,
            &checked.line.attached,
            checked.entry.index,
            checked.digest,
            checked.entry.time,
            full,
        )?;
        if full {
            let registry = self
                .registry()
                .and_then(|r| self.kel(&r))
                .ok_or("the log does not start with the registry's inception")?;
            let current = registry.current();
            check_threshold(&checked.line.entry, &current.keys, current.threshold).map_err(
                |e| format!("the entry is not signed by the registry's current keys: {e}"),
            )?;
        } else if !checked.line.entry.signatures().iter().any(|_| true) {
            return Err("the entry is not signed".to_owned());
        }
        Ok(())
    }

    fn apply(
        &mut self,
        record: &RegistryRecord,
        attached: &[Envelope],
        index: u64,
        digest: Sha256Digest,
        time: Timestamp,
        full: bool,
    ) -> Result<(), String> {
        match record {
            RegistryRecord::KeyEvent {
                identity,
                sequence,
                event: _,
            } => {
                let envelope = attached.first().ok_or("the key event is not attached")?;
                let held = self.kel(identity);
                let mut events = held.as_ref().map(|k| k.envelopes()).unwrap_or_default();
                if *sequence < events.len() as u64 {
                    // A recovery: the rotation that follows supersedes the events from here
                    // on, which must all have been signed by the current keys only.
                    let held = held.as_ref().ok_or("no log to recover")?;
                    if held.events()[*sequence as usize..]
                        .iter()
                        .any(|e| e.event.kind.is_establishment())
                    {
                        return Err(format!(
                            "key event #{sequence} of identity {identity} replaces a rotation: only events signed by the current keys can be superseded"
                        ));
                    }
                    events.truncate(*sequence as usize);
                } else if *sequence != events.len() as u64 {
                    return Err(format!(
                        "key event #{sequence} of identity {identity} is out of order: the log holds {} of its events before it",
                        events.len()
                    ));
                }
                events.push(envelope.clone());
                let kel = match &held {
                    // The common case: one more event, checked against the held log only.
                    Some(held) if held.events().len() + 1 == events.len() => held.append(envelope),
                    _ => Kel::verify(&events),
                }
                .map_err(|e| format!("the key event does not extend the identity's log: {e}"))?;
                if index == 0 {
                    self.changes.registry = Some(*identity);
                } else if self.registry().is_none() {
                    return Err("the log does not start with the registry's inception".to_owned());
                }
                if *sequence == 0 {
                    for ns in kel.claimed() {
                        self.changes.holders.push((ns.clone(), *identity));
                    }
                }
                self.changes
                    .events
                    .insert(envelope.payload_digest(), (index, *identity));
                self.changes.kels.insert(*identity, Arc::new(kel));
                self.changes.counts.key_events += 1;
            }
            RegistryRecord::Publish {
                identity,
                name,
                version,
                content,
                statement,
                sequence,
                override_reason: _,
            } => {
                let envelope = attached.first().ok_or("the statement is not attached")?;
                let parsed = Statement::from_envelope(envelope)
                    .map_err(|e| format!("the attached statement does not decode: {e}"))?;
                let event = match parsed.signer.kind() {
                    Ok(Signer::Identity {
                        identity: i,
                        sequence: s,
                        event,
                    }) if i == identity && s == *sequence => Some(*event),
                    _ => None,
                };
                let (Some(event), true) = (
                    event,
                    &parsed.name == name && &parsed.version == version && &parsed.digest == content,
                ) else {
                    return Err("the entry does not describe the attached statement".to_owned());
                };
                if full {
                    let kel = self.kel(identity).ok_or_else(|| {
                        format!("no key event log of identity {identity} precedes the publish")
                    })?;
                    let position = Position {
                        identity: *identity,
                        sequence: *sequence,
                        event,
                    };
                    bind(&kel, envelope, name, position).map_err(|e| match e {
                        BindingError::NoEvent { .. } => format!(
                            "the statement names event #{sequence}, which the log does not hold yet"
                        ),
                        BindingError::Signature { source, .. } => format!(
                            "the statement for {name}@{version} is not signed by the identity's keys at event #{sequence}: {source}"
                        ),
                        e => format!("the statement for {name}@{version}: {e}"),
                    })?;
                }
                if let Some(existing) = self.release(name, version) {
                    return Err(format!(
                        "{name}@{version} was already published in entry #{}: versions are immutable",
                        existing.index
                    ));
                }
                self.changes.releases.insert(
                    (name.clone(), version.clone()),
                    Release {
                        identity: *identity,
                        content: *content,
                        statement: *statement,
                        index,
                        time,
                        yanked: None,
                    },
                );
                if self.name_owner(name).is_none() {
                    self.changes.names.insert(name.clone(), *identity);
                }
                self.changes.published.insert(
                    *statement,
                    Published {
                        index,
                        identity: *identity,
                        envelope: Sha256Digest::of(&envelope.to_json()),
                    },
                );
                self.changes.counts.publishes += 1;
            }
            RegistryRecord::Yank {
                name,
                version,
                statement,
                reason,
            } => {
                let mut release = self.release(name, version).ok_or_else(|| {
                    format!("yank of {name}@{version}, which was never published")
                })?;
                if &release.statement != statement {
                    return Err(format!(
                        "the yank names another statement than the one published for {name}@{version}"
                    ));
                }
                release.yanked = Some(reason.clone());
                self.changes
                    .releases
                    .insert((name.clone(), version.clone()), release);
                self.changes.counts.yanks += 1;
            }
        }
        let registry_sequence = self
            .registry()
            .and_then(|r| self.kel(&r))
            .map_or(0, |k| k.head().event.sequence);
        self.changes.entries.push(EntryInfo {
            digest,
            time,
            registry_sequence,
            offset: 0,
        });
        self.changes.head.len += 1;
        self.changes.head.digest = Some(digest);
        self.changes.head.time = Some(time);
        Ok(())
    }

    /// Stages a new entry: applies it to the state and queues it for signing.
    fn push(
        &mut self,
        record: RegistryRecord,
        attached: Vec<Envelope>,
        now: Timestamp,
    ) -> Result<u64, Refusal> {
        let entry = self.changes.head.next_entry(now, record);
        let envelope = entry
            .to_envelope()
            .map_err(|e| refuse("input", format!("the log entry cannot be encoded: {e}")))?;
        let index = entry.index;
        // Each log line is a leaf of the transparency log, whose entry bundles hold at most
        // 65,535 bytes an entry; room is left for the registry's signatures.
        let unsigned = LogLine {
            entry: envelope.clone(),
            attached: attached.clone(),
        }
        .to_json()
        .len();
        if unsigned + MAX_SIGNATURES_BYTES > MAX_ENTRY_BYTES {
            return Err(refuse(
                "input",
                format!(
                    "the log entry would be {unsigned} bytes before its signatures; the registry's transparency log holds entries of at most {} bytes: submit smaller key events or statements (fewer attestations)",
                    MAX_ENTRY_BYTES - MAX_SIGNATURES_BYTES
                ),
            ));
        }
        self.apply(
            &entry.record,
            &attached,
            index,
            envelope.payload_digest(),
            entry.time,
            false,
        )
        .map_err(|e| refuse("key-event-log", e))?;
        self.pending.push((envelope, attached));
        Ok(index)
    }

    /// Checks a key event log and stages its events that the registry does not hold yet.
    fn stage_events(
        &mut self,
        events: &[Envelope],
        now: Timestamp,
    ) -> Result<(usize, Arc<Kel>), Refusal> {
        if let Some(held) = self.known(events) {
            return Ok((0, held));
        }
        let kel = Kel::verify(events).map_err(|e| {
            refuse(
                kel_check(&e.kind),
                format!("the key event log does not verify: {e}"),
            )
        })?;
        let id = kel.identity();
        let from = match self.kel(&id) {
            None => {
                for ns in kel.claimed() {
                    if let Some((held, owner)) = self
                        .holders_overlapping(ns)
                        .into_iter()
                        .find(|(_, owner)| *owner != id)
                    {
                        return Err(refuse(
                            "namespace",
                            format!(
                                "identity {} claims {ns}, but {held} is registered to identity {}: names change hands only by a transfer from that identity, accepted by the receiver",
                                id.short(),
                                owner.short()
                            ),
                        ));
                    }
                }
                0
            }
            Some(held) => match held.compare(&kel) {
                Comparison::Same | Comparison::Shorter { .. } => {
                    return Ok((0, held.clone()));
                }
                Comparison::Extends { .. } => held.events().len(),
                // Superseding recovery: the submitted log's rotation, signed by the
                // pre-committed next keys, replaces events signed by the current keys only.
                // The superseded events stay in this registry's log as evidence.
                Comparison::Recovered { at, .. } => at as usize,
                Comparison::Supersedes { at, rotation, .. } => {
                    return Err(refuse(
                        "equivocation",
                        format!(
                            "identity {} recovered its log by rotation #{rotation} with its pre-committed next keys, which supersedes the submitted events from #{at} (signed by the current keys only)",
                            id.short()
                        ),
                    ));
                }
                Comparison::Forked { at, ours, theirs } => {
                    return Err(refuse(
                        "equivocation",
                        format!(
                            "identity {} has two different events at #{at} (registry: {}, submitted: {}): its keys signed conflicting histories, which only a compromise explains",
                            id.short(),
                            ours.payload_digest().short(),
                            theirs.payload_digest().short()
                        ),
                    ));
                }
                Comparison::DifferentIdentity => 0,
            },
        };
        // Acceptances must match a transfer in a log the registry holds.
        for received in kel
            .received()
            .iter()
            .filter(|r| r.sequence as usize >= from)
        {
            let Some(giver) = self.kel(&received.from) else {
                return Err(refuse(
                    "namespace",
                    format!(
                        "identity {} accepts {} from identity {}, which this registry does not know; submit the giver's key event log first (or in the bundle's `related` logs)",
                        id.short(),
                        received.name,
                        received.from.short()
                    ),
                ));
            };
            let name: PackageName = received
                .name
                .as_str()
                .parse()
                .map_err(|e| refuse("input", format!("{e}")))?;
            if let Err(e) = find_transfer(&giver, &kel, &name) {
                return Err(refuse("namespace", e.to_string()));
            }
        }
        for (i, event) in kel.events().iter().enumerate().skip(from) {
            self.push(
                RegistryRecord::KeyEvent {
                    identity: id,
                    sequence: i as u64,
                    event: event.digest,
                },
                vec![event.envelope.clone()],
                now,
            )?;
        }
        let held = self.kel(&id).unwrap_or_else(|| Arc::new(kel));
        Ok((held.events().len() - from, held))
    }

    /// The held log, if `events` is it or a prefix of it (no verification needed).
    fn known(&self, events: &[Envelope]) -> Option<Arc<Kel>> {
        let first = events.first()?;
        let id = IdentityId::from_inception(&first.payload_digest());
        let held = self.kel(&id)?;
        (events.len() <= held.events().len()
            && events
                .iter()
                .zip(held.events())
                .all(|(a, b)| a == &b.envelope))
        .then(|| held.clone())
    }

    /// Checks a publish and stages its entries. A refused publish leaves the state as it was.
    pub(crate) fn stage_bundle(
        &mut self,
        bundle: &Bundle,
        content: Option<&ContentDigest>,
        options: &AcceptOptions,
        now: Timestamp,
    ) -> Result<Plan, Refusal> {
        let all_known = bundle
            .related
            .iter()
            .all(|r| self.known(&r.events).is_some())
            && (bundle.kel.is_empty() || self.known(&bundle.kel).is_some());
        if all_known {
            // Nothing is staged before the final push, so no copy is needed.
            return self.stage_bundle_in(bundle, content, options, now);
        }
        let mut scratch = self.clone();
        let plan = scratch.stage_bundle_in(bundle, content, options, now)?;
        *self = scratch;
        Ok(plan)
    }

    fn stage_bundle_in(
        &mut self,
        bundle: &Bundle,
        content: Option<&ContentDigest>,
        options: &AcceptOptions,
        now: Timestamp,
    ) -> Result<Plan, Refusal> {
        let statement = bundle.statement().map_err(|e| {
            refuse(
                "input",
                format!("the bundle's statement cannot be read: {e}"),
            )
        })?;
        let release = statement.release();
        if let Some(actual) = content
            && *actual != statement.digest
        {
            return Err(refuse(
                "digest",
                format!(
                    "the artifact beside the bundle has content {actual}, but the statement for {release} signs {}: the bytes are not the release, so the registry does not countersign them",
                    statement.digest
                ),
            ));
        }
        let digest = bundle.statement.payload_digest();
        if let Some(Published {
            index,
            identity,
            envelope,
        }) = self.published(&digest)
        {
            if let Some(why) = self
                .release(&statement.name, &statement.version)
                .and_then(|r| r.yanked)
            {
                return Err(refuse(
                    "yanked",
                    format!(
                        "{release} was yanked ({why}) after it was published (log entry #{index}); a yanked release is not accepted again and gets no new receipt: publish a new version"
                    ),
                ));
            }
            if envelope != Sha256Digest::of(&bundle.statement.to_json()) {
                return Err(refuse(
                    "signature",
                    format!(
                        "{release} was accepted in log entry #{index} with other signatures: this \
                         bundle's statement carries the same payload, but its signatures were \
                         altered, added or removed; submit the bundle the registry accepted"
                    ),
                ));
            }
            return Ok(Plan {
                subjects: vec![(index, SubjectType::Statement, digest, identity)],
                already: true,
                new_events: 0,
                release: Some(release),
            });
        }
        let (sid, seq, event) = match statement.signer.kind() {
            Ok(Signer::Identity {
                identity,
                sequence,
                event,
            }) => (*identity, sequence, *event),
            Ok(Signer::Key(_)) => {
                let advice = Advice::SignAsIdentity;
                return Err(Refusal {
                    advice: Some(advice.clone()),
                    ..refuse(
                        "signature",
                        format!(
                            "{release} is signed by a bare key; the registry accepts releases signed in an identity's name{}",
                            advice.words()
                        ),
                    )
                });
            }
            Err(e) => return Err(refuse("input", e.to_string())),
        };
        let scratch = self;
        let mut new_events = 0;
        for related in &bundle.related {
            new_events += scratch.stage_events(&related.events, now)?.0;
        }
        let kel = if bundle.kel.is_empty() {
            scratch.kel(&sid).ok_or_else(|| {
                refuse(
                    "key-event-log",
                    format!(
                        "the registry holds no key event log of identity {} and the bundle for {release} carries none",
                        sid.short()
                    ),
                )
            })?
        } else {
            let (n, kel) = scratch.stage_events(&bundle.kel, now)?;
            new_events += n;
            kel
        };
        let name = &statement.name;
        let position = Position {
            identity: sid,
            sequence: seq,
            event,
        };
        let epoch = match bind(&kel, &bundle.statement, name, position) {
            Ok(binding) => binding.epoch,
            Err(BindingError::OtherIdentity { log, .. }) => {
                return Err(refuse(
                    "key-event-log",
                    format!(
                        "the bundle's key event log belongs to identity {}, but the statement for {release} names identity {}",
                        log.short(),
                        sid.short()
                    ),
                ));
            }
            Err(BindingError::NoEvent { .. }) => {
                return Err(refuse(
                    "key-event-log",
                    format!(
                        "{release} names event #{seq} of identity {}, which neither the bundle nor the registry holds",
                        sid.short()
                    ),
                ));
            }
            Err(BindingError::OtherEvent { held, .. }) => {
                return Err(refuse(
                    "equivocation",
                    format!(
                        "{release} names event {} at #{seq} of identity {}, but its log holds {} there",
                        event.short(),
                        sid.short(),
                        held.short()
                    ),
                ));
            }
            Err(BindingError::NotHeld { .. }) => {
                return Err(refuse(
                    "namespace",
                    format!("identity {} does not hold {name}", sid.short()),
                ));
            }
            Err(BindingError::NoKeys { .. }) => {
                return Err(refuse("key-event-log", format!("no keys at event #{seq}")));
            }
            Err(BindingError::Signature { source, .. }) => {
                return Err(refuse(
                    "signature",
                    format!(
                        "{release} is not signed by the keys of identity {} at event #{seq}: {source}",
                        sid.short()
                    ),
                ));
            }
        };
        if let Some(end) = epoch.end {
            return Err(refuse(
                "rollback",
                format!(
                    "{release} is signed with the keys of event #{seq} of identity {}, which rotation #{end} replaced: new releases are signed with the current keys",
                    sid.short()
                ),
            ));
        }
        // A release is accepted now, so its signer must hold the name now: after a transfer,
        // the giver's statements for the name are refused even when they name a position from
        // before it (they would have needed a receipt from before the transfer).
        let target = Namespace::from(name);
        if let Some(given) = kel
            .given()
            .iter()
            .find(|g| g.sequence > seq && g.name.contains(&target))
        {
            return Err(refuse(
                "namespace",
                format!(
                    "{release} names event #{seq} of identity {}, which transferred {} to identity {} in event #{}: after a transfer, the giver cannot publish the name",
                    sid.short(),
                    given.name,
                    given.to.short(),
                    given.sequence
                ),
            ));
        }
        match scratch.registrant(name) {
            Some(holder) if holder != sid => {
                let holder_kel = scratch.kel(&holder).ok_or_else(|| {
                    refuse(
                        "namespace",
                        format!("{name} is registered to an unknown identity"),
                    )
                })?;
                let mut lookup = |id: IdentityId| Ok(scratch.kel(&id));
                if let Err(failure) = follow_transfers(&holder_kel, &kel, name, &mut lookup) {
                    let why = failure.to_string();
                    return Err(refuse(
                        "namespace",
                        format!(
                            "{name} belongs to identity {} in this registry, not to identity {}{why}",
                            holder.short(),
                            sid.short()
                        ),
                    ));
                }
            }
            Some(_) => {}
            None => {
                if !kel.claimed().iter().any(|ns| ns.covers(name)) {
                    return Err(refuse(
                        "namespace",
                        format!(
                            "identity {} does not claim {name}, and no registered identity transferred it",
                            sid.short()
                        ),
                    ));
                }
            }
        }
        if let Some(existing) = scratch.release(name, &statement.version) {
            let yanked = existing
                .yanked
                .as_ref()
                .map(|r| format!(", yanked: {r}"))
                .unwrap_or_default();
            return Err(refuse(
                "immutable-version",
                if existing.content == statement.digest {
                    format!(
                        "{release} is already published with the same content under another statement (log entry #{}{yanked}); versions are published once",
                        existing.index
                    )
                } else {
                    format!(
                        "{release} was published on {} with content {} (log entry #{}{yanked}); versions are immutable: publish a new version",
                        existing.time, existing.content, existing.index
                    )
                },
            ));
        }
        let mut override_reason = None;
        if scratch.name_owner(name).is_none() {
            // The whole name, then the namespaces: `org.acmee.util` next to `org.acme.tool`.
            let known = scratch
                .names_cache
                .get_or_init(|| scratch.read(scratch.base.names(), Vec::new()));
            let mut similar: Vec<Similar<'_>> = known
                .iter()
                .map(|(n, i)| (n, i))
                .chain(scratch.changes.names.iter())
                .filter(|(_, owner)| **owner != sid)
                .filter_map(|(other, owner)| {
                    lookalike(name.as_str(), other.as_str())
                        .map(|d| (d, other, *owner, None))
                        .or_else(|| {
                            lookalike_namespace(name.as_str(), other.as_str())
                                .map(|(ours, theirs, d)| (d, other, *owner, Some((ours, theirs))))
                        })
                })
                .collect();
            similar.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
            if let Some((d, other, owner, namespaces)) = similar.first() {
                match &options.allow_similar {
                    Some(reason) => override_reason = Some(reason.clone()),
                    None => {
                        let edits = format!("{d} edit{}", if *d == 1 { "" } else { "s" });
                        let what = match namespaces {
                            None => format!(
                                "{name} is {edits} away from {other}, published by identity {}",
                                owner.short()
                            ),
                            Some((ours, theirs)) => format!(
                                "{name} is in {ours}, {edits} away from {theirs}, where identity {} published {other}",
                                owner.short()
                            ),
                        };
                        return Err(refuse(
                            "similar-name",
                            format!(
                                "{what}: possible typosquat; if the name is legitimate, resubmit with --allow-similar REASON (the reason is recorded in the log)"
                            ),
                        ));
                    }
                }
            }
        }
        let index = scratch.push(
            RegistryRecord::Publish {
                identity: sid,
                name: name.clone(),
                version: statement.version.clone(),
                content: statement.digest,
                statement: digest,
                sequence: seq,
                override_reason,
            },
            vec![bundle.statement.clone()],
            now,
        )?;
        Ok(Plan {
            subjects: vec![(index, SubjectType::Statement, digest, sid)],
            already: false,
            new_events,
            release: Some(release),
        })
    }

    /// Checks a key event log submission (rotation, transfer, acceptance, revocation) and
    /// stages its new events.
    pub(crate) fn stage_kel(
        &mut self,
        events: &[Envelope],
        now: Timestamp,
    ) -> Result<Plan, Refusal> {
        let mut scratch = self.clone();
        let (new_events, kel) = scratch.stage_events(events, now)?;
        let subjects = kel
            .events()
            .iter()
            .filter_map(|e| {
                scratch
                    .event(&e.digest)
                    .map(|(index, id)| (index, SubjectType::KeyEvent, e.digest, id))
            })
            .collect();
        *self = scratch;
        Ok(Plan {
            subjects,
            already: new_events == 0,
            new_events,
            release: None,
        })
    }

    /// Stages a yank.
    pub(crate) fn stage_yank(
        &mut self,
        name: &PackageName,
        version: &Version,
        reason: &str,
        now: Timestamp,
    ) -> Result<u64, Refusal> {
        let Some(release) = self.release(name, version) else {
            return Err(refuse(
                "input",
                format!("{name}@{version} was never published here"),
            ));
        };
        if let Some(why) = &release.yanked {
            return Err(refuse(
                "input",
                format!("{name}@{version} is already yanked ({why})"),
            ));
        }
        let statement = release.statement;
        self.push(
            RegistryRecord::Yank {
                name: name.clone(),
                version: version.clone(),
                statement,
                reason: reason.to_owned(),
            },
            Vec::new(),
            now,
        )
    }
}
