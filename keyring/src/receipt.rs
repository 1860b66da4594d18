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
//! **Version 2** adds `tlog`: the proof that the subject is in the registry's public
//! transparency log, checkable offline.
//!
//! ```json
//! {…, "tlog":{"checkpoint":"<origin>\n<size>\n<root>\n\n— <origin> <sig>\n",
//!             "inclusion":["<base64 hash>",…],
//!             "line":{"entry":{…},"attached":[…]}}}
//! ```
//!
//! * `checkpoint` — the registry's signed checkpoint (a C2SP signed note) of the tree the
//!   proof is against, signed by the same registry key as the receipt;
//! * `line` — the log line that records the subject, exactly as in `log.jsonl` (its canonical
//!   JSON is the Merkle leaf): the signed log entry at `log_index`, with the statement or key
//!   event attached;
//! * `inclusion` — the RFC 6962 inclusion proof of that leaf at `log_index` in the
//!   checkpoint's tree, leaf side first.
//!
//! [`verify_receipt`] checks, besides the registry's signature: that the checkpoint is signed
//! by a key of the registry at `registry_sequence` (or its current keys), that the line's
//! entry is entry `log_index` with digest `log_entry` and records the subject, and that the
//! proof leads from the line to the checkpoint's root. A version 1 receipt (no `tlog`) is
//! still accepted as the registry's signed word, dating the statement as before: bundles made
//! before version 2 keep verifying; it proves nothing about the public log.
//!
//! Receipts travel in bundles (`receipts`) and are verified against the registry identity's
//! key event log that the consumer pinned ([`verify_receipt`]).

use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::encoding::base64_decode_array;
use crate::envelope::{Envelope, PayloadType};
use crate::error::FormatError;
use crate::hashlog::{LogEntry, LogLine};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::{Epoch, Kel, Reason};
use crate::registry::RegistryRecord;
use crate::registry::tiles::checkpoint_keys;
use crate::threshold::check_threshold;
use crate::time::Timestamp;
use crate::tlog::merkle::{leaf_hash, verify_inclusion};
use crate::tlog::{Checkpoint, CheckpointError, Note};

/// Largest receipt payload, in bytes: a version 2 receipt carries a log line (at most
/// 65,535 bytes), a proof and a checkpoint.
pub const MAX_RECEIPT_BYTES: usize = 192 * 1024;

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
    /// Version 2: the proof that the log line is in the registry's transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog: Option<TlogProof>,
}

/// A receipt's transparency-log proof (receipt version 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlogProof {
    /// The signed checkpoint (note text and signature lines) the proof is against.
    pub checkpoint: String,
    /// The inclusion proof: base64 of each hash, leaf side first.
    pub inclusion: Vec<String>,
    /// The log line at `log_index`, whose canonical JSON is the leaf.
    pub line: LogLine,
}

impl Receipt {
    /// The receipt's version: 2 with a transparency-log proof, else 1.
    pub fn version(&self) -> u8 {
        if self.tlog.is_some() { 2 } else { 1 }
    }

