//! Registry receipts: a registry's countersignature over a statement or a key event.
//!
//! A receipt is an envelope of type [`PayloadType::Receipt`] whose payload is the canonical
//! JSON of a [`Receipt`]:
//!
//! ```json
//! {"registry":"hid:…","registry_sequence":0,"subject":"sha256:…","subject_type":"statement",
//!  "identity":"hid:…","log_index":42,"log_entry":"sha256:…","time":"2026-11-23T09:59:59Z"}
//! ```
//!
//! * `registry`, `registry_sequence` — the registry's identity and the position of its key
//!   event log whose keys signed the receipt;
//! * `subject` — SHA-256 of the countersigned payload (the statement's, or the key event's);
//!   `subject_type` says which (`statement` or `key-event`);
//! * `identity` — the publisher identity the subject belongs to;
//! * `log_index`, `log_entry` — where the registry recorded the subject in its log, and the
//!   digest of that log entry's payload, so an auditor can find it and check it;
//! * `time` — when the registry accepted it. This is the only time in Hallmark that is not
//!   the signer's own word: it is how a release proves it was made before a key compromise.
//!
//! Receipts travel in bundles (`receipts`) and are verified against the registry identity's
//! key event log that the consumer pinned ([`verify_receipt`]).

use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::envelope::{Envelope, PayloadType};
use crate::error::FormatError;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::{Kel, Reason};
use crate::threshold::check_threshold;
use crate::time::Timestamp;

/// Largest receipt payload, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 2048;

/// What a receipt countersigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectType {
    /// A package statement.
    Statement,
    /// A key event (inception, rotation, transfer, acceptance, revocation).
    KeyEvent,
}

/// A receipt's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The registry's identity.
    pub registry: IdentityId,
    /// The position of the registry's key event log whose keys sign this receipt.
    pub registry_sequence: u64,
    /// SHA-256 of the countersigned payload.
    pub subject: Sha256Digest,
    /// What the subject is.
    pub subject_type: SubjectType,
    /// The publisher identity the subject belongs to.
    pub identity: IdentityId,
    /// Position of the registry log entry that records the subject.
    pub log_index: u64,
    /// SHA-256 of that log entry's payload.
    pub log_entry: Sha256Digest,
    /// When the registry accepted the subject.
    pub time: Timestamp,
}

impl Receipt {
    /// The canonical payload bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// An unsigned envelope carrying this receipt.
    pub fn to_envelope(&self) -> Result<Envelope, FormatError> {
        Envelope::new(PayloadType::Receipt, self.to_payload())
    }

    /// Decodes the receipt an envelope carries (type and canonical encoding checked).
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, FormatError> {
        envelope.expect_type(PayloadType::Receipt)?;
        canonical::from_slice("receipt", envelope.payload(), MAX_RECEIPT_BYTES)
    }
}

/// Why a receipt does not count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The receipt does not decode.
    #[error("the receipt is malformed: {0}")]
    Malformed(FormatError),
    /// The receipt is from another registry than the one it is checked against.
    #[error("the receipt is from registry {}, not {}", found.short(), expected.short())]
    OtherRegistry {
        /// The registry checked against.
        expected: IdentityId,
        /// The registry the receipt names.
        found: IdentityId,
    },
    /// The receipt countersigns something else.
    #[error("the receipt countersigns {found}, not {expected}")]
    OtherSubject {
        /// The subject expected.
        expected: Sha256Digest,
        /// The subject named.
        found: Sha256Digest,
    },
    /// The receipt names a registry log position the consumer does not know.
    #[error(
        "the receipt is signed at event #{0} of the registry's key event log, which the keyring does not hold; import the registry's newer log"
    )]
    UnknownPosition(u64),
    /// The receipt's signatures do not verify under the registry's keys at that position.
    #[error("the receipt's signature does not verify under the registry's keys: {0}")]
    Signature(String),
    /// The registry's keys were rotated away as compromised before the receipt's time.
    #[error(
        "the registry's keys that signed it were retired as compromised by event #{sequence} on {time}, before the receipt's time"
    )]
    CompromisedRegistryKey {
        /// The rotation or revocation.
        sequence: u64,
        /// When.
        time: Timestamp,
    },
}

/// Verifies a receipt against a registry's key event log and the subject it must countersign.
pub fn verify_receipt(
    envelope: &Envelope,
    registry: &Kel,
    subject: &Sha256Digest,
) -> Result<Receipt, ReceiptError> {
    let receipt = Receipt::from_envelope(envelope).map_err(ReceiptError::Malformed)?;
    if receipt.registry != registry.identity() {
        return Err(ReceiptError::OtherRegistry {
            expected: registry.identity(),
            found: receipt.registry,
        });
    }
    if &receipt.subject != subject {
        return Err(ReceiptError::OtherSubject {
            expected: *subject,
            found: receipt.subject,
        });
    }
    let epoch = registry
        .epoch_at(receipt.registry_sequence)
        .ok_or(ReceiptError::UnknownPosition(receipt.registry_sequence))?;
    check_threshold(envelope, &epoch.keys, epoch.threshold)
        .map_err(|e| ReceiptError::Signature(e.to_string()))?;
    // A receipt made with registry keys after they were declared compromised proves nothing.
    if let (Some(end), Some((Reason::Compromised, time))) = (epoch.end, epoch.ended_by)
        && receipt.time >= time
    {
        return Err(ReceiptError::CompromisedRegistryKey {
            sequence: end,
            time,
        });
    }
    for revocation in registry.revocations() {
        if revocation.reason == Reason::Compromised
            && revocation.keys.iter().any(|k| epoch.has_key(k))
            && receipt.time >= revocation.since
        {
            return Err(ReceiptError::CompromisedRegistryKey {
                sequence: revocation.sequence,
                time: revocation.since,
            });
        }
    }
    Ok(receipt)
}
