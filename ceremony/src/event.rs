//! Building the events of a ceremony.
//!
//! Each builder takes the log the event extends (none for an inception), fills in the chain
//! fields — identity, sequence, previous digest — and checks the new event with
//! [`Kel::entitled_signers`], the same structural rules [`Kel::verify`] applies, so that a
//! rotation to an uncommitted key, a transfer of a name the identity does not own or a
//! revocation of a current key is refused before any key is unlocked or any PIN is asked for.
//!
//! The result is a [`Planned`] event: the event and the keys entitled to sign it, with their
//! threshold.

use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::kel::{EventKind, Kel, KeyEvent, Reason};
use hallmark_keyring::{IdentityId, KeyId, Namespace, PublicKey, Sha256Digest, Timestamp};

use crate::error::CeremonyError;

/// An event ready to be signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The event.
    pub event: KeyEvent,
    /// The keys whose signatures count towards the threshold.
    pub entitled: Vec<PublicKey>,
    /// How many of them must sign.
    pub threshold: u64,
    /// Keys that may add their signature without it counting: the current keys co-signing a
    /// rotation.
    pub co_signers: Vec<PublicKey>,
}

impl Planned {
    /// Whether `key` may sign the event (counting or co-signing).
    pub fn may_sign(&self, key: &KeyId) -> bool {
        self.entitled
            .iter()
            .chain(&self.co_signers)
            .any(|k| &k.key_id() == key)
    }

    /// The ids of the entitled keys.
    pub fn entitled_ids(&self) -> Vec<KeyId> {
        self.entitled.iter().map(PublicKey::key_id).collect()
    }

    /// The ids of every key that may sign: the entitled keys, then the co-signers.
    pub fn signer_ids(&self) -> Vec<KeyId> {
        self.entitled
            .iter()
            .chain(&self.co_signers)
            .map(PublicKey::key_id)
            .collect()
    }

    /// Carries hardware attestations of the keys an inception or rotation establishes, read
    /// once those keys are opened. The event is checked again; nothing else about it changes.
    pub fn attest(&mut self, attestations: Vec<Attestation>) -> Result<(), CeremonyError> {
        if attestations.is_empty() {
            return Ok(());
        }
        self.event.attestations = Some(attestations);
        self.event.validate()?;
        Ok(())
    }
}

/// What an inception establishes.
#[derive(Clone, Debug)]
pub struct InceptionPlan {
    /// The signing keys.
    pub keys: Vec<PublicKey>,
    /// How many of them must sign.
    pub threshold: u64,
    /// Commitments (key ids) to the keys the first rotation must reveal.
    pub next: Vec<KeyId>,
    /// How many of the next keys must sign that rotation.
    pub next_threshold: u64,
    /// The namespaces the identity claims.
    pub namespaces: Vec<Namespace>,
    /// Hardware attestations of the signing keys, if any.
    pub attestations: Vec<Attestation>,
    /// The event's time.
    pub time: Timestamp,
}

/// Builds an inception event: the identity is the digest of its payload.
pub fn inception(plan: &InceptionPlan) -> Result<Planned, CeremonyError> {
    let mut event = KeyEvent::new(EventKind::Inception, 0, plan.time);
    event.keys = Some(plan.keys.clone());
    event.threshold = Some(plan.threshold);
    event.next = Some(plan.next.clone());
    event.next_threshold = Some(plan.next_threshold);
    event.namespaces = Some(plan.namespaces.clone());
    event.attestations = (!plan.attestations.is_empty()).then(|| plan.attestations.clone());
    check_commitments_differ(&plan.keys, &plan.next)?;
    event.validate()?;
    Ok(Planned {
        entitled: plan.keys.clone(),
        threshold: plan.threshold,
        co_signers: Vec::new(),
        event,
    })
}

/// What a rotation establishes.
#[derive(Clone, Debug)]
pub struct RotationPlan {
    /// The keys revealed: each must be committed in the current `next`.
    pub keys: Vec<PublicKey>,
    /// How many of them must sign statements and events from now on.
    pub threshold: u64,
    /// Commitments to the keys of the following rotation.
    pub next: Vec<KeyId>,
    /// How many of those must sign it.
    pub next_threshold: u64,
    /// Why.
    pub reason: Reason,
    /// Hardware attestations of the new keys, if any.
    pub attestations: Vec<Attestation>,
    /// The event's time.
    pub time: Timestamp,
}

/// Builds a rotation of `kel`'s keys. Refuses, before anything is signed, keys that were not
/// committed, fewer keys than the committed threshold, and next commitments that repeat a key
/// already used.
pub fn rotation(kel: &Kel, plan: &RotationPlan) -> Result<Planned, CeremonyError> {
    let mut event = next_event(kel, EventKind::Rotation, plan.time)?;
    event.keys = Some(plan.keys.clone());
    event.threshold = Some(plan.threshold);
    event.next = Some(plan.next.clone());
    event.next_threshold = Some(plan.next_threshold);
    event.reason = Some(plan.reason);
    event.attestations = (!plan.attestations.is_empty()).then(|| plan.attestations.clone());
    check_commitments_differ(&plan.keys, &plan.next)?;
    for key in &plan.next {
        if kel.epochs().iter().any(|e| e.has_key(key)) {
            return Err(CeremonyError::Invalid(format!(
                "next key {} was already a signing key of this identity; commit to a fresh key",
                key.short()
            )));
        }
    }
    let mut planned = plan_for(kel, event)?;
    planned.co_signers = kel.current().keys.clone();
    Ok(planned)
}

