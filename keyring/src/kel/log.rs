//! Walking a key event log from inception.
//!
//! [`Kel::verify`] is the only way to obtain a [`Kel`]: it checks, for every event, the payload
//! type and canonical encoding, the position, the identity, the hash chain, that times do not
//! go backwards, the rules of its kind, and — through the one threshold function — that enough
//! of the right keys signed it:
//!
//! * inception — a threshold of its own keys;
//! * rotation — its keys are among the ones the previous establishment event committed to
//!   (`next`), and the previous `next_threshold` of them signed it; the current keys may
//!   co-sign, but their signatures are neither needed nor enough, so a thief holding only the
//!   current keys cannot rotate to keys of their own, and the holder of the pre-committed keys
//!   can recover an identity whose current keys were lost or stolen;
//! * transfer, acceptance, revocation — a threshold of the current keys.
//!
//! **Superseding recovery.** Inception and rotation are *establishment* events: only they are
//! signed by keys committed in advance. Every other event is signed by the current keys, which
//! a thief may hold. When two logs of one identity differ, and from the first differing
//! position on one of them holds a rotation while the other holds only non-establishment
//! events, the rotation was signed by the next keys committed at the last establishment event
//! the two share — keys the other branch never used — so the log with the rotation
//! *supersedes* the other from that position ([`Comparison::Recovered`],
//! [`Comparison::Supersedes`]): a thief's transfers, acceptances and revocations made with the
//! current keys are undone by the owner's recovery rotation, wherever the recovery is seen.
//! Two branches that both hold a rotation after the fork, or neither, are equivocation
//! ([`Comparison::Forked`]).
//!
//! Signatures are checked in parallel after the structural walk; the error reported is the one
//! at the lowest position, so the result does not depend on scheduling.

use rayon::prelude::*;

use crate::envelope::Envelope;
use crate::error::FormatError;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::event::{EventKind, KeyEvent, Reason};
use crate::key::{KeyId, PublicKey};
use crate::statement::{Namespace, PackageName};
use crate::threshold::{ThresholdError, check_threshold};
use crate::time::Timestamp;

/// Most events in one log.
pub const MAX_EVENTS: usize = 1_000_000;

/// Logs at least this long are decoded and their signatures checked on the thread pool.
const PARALLEL_MIN_EVENTS: usize = 64;

/// An event that passed verification, with the keys whose signatures counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// The envelope as received.
    pub envelope: Envelope,
    /// The decoded event.
    pub event: KeyEvent,
    /// The event's name: SHA-256 of its payload.
    pub digest: Sha256Digest,
    /// The keys whose valid signatures met the threshold.
    pub signers: Vec<KeyId>,
}

/// A period during which one key set was current: from the establishment event at `start` to
/// the rotation at `end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Sequence of the inception or rotation that made these keys current.
    pub start: u64,
    /// Sequence of the rotation that replaced them, if any.
    pub end: Option<u64>,
    /// Why they were replaced, and when (the rotation's time).
    pub ended_by: Option<(Reason, Timestamp)>,
    /// The signing keys.
    pub keys: Vec<PublicKey>,
    /// How many must sign.
    pub threshold: u64,
    /// Commitments to the next keys.
    pub next: Vec<KeyId>,
    /// How many of the next keys must sign the next rotation.
    pub next_threshold: u64,
}

impl Epoch {
    /// Whether `key` is one of this epoch's signing keys.
    pub fn has_key(&self, key: &KeyId) -> bool {
        self.keys.iter().any(|k| &k.key_id() == key)
    }

    /// Whether the epoch covers log position `sequence`.
    pub fn covers(&self, sequence: u64) -> bool {
        sequence >= self.start && self.end.is_none_or(|end| sequence < end)
    }
}

/// A revocation event, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Its position.
    pub sequence: u64,
    /// The retired keys.
    pub keys: Vec<KeyId>,
    /// Why.
    pub reason: Reason,
    /// From when their signatures are void unless proven earlier.
    pub since: Timestamp,
    /// When the revocation was made.
    pub time: Timestamp,
}

