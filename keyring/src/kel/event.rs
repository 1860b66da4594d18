//! Key events: the payloads of an identity's key event log.
//!
//! Every event is canonical JSON carried in an envelope of type
//! [`PayloadType::KeyEvent`](crate::envelope::PayloadType). The field set is fixed per kind:
//!
//! | kind | fields besides `kind`, `sequence`, `time` |
//! | --- | --- |
//! | `inception` | `keys`, `threshold`, `next`, `next_threshold`, `namespaces`, `attestations` (optional) |
//! | `rotation` | `identity`, `previous`, `keys`, `threshold`, `next`, `next_threshold`, `reason`, `attestations` (optional) |
//! | `transfer` | `identity`, `previous`, `to`, `names` |
//! | `acceptance` | `identity`, `previous`, `from`, `transfer`, `names` |
//! | `revocation` | `identity`, `previous`, `revoked`, `reason`, `since` |
//!
//! An event is named by the SHA-256 of its payload ([`KeyEvent::digest`]); the identity is the
//! name of its inception event. `next` holds the key ids (domain-separated SHA-256 digests) of the
//! keys that the next rotation must reveal: pre-rotation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bundle::Attestation;
use crate::canonical;
use crate::envelope::{Envelope, MAX_PAYLOAD_BYTES, MAX_SIGNATURES, PayloadType};
use crate::error::FormatError;
use crate::ids::{IdentityId, Sha256Digest};
use crate::key::{KeyId, PublicKey};
use crate::statement::Namespace;
use crate::time::Timestamp;

/// Most keys in one key set (so a threshold of all of them fits in one envelope).
pub const MAX_KEYS: usize = MAX_SIGNATURES;

/// Most namespaces or names in one event.
pub const MAX_NAMES: usize = 256;

/// Most attestations in one event.
pub const MAX_ATTESTATIONS: usize = MAX_KEYS;

/// The kind of a key event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Creates the identity: its keys, threshold, next-key commitments and namespaces.
    Inception,
    /// Reveals the pre-committed keys, making them current, and commits to the following ones.
    Rotation,
    /// Hands names to another identity (effective once that identity accepts).
    Transfer,
    /// Accepts names transferred by another identity.
    Acceptance,
    /// Retires keys that are no longer current, from a stated time.
    Revocation,
}

impl EventKind {
    /// The kind's name as written in events.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Inception => "inception",
            EventKind::Rotation => "rotation",
            EventKind::Transfer => "transfer",
            EventKind::Acceptance => "acceptance",
            EventKind::Revocation => "revocation",
        }
    }
}

