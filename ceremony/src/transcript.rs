//! Ceremony transcripts: the signed record of what a ceremony did.
//!
//! Every ceremony command writes one. A transcript is canonical JSON in an envelope of type
//! [`PayloadType::Transcript`] (so it can never pass for a key event or a statement), signed by
//! every key that took part — its participants:
//!
//! ```json
//! {"action":"rotate","identity":"hid:…","time":"2026-11-23T10:00:00Z",
//!  "events":[{"sequence":1,"kind":"rotation","digest":"sha256:…","status":"committed"}],
//!  "participants":[{"publicKey":"ed25519:…","keyId":"…","role":"signer","backend":"yubikey",
//!                   "reference":"yubikey:serial=12345678;slot=9c",
//!                   "device":[["serial","12345678"],["firmware","5.7.4"]]}],
//!  "details":{"reason":"scheduled"},
//!  "parts":[…]}
//! ```
//!
//! * `events` — the key events the ceremony produced or signed, by position and digest;
//!   `status` is `committed` when the event was appended to the log, `pending` when it was
//!   signed but waits for co-signers;
//! * `participants` — each key's public key and id (recomputed and checked on read), its role,
//!   the backend, the key reference without secrets, device facts (token serial, YubiKey serial
//!   and firmware…) and hardware attestations when the device gives them;
//! * `details` — what else the action decided (reason, names, backup id, …), as text;
//! * `parts` — for a commit, the transcripts of the signing steps that preceded it (each
//!   verified in turn; parts have no parts of their own).
//!
//! [`verify`] checks that every participant signed, that keys are not listed twice, that the
//! parts verify, and that someone signed at all; [`Transcript::check_log`] checks the events
//! against the identity's log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::canonical;
use hallmark_keyring::envelope::{Ed25519Signer, Envelope, MAX_PAYLOAD_BYTES, PayloadType};
use hallmark_keyring::kel::{EventKind, Kel};
use hallmark_keyring::threshold::{ThresholdError, check_threshold};
use hallmark_keyring::{FormatError, IdentityId, KeyId, PublicKey, Sha256Digest, Timestamp};

use crate::error::CeremonyError;

/// Whether an event named by a transcript was appended to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Appended to the log by this ceremony step.
    Committed,
    /// Signed, waiting for co-signers or a commit.
    Pending,
}

/// A key event named by a transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptEvent {
    /// Its position in the log.
    pub sequence: u64,
    /// Its kind.
    pub kind: EventKind,
    /// Its digest (the SHA-256 of its payload).
    pub digest: Sha256Digest,
    /// Committed or pending.
    pub status: EventStatus,
}

/// A key that took part in a ceremony, and the device that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Participant {
    /// The public key.
    pub public_key: PublicKey,
    /// Its id (checked against the key on read).
    pub key_id: KeyId,
    /// What the key did: `signer` (its signature counts towards the event's threshold),
    /// `co-signer` (a current key co-signing a rotation), `backed-up`, `restored`.
    pub role: String,
    /// `file`, `pkcs11` or `yubikey`.
    pub backend: String,
    /// The key reference, without secrets.
    pub reference: String,
    /// Device facts, as the backend reports them (name, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<(String, String)>,
    /// Hardware attestations of the key, when the device gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<Attestation>,
}

/// What a ceremony did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// The command: `init`, `rotate`, `transfer`, `accept`, `revoke`, `cosign`, `commit`,
    /// `backup`, `restore`.
    pub action: String,
    /// The identity concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    /// When the ceremony step ran.
    pub time: Timestamp,
    /// The key events it produced or signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<TranscriptEvent>,
    /// The keys that took part; each signs the transcript.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Participant>,
    /// Anything else the step decided, as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// Transcripts of earlier steps this one completes (a commit's signing steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Envelope>,
}

/// Why a transcript was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// Not a transcript, or not canonical.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A participant's key id does not match its key.
    #[error("a participant is listed with key id {}, but its key's id is {}", .listed.short(), .key.short())]
    KeyIdMismatch {
        /// The id of the participant's key.
        key: KeyId,
        /// The id listed.
        listed: KeyId,
    },
    /// A key is listed twice.
    #[error("key {} is listed twice among the participants", .0.short())]
    DuplicateParticipant(KeyId),
    /// Not every participant signed.
    #[error("not every participant signed the transcript: {0}")]
    Signatures(ThresholdError),
    /// Nobody signed, here or in the parts.
    #[error("the transcript is signed by no participant: it proves nothing")]
    Unsigned,
    /// A part is itself composite.
    #[error("part #{0} has parts of its own; parts are one level deep")]
    NestedParts(usize),
    /// A part does not verify.
    #[error("part #{index}: {source}")]
    Part {
        /// Its position among the parts.
        index: usize,
        /// What is wrong.
        source: Box<TranscriptError>,
    },
}