/// A name handed to another identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    /// The name (namespace or package).
    pub name: Namespace,
    /// The receiver.
    pub to: IdentityId,
    /// Position of the transfer event.
    pub sequence: u64,
    /// Digest of the transfer event.
    pub digest: Sha256Digest,
}

/// A name received from another identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The name.
    pub name: Namespace,
    /// The giver.
    pub from: IdentityId,
    /// Digest of the transfer event in the giver's log.
    pub transfer: Sha256Digest,
    /// Position of the acceptance event.
    pub sequence: u64,
}

/// A verified key event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kel {
    identity: IdentityId,
    events: Vec<VerifiedEvent>,
    epochs: Vec<Epoch>,
    claimed: Vec<Namespace>,
    given: Vec<Given>,
    received: Vec<Received>,
    revocations: Vec<Revocation>,
}

/// What was wrong with a log, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key event log {}: event #{at}{}: {kind}", identity.map_or_else(|| "(no identity)".to_owned(), |i| i.short()), event_kind.map(|k| format!(" ({k})")).unwrap_or_default())]
pub struct KelError {
    /// The identity, when known.
    pub identity: Option<IdentityId>,
    /// The position (index in the log) of the offending event.
    pub at: u64,
    /// The offending event's kind, when it could be read.
    pub event_kind: Option<EventKind>,
    /// What is wrong.
    pub kind: Box<KelErrorKind>,
}

impl KelError {
    fn new(
        identity: Option<IdentityId>,
        at: u64,
        event_kind: Option<EventKind>,
        kind: KelErrorKind,
    ) -> Self {
        KelError {
            identity,
            at,
            event_kind,
            kind: Box::new(kind),
        }
    }
}

/// The ways a log can be wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KelErrorKind {
    /// No events at all.
    #[error("the log is empty")]
    Empty,
    /// More events than [`MAX_EVENTS`].
    #[error("more than {MAX_EVENTS} events")]
    TooLong,
    /// The event does not decode (truncated, padded, malformed, wrong payload type).
    #[error("{0}")]
    Malformed(FormatError),
    /// The first event is not an inception.
    #[error("a log starts with an inception event")]
    NotInception,
    /// The event is not at the position it claims.
    #[error(
        "expected sequence {expected}, found {found}: events are missing, repeated or out of order"
    )]
    Sequence {
        /// The position expected.
        expected: u64,
        /// The position the event claims.
        found: u64,
    },
    /// The event names another identity.
    #[error("the event belongs to identity {}, not to this log", .0.short())]
    WrongIdentity(IdentityId),
    /// The hash chain is broken.
    #[error(
        "`previous` is {found}, but the previous event's digest is {expected}: the log was rewritten or spliced"
    )]
    BrokenChain {
        /// The previous event's digest.
        expected: Sha256Digest,
        /// What the event says.
        found: Sha256Digest,
    },
    /// Time goes backwards.
    #[error("the event's time {found} is before the previous event's time {previous}")]
    TimeRegression {
        /// The previous event's time.
        previous: Timestamp,
        /// This event's time.
        found: Timestamp,
    },
    /// A rotation reveals a key the previous establishment event did not commit to.
    #[error("rotation to key {} which was not pre-committed: only the keys committed in `next` of event #{committed_at} can become current", key.short())]
    UncommittedKey {
        /// The uncommitted key.
        key: KeyId,
        /// Where the commitment was made.
        committed_at: u64,
    },
    /// A rotation reveals fewer committed keys than the committed threshold.
    #[error(
        "the rotation reveals {revealed} key(s), fewer than the committed threshold of {threshold}"
    )]
    TooFewRevealed {
        /// Keys revealed.
        revealed: usize,
        /// Threshold committed.
        threshold: u64,
    },
    /// Not enough valid signatures from the keys entitled to sign this event.
    #[error("{source} (entitled: {entitled})")]
    Signatures {
        /// Which keys were entitled, in words.
        entitled: String,
        /// The threshold check's finding.
        source: ThresholdError,
    },
    /// A transfer names something the identity does not own.
    #[error("transfer of {0}, which this identity does not own")]
    NotOwned(Namespace),
    /// An acceptance names this identity as the giver.
    #[error("an identity cannot transfer names to itself or accept them from itself")]
    SelfTransfer,
    /// A revocation names a key this identity never had.
    #[error("revocation of key {}, which this identity never had", .0.short())]
    UnknownKey(KeyId),
    /// A revocation names a current key.
    #[error("key {} is current; retire current keys by rotating (reason `compromised` when they may be stolen)", .0.short())]
    RevokesCurrentKey(KeyId),
}