    /// The checkpoint a version 2 receipt is proved against, parsed but not verified.
    pub fn checkpoint(&self) -> Option<Result<Checkpoint, CheckpointError>> {
        let proof = self.tlog.as_ref()?;
        Some(Checkpoint::parse_unverified(proof.checkpoint.as_bytes()))
    }
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
    /// A version 2 receipt's checkpoint is malformed or not signed by the registry.
    #[error("the receipt's checkpoint does not verify: {0}")]
    Checkpoint(String),
    /// A version 2 receipt's log line is not the entry the receipt names, or does not record
    /// the subject.
    #[error("the receipt's log line {0}")]
    Line(String),
    /// A version 2 receipt's inclusion proof does not lead to the checkpoint's root.
    #[error("the receipt's inclusion proof does not verify: {0}")]
    Inclusion(String),
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
    if let Some(proof) = &receipt.tlog {
        check_tlog(&receipt, proof, registry, epoch)?;
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

/// Checks a version 2 receipt's proof: checkpoint signature, line, inclusion.
fn check_tlog(
    receipt: &Receipt,
    proof: &TlogProof,
    registry: &Kel,
    epoch: &Epoch,
) -> Result<(), ReceiptError> {
    let note = Note::parse(proof.checkpoint.as_bytes())
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse_body(note.text()).map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let mut keys = checkpoint_keys(&checkpoint.origin, epoch);
    for key in checkpoint_keys(&checkpoint.origin, registry.current()) {
        if !keys.iter().any(|k| k.key_id() == key.key_id()) {
            keys.push(key);
        }
    }
    note.verify(&keys)
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let tree = checkpoint.tree;
    let entry = LogEntry::<RegistryRecord>::from_envelope(&proof.line.entry)
        .map_err(|e| ReceiptError::Line(format!("does not decode: {e}")))?;
    if entry.index != receipt.log_index || proof.line.entry.payload_digest() != receipt.log_entry {
        return Err(ReceiptError::Line(format!(
            "is entry #{} ({}), not the entry #{} ({}) the receipt names",
            entry.index,
            proof.line.entry.payload_digest(),
            receipt.log_index,
            receipt.log_entry
        )));
    }
    let named = match entry.record {
        RegistryRecord::Publish { statement, .. } | RegistryRecord::Yank { statement, .. } => {
            statement
        }
        RegistryRecord::KeyEvent { event, .. } => event,
    };
    let recorded = named == receipt.subject
        && !matches!(entry.record, RegistryRecord::Yank { .. })
        && proof
            .line
            .attached
            .first()
            .is_some_and(|a| a.payload_digest() == receipt.subject);
    if !recorded {
        return Err(ReceiptError::Line(format!(
            "does not record {}",
            receipt.subject
        )));
    }
    let hashes = proof
        .inclusion
        .iter()
        .map(|h| base64_decode_array::<32>("proof hash", h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReceiptError::Inclusion(e.to_string()))?;
    let leaf = leaf_hash(&proof.line.to_json());
    verify_inclusion(&leaf, receipt.log_index, tree.size, &hashes, &tree.root)
        .map_err(|e| ReceiptError::Inclusion(e.to_string()))
}

/// The media type of the receipts file a registry writes beside a key event log it accepted
/// (`PATH.receipts.json`; bundles carry their receipts inside).
pub const RECEIPTS_MEDIA_TYPE: &str = "application/vnd.hallmark.receipts.v1+json";

/// The receipts file written beside an accepted key event log:
/// `{"mediaType": RECEIPTS_MEDIA_TYPE, "receipts": [envelopes]}`, indented, newline-terminated.
pub fn receipts_file(receipts: &[Envelope]) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct File<'a> {
        media_type: &'static str,
        receipts: &'a [Envelope],
    }
    let mut text = serde_json::to_vec_pretty(&File {
        media_type: RECEIPTS_MEDIA_TYPE,
        receipts,
    })
    .unwrap_or_default();
    text.push(b'\n');
    text
}

/// Adds receipts to a bundle's, replacing an older receipt from the same registry for the
/// same subject (a re-issued receipt carries a proof against a newer checkpoint) and keeping
/// every other one, including receipts that do not decode, which are not this rule's to drop.
/// Returns whether the bundle changed.
pub fn merge_receipts(held: &mut Vec<Envelope>, receipts: &[Envelope]) -> bool {
    let mut changed = false;
    for receipt in receipts {
        if held.contains(receipt) {
            continue;
        }
        if let Ok(new) = Receipt::from_envelope(receipt) {
            held.retain(|old| {
                Receipt::from_envelope(old).map_or(true, |o| {
                    !(o.registry == new.registry && o.subject == new.subject)
                })
            });
        }
        held.push(receipt.clone());
        changed = true;
    }
    changed
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn receipt(registry: u8, subject: u8, log_index: u64) -> Envelope {
        Receipt {
            registry: IdentityId::from_inception(&Sha256Digest::of(&[registry])),
            registry_sequence: 0,
            subject: Sha256Digest::of(&[subject]),
            subject_type: SubjectType::Statement,
            identity: IdentityId::from_inception(&Sha256Digest::of(b"publisher")),
            log_index,
            log_entry: Sha256Digest::of(&log_index.to_be_bytes()),
            time: Timestamp::from_unix(1_765_000_000).expect("a valid time"),
            tlog: None,
        }
        .to_envelope()
        .expect("an envelope")
    }

    #[test]
    fn a_reissued_receipt_replaces_the_older_one_of_its_registry_and_subject() {
        let other_registry = receipt(2, 1, 7);
        let other_subject = receipt(1, 2, 8);
        let mut held = vec![
            receipt(1, 1, 3),
            other_registry.clone(),
            other_subject.clone(),
        ];
        let newer = receipt(1, 1, 9);
        assert!(merge_receipts(&mut held, std::slice::from_ref(&newer)));
        assert_eq!(held, vec![other_registry, other_subject, newer.clone()]);
        // The same receipt again changes nothing.
        let before = held.clone();
        assert!(!merge_receipts(&mut held, &[newer]));
        assert_eq!(held, before);
    }

    #[test]
    fn the_receipts_file_names_its_media_type_first() {
        let text = receipts_file(&[]);
        assert_eq!(
            String::from_utf8(text).expect("UTF-8"),
            "{\n  \"mediaType\": \"application/vnd.hallmark.receipts.v1+json\",\n  \"receipts\": []\n}\n"
        );
    }
}