impl EventKind {
    /// Whether events of this kind establish a key set (inception, rotation): only they are
    /// signed by keys that were pre-committed, so only they can supersede other events.
    pub fn is_establishment(self) -> bool {
        matches!(self, EventKind::Inception | EventKind::Rotation)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why keys are rotated or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// A planned rotation: the old keys were not compromised; what they signed while current
    /// stays valid.
    Scheduled,
    /// The old keys are lost (a device broke or went missing) but not known to be in someone
    /// else's hands; what they signed while current stays valid.
    Lost,
    /// The keys may be in an attacker's hands: what they signed is valid only where a receipt
    /// from a registry the consumer pins proves it was signed before the compromise.
    Compromised,
    /// (Revocation only.) The keys are retired without suspicion of compromise: statements
    /// they made at earlier log positions stay valid.
    Retired,
}

impl Reason {
    /// The reason's name as written in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::Lost => "lost",
            Reason::Compromised => "compromised",
            Reason::Retired => "retired",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key event. Which optional fields are present depends on [`KeyEvent::kind`]; see the
/// module documentation. [`KeyEvent::from_payload`] enforces the exact field set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEvent {
    /// The kind of event.
    pub kind: EventKind,
    /// The identity this event belongs to (absent in inception: the identity is its digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    /// Position in the log: 0 for inception, then consecutive.
    pub sequence: u64,
    /// Digest of the previous event (absent in inception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Sha256Digest>,
    /// When the signers say the event was made. Not decreasing along a log.
    pub time: Timestamp,
    /// Inception, rotation: the signing keys from this event on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<PublicKey>>,
    /// Inception, rotation: how many of `keys` must sign statements and events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// Inception, rotation: key ids of the keys the next rotation must reveal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Vec<KeyId>>,
    /// Inception, rotation: how many of the `next` keys must sign the next rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_threshold: Option<u64>,
    /// Inception: the namespaces the identity claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<Namespace>>,
    /// Rotation, revocation: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Transfer: the receiving identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<IdentityId>,
    /// Acceptance: the giving identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IdentityId>,
    /// Acceptance: digest of the transfer event in the giver's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Sha256Digest>,
    /// Transfer, acceptance: the namespaces or package names handed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<Namespace>>,
    /// Revocation: the keys retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Vec<KeyId>>,
    /// Revocation: the earliest time the keys may have been compromised; statements not proven
    /// to predate it are void (for `compromised`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Inception, rotation: hardware attestations of the new keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Vec<Attestation>>,
}

impl KeyEvent {
    /// An event of `kind` with every optional field absent; set the ones the kind needs.
    pub fn new(kind: EventKind, sequence: u64, time: Timestamp) -> Self {
        KeyEvent {
            kind,
            identity: None,
            sequence,
            previous: None,
            time,
            keys: None,
            threshold: None,
            next: None,
            next_threshold: None,
            namespaces: None,
            reason: None,
            to: None,
            from: None,
            transfer: None,
            names: None,
            revoked: None,
            since: None,
            attestations: None,
        }
    }

    /// The canonical payload bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// The event's name: SHA-256 of its payload.
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(&self.to_payload())
    }

    /// An unsigned envelope carrying this event, after checking its shape.
    pub fn to_envelope(&self) -> Result<Envelope, FormatError> {
        self.validate()?;
        Envelope::new(PayloadType::KeyEvent, self.to_payload())
    }