struct Check {
    index: usize,
    keys: Vec<PublicKey>,
    threshold: u64,
    entitled: &'static str,
}

impl Kel {
    /// Verifies a log from its inception event.
    ///
    /// The error reported is the one at the lowest position, whatever its kind: a bad signature
    /// at event #2 is reported before a broken chain at event #5.
    pub fn verify(envelopes: &[Envelope]) -> Result<Kel, KelError> {
        if envelopes.is_empty() {
            return Err(KelError::new(None, 0, None, KelErrorKind::Empty));
        }
        if envelopes.len() > MAX_EVENTS {
            return Err(KelError::new(None, 0, None, KelErrorKind::TooLong));
        }
        // Decoding (canonical JSON, unknown fields, shape) is independent per event.
        // Short logs are verified on the calling thread: handing a few events to the thread
        // pool costs more than it saves, and a caller verifying many identities parallelises
        // across them instead.
        let parallel = envelopes.len() >= PARALLEL_MIN_EVENTS;
        let decoded: Vec<Result<KeyEvent, FormatError>> = if parallel {
            envelopes.par_iter().map(KeyEvent::from_envelope).collect()
        } else {
            envelopes.iter().map(KeyEvent::from_envelope).collect()
        };

        let identity = IdentityId::from_inception(&envelopes[0].payload_digest());
        let mut kel = Kel {
            identity,
            events: Vec::with_capacity(envelopes.len()),
            epochs: Vec::new(),
            claimed: Vec::new(),
            given: Vec::new(),
            received: Vec::new(),
            revocations: Vec::new(),
        };
        let mut checks: Vec<Check> = Vec::with_capacity(envelopes.len());
        let mut structural: Option<KelError> = None;
        for (index, (envelope, decoded)) in envelopes.iter().zip(decoded).enumerate() {
            let result = decoded
                .map_err(|e| {
                    KelError::new(
                        Some(identity),
                        index as u64,
                        None,
                        KelErrorKind::Malformed(e),
                    )
                })
                .and_then(|event| kel.apply(envelope, event));
            match result {
                Ok(check) => checks.push(check),
                Err(mut e) => {
                    // Until the inception is accepted, there is no identity to name.
                    if index == 0 {
                        e.identity = None;
                    }
                    structural = Some(e);
                    break;
                }
            }
        }

        // Signatures, in parallel, of every event that passed the structural walk; the error
        // at the lowest position wins.
        let check = |c: &Check| check_threshold(&envelopes[c.index], &c.keys, c.threshold);
        let results: Vec<Result<Vec<KeyId>, ThresholdError>> = if parallel {
            checks.par_iter().map(check).collect()
        } else {
            checks.iter().map(check).collect()
        };
        for (check, result) in checks.iter().zip(results) {
            match result {
                Ok(signers) => kel.events[check.index].signers = signers,
                Err(source) => return Err(kel.signature_error(check, source)),
            }
        }
        match structural {
            Some(e) => Err(e),
            None => Ok(kel),
        }
    }

    /// Verifies this log extended by one more event: the event must be the next one, follow
    /// every rule of its kind and carry enough of the right signatures. The log itself is not
    /// changed; the longer log is returned.
    pub fn append(&self, envelope: &Envelope) -> Result<Kel, KelError> {
        let index = self.events.len();
        if index >= MAX_EVENTS {
            return Err(KelError::new(
                Some(self.identity),
                index as u64,
                None,
                KelErrorKind::TooLong,
            ));
        }
        let event = KeyEvent::from_envelope(envelope).map_err(|e| {
            KelError::new(
                Some(self.identity),
                index as u64,
                None,
                KelErrorKind::Malformed(e),
            )
        })?;
        let mut kel = self.clone();
        let check = kel.apply(envelope, event)?;
        let signers = check_threshold(envelope, &check.keys, check.threshold)
            .map_err(|source| kel.signature_error(&check, source))?;
        kel.events[check.index].signers = signers;
        Ok(kel)
    }