/// How an event named by a transcript relates to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogCheck {
    /// The event is in the log at its position.
    InLog,
    /// The log has another event at that position.
    Different {
        /// The log's event there.
        found: Sha256Digest,
    },
    /// The log is shorter.
    Missing,
    /// The transcript belongs to another identity.
    OtherIdentity,
}

impl Transcript {
    /// A transcript of `action` at `time`, with nothing else yet.
    pub fn new(action: &str, identity: Option<IdentityId>, time: Timestamp) -> Self {
        Transcript {
            action: action.to_owned(),
            identity,
            time,
            events: Vec::new(),
            participants: Vec::new(),
            details: BTreeMap::new(),
            parts: Vec::new(),
        }
    }

    /// Adds an event.
    pub fn event(&mut self, kel_event: &hallmark_keyring::kel::KeyEvent, status: EventStatus) {
        self.events.push(TranscriptEvent {
            sequence: kel_event.sequence,
            kind: kel_event.kind,
            digest: kel_event.digest(),
            status,
        });
    }

    /// Adds a detail.
    pub fn detail(&mut self, name: &str, value: impl Into<String>) {
        self.details.insert(name.to_owned(), value.into());
    }

    /// The payload bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// Signs the transcript with every participant's signer. `signers` must be exactly the
    /// participants' keys, in any order.
    pub fn sign(&self, signers: &[&dyn Ed25519Signer]) -> Result<Envelope, CeremonyError> {
        let mut envelope = Envelope::new(PayloadType::Transcript, self.to_payload())?;
        for signer in signers {
            let key = PublicKey::new(signer.verifying_key());
            if !self.participants.iter().any(|p| p.public_key == key) {
                return Err(CeremonyError::Invalid(format!(
                    "key {} signs a transcript it is not a participant of",
                    key.key_id().short()
                )));
            }
            envelope.sign(*signer)?;
        }
        Ok(envelope)
    }

    /// Checks each event against the identity's log.
    pub fn check_log(&self, kel: &Kel) -> Vec<(TranscriptEvent, LogCheck)> {
        self.events
            .iter()
            .map(|e| {
                let check = if self.identity != Some(kel.identity()) {
                    LogCheck::OtherIdentity
                } else {
                    match kel.event(e.sequence) {
                        Some(found) if found.digest == e.digest => LogCheck::InLog,
                        Some(found) => LogCheck::Different {
                            found: found.digest,
                        },
                        None => LogCheck::Missing,
                    }
                };
                (e.clone(), check)
            })
            .collect()
    }
}

/// Decodes and verifies a transcript envelope: payload type, canonical encoding, participants'
/// key ids, every participant's signature, and each part in turn. A transcript whose
/// participants — its own and its parts' — are all absent is refused: it proves nothing.
pub fn verify(envelope: &Envelope) -> Result<Transcript, TranscriptError> {
    let transcript = verify_one(envelope)?;
    let mut signed = !transcript.participants.is_empty();
    for (index, part) in transcript.parts.iter().enumerate() {
        let inner = verify_one(part).map_err(|e| TranscriptError::Part {
            index,
            source: Box::new(e),
        })?;
        if !inner.parts.is_empty() {
            return Err(TranscriptError::NestedParts(index));
        }
        signed |= !inner.participants.is_empty();
    }
    if !signed {
        return Err(TranscriptError::Unsigned);
    }
    Ok(transcript)
}

fn verify_one(envelope: &Envelope) -> Result<Transcript, TranscriptError> {
    envelope.expect_type(PayloadType::Transcript)?;
    let transcript: Transcript =
        canonical::from_slice("ceremony transcript", envelope.payload(), MAX_PAYLOAD_BYTES)?;
    let mut seen = Vec::new();
    for p in &transcript.participants {
        if p.public_key.key_id() != p.key_id {
            return Err(TranscriptError::KeyIdMismatch {
                key: p.public_key.key_id(),
                listed: p.key_id,
            });
        }
        if seen.contains(&p.key_id) {
            return Err(TranscriptError::DuplicateParticipant(p.key_id));
        }
        seen.push(p.key_id);
    }
    if !transcript.participants.is_empty() {
        let keys: Vec<PublicKey> = transcript
            .participants
            .iter()
            .map(|p| p.public_key)
            .collect();
        check_threshold(envelope, &keys, keys.len() as u64).map_err(TranscriptError::Signatures)?;
    }
    Ok(transcript)
}