/// Builds a transfer of `names` from `kel`'s identity to `to`. Effective once `to` accepts.
pub fn transfer(
    kel: &Kel,
    to: IdentityId,
    names: &[Namespace],
    time: Timestamp,
) -> Result<Planned, CeremonyError> {
    let mut event = next_event(kel, EventKind::Transfer, time)?;
    event.to = Some(to);
    event.names = Some(names.to_vec());
    plan_for(kel, event)
}

/// Builds the acceptance, in `kel`, of a transfer from `giver`. The transfer is the one named
/// by `transfer`, or else the only transfer from `giver` to this identity not yet accepted.
/// When `names` is given it must be exactly the transfer's names.
pub fn acceptance(
    kel: &Kel,
    giver: &Kel,
    transfer: Option<Sha256Digest>,
    names: Option<&[Namespace]>,
    time: Timestamp,
) -> Result<Planned, CeremonyError> {
    let me = kel.identity();
    let accepted: Vec<Sha256Digest> = kel
        .received()
        .iter()
        .filter(|r| r.from == giver.identity())
        .map(|r| r.transfer)
        .collect();
    let transfers: Vec<&hallmark_keyring::kel::log::VerifiedEvent> = giver
        .events()
        .iter()
        .filter(|e| e.event.kind == EventKind::Transfer && e.event.to == Some(me))
        .collect();
    let chosen = match transfer {
        Some(digest) => *transfers.iter().find(|e| e.digest == digest).ok_or(
            CeremonyError::UnknownTransfer {
                digest,
                receiver: me,
            },
        )?,
        None => {
            let waiting: Vec<_> = transfers
                .iter()
                .filter(|e| !accepted.contains(&e.digest))
                .collect();
            match waiting.as_slice() {
                [] => {
                    return Err(CeremonyError::NoTransfer {
                        giver: giver.identity(),
                        receiver: me,
                    });
                }
                [one] => **one,
                many => {
                    return Err(CeremonyError::AmbiguousTransfer {
                        giver: giver.identity(),
                        digests: many.iter().map(|e| e.digest).collect(),
                    });
                }
            }
        }
    };
    let transferred = chosen.event.names.clone().unwrap_or_default();
    if let Some(names) = names {
        let mut a = names.to_vec();
        let mut b = transferred.clone();
        a.sort();
        b.sort();
        if a != b {
            let join = |n: &[Namespace]| {
                n.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(CeremonyError::NamesMismatch {
                transfer: chosen.digest,
                transferred: join(&transferred),
                asked: join(names),
            });
        }
    }
    let mut event = next_event(kel, EventKind::Acceptance, time)?;
    event.from = Some(giver.identity());
    event.transfer = Some(chosen.digest);
    event.names = Some(transferred);
    plan_for(kel, event)
}

/// Builds a revocation of keys `kel`'s identity had in the past.
pub fn revocation(
    kel: &Kel,
    revoked: &[KeyId],
    reason: Reason,
    since: Timestamp,
    time: Timestamp,
) -> Result<Planned, CeremonyError> {
    if since > time {
        return Err(CeremonyError::Invalid(format!(
            "--since {since} is in the future (now {time}); a revocation takes effect from a past \
             instant"
        )));
    }
    let mut event = next_event(kel, EventKind::Revocation, time)?;
    event.revoked = Some(revoked.to_vec());
    event.reason = Some(reason);
    event.since = Some(since);
    plan_for(kel, event)
}

/// The next event of `kel`, with the chain fields filled in.
fn next_event(kel: &Kel, kind: EventKind, time: Timestamp) -> Result<KeyEvent, CeremonyError> {
    let head = kel.head();
    if time < head.event.time {
        return Err(CeremonyError::ClockBehind {
            now: time,
            head: head.event.time,
        });
    }
    let mut event = KeyEvent::new(kind, head.event.sequence + 1, time);
    event.identity = Some(kel.identity());
    event.previous = Some(head.digest);
    Ok(event)
}

fn plan_for(kel: &Kel, event: KeyEvent) -> Result<Planned, CeremonyError> {
    let (entitled, threshold) = kel.entitled_signers(&event)?;
    Ok(Planned {
        event,
        entitled,
        threshold,
        co_signers: Vec::new(),
    })
}

fn check_commitments_differ(keys: &[PublicKey], next: &[KeyId]) -> Result<(), CeremonyError> {
    for key in keys {
        if next.contains(&key.key_id()) {
            return Err(CeremonyError::Invalid(format!(
                "key {} is both a signing key and a next key; the next key must be a different \
                 key, kept apart (offline, on another device, or with custodians)",
                key.key_id().short()
            )));
        }
    }
    Ok(())
}