    /// The keys entitled to sign `event` as the next event of this log, and how many of them
    /// must sign — the same rule [`Kel::verify`] applies. For a rotation these are the keys it
    /// reveals (each of which must have been committed); for every other kind, the current keys.
    pub fn entitled_signers(&self, event: &KeyEvent) -> Result<(Vec<PublicKey>, u64), KelError> {
        let envelope = event.to_envelope().map_err(|e| {
            KelError::new(
                Some(self.identity),
                self.events.len() as u64,
                Some(event.kind),
                KelErrorKind::Malformed(e),
            )
        })?;
        let mut kel = self.clone();
        let check = kel.apply(&envelope, event.clone())?;
        Ok((check.keys, check.threshold))
    }

    fn signature_error(&self, check: &Check, source: ThresholdError) -> KelError {
        KelError::new(
            Some(self.identity),
            check.index as u64,
            Some(self.events[check.index].event.kind),
            KelErrorKind::Signatures {
                entitled: check.entitled.to_owned(),
                source,
            },
        )
    }

    /// Applies the structural rules for the next event (position, identity, chain, time, the
    /// rules of its kind), records it, and returns the signature check it needs.
    fn apply(&mut self, envelope: &Envelope, event: KeyEvent) -> Result<Check, KelError> {
        let index = self.events.len();
        let sequence = index as u64;
        let kind_of = event.kind;
        let fail = |kind| KelError::new(Some(self.identity), sequence, Some(kind_of), kind);
        let digest = envelope.payload_digest();
        if index == 0 {
            if event.kind != EventKind::Inception {
                return Err(fail(KelErrorKind::NotInception));
            }
        } else {
            if event.sequence != sequence {
                return Err(fail(KelErrorKind::Sequence {
                    expected: sequence,
                    found: event.sequence,
                }));
            }
            if event.identity != Some(self.identity) {
                // validate() guarantees the field is present for non-inception events.
                return Err(fail(KelErrorKind::WrongIdentity(
                    event.identity.unwrap_or(self.identity),
                )));
            }
            let prev = &self.events[index - 1];
            let found = event.previous.unwrap_or(prev.digest);
            if found != prev.digest {
                return Err(fail(KelErrorKind::BrokenChain {
                    expected: prev.digest,
                    found,
                }));
            }
            if event.time < prev.event.time {
                return Err(fail(KelErrorKind::TimeRegression {
                    previous: prev.event.time,
                    found: event.time,
                }));
            }
        }
        let check = match event.kind {
            EventKind::Inception => {
                let keys = event.keys.clone().unwrap_or_default();
                let threshold = event.threshold.unwrap_or(0);
                self.epochs.push(Epoch {
                    start: 0,
                    end: None,
                    ended_by: None,
                    keys: keys.clone(),
                    threshold,
                    next: event.next.clone().unwrap_or_default(),
                    next_threshold: event.next_threshold.unwrap_or(0),
                });
                self.claimed = event.namespaces.clone().unwrap_or_default();
                Check {
                    index,
                    keys,
                    threshold,
                    entitled: "the inception's own keys",
                }
            }
            EventKind::Rotation => {
                let current = self
                    .epochs
                    .last_mut()
                    .ok_or_else(|| fail(KelErrorKind::NotInception))?;
                let keys = event.keys.clone().unwrap_or_default();
                for key in &keys {
                    if !current.next.contains(&key.key_id()) {
                        return Err(fail(KelErrorKind::UncommittedKey {
                            key: key.key_id(),
                            committed_at: current.start,
                        }));
                    }
                }
                if (keys.len() as u64) < current.next_threshold {
                    return Err(fail(KelErrorKind::TooFewRevealed {
                        revealed: keys.len(),
                        threshold: current.next_threshold,
                    }));
                }
                let check = Check {
                    index,
                    keys: keys.clone(),
                    threshold: current.next_threshold,
                    entitled: "the pre-committed next keys",
                };
                current.end = Some(sequence);
                current.ended_by = event.reason.map(|r| (r, event.time));
                self.epochs.push(Epoch {
                    start: sequence,
                    end: None,
                    ended_by: None,
                    keys,
                    threshold: event.threshold.unwrap_or(0),
                    next: event.next.clone().unwrap_or_default(),
                    next_threshold: event.next_threshold.unwrap_or(0),
                });
                check
            }
            EventKind::Transfer | EventKind::Acceptance | EventKind::Revocation => {
                let current = self
                    .epochs
                    .last()
                    .ok_or_else(|| fail(KelErrorKind::NotInception))?;
                let check = Check {
                    index,
                    keys: current.keys.clone(),
                    threshold: current.threshold,
                    entitled: "the current keys",
                };
                let names = event.names.clone().unwrap_or_default();
                match event.kind {
                    EventKind::Transfer => {
                        let to = event.to.ok_or_else(|| fail(KelErrorKind::NotInception))?;
                        if to == self.identity {
                            return Err(fail(KelErrorKind::SelfTransfer));
                        }
                        for name in names {
                            if !owns_namespace(&self.claimed, &self.received, &self.given, &name) {
                                return Err(fail(KelErrorKind::NotOwned(name)));
                            }
                            self.given.push(Given {
                                name,
                                to,
                                sequence,
                                digest,
                            });
                        }
                    }
                    EventKind::Acceptance => {
                        let from = event.from.ok_or_else(|| fail(KelErrorKind::NotInception))?;
                        if from == self.identity {
                            return Err(fail(KelErrorKind::SelfTransfer));
                        }
                        let transfer = event.transfer.unwrap_or(digest);
                        for name in names {
                            self.received.push(Received {
                                name,
                                from,
                                transfer,
                                sequence,
                            });
                        }
                    }
                    _ => {
                        let revoked = event.revoked.clone().unwrap_or_default();
                        for key in &revoked {
                            if current.has_key(key) {
                                return Err(fail(KelErrorKind::RevokesCurrentKey(*key)));
                            }
                            if !self.epochs.iter().any(|e| e.has_key(key)) {
                                return Err(fail(KelErrorKind::UnknownKey(*key)));
                            }
                        }
                        self.revocations.push(Revocation {
                            sequence,
                            keys: revoked,
                            reason: event.reason.unwrap_or(Reason::Compromised),
                            since: event.since.unwrap_or(event.time),
                            time: event.time,
                        });
                    }
                }
                check
            }
        };
        self.events.push(VerifiedEvent {
            envelope: envelope.clone(),
            event,
            digest,
            signers: Vec::new(),
        });
        Ok(check)
    }

