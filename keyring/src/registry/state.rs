//! The registry's state, rebuilt from its log, and the checks that stage new entries.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bundle::Bundle;
use crate::digest::ContentDigest;
use crate::envelope::Envelope;
use crate::hashlog::{Checked, Head};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::log::KelErrorKind;
use crate::kel::{Comparison, Kel, find_transfer};
use crate::receipt::SubjectType;
use crate::registry::{AcceptOptions, Plan, Refusal, RegistryRecord, refuse};
use crate::similar::{lookalike, lookalike_namespace};
use crate::statement::{Namespace, PackageName, Signer, Statement, Version};
use crate::threshold::check_threshold;
use crate::time::Timestamp;
use crate::trust::gate::{TransferFailure, follow_transfers};

/// A look-alike of a name being published: the distance, the published name, its publisher,
/// and the two namespaces when it is the namespaces that look alike.
type Similar<'a> = (usize, &'a PackageName, IdentityId, Option<(String, String)>);

/// A published version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The publishing identity.
    pub identity: IdentityId,
    /// The content digest.
    pub content: ContentDigest,
    /// The statement's payload digest.
    pub statement: Sha256Digest,
    /// The log entry.
    pub index: u64,
    /// When it was accepted.
    pub time: Timestamp,
    /// The reason it was yanked, if it was.
    pub yanked: Option<String>,
}

/// Everything the log establishes.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The registry's identity (entry 0).
    pub registry: Option<IdentityId>,
    /// The log's head.
    pub head: Head,
    kels: HashMap<IdentityId, Arc<Kel>>,
    holders: Vec<(Namespace, IdentityId)>,
    releases: HashMap<(PackageName, Version), Release>,
    /// Accepted statements: payload digest → (log index, identity).
    pub publishes: HashMap<Sha256Digest, (u64, IdentityId)>,
    /// Accepted statements: payload digest → SHA-256 of the whole envelope as accepted
    /// (payload and signatures), so that a resubmission is the same only if its signatures are.
    accepted_envelopes: HashMap<Sha256Digest, Sha256Digest>,
    events: HashMap<Sha256Digest, (u64, IdentityId)>,
    names: HashMap<PackageName, IdentityId>,
    entries: Vec<(Sha256Digest, Timestamp, u64)>,
    pending: Vec<(Envelope, Vec<Envelope>)>,
    /// Publishes, key events and yanks in the log.
    pub counts: (u64, u64, u64),
}

fn kel_check(kind: &KelErrorKind) -> &'static str {
    match kind {
        KelErrorKind::Signatures { .. }
        | KelErrorKind::UncommittedKey { .. }
        | KelErrorKind::TooFewRevealed { .. } => "signature",
        _ => "key-event-log",
    }
}

impl State {
    /// The key event log the registry holds for an identity.
    pub fn kel(&self, identity: &IdentityId) -> Option<Arc<Kel>> {
        self.kels.get(identity).cloned()
    }

    /// A published version.
    pub fn release(&self, name: &PackageName, version: &Version) -> Option<&Release> {
        self.releases.get(&(name.clone(), version.clone()))
    }

    /// The identity that registered the most specific namespace covering `name`.
    pub fn registrant(&self, name: &PackageName) -> Option<IdentityId> {
        self.holders
            .iter()
            .filter(|(ns, _)| ns.covers(name))
            .max_by_key(|(ns, _)| ns.depth())
            .map(|(_, id)| *id)
    }

