//! Events on their way to the log: M-of-N ceremonies with keys on different machines.
//!
//! ```text
//! machine A:  hallmark ceremony rotate … --key K1 --out pending.json   (plans, signs with K1)
//! machine B:  hallmark ceremony cosign pending.json --key K2           (adds K2's signature)
//! machine A:  hallmark ceremony commit pending.json --identity org.example.kel
//! ```
//!
//! A [`PendingEvent`] carries the event's envelope with the signatures gathered so far, and the
//! transcripts of each signing step, so the commit's transcript can show every participant and
//! device. Each signer is checked against the keys entitled to sign before it is asked to sign;
//! [`PendingEvent::commit`] appends the event only when the log's own verification accepts it.
//!
//! The file is JSON:
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.hallmark.pending-event.v1+json",
//!   "identity": "hid:…",
//!   "event": { "payloadType": "application/vnd.hallmark.key-event.v1+json", … },
//!   "transcripts": [ { "payloadType": "application/vnd.hallmark.transcript.v1+json", … } ]
//! }
//! ```
//!
//! `identity` is absent for an inception (the identity is the inception's own digest).

use serde::{Deserialize, Serialize};

use hallmark_keyring::envelope::{Ed25519Signer, Envelope, PayloadType};
use hallmark_keyring::kel::{EventKind, Kel, KeyEvent};
use hallmark_keyring::{FormatError, IdentityId, KeyId, PublicKey};

use crate::error::CeremonyError;
use crate::event::Planned;

/// The pending event file's media type.
pub const PENDING_MEDIA_TYPE: &str = "application/vnd.hallmark.pending-event.v1+json";

/// Largest pending event file read, in bytes.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// Most transcripts a pending event carries (one per signing step).
pub const MAX_PENDING_TRANSCRIPTS: usize = 64;

/// An event gathering signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PendingEvent {
    /// Always [`PENDING_MEDIA_TYPE`].
    pub media_type: String,
    /// The identity whose log the event extends (absent for an inception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    /// The event with the signatures gathered so far.
    pub event: Envelope,
    /// Transcripts of the signing steps so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcripts: Vec<Envelope>,
}

impl PendingEvent {
    /// A pending event for a planned event, with no signature yet.
    pub fn new(planned: &Planned) -> Result<Self, CeremonyError> {
        Ok(PendingEvent {
            media_type: PENDING_MEDIA_TYPE.to_owned(),
            identity: planned.event.identity,
            event: planned.event.to_envelope()?,
            transcripts: Vec::new(),
        })
    }

    /// The event, decoded.
    pub fn key_event(&self) -> Result<KeyEvent, CeremonyError> {
        Ok(KeyEvent::from_envelope(&self.event)?)
    }

    /// The identity the event belongs to: the one it names, or, for an inception, its own.
    pub fn identity(&self) -> IdentityId {
        self.identity
            .unwrap_or_else(|| IdentityId::from_inception(&self.event.payload_digest()))
    }

    /// Re-plans the event against its log (`None` for an inception): checks that it belongs to
    /// the log and is still its next event, and returns who may sign it.
    pub fn plan(&self, kel: Option<&Kel>) -> Result<Planned, CeremonyError> {
        let event = self.key_event()?;
        match (event.kind, kel) {
            (EventKind::Inception, None) => {
                let keys = event.keys.clone().unwrap_or_default();
                Ok(Planned {
                    threshold: event.threshold.unwrap_or(0),
                    entitled: keys,
                    co_signers: Vec::new(),
                    event,
                })
            }
            (EventKind::Inception, Some(_)) => Err(CeremonyError::LogNeeded(
                "the pending event is an inception: it starts a new log, so give no --identity",
            )),
            (_, None) => Err(CeremonyError::LogNeeded(
                "the pending event extends a log: give the identity's log with --identity",
            )),
            (kind, Some(kel)) => {
                if self.identity != Some(kel.identity()) {
                    return Err(CeremonyError::WrongIdentity {
                        pending: self.identity(),
                        log: kel.identity(),
                    });
                }
                if let Some(there) = kel.event(event.sequence) {
                    let digest = self.event.payload_digest();
                    return Err(if there.digest == digest {
                        CeremonyError::AlreadyCommitted {
                            sequence: event.sequence,
                            digest,
                        }
                    } else {
                        CeremonyError::Fork {
                            sequence: event.sequence,
                            ours: digest,
                            theirs: there.digest,
                        }
                    });
                }
                let (entitled, threshold) = kel.entitled_signers(&event)?;
                let co_signers = if kind == EventKind::Rotation {
                    kel.current().keys.clone()
                } else {
                    Vec::new()
                };
                Ok(Planned {
                    event,
                    entitled,
                    threshold,
                    co_signers,
                })
            }
        }
    }