    /// The identity.
    pub fn identity(&self) -> IdentityId {
        self.identity
    }

    /// The events, from inception.
    pub fn events(&self) -> &[VerifiedEvent] {
        &self.events
    }

    /// The envelopes, from inception (what a bundle or a log file carries).
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.events.iter().map(|e| e.envelope.clone()).collect()
    }

    /// The newest event.
    pub fn head(&self) -> &VerifiedEvent {
        // A Kel always has its inception event.
        &self.events[self.events.len() - 1]
    }

    /// The event at a position.
    pub fn event(&self, sequence: u64) -> Option<&VerifiedEvent> {
        usize::try_from(sequence)
            .ok()
            .and_then(|i| self.events.get(i))
    }

    /// Every key set the identity has had, oldest first.
    pub fn epochs(&self) -> &[Epoch] {
        &self.epochs
    }

    /// The current key set.
    pub fn current(&self) -> &Epoch {
        &self.epochs[self.epochs.len() - 1]
    }

    /// The key set in effect at a position.
    pub fn epoch_at(&self, sequence: u64) -> Option<&Epoch> {
        if sequence >= self.events.len() as u64 {
            return None;
        }
        self.epochs.iter().rev().find(|e| e.covers(sequence))
    }

    /// The epochs in which `key` was a signing key.
    pub fn epochs_of(&self, key: &KeyId) -> impl Iterator<Item = &Epoch> {
        self.epochs.iter().filter(move |e| e.has_key(key))
    }

    /// Revocations, oldest first.
    pub fn revocations(&self) -> &[Revocation] {
        &self.revocations
    }

    /// The namespaces claimed at inception.
    pub fn claimed(&self) -> &[Namespace] {
        &self.claimed
    }

    /// Names handed to other identities.
    pub fn given(&self) -> &[Given] {
        &self.given
    }

    /// Names accepted from other identities.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Whether the identity owns `name` now: claimed at inception or received, and not handed
    /// on since.
    pub fn owns(&self, name: &PackageName) -> bool {
        owns_namespace(
            &self.claimed,
            &self.received,
            &self.given,
            &Namespace::from(name),
        )
    }

    /// Whether the identity owned `name` as of log position `sequence`: the same rule as
    /// [`Kel::owns`], counting only transfers and acceptances at or before that position.
    pub fn owns_at(&self, name: &PackageName, sequence: u64) -> bool {
        let received: Vec<Received> = self
            .received
            .iter()
            .filter(|r| r.sequence <= sequence)
            .cloned()
            .collect();
        let given: Vec<Given> = self
            .given
            .iter()
            .filter(|g| g.sequence <= sequence)
            .cloned()
            .collect();
        owns_namespace(&self.claimed, &received, &given, &Namespace::from(name))
    }

    /// The first `len` events as a log of their own (a prefix is always valid).
    pub fn prefix(&self, len: usize) -> Option<Kel> {
        if len == 0 || len > self.events.len() {
            return None;
        }
        Kel::verify(&self.envelopes()[..len]).ok()
    }

    /// How another log of the same identity relates to this one.
    pub fn compare(&self, other: &Kel) -> Comparison {
        if self.identity != other.identity {
            return Comparison::DifferentIdentity;
        }
        for (i, (ours, theirs)) in self.events.iter().zip(&other.events).enumerate() {
            if ours.digest != theirs.digest {
                let establishment = |events: &[VerifiedEvent]| {
                    events
                        .iter()
                        .find(|e| e.event.kind.is_establishment())
                        .map(|e| e.event.sequence)
                };
                let tail = |events: &[VerifiedEvent]| -> Vec<Envelope> {
                    events.iter().map(|e| e.envelope.clone()).collect()
                };
                let (ours_tail, theirs_tail) = (&self.events[i..], &other.events[i..]);
                match (establishment(ours_tail), establishment(theirs_tail)) {
                    (None, Some(rotation)) => {
                        return Comparison::Recovered {
                            at: i as u64,
                            rotation,
                            superseded: tail(ours_tail),
                        };
                    }
                    (Some(rotation), None) => {
                        return Comparison::Supersedes {
                            at: i as u64,
                            rotation,
                            superseded: tail(theirs_tail),
                        };
                    }
                    _ => {}
                }
                return Comparison::Forked {
                    at: i as u64,
                    ours: Box::new(ours.envelope.clone()),
                    theirs: Box::new(theirs.envelope.clone()),
                };
            }
        }
        match other.events.len().cmp(&self.events.len()) {
            std::cmp::Ordering::Equal => Comparison::Same,
            std::cmp::Ordering::Greater => Comparison::Extends {
                new_events: other.events.len() - self.events.len(),
            },
            std::cmp::Ordering::Less => Comparison::Shorter {
                missing: self.events.len() - other.events.len(),
            },
        }
    }
}

