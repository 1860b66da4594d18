//! Errors of ceremonies.
//!
//! Messages say what was wrong in the operator's terms and never name a command or its flags:
//! a program that runs ceremonies maps the variants that need it ([`CeremonyError::NoKeys`],
//! [`CeremonyError::ThresholdNotMet`], …) to what its user should do.

use std::path::PathBuf;

use hallmark_keyring::envelope::SignError;
use hallmark_keyring::fsutil::{ReadError, WriteError};
use hallmark_keyring::kel::KelError;
use hallmark_keyring::{FormatError, IdentityId, KeyId, Sha256Digest, Timestamp};

use crate::backup::BackupError;
use crate::keys::KeyFailure;
use crate::transcript::TranscriptError;

/// Which set of keys a threshold is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySet {
    /// The keys that sign statements and events.
    Signing,
    /// The next keys, which sign the next rotation.
    Next,
}

/// Why a ceremony was refused or failed. Nothing was written unless the variant says so; a
/// failed key ([`CeremonyError::Key`]) carries the backend's own error as its source.
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
        "the {kind} event is signed by {} of the {needed} entitled keys it needs{}; the others \
         must co-sign it (entitled: {})",
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
        "identity {} has no transfer to {} that is not yet accepted; the giver transfers first",
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
    /// A file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// A file is not a key event log.
    #[error("{} is not a Hallmark key event log: {source}", path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FormatError,
    },
    /// A log file does not verify.
    #[error("{}: {source}", path.display())]
    LogInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KelError,
    },
    /// A file holds something wrong.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Box<CeremonyError>,
    },
    /// A file cannot be read again to check that it did not change.
    #[error("cannot re-read {}: {source}", path.display())]
    Reread {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The log changed while the ceremony ran.
    #[error(
        "{} changed while the ceremony ran; nothing was written: run the ceremony again on the \
         new log",
        path.display()
    )]
    LogChanged {
        /// The log file.
        path: PathBuf,
    },
    /// The pending event file changed while keys co-signed it.
    #[error(
        "{} changed while co-signing; nothing was written: co-sign the new file",
        path.display()
    )]
    PendingChanged {
        /// The pending event file.
        path: PathBuf,
    },
    /// An output that must be new exists.
    #[error("{what} {} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// What the output is.
        what: &'static str,
        /// Where.
        path: PathBuf,
    },
    /// Writing a file failed; the file is as it was.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A directory cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key's public key cannot be read.
    #[error("{source}")]
    PublicKey {
        /// The key, as the operator named it.
        key: String,
        /// The backend's error.
        #[source]
        source: KeyFailure,
    },
    /// A key cannot be opened, or its device failed.
    #[error("{source}")]
    Key {
        /// The key, as the operator named it.
        key: String,
        /// The backend's error.
        #[source]
        source: KeyFailure,
    },
    /// A new key cannot be saved, or what saving needs cannot be had.
    #[error("{source}")]
    Sink {
        /// The key store's error.
        #[source]
        source: KeyFailure,
    },
    /// New keys were asked for without a place to save them.
    #[error("new next keys were asked for, but no key store was given to save them")]
    NoKeySink,
    /// A key given is not entitled to sign the event; nothing was unlocked.
    #[error(
        "{name} holds key {}, which is not entitled to sign this {kind} event (entitled: {}); \
         nothing was unlocked",
        key.short(),
        entitled.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
    )]
    KeyNotEntitled {
        /// The key, as the operator named it.
        name: String,
        /// Its id.
        key: KeyId,
        /// The event's kind.
        kind: &'static str,
        /// The keys that may sign, counting or co-signing.
        entitled: Vec<KeyId>,
    },
    /// The same key was given twice.
    #[error("{key} names a key already given")]
    DuplicateKey {
        /// The second name of the key.
        key: String,
    },
    /// A key given as a current key is not one.
    #[error("{name} holds key {}, which is not a current key of identity {}", key.short(), identity.short())]
    NotCurrentKey {
        /// The key, as the operator named it.
        name: String,
        /// Its id.
        key: KeyId,
        /// The identity.
        identity: IdentityId,
    },
    /// A rotation reveals a key that was not committed.
    #[error(
        "rotation to key {} refused: it was not pre-committed. Event #{sequence} of identity {} \
         commits to {}; only those keys can become current. Nothing was unlocked.",
        key.short(), identity.short(), committed.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
    )]
    NotCommitted {
        /// The key.
        key: KeyId,
        /// The event that made the commitments.
        sequence: u64,
        /// The identity.
        identity: IdentityId,
        /// The committed keys.
        committed: Vec<KeyId>,
    },
    /// No key to sign an inception or rotation.
    #[error("no keys given for the {kind}")]
    NoKeys {
        /// `inception` or `rotation`.
        kind: &'static str,
    },
    /// Keys that sign elsewhere were named, but the event was not to be written as pending.
    #[error("keys that sign elsewhere need a pending {kind}, co-signed where they are")]
    CosignersNeedPending {
        /// `inception` or `rotation`.
        kind: &'static str,
    },
    /// Several keys and no threshold.
    #[error("{keys} {} keys: say how many must sign", match set { KeySet::Signing => "signing", KeySet::Next => "next" })]
    ThresholdNeeded {
        /// How many keys.
        keys: usize,
        /// Which set.
        set: KeySet,
    },
    /// No next key: pre-rotation is always on.
    #[error("pre-rotation is always on: name the next key(s)")]
    NoNextKeys,
    /// No key to sign an event the current keys must sign, and no pending file to gather them.
    #[error("identity {} needs {threshold} of its current keys to sign", identity.short())]
    NoSigners {
        /// The identity.
        identity: IdentityId,
        /// Its threshold.
        threshold: u64,
    },
    /// The system gives no randomness to make a key.
    #[error("no randomness: {0}")]
    Randomness(getrandom::Error),
    /// A key to back up is not committed in the identity's log; nothing was unlocked.
    #[error(
        "key {} is neither committed as a next key nor a current key of identity {}: refusing \
         to back it up; nothing was unlocked",
        key.short(), identity.short()
    )]
    NotCommittedForBackup {
        /// The key.
        key: KeyId,
        /// The identity.
        identity: IdentityId,
    },
    /// The key cannot leave its backend (a hardware key), so it cannot be split into shares.
    #[error("{key} cannot leave its device: only a key file can be split into custodian shares")]
    NotExportable {
        /// The key, as the operator named it.
        key: String,
    },
    /// The directory for shares holds something already.
    #[error("{} exists and is not an empty directory; refusing to write shares into it", path.display())]
    NotEmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A backup or restore step failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A file is not a transcript.
    #[error("{} is not a transcript: {source}", path.display())]
    NotATranscript {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FormatError,
    },
    /// A transcript does not verify.
    #[error("{}: {source}", path.display())]
    Transcript {
        /// The file.
        path: PathBuf,
        /// Why.
        source: TranscriptError,
    },
    /// The transcripts a pending event carries do not verify (the event itself is valid).
    #[error("the pending event's transcripts do not verify ({0}); the event itself is valid")]
    PartsInvalid(TranscriptError),
}

pub(crate) fn list(keys: &[KeyId]) -> String {
    if keys.is_empty() {
        return "none".to_owned();
    }
    keys.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
}