    /// Checks that `key` may sign the event, without signing: call it before unlocking a key or
    /// asking for a PIN.
    pub fn check_signer(&self, kel: Option<&Kel>, key: &PublicKey) -> Result<(), CeremonyError> {
        let planned = self.plan(kel)?;
        check_may_sign(&planned, key)
    }

    /// Signs the event with `signer`, after checking that its key may sign it.
    pub fn sign(
        &mut self,
        kel: Option<&Kel>,
        signer: &dyn Ed25519Signer,
    ) -> Result<KeyId, CeremonyError> {
        let planned = self.plan(kel)?;
        check_may_sign(&planned, &PublicKey::new(signer.verifying_key()))?;
        Ok(self.event.sign(signer)?)
    }

    /// The entitled keys that have signed so far (valid signatures only), and how many must.
    pub fn progress(&self, kel: Option<&Kel>) -> Result<(Vec<KeyId>, u64), CeremonyError> {
        let planned = self.plan(kel)?;
        let signed = planned
            .entitled
            .iter()
            .filter(|k| matches!(self.event.signature_by(k), Ok(Some(_))))
            .map(PublicKey::key_id)
            .collect();
        Ok((signed, planned.threshold))
    }

    /// Verifies the event as the next event of `kel` (or as an inception when `kel` is `None`)
    /// and returns the longer log. Nothing is written; the caller writes the log file.
    pub fn commit(&self, kel: Option<&Kel>) -> Result<Kel, CeremonyError> {
        let planned = self.plan(kel)?;
        let (signed, needed) = self.progress(kel)?;
        if (signed.len() as u64) < needed {
            return Err(CeremonyError::ThresholdNotMet {
                kind: planned.event.kind.as_str(),
                needed,
                signed,
                entitled: planned.entitled_ids(),
            });
        }
        Ok(match kel {
            None => Kel::verify(std::slice::from_ref(&self.event))?,
            Some(kel) => kel.append(&self.event)?,
        })
    }

    /// Encodes as indented JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Decodes strictly: size, media type, fields, and the payload type of every envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CeremonyError> {
        if bytes.len() > MAX_PENDING_BYTES {
            return Err(FormatError::TooLarge {
                what: "pending event",
                len: bytes.len(),
                max: MAX_PENDING_BYTES,
            }
            .into());
        }
        let pending: PendingEvent =
            serde_json::from_slice(bytes).map_err(|e| FormatError::Invalid {
                what: "pending event",
                reason: e.to_string(),
            })?;
        if pending.media_type != PENDING_MEDIA_TYPE {
            return Err(FormatError::MediaType {
                found: pending.media_type.chars().take(100).collect(),
                expected: PENDING_MEDIA_TYPE,
            }
            .into());
        }
        pending.event.expect_type(PayloadType::KeyEvent)?;
        if pending.transcripts.len() > MAX_PENDING_TRANSCRIPTS {
            return Err(FormatError::TooLarge {
                what: "pending event's transcript list",
                len: pending.transcripts.len(),
                max: MAX_PENDING_TRANSCRIPTS,
            }
            .into());
        }
        for t in &pending.transcripts {
            t.expect_type(PayloadType::Transcript)?;
        }
        let event = pending.key_event()?;
        if event.identity != pending.identity {
            return Err(FormatError::Invalid {
                what: "pending event",
                reason: "`identity` differs from the event's identity".to_owned(),
            }
            .into());
        }
        Ok(pending)
    }
}

fn check_may_sign(planned: &Planned, key: &PublicKey) -> Result<(), CeremonyError> {
    if planned.may_sign(&key.key_id()) {
        Ok(())
    } else {
        Err(CeremonyError::NotEntitled {
            key: key.key_id(),
            kind: planned.event.kind.as_str(),
            entitled: planned.signer_ids(),
        })
    }
}