fn owns_namespace(
    claimed: &[Namespace],
    received: &[Received],
    given: &[Given],
    name: &Namespace,
) -> bool {
    let held = claimed.iter().any(|ns| ns.contains(name))
        || received.iter().any(|r| r.name.contains(name));
    // A name handed on is gone, unless it came back later through a newer acceptance.
    let last_given = given
        .iter()
        .filter(|g| g.name.contains(name))
        .map(|g| g.sequence)
        .max();
    let last_received = received
        .iter()
        .filter(|r| r.name.contains(name))
        .map(|r| r.sequence)
        .max();
    held && match (last_given, last_received) {
        (None, _) => true,
        (Some(g), Some(r)) => r > g,
        (Some(_), None) => false,
    }
}

/// How two logs of one identity relate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Identical.
    Same,
    /// The other log is this one plus newer events.
    Extends {
        /// How many events it adds.
        new_events: usize,
    },
    /// The other log is a strict prefix of this one: importing it would roll back.
    Shorter {
        /// How many events it lacks.
        missing: usize,
    },
    /// The logs differ at a position: equivocation, proof of key compromise. Both events are
    /// valid under the same keys; they are the evidence.
    Forked {
        /// The first differing position.
        at: u64,
        /// This log's event there.
        ours: Box<Envelope>,
        /// The other log's event there.
        theirs: Box<Envelope>,
    },
    /// The other log recovers this one (superseding recovery): from position `at` this log
    /// holds only non-establishment events, signed by the current keys, and the other holds a
    /// rotation at `rotation`, signed by the pre-committed next keys. The other log replaces
    /// this one; this one's events from `at` on are `superseded` (kept as evidence).
    Recovered {
        /// The first differing position.
        at: u64,
        /// Position of the superseding rotation in the other log.
        rotation: u64,
        /// This log's events from `at` on.
        superseded: Vec<Envelope>,
    },
    /// This log recovers the other one: the converse of [`Comparison::Recovered`]. This log
    /// stands; the other's events from `at` on are `superseded`.
    Supersedes {
        /// The first differing position.
        at: u64,
        /// Position of the superseding rotation in this log.
        rotation: u64,
        /// The other log's events from `at` on.
        superseded: Vec<Envelope>,
    },
    /// The logs belong to different identities.
    DifferentIdentity,
}