    /// Digest, time and registry position of a log entry.
    pub(crate) fn entry_info(&self, index: u64) -> Option<(Sha256Digest, Timestamp, u64)> {
        self.entries.get(usize::try_from(index).ok()?).copied()
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
                .registry
                .and_then(|r| self.kels.get(&r))
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
                let mut events = self
                    .kels
                    .get(identity)
                    .map(|k| k.envelopes())
                    .unwrap_or_default();
                if *sequence < events.len() as u64 {
                    // A recovery: the rotation that follows supersedes the events from here
                    // on, which must all have been signed by the current keys only.
                    let held = self.kels.get(identity).ok_or("no log to recover")?;
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
                let kel = Kel::verify(&events).map_err(|e| {
                    format!("the key event does not extend the identity's log: {e}")
                })?;
                if index == 0 {
                    self.registry = Some(*identity);
                } else if self.registry.is_none() {
                    return Err("the log does not start with the registry's inception".to_owned());
                }
                if *sequence == 0 {
                    for ns in kel.claimed() {
                        self.holders.push((ns.clone(), *identity));
                    }
                }
                self.events
                    .insert(envelope.payload_digest(), (index, *identity));
                self.kels.insert(*identity, Arc::new(kel));
                self.counts.1 += 1;
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
                let signer_ok = matches!(parsed.signer.kind(), Ok(Signer::Identity { identity: i, sequence: s, .. }) if i == identity && s == *sequence);
                if &parsed.name != name
                    || &parsed.version != version
                    || &parsed.digest != content
                    || !signer_ok
                {
                    return Err("the entry does not describe the attached statement".to_owned());
                }
                if full {
                    let kel = self.kels.get(identity).ok_or_else(|| {
                        format!("no key event log of identity {identity} precedes the publish")
                    })?;
                    let epoch = kel.epoch_at(*sequence).ok_or_else(|| {
                        format!(
                            "the statement names event #{sequence}, which the log does not hold yet"
                        )
                    })?;
                    check_threshold(envelope, &epoch.keys, epoch.threshold).map_err(|e| {
                        format!(
                            "the statement for {}@{} is not signed by the identity's keys at event #{sequence}: {e}",
                            name, version
                        )
                    })?;
                }
                let key = (name.clone(), version.clone());
                if let Some(existing) = self.releases.get(&key) {
                    return Err(format!(
                        "{name}@{version} was already published in entry #{}: versions are immutable",
                        existing.index
                    ));
                }
                self.releases.insert(
                    key,
                    Release {
                        identity: *identity,
                        content: *content,
                        statement: *statement,
                        index,
                        time,
                        yanked: None,
                    },
                );
                self.names.entry(name.clone()).or_insert(*identity);
                self.publishes.insert(*statement, (index, *identity));
                self.accepted_envelopes
                    .insert(*statement, Sha256Digest::of(&envelope.to_json()));
                self.counts.0 += 1;
            }
            RegistryRecord::Yank {
                name,
                version,
                statement,
                reason,
            } => {
                let release = self
                    .releases
                    .get_mut(&(name.clone(), version.clone()))
                    .ok_or_else(|| {
                        format!("yank of {name}@{version}, which was never published")
                    })?;
                if &release.statement != statement {
                    return Err(format!(
                        "the yank names another statement than the one published for {name}@{version}"
                    ));
                }
                release.yanked = Some(reason.clone());
                self.counts.2 += 1;
            }
        }
        let registry_sequence = self
            .registry
            .and_then(|r| self.kels.get(&r))
            .map_or(0, |k| k.head().event.sequence);
        self.entries.push((digest, time, registry_sequence));
        self.head.len += 1;
        self.head.digest = Some(digest);
        self.head.time = Some(time);
        Ok(())
    }

    /// Stages a new entry: applies it to the state and queues it for signing.
    fn push(
        &mut self,
        record: RegistryRecord,
        attached: Vec<Envelope>,
        now: Timestamp,
    ) -> Result<u64, Refusal> {
        let entry = self.head.next_entry(now, record);
        let envelope = entry
            .to_envelope()
            .map_err(|e| refuse("input", format!("the log entry cannot be encoded: {e}")))?;
        let index = entry.index;
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
        let from = match self.kels.get(&id) {
            None => {
                for ns in kel.claimed() {
                    if let Some((held, owner)) = self
                        .holders
                        .iter()
                        .find(|(h, owner)| *owner != id && (h.contains(ns) || ns.contains(h)))
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
            let Some(giver) = self.kels.get(&received.from).cloned() else {
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
        let held = self.kels.get(&id).cloned().unwrap_or_else(|| Arc::new(kel));
        Ok((held.events().len() - from, held))
    }

    /// The held log, if `events` is it or a prefix of it (no verification needed).
    fn known(&self, events: &[Envelope]) -> Option<Arc<Kel>> {
        let first = events.first()?;
        let id = IdentityId::from_inception(&first.payload_digest());
        let held = self.kels.get(&id)?;
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
        if let Some(&(index, identity)) = self.publishes.get(&digest) {
            if let Some(why) = self
                .releases
                .get(&(statement.name.clone(), statement.version.clone()))
                .and_then(|r| r.yanked.as_ref())
            {
                return Err(refuse(
                    "yanked",
                    format!(
                        "{release} was yanked ({why}) after it was published (log entry #{index}); a yanked release is not accepted again and gets no new receipt: publish a new version"
                    ),
                ));
            }
            if self.accepted_envelopes.get(&digest)
                != Some(&Sha256Digest::of(&bundle.statement.to_json()))
            {
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
                return Err(refuse(
                    "signature",
                    format!(
                        "{release} is signed by a bare key; the registry accepts releases signed in an identity's name (hallmark sign --identity KEL)"
                    ),
                ));
            }
            Err(e) => return Err(refuse("input", e.to_string())),
        };
        let scratch = self;
        let mut new_events = 0;
        for related in &bundle.related {
            new_events += scratch.stage_events(&related.events, now)?.0;
        }
        let kel = if bundle.kel.is_empty() {
            scratch.kels.get(&sid).cloned().ok_or_else(|| {
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
            if kel.identity() != sid {
                return Err(refuse(
                    "key-event-log",
                    format!(
                        "the bundle's key event log belongs to identity {}, but the statement for {release} names identity {}",
                        kel.identity().short(),
                        sid.short()
                    ),
                ));
            }
            new_events += n;
            kel
        };
        let Some(at) = kel.event(seq) else {
            return Err(refuse(
                "key-event-log",
                format!(
                    "{release} names event #{seq} of identity {}, which neither the bundle nor the registry holds",
                    sid.short()
                ),
            ));
        };
        if at.digest != event {
            return Err(refuse(
                "equivocation",
                format!(
                    "{release} names event {} at #{seq} of identity {}, but its log holds {} there",
                    event.short(),
                    sid.short(),
                    at.digest.short()
                ),
            ));
        }
        let Some(epoch) = kel.epoch_at(seq) else {
            return Err(refuse("key-event-log", format!("no keys at event #{seq}")));
        };
        check_threshold(&bundle.statement, &epoch.keys, epoch.threshold).map_err(|e| {
            refuse(
                "signature",
                format!(
                    "{release} is not signed by the keys of identity {} at event #{seq}: {e}",
                    sid.short()
                ),
            )
        })?;
        if let Some(end) = epoch.end {
            return Err(refuse(
                "rollback",
                format!(
                    "{release} is signed with the keys of event #{seq} of identity {}, which rotation #{end} replaced: new releases are signed with the current keys",
                    sid.short()
                ),
            ));
        }
        let name = &statement.name;
        if !kel.owns_at(name, seq) {
            return Err(refuse(
                "namespace",
                format!("identity {} does not hold {name}", sid.short()),
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
                let holder_kel = scratch.kels.get(&holder).cloned().ok_or_else(|| {
                    refuse(
                        "namespace",
                        format!("{name} is registered to an unknown identity"),
                    )
                })?;
                let mut lookup = |id: IdentityId| Ok(scratch.kels.get(&id).cloned());
                if let Err(failure) = follow_transfers(&holder_kel, &kel, name, &mut lookup) {
                    let why = match failure {
                        TransferFailure::Missing(why) | TransferFailure::Equivocation(why) => why,
                    };
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
        if let Some(existing) = scratch
            .releases
            .get(&(name.clone(), statement.version.clone()))
        {
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
        if !scratch.names.contains_key(name) {
            // The whole name, then the namespaces: `org.acmee.util` next to `org.acme.tool`.
            let mut similar: Vec<Similar<'_>> = scratch
                .names
                .iter()
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
                    .events
                    .get(&e.digest)
                    .map(|(index, id)| (*index, SubjectType::KeyEvent, e.digest, *id))
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
        let Some(release) = self.releases.get(&(name.clone(), version.clone())) else {
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