    /// Decodes a canonical event payload and checks its shape.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, FormatError> {
        let event: KeyEvent = canonical::from_slice("key event", bytes, MAX_PAYLOAD_BYTES)?;
        event.validate()?;
        Ok(event)
    }

    /// Decodes the event an envelope carries, checking the envelope's type first.
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, FormatError> {
        envelope.expect_type(PayloadType::KeyEvent)?;
        KeyEvent::from_payload(envelope.payload())
    }

    /// Checks that exactly the fields of this kind are present and that their values are in
    /// range (key sets, thresholds, lists without duplicates). Log-level rules — sequence,
    /// chain, commitments, signatures — are checked by the log walk.
    pub fn validate(&self) -> Result<(), FormatError> {
        use EventKind::*;
        let present = [
            ("identity", self.identity.is_some()),
            ("previous", self.previous.is_some()),
            ("keys", self.keys.is_some()),
            ("threshold", self.threshold.is_some()),
            ("next", self.next.is_some()),
            ("next_threshold", self.next_threshold.is_some()),
            ("namespaces", self.namespaces.is_some()),
            ("reason", self.reason.is_some()),
            ("to", self.to.is_some()),
            ("from", self.from.is_some()),
            ("transfer", self.transfer.is_some()),
            ("names", self.names.is_some()),
            ("revoked", self.revoked.is_some()),
            ("since", self.since.is_some()),
            ("attestations", self.attestations.is_some()),
        ];
        let (required, optional): (&[&str], &[&str]) = match self.kind {
            Inception => (
                &["keys", "threshold", "next", "next_threshold", "namespaces"],
                &["attestations"],
            ),
            Rotation => (
                &[
                    "identity",
                    "previous",
                    "keys",
                    "threshold",
                    "next",
                    "next_threshold",
                    "reason",
                ],
                &["attestations"],
            ),
            Transfer => (&["identity", "previous", "to", "names"], &[]),
            Acceptance => (&["identity", "previous", "from", "transfer", "names"], &[]),
            Revocation => (&["identity", "previous", "revoked", "reason", "since"], &[]),
        };
        for (name, is_present) in present {
            if required.contains(&name) && !is_present {
                return Err(FormatError::invalid(
                    "key event",
                    format!("a {} event needs `{name}`", self.kind),
                ));
            }
            if !required.contains(&name) && !optional.contains(&name) && is_present {
                return Err(FormatError::invalid(
                    "key event",
                    format!("a {} event has no `{name}`", self.kind),
                ));
            }
        }
        if (self.kind == Inception) != (self.sequence == 0) {
            return Err(FormatError::invalid(
                "key event",
                "inception is the event at sequence 0, and only inception",
            ));
        }
        if let (Some(keys), Some(threshold)) = (&self.keys, self.threshold) {
            check_key_set("keys", keys.len(), threshold)?;
            let mut ids: Vec<KeyId> = keys.iter().map(PublicKey::key_id).collect();
            if has_duplicates(&mut ids) {
                return Err(FormatError::invalid(
                    "key event",
                    "a key is listed twice in `keys`",
                ));
            }
        }
        if let (Some(next), Some(threshold)) = (&self.next, self.next_threshold) {
            check_key_set("next", next.len(), threshold)?;
            if has_duplicates(&mut next.clone()) {
                return Err(FormatError::invalid(
                    "key event",
                    "a key id is listed twice in `next`",
                ));
            }
        }
        for (field, list) in [("namespaces", &self.namespaces), ("names", &self.names)] {
            if let Some(list) = list {
                if list.is_empty() || list.len() > MAX_NAMES {
                    return Err(FormatError::invalid(
                        "key event",
                        format!("`{field}` holds 1 to {MAX_NAMES} names"),
                    ));
                }
                if has_duplicates(&mut list.clone()) {
                    return Err(FormatError::invalid(
                        "key event",
                        format!("a name is listed twice in `{field}`"),
                    ));
                }
            }
        }
        if let Some(revoked) = &self.revoked {
            if revoked.is_empty() || revoked.len() > MAX_KEYS {
                return Err(FormatError::invalid(
                    "key event",
                    format!("`revoked` holds 1 to {MAX_KEYS} key ids"),
                ));
            }
            if has_duplicates(&mut revoked.clone()) {
                return Err(FormatError::invalid(
                    "key event",
                    "a key id is listed twice in `revoked`",
                ));
            }
        }
        if let Some(reason) = self.reason {
            let allowed: &[Reason] = match self.kind {
                Rotation => &[Reason::Scheduled, Reason::Lost, Reason::Compromised],
                _ => &[Reason::Compromised, Reason::Retired],
            };
            if !allowed.contains(&reason) {
                return Err(FormatError::invalid(
                    "key event",
                    format!("`{reason}` is not a reason for a {}", self.kind),
                ));
            }
        }
        if let Some(attestations) = &self.attestations
            && (attestations.is_empty() || attestations.len() > MAX_ATTESTATIONS)
        {
            return Err(FormatError::invalid(
                "key event",
                format!("`attestations` holds 1 to {MAX_ATTESTATIONS} entries"),
            ));
        }
        Ok(())
    }
}

fn check_key_set(field: &str, len: usize, threshold: u64) -> Result<(), FormatError> {
    if len == 0 || len > MAX_KEYS {
        return Err(FormatError::invalid(
            "key event",
            format!("`{field}` holds 1 to {MAX_KEYS} keys"),
        ));
    }
    if threshold == 0 || threshold > len as u64 {
        return Err(FormatError::invalid(
            "key event",
            format!("threshold {threshold} for `{field}` must be between 1 and its {len} key(s)"),
        ));
    }
    Ok(())
}

fn has_duplicates<T: Ord>(items: &mut [T]) -> bool {
    items.sort();
    items.windows(2).any(|w| w[0] == w[1])
}