/// A transfer that links two identities: a transfer event in the giver's log and the matching
/// acceptance in the receiver's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLink {
    /// The name handed over (it covers the package asked about).
    pub name: Namespace,
    /// Position of the transfer in the giver's log.
    pub transfer_sequence: u64,
    /// Position of the acceptance in the receiver's log.
    pub acceptance_sequence: u64,
    /// When the transfer was made.
    pub time: Timestamp,
}

/// Why no transfer links two identities for a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The giver never transferred the name to the receiver.
    #[error("{} never transferred {name} to {}", giver.short(), receiver.short())]
    NoTransfer {
        /// The giver.
        giver: IdentityId,
        /// The receiver.
        receiver: IdentityId,
        /// The name.
        name: PackageName,
    },
    /// The giver transferred it, but the receiver did not accept.
    #[error("{} transferred {name} to {} in event #{sequence}, but the transfer was never accepted", giver.short(), receiver.short())]
    NotAccepted {
        /// The giver.
        giver: IdentityId,
        /// The receiver.
        receiver: IdentityId,
        /// The name.
        name: PackageName,
        /// The transfer's position.
        sequence: u64,
    },
}

/// Finds the transfer of `name` from `giver` to `receiver`, accepted by the receiver with an
/// acceptance that names the transfer event and the same names.
pub fn find_transfer(
    giver: &Kel,
    receiver: &Kel,
    name: &PackageName,
) -> Result<TransferLink, TransferError> {
    let target = Namespace::from(name);
    let mut unaccepted = None;
    for given in giver
        .given()
        .iter()
        .filter(|g| g.to == receiver.identity() && g.name.contains(&target))
    {
        let transfer_event = &giver.events()[given.sequence as usize].event;
        let accepted = receiver.received().iter().find(|r| {
            r.from == giver.identity()
                && r.transfer == given.digest
                && r.name == given.name
                && receiver.events()[r.sequence as usize].event.names == transfer_event.names
        });
        match accepted {
            Some(acceptance) => {
                return Ok(TransferLink {
                    name: given.name.clone(),
                    transfer_sequence: given.sequence,
                    acceptance_sequence: acceptance.sequence,
                    time: transfer_event.time,
                });
            }
            None => unaccepted = Some(given.sequence),
        }
    }
    Err(match unaccepted {
        Some(sequence) => TransferError::NotAccepted {
            giver: giver.identity(),
            receiver: receiver.identity(),
            name: name.clone(),
            sequence,
        },
        None => TransferError::NoTransfer {
            giver: giver.identity(),
            receiver: receiver.identity(),
            name: name.clone(),
        },
    })
}
