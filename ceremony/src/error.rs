//! Errors of ceremonies.

use hallmark_keyring::envelope::SignError;
use hallmark_keyring::kel::KelError;
use hallmark_keyring::{FormatError, IdentityId, KeyId, Sha256Digest, Timestamp};

/// Why a ceremony step was refused. Every variant is an input error: the log, the event or the
/// keys given do not allow the step; nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The log, or the log extended by the new event, does not verify.
    #[error(transparent)]
    Log(#[from] KelError),
    /// A document does not decode.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A signer failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The system clock is behind the newest event of the log.
    #[error(
        "the clock says {now}, before the log's newest event ({head}); events never go back in \
         time: fix the clock"
    )]
    ClockBehind {
        /// The time now.
        now: Timestamp,
        /// The time of the newest event.
        head: Timestamp,
    },
    /// A key asked to sign is not entitled to sign this event.
    #[error("key {} is not entitled to sign this {kind} event; entitled: {}", key.short(), list(entitled))]
    NotEntitled {
        /// The key.
        key: KeyId,
        /// The event's kind.
        kind: &'static str,
        /// The keys that may sign.
        entitled: Vec<KeyId>,
    },
    /// Fewer entitled keys signed than the threshold.
    #[error(
        "the {kind} event is signed by {} of the {needed} entitled keys it needs{}; co-sign it with \
         `hallmark ceremony cosign` on the machines that hold the others (entitled: {})",
        signed.len(),
        if signed.is_empty() { String::new() } else { format!(" ({})", list(signed)) },
        list(entitled)
    )]
    ThresholdNotMet {
        /// The event's kind.
        kind: &'static str,
        /// How many must sign.
        needed: u64,
        /// The entitled keys that signed.
        signed: Vec<KeyId>,
        /// Every entitled key.
        entitled: Vec<KeyId>,
    },
    /// A pending event belongs to another identity than the log given.
    #[error("the pending event belongs to identity {}, not to {}", pending.short(), log.short())]
    WrongIdentity {
        /// The identity the pending event names.
        pending: IdentityId,
        /// The log's identity.
        log: IdentityId,
    },
    /// A pending event needs its log (it is not an inception), or an inception was given a log.
    #[error("{0}")]
    LogNeeded(&'static str),
    /// No transfer to accept.
    #[error(
        "identity {} has no transfer to {} that is not yet accepted; the giver runs \
         `hallmark ceremony transfer --to` first",
        giver.short(), receiver.short()
    )]
    NoTransfer {
        /// The giver.
        giver: IdentityId,
        /// The receiver.
        receiver: IdentityId,
    },
    /// The names given do not match the transfer's.
    #[error("transfer {} hands over {transferred}, not {asked}: an acceptance names exactly the transfer's names", transfer.short())]
    NamesMismatch {
        /// The transfer event.
        transfer: Sha256Digest,
        /// Its names.
        transferred: String,
        /// The names asked for.
        asked: String,
    },
    /// Several transfers are waiting for acceptance; the caller must pick one.
    #[error("identity {} has several transfers to this identity waiting ({}); name one with --transfer", giver.short(), digests.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))]
    AmbiguousTransfer {
        /// The giver.
        giver: IdentityId,
        /// The waiting transfers.
        digests: Vec<Sha256Digest>,
    },
    /// A transfer event named by digest is not in the giver's log, or is not to this identity.
    #[error("event {} is not a transfer to identity {} in the giver's log", digest.short(), receiver.short())]
    UnknownTransfer {
        /// The digest given.
        digest: Sha256Digest,
        /// The receiver.
        receiver: IdentityId,
    },
    /// The pending event is already in the log.
    #[error("event #{sequence} {} is already in the log", digest.short())]
    AlreadyCommitted {
        /// Its position.
        sequence: u64,
        /// Its digest.
        digest: Sha256Digest,
    },
    /// The log already has another event at the pending event's position: committing it would
    /// fork the log (equivocation).
    #[error(
        "the log already has event {} at position #{sequence}; this pending event ({}) was made \
         for an older state of the log, and committing it would fork the log (two events at one \
         position are equivocation). Plan the event again on the current log.",
        theirs.short(), ours.short()
    )]
    Fork {
        /// The position.
        sequence: u64,
        /// The pending event's digest.
        ours: Sha256Digest,
        /// The log's event there.
        theirs: Sha256Digest,
    },
    /// A ceremony parameter is out of range.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn list(keys: &[KeyId]) -> String {
    if keys.is_empty() {
        return "none".to_owned();
    }
    keys.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
}
