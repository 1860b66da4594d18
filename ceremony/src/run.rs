//! Running ceremonies: one typed request per ceremony, each run once, start to finish.
//!
//! Every request follows the same order, which is what makes a ceremony safe to run:
//!
//! 1. **Check from public keys alone.** The log is read and verified, the event is built
//!    against it ([`event`] module) and every key given is checked to be entitled to
//!    sign it — by peeking at its public key ([`KeySource::peek`]) — before any key is
//!    unlocked, any PIN is sent or any passphrase asked for.
//! 2. **Gather secrets and open keys.** A [`KeySink`] asks for what saving new keys needs, then
//!    each key is opened and checked again (a key whose public key could not be peeked at is
//!    refused here, before it signs); hardware attestations of the keys an inception or
//!    rotation establishes go into the event.
//! 3. **Write, in an order a crash cannot break.** New next keys are saved first (a log never
//!    commits to a key that was not saved), then the transcript (a committed event always has
//!    one), then the log — replaced only if it did not change while the ceremony ran
//!    ([`LogFile`]); or the pending event file, then its transcript.
//!
//! Transcripts are named here, once: beside the log, `KEL.<sequence>-<action>.transcript.json`;
//! beside a pending event, `PENDING.<action>.transcript.json`.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::fsutil;
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent, Reason};
use hallmark_keyring::{IdentityId, KeyId, Namespace, PublicKey, Sha256Digest, Timestamp};
use zeroize::Zeroizing;

use crate::backup::{self, Custodian};
use crate::error::{CeremonyError, KeySet};
use crate::event::{self, InceptionPlan, Planned, RotationPlan};
use crate::files::{self, LogFile, PendingFile, with_suffix};
use crate::keys::{KeySink, KeySource, Opened, Role, participant};
use crate::pending::PendingEvent;
use crate::transcript::{self, EventStatus, LogCheck, Participant, Transcript, TranscriptEvent};

/// Something the operator should know while a ceremony runs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A transcript left by a run killed before its event reached the log is being replaced.
    ReplacingTranscript(PathBuf),
    /// The keys are about to co-sign this pending event: told before any of them is unlocked,
    /// so that the operator sees what they sign before typing a passphrase or PIN.
    CoSigning {
        /// The identity.
        identity: IdentityId,
        /// The event.
        event: Box<KeyEvent>,
    },
}

/// Where a signed event goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Appended to the identity's log (for an inception: a new log file).
    Log(PathBuf),
    /// Written as a new pending event file, for keys on other machines to co-sign.
    Pending(PathBuf),
}

/// Commitments to the next keys (pre-rotation).
pub struct NextKeys<'a> {
    /// Keys that exist elsewhere, by key id.
    pub committed: Vec<KeyId>,
    /// How many new keys to make here; they go to `sink`, after the committed ones.
    pub create: usize,
    /// Where new keys are saved; needed when `create` is not 0.
    pub sink: Option<&'a mut dyn KeySink>,
    /// How many next keys must sign the next rotation (default: 1 for one key).
    pub threshold: Option<u64>,
}

/// The keys that sign an event here, where it goes, and where its transcript goes.
pub struct Signing<'a> {
    /// Keys held here.
    pub keys: Vec<&'a dyn KeySource>,
    /// The event's destination.
    pub to: Destination,
    /// The transcript path (default: beside the destination).
    pub transcript: Option<PathBuf>,
}

/// The result of a ceremony that signs or commits an event.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The identity.
    pub identity: IdentityId,
    /// The event.
    pub event: KeyEvent,
    /// Whether it reached the log (else it is pending).
    pub committed: bool,
    /// The entitled keys that have signed it.
    pub signed: Vec<KeyId>,
    /// How many must.
    pub threshold: u64,
    /// The file written: the log, or the pending event file.
    pub file: PathBuf,
    /// The transcript written.
    pub transcript: PathBuf,
}

// --- requests ------------------------------------------------------------------------------------

/// Create an identity: its inception, signed by a threshold of its keys.
pub struct Init<'a> {
    /// Signing keys held here (and where the inception goes).
    pub signing: Signing<'a>,
    /// Signing keys held elsewhere, by public key: they co-sign a pending inception.
    pub cosigners: Vec<PublicKey>,
    /// How many signing keys must sign (default: 1 for one key).
    pub threshold: Option<u64>,
    /// The next keys.
    pub next: NextKeys<'a>,
    /// The namespaces claimed.
    pub namespaces: Vec<Namespace>,
}

/// Rotate to the pre-committed next keys, committing to the following ones.
pub struct Rotate<'a> {
    /// The identity's log.
    pub identity: PathBuf,
    /// The revealed next keys held here (and where the rotation goes).
    pub signing: Signing<'a>,
    /// Revealed next keys held elsewhere, by public key.
    pub cosigners: Vec<PublicKey>,
    /// Current keys co-signing (recorded, not counted).
    pub current: Vec<&'a dyn KeySource>,
    /// How many of the new keys must sign (default: the committed threshold).
    pub threshold: Option<u64>,
    /// The following keys.
    pub next: NextKeys<'a>,
    /// Why.
    pub reason: Reason,
}

/// Hand names to another identity.
pub struct Transfer<'a> {
    /// The giving identity's log.
    pub identity: PathBuf,
    /// The receiving identity.
    pub to: IdentityId,
    /// The names handed over.
    pub names: Vec<Namespace>,
    /// Current keys of the giver.
    pub signing: Signing<'a>,
}

/// Accept names transferred by another identity.
pub struct Accept<'a> {
    /// The receiving identity's log.
    pub identity: PathBuf,
    /// The giving identity's log.
    pub from: PathBuf,
    /// The transfer, when several wait.
    pub transfer: Option<Sha256Digest>,
    /// Exactly the transfer's names (empty: the transfer's names).
    pub names: Vec<Namespace>,
    /// Current keys of the receiver.
    pub signing: Signing<'a>,
}

/// Retire keys the identity had in the past.
pub struct Revoke<'a> {
    /// The identity's log.
    pub identity: PathBuf,
    /// The keys retired.
    pub revoked: Vec<KeyId>,
    /// Compromised or retired.
    pub reason: Reason,
    /// From when.
    pub since: Timestamp,
    /// Current keys.
    pub signing: Signing<'a>,
}

/// Add signatures to a pending event.
pub struct Cosign<'a> {
    /// The pending event file; replaced in place.
    pub pending: PathBuf,
    /// The identity's log (none for a pending inception).
    pub identity: Option<PathBuf>,
    /// Keys entitled to sign.
    pub keys: Vec<&'a dyn KeySource>,
    /// The transcript path (default: beside the pending file).
    pub transcript: Option<PathBuf>,
}

/// The log a commit appends to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// The identity's log, replaced in place.
    Existing(PathBuf),
    /// A new log file, for an inception.
    New(PathBuf),
}

/// Append a pending event whose threshold is met.
pub struct Commit {
    /// The pending event file.
    pub pending: PathBuf,
    /// The log to append to, or (for an inception) to create.
    pub to: LogTarget,
    /// The transcript path (default: beside the log).
    pub transcript: Option<PathBuf>,
}

/// Split a key into custodian shares.
pub struct Backup<'a> {
    /// The key (one that may leave its backend: a key file).
    pub key: &'a dyn KeySource,
    /// One custodian per share.
    pub custodians: Vec<Custodian>,
    /// How many shares rebuild the key.
    pub threshold: u8,
    /// The directory the shares go to (new or empty).
    pub out: PathBuf,
    /// The identity whose log must commit to the key.
    pub identity: Option<PathBuf>,
    /// The transcript path (default: `backup.transcript.json` among the shares).
    pub transcript: Option<PathBuf>,
}

/// What a backup made.
#[derive(Debug)]
pub struct BackupOutcome {
    /// The backup's id.
    pub id: String,
    /// The key split.
    pub key: PublicKey,
    /// How many shares rebuild it.
    pub threshold: u8,
    /// Each share file, with its custodian.
    pub shares: Vec<(PathBuf, String)>,
    /// The transcript written.
    pub transcript: PathBuf,
}

/// Rebuild a key from custodian shares.
pub struct Restore<'a> {
    /// The share files.
    pub shares: Vec<PathBuf>,
    /// age identities that decrypt them.
    pub identities: Vec<&'a dyn age::Identity>,
    /// The identity's log: the key must be committed in it.
    pub identity: PathBuf,
    /// Where the key goes (must be new), and how the operator names it.
    pub out: PathBuf,
    /// The key reference naming `out`, for the transcript.
    pub reference: String,
    /// Saves the rebuilt key (index 0), after its transcript is written.
    pub sink: &'a mut dyn KeySink,
    /// The transcript path (default: beside the key).
    pub transcript: Option<PathBuf>,
}

/// What a restore rebuilt.
#[derive(Debug)]
pub struct RestoreOutcome {
    /// The key.
    pub key: PublicKey,
    /// The identity.
    pub identity: IdentityId,
    /// Whether it is a current key (else the committed next key).
    pub current: bool,
    /// The transcript written.
    pub transcript: PathBuf,
}

/// Check a transcript: its signatures, and its events against a log.
pub struct VerifyTranscript {
    /// The transcript file.
    pub file: PathBuf,
    /// The log its events should be in.
    pub identity: Option<PathBuf>,
}

/// What a transcript says, and what is wrong with it.
#[derive(Debug)]
pub struct TranscriptReport {
    /// The transcript, verified.
    pub transcript: Transcript,
    /// Each event, checked against the log (empty without a log).
    pub checks: Vec<(TranscriptEvent, LogCheck)>,
    /// Every participant, with those of the transcripts it carries.
    pub participants: Vec<Participant>,
    /// What does not match the log; empty when the transcript is good.
    pub problems: Vec<Problem>,
}

/// A transcript event that does not match the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The log ends before the event.
    #[error("event #{} ({}) {} is not in the log: the log is shorter", .0.sequence, .0.kind, .0.digest)]
    Missing(TranscriptEvent),
    /// The log has another event at its position.
    #[error("event #{} ({}) {} is not in the log, which has {found} there", event.sequence, event.kind, event.digest)]
    Different {
        /// The transcript's event.
        event: TranscriptEvent,
        /// The log's.
        found: Sha256Digest,
    },
    /// The transcript is about another identity.
    #[error("the transcript is about identity {}, not {log}", transcript.map(|i| i.to_string()).unwrap_or_default())]
    OtherIdentity {
        /// The transcript's identity.
        transcript: Option<IdentityId>,
        /// The log's.
        log: IdentityId,
    },
    /// Any other mismatch.
    #[error("event #{sequence}: {check}")]
    Other {
        /// The event's position.
        sequence: u64,
        /// What the check found.
        check: String,
    },
}

// --- shared steps --------------------------------------------------------------------------------

fn public_keys(sources: &[&dyn KeySource]) -> Result<Vec<PublicKey>, CeremonyError> {
    sources
        .iter()
        .map(|s| {
            s.public_key().map_err(|source| CeremonyError::PublicKey {
                key: s.name(),
                source,
            })
        })
        .collect()
}

fn default_threshold(given: Option<u64>, keys: usize, set: KeySet) -> Result<u64, CeremonyError> {
    match given {
        Some(m) => Ok(m),
        None if keys == 1 => Ok(1),
        None => Err(CeremonyError::ThresholdNeeded { keys, set }),
    }
}

/// Next keys, with the keys to create made (not yet saved).
struct MadeNext {
    ids: Vec<KeyId>,
    threshold: u64,
    created: Vec<SigningKey>,
}

impl NextKeys<'_> {
    fn make(&self) -> Result<MadeNext, CeremonyError> {
        let mut ids = self.committed.clone();
        let mut created = Vec::with_capacity(self.create);
        for _ in 0..self.create {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut()).map_err(CeremonyError::Randomness)?;
            let key = SigningKey::from_bytes(&seed);
            ids.push(PublicKey::new(key.verifying_key()).key_id());
            created.push(key);
        }
        if ids.is_empty() {
            return Err(CeremonyError::NoNextKeys);
        }
        let threshold = default_threshold(self.threshold, ids.len(), KeySet::Next)?;
        Ok(MadeNext {
            ids,
            threshold,
            created,
        })
    }

    /// Asks the sink for what saving needs: after every check, before anything is unlocked.
    fn prepare(&mut self) -> Result<(), CeremonyError> {
        match &mut self.sink {
            Some(sink) => sink
                .prepare()
                .map_err(|source| CeremonyError::Sink { source }),
            None if self.create > 0 => Err(CeremonyError::NoKeySink),
            None => Ok(()),
        }
    }

    fn save(&self, made: &MadeNext) -> Result<(), CeremonyError> {
        if made.created.is_empty() {
            return Ok(());
        }
        let sink = self.sink.as_ref().ok_or(CeremonyError::NoKeySink)?;
        for (i, key) in made.created.iter().enumerate() {
            sink.save(i, key)
                .map_err(|source| CeremonyError::Sink { source })?;
        }
        Ok(())
    }
}

fn not_entitled(planned: &Planned, key: &PublicKey, source: &dyn KeySource) -> CeremonyError {
    CeremonyError::KeyNotEntitled {
        name: source.name(),
        key: key.key_id(),
        kind: planned.event.kind.as_str(),
        entitled: planned.signer_ids(),
    }
}

/// Checks, from the public keys that can be read without a secret, that each key may sign the
/// planned event.
fn check_entitled(planned: &Planned, keys: &[(&dyn KeySource, Role)]) -> Result<(), CeremonyError> {
    for (source, _) in keys {
        if let Some(key) = source.peek()
            && !planned.may_sign(&key.key_id())
        {
            return Err(not_entitled(planned, &key, *source));
        }
    }
    Ok(())
}

/// Checks, from public keys alone, that each key may sign the planned event; then opens them
/// and reads their hardware attestations.
fn open_signers<'k>(
    planned: &Planned,
    keys: &[(&'k dyn KeySource, Role)],
) -> Result<Vec<Opened<'k>>, CeremonyError> {
    let refuse = |key: &PublicKey, source: &dyn KeySource| not_entitled(planned, key, source);
    check_entitled(planned, keys)?;
    let mut opened: Vec<Opened<'k>> = Vec::with_capacity(keys.len());
    for (source, role) in keys {
        let expected = source.peek();
        let key = source
            .open(expected.as_ref())
            .map_err(|e| CeremonyError::Key {
                key: source.name(),
                source: e,
            })?;
        let public = PublicKey::new(key.verifying_key());
        if !planned.may_sign(&public.key_id()) {
            return Err(refuse(&public, *source));
        }
        if opened.iter().any(|o| o.key_id() == public.key_id()) {
            return Err(CeremonyError::DuplicateKey { key: source.name() });
        }
        let attestation = key.attest().map_err(|e| CeremonyError::Key {
            key: source.name(),
            source: e,
        })?;
        opened.push(Opened {
            key,
            role: *role,
            attestation,
        });
    }
    // PINs last: opening a YubiKey clears the PIN verification of those opened before it.
    for (o, (source, _)) in opened.iter().zip(keys) {
        o.key.unlock().map_err(|e| CeremonyError::Key {
            key: source.name(),
            source: e,
        })?;
    }
    Ok(opened)
}

/// Puts the attestations of the opened keys among `keys` (the keys an inception or rotation
/// establishes) into the event: a verifier whose policy requires attestation finds them in the
/// identity's log.
fn attest(
    planned: &mut Planned,
    opened: &[Opened<'_>],
    keys: &[PublicKey],
) -> Result<(), CeremonyError> {
    let attestations: Vec<_> = opened
        .iter()
        .filter_map(|o| o.attestation.as_ref())
        .filter(|a| keys.iter().any(|k| k.key_id() == a.key))
        .cloned()
        .collect();
    planned.attest(attestations)
}

/// The default destination and transcript path of a ceremony signing an event that extends
/// `log` (or starts one).
fn transcript_path(
    given: Option<&PathBuf>,
    to: &Destination,
    action: &str,
    sequence: u64,
) -> PathBuf {
    if let Some(path) = given {
        return path.clone();
    }
    match to {
        Destination::Log(path) => {
            with_suffix(path, &format!(".{sequence}-{action}.transcript.json"))
        }
        Destination::Pending(path) => with_suffix(path, &format!(".{action}.transcript.json")),
    }
}

/// What [`sign_and_finish`] needs beyond the event and the keys.
struct Finish<'r> {
    action: &'static str,
    base: Option<&'r LogFile>,
    to: &'r Destination,
    transcript: &'r Path,
    details: Vec<(&'static str, String)>,
}

/// Signs the planned event with every opened key, then commits it (threshold checked by the
/// log's own verification) or writes it as a pending event; writes the transcript. Next keys
/// are saved first.
fn sign_and_finish(
    finish: Finish<'_>,
    planned: &Planned,
    opened: &[Opened<'_>],
    next: Option<(&NextKeys<'_>, &MadeNext)>,
    notice: &dyn Fn(&Notice),
) -> Result<Outcome, CeremonyError> {
    let base = finish.base.map(LogFile::kel);
    let mut pending = PendingEvent::new(planned)?;
    for o in opened {
        pending.sign(base, o.key.as_ref())?;
    }
    let committed = match finish.to {
        Destination::Pending(_) => None,
        Destination::Log(_) => Some(pending.commit(base)?),
    };
    let mut transcript = Transcript::new(finish.action, Some(pending.identity()), Timestamp::now());
    transcript.event(
        &planned.event,
        if committed.is_some() {
            EventStatus::Committed
        } else {
            EventStatus::Pending
        },
    );
    transcript.participants = opened.iter().map(Opened::participant).collect();
    for (name, value) in finish.details {
        transcript.detail(name, value);
    }
    let envelope = files::sign_transcript(&transcript, opened)?;

    // Writes: next keys first (so a committed rotation never commits to a key that was not
    // saved), then the transcript, then the log (so a committed event always has its
    // transcript); or the pending file, then its transcript.
    if let Some((next, made)) = next {
        next.save(made)?;
    }
    let file = match (finish.to, &committed, finish.base) {
        (Destination::Log(_), Some(kel), Some(log)) => {
            log.check_unchanged()?;
            files::write_transcript_then(finish.transcript, &envelope, base, notice, || {
                log.replace(kel)
            })?;
            log.path().to_owned()
        }
        (Destination::Log(path), Some(kel), None) => {
            files::write_transcript_then(finish.transcript, &envelope, None, notice, || {
                fsutil::write_new(path, &KelFile::from_kel(kel).to_json(), 0o644)?;
                Ok(())
            })?;
            path.clone()
        }
        (Destination::Pending(path), _, _) => {
            pending.transcripts.push(envelope.clone());
            fsutil::write_new(path, &pending.to_json(), 0o644)?;
            files::write_transcript(finish.transcript, &envelope)?;
            path.clone()
        }
        (Destination::Log(path), None, _) => path.clone(),
    };
    outcome(&pending, base, committed.is_some(), file, finish.transcript)
}

fn outcome(
    pending: &PendingEvent,
    base: Option<&Kel>,
    committed: bool,
    file: PathBuf,
    transcript: &Path,
) -> Result<Outcome, CeremonyError> {
    let (signed, threshold) = pending.progress(base)?;
    Ok(Outcome {
        identity: pending.identity(),
        event: pending.key_event()?,
        committed,
        signed,
        threshold,
        file,
        transcript: transcript.to_owned(),
    })
}

fn join(items: impl IntoIterator<Item = impl ToString>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

// --- ceremonies ----------------------------------------------------------------------------------

impl Init<'_> {
    /// Runs the inception ceremony.
    pub fn run(mut self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let signing = &self.signing;
        if !self.cosigners.is_empty() && !matches!(signing.to, Destination::Pending(_)) {
            return Err(CeremonyError::CosignersNeedPending { kind: "inception" });
        }
        let mut keys = public_keys(&signing.keys)?;
        keys.extend(self.cosigners.iter().copied());
        if keys.is_empty() {
            return Err(CeremonyError::NoKeys { kind: "inception" });
        }
        let threshold = default_threshold(self.threshold, keys.len(), KeySet::Signing)?;
        let (Destination::Log(path) | Destination::Pending(path)) = &signing.to;
        files::must_be_new(path, "output")?;
        let transcript = match (&signing.transcript, &signing.to) {
            (Some(path), _) => path.clone(),
            (None, Destination::Log(path)) => with_suffix(path, ".0-init.transcript.json"),
            (None, Destination::Pending(path)) => with_suffix(path, ".init.transcript.json"),
        };
        files::transcript_slot(&transcript, None)?;
        let next = self.next.make()?;
        let mut planned = event::inception(&InceptionPlan {
            keys: keys.clone(),
            threshold,
            next: next.ids.clone(),
            next_threshold: next.threshold,
            namespaces: self.namespaces.clone(),
            attestations: Vec::new(),
            time: Timestamp::now(),
        })?;
        self.next.prepare()?;
        let roles: Vec<_> = signing.keys.iter().map(|k| (*k, Role::Signer)).collect();
        let opened = open_signers(&planned, &roles)?;
        attest(&mut planned, &opened, &keys)?;
        let details = vec![
            ("namespaces", join(&self.namespaces)),
            ("threshold", format!("{threshold} of {}", keys.len())),
        ];
        let finish = Finish {
            action: "init",
            base: None,
            to: &signing.to,
            transcript: &transcript,
            details,
        };
        sign_and_finish(finish, &planned, &opened, Some((&self.next, &next)), notice)
    }
}

impl Rotate<'_> {
    /// Runs the rotation ceremony.
    pub fn run(mut self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let log = LogFile::read(&self.identity)?;
        let kel = log.kel();
        let signing = &self.signing;
        if !self.cosigners.is_empty() && !matches!(signing.to, Destination::Pending(_)) {
            return Err(CeremonyError::CosignersNeedPending { kind: "rotation" });
        }
        // The revealed keys, from public keys alone: nothing is unlocked yet.
        let mut keys = public_keys(&signing.keys)?;
        keys.extend(self.cosigners.iter().copied());
        if keys.is_empty() {
            return Err(CeremonyError::NoKeys { kind: "rotation" });
        }
        let current = kel.current();
        for key in &keys {
            if !current.next.contains(&key.key_id()) {
                return Err(CeremonyError::NotCommitted {
                    key: key.key_id(),
                    sequence: current.start,
                    identity: kel.identity(),
                    committed: current.next.clone(),
                });
            }
        }
        let threshold = self
            .threshold
            .unwrap_or(current.next_threshold.min(keys.len() as u64));
        let to = destination(&signing.to, &log);
        let transcript = transcript_path(
            signing.transcript.as_ref(),
            &to,
            "rotate",
            kel.head().event.sequence + 1,
        );
        if let Destination::Pending(path) = &to {
            files::must_be_new(path, "pending event file")?;
        }
        files::transcript_slot(&transcript, Some(kel))?;
        let next = self.next.make()?;
        let mut planned = event::rotation(
            kel,
            &RotationPlan {
                keys: keys.clone(),
                threshold,
                next: next.ids.clone(),
                next_threshold: next.threshold,
                reason: self.reason,
                attestations: Vec::new(),
                time: Timestamp::now(),
            },
        )?;
        let mut roles: Vec<_> = signing.keys.iter().map(|k| (*k, Role::Signer)).collect();
        for source in &self.current {
            if let Some(key) = source.peek()
                && !current.has_key(&key.key_id())
            {
                return Err(CeremonyError::NotCurrentKey {
                    name: source.name(),
                    key: key.key_id(),
                    identity: kel.identity(),
                });
            }
            roles.push((*source, Role::CoSigner));
        }
        self.next.prepare()?;
        let opened = open_signers(&planned, &roles)?;
        // The revealed keys' attestations (not the co-signing current keys') go into the
        // rotation.
        attest(&mut planned, &opened, &keys)?;
        let finish = Finish {
            action: "rotate",
            base: Some(&log),
            to: &to,
            transcript: &transcript,
            details: vec![("reason", self.reason.to_string())],
        };
        sign_and_finish(finish, &planned, &opened, Some((&self.next, &next)), notice)
    }
}

/// `to`, with a log destination naming the log actually read.
fn destination(to: &Destination, log: &LogFile) -> Destination {
    match to {
        Destination::Log(_) => Destination::Log(log.path().to_owned()),
        pending => pending.clone(),
    }
}

/// The common tail of transfer, accept and revoke: current keys sign an event planned on `log`.
fn current_keys_ceremony(
    action: &'static str,
    log: &LogFile,
    planned: &Planned,
    signing: &Signing<'_>,
    details: Vec<(&'static str, String)>,
    notice: &dyn Fn(&Notice),
) -> Result<Outcome, CeremonyError> {
    let kel = log.kel();
    let to = destination(&signing.to, log);
    let transcript = transcript_path(
        signing.transcript.as_ref(),
        &to,
        action,
        kel.head().event.sequence + 1,
    );
    let pending = matches!(to, Destination::Pending(_));
    if let Destination::Pending(path) = &to {
        files::must_be_new(path, "pending event file")?;
    }
    files::transcript_slot(&transcript, Some(kel))?;
    if signing.keys.is_empty() && !pending {
        return Err(CeremonyError::NoSigners {
            identity: kel.identity(),
            threshold: planned.threshold,
        });
    }
    let roles: Vec<_> = signing.keys.iter().map(|k| (*k, Role::Signer)).collect();
    let opened = open_signers(planned, &roles)?;
    let finish = Finish {
        action,
        base: Some(log),
        to: &to,
        transcript: &transcript,
        details,
    };
    sign_and_finish(finish, planned, &opened, None, notice)
}

impl Transfer<'_> {
    /// Runs the transfer ceremony.
    pub fn run(self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let log = LogFile::read(&self.identity)?;
        let planned = event::transfer(log.kel(), self.to, &self.names, Timestamp::now())?;
        let details = vec![("to", self.to.to_string()), ("names", join(&self.names))];
        current_keys_ceremony("transfer", &log, &planned, &self.signing, details, notice)
    }
}

impl Accept<'_> {
    /// Runs the acceptance ceremony.
    pub fn run(self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let log = LogFile::read(&self.identity)?;
        let giver = LogFile::read(&self.from)?;
        let planned = event::acceptance(
            log.kel(),
            giver.kel(),
            self.transfer,
            (!self.names.is_empty()).then_some(self.names.as_slice()),
            Timestamp::now(),
        )?;
        let details = vec![
            ("from", giver.kel().identity().to_string()),
            (
                "transfer",
                planned
                    .event
                    .transfer
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
            ("names", join(planned.event.names.iter().flatten())),
        ];
        current_keys_ceremony("accept", &log, &planned, &self.signing, details, notice)
    }
}

impl Revoke<'_> {
    /// Runs the revocation ceremony.
    pub fn run(self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let log = LogFile::read(&self.identity)?;
        let planned = event::revocation(
            log.kel(),
            &self.revoked,
            self.reason,
            self.since,
            Timestamp::now(),
        )?;
        let details = vec![
            ("reason", self.reason.to_string()),
            ("since", self.since.to_string()),
            ("revoked", join(&self.revoked)),
        ];
        current_keys_ceremony("revoke", &log, &planned, &self.signing, details, notice)
    }
}

impl Cosign<'_> {
    /// Adds the keys' signatures to the pending event; the file is replaced only if nobody
    /// changed it meanwhile.
    pub fn run(self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let file = PendingFile::read(&self.pending)?;
        let mut pending = file.pending.clone();
        let log = self.identity.as_deref().map(LogFile::read).transpose()?;
        let base = log.as_ref().map(LogFile::kel);
        let planned = pending.plan(base)?;
        let transcript = self.transcript.clone().unwrap_or_else(|| {
            let first = self
                .keys
                .first()
                .and_then(|k| k.peek())
                .map(|k| k.key_id().short())
                .unwrap_or_else(|| "key".to_owned());
            with_suffix(&self.pending, &format!(".cosign-{first}.transcript.json"))
        });
        files::must_be_new(&transcript, "transcript")?;
        let event = &planned.event;
        // A current key co-signing a rotation is recorded as such; its signature does not count.
        let roles: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                let current = event.kind == EventKind::Rotation
                    && k.peek().is_some_and(|p| planned.co_signers.contains(&p));
                (
                    *k,
                    if current {
                        Role::CoSigner
                    } else {
                        Role::Signer
                    },
                )
            })
            .collect();
        // What is about to be signed, shown before any passphrase or PIN is asked for.
        check_entitled(&planned, &roles)?;
        notice(&Notice::CoSigning {
            identity: pending.identity(),
            event: Box::new(event.clone()),
        });
        let opened = open_signers(&planned, &roles)?;
        for o in &opened {
            pending.sign(base, o.key.as_ref())?;
        }
        let mut record = Transcript::new("cosign", Some(pending.identity()), Timestamp::now());
        record.event(event, EventStatus::Pending);
        record.participants = opened.iter().map(Opened::participant).collect();
        let envelope = files::sign_transcript(&record, &opened)?;
        pending.transcripts.push(envelope.clone());
        file.replace(&pending)?;
        files::write_transcript(&transcript, &envelope)?;
        outcome(&pending, base, false, self.pending.clone(), &transcript)
    }
}

impl Commit {
    /// Checks the pending event's signatures against its threshold and appends it to the log
    /// (or, for an inception, creates the log).
    pub fn run(self, notice: &dyn Fn(&Notice)) -> Result<Outcome, CeremonyError> {
        let pending = PendingFile::read(&self.pending)?.pending;
        let (log, path) = match &self.to {
            LogTarget::Existing(path) => (Some(LogFile::read(path)?), path),
            LogTarget::New(path) => (None, path),
        };
        let event = pending.key_event()?;
        let base = log.as_ref().map(LogFile::kel);
        pending.plan(base)?;
        let transcript = self.transcript.clone().unwrap_or_else(|| {
            with_suffix(path, &format!(".{}-commit.transcript.json", event.sequence))
        });
        files::transcript_slot(&transcript, base)?;
        if log.is_none() {
            files::must_be_new(path, "output")?;
        }
        let kel = pending.commit(base)?;
        let mut record = Transcript::new("commit", Some(pending.identity()), Timestamp::now());
        record.event(&event, EventStatus::Committed);
        record.parts = pending.transcripts.clone();
        let envelope = Envelope::new(
            hallmark_keyring::PayloadType::Transcript,
            record.to_payload(),
        )?;
        // A commit involves no key: its transcript is unsigned and carries the signed
        // transcripts of the steps that gathered the signatures.
        transcript::verify(&envelope).map_err(CeremonyError::PartsInvalid)?;
        if let Some(log) = &log {
            log.check_unchanged()?;
        }
        files::write_transcript_then(&transcript, &envelope, base, notice, || match &log {
            Some(log) => log.replace(&kel),
            None => {
                fsutil::write_new(path, &KelFile::from_kel(&kel).to_json(), 0o644)?;
                Ok(())
            }
        })?;
        outcome(&pending, base, true, path.clone(), &transcript)
    }
}

impl VerifyTranscript {
    /// Verifies the transcript's signatures (and those of the transcripts it carries), and,
    /// with a log, that the events it names are there.
    pub fn run(self) -> Result<TranscriptReport, CeremonyError> {
        let bytes = fsutil::read_bounded(&self.file, 1024 * 1024).map_err(|source| {
            CeremonyError::Read {
                what: "transcript",
                path: self.file.clone(),
                source,
            }
        })?;
        let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let envelope =
            Envelope::from_json(text).map_err(|source| CeremonyError::NotATranscript {
                path: self.file.clone(),
                source,
            })?;
        let in_file = |source| CeremonyError::Transcript {
            path: self.file.clone(),
            source,
        };
        let t = transcript::verify(&envelope).map_err(in_file)?;
        let log = self.identity.as_deref().map(LogFile::read).transpose()?;
        let mut checks = Vec::new();
        let mut problems = Vec::new();
        if let Some(log) = &log {
            for (event, check) in t.check_log(log.kel()) {
                match &check {
                    LogCheck::InLog => {}
                    LogCheck::Missing if event.status == EventStatus::Pending => {}
                    LogCheck::Missing => problems.push(Problem::Missing(event.clone())),
                    LogCheck::Different { found } => problems.push(Problem::Different {
                        event: event.clone(),
                        found: *found,
                    }),
                    LogCheck::OtherIdentity => problems.push(Problem::OtherIdentity {
                        transcript: t.identity,
                        log: log.kel().identity(),
                    }),
                    #[allow(unreachable_patterns)]
                    other => problems.push(Problem::Other {
                        sequence: event.sequence,
                        check: format!("{other:?}"),
                    }),
                }
                checks.push((event, check));
            }
        }
        let mut participants = t.participants.clone();
        for part in &t.parts {
            participants.extend(transcript::verify(part).map_err(in_file)?.participants);
        }
        Ok(TranscriptReport {
            transcript: t,
            checks,
            participants,
            problems,
        })
    }
}

impl Backup<'_> {
    /// Splits the key into custodian shares, after checking (from its public key) that the
    /// identity commits to it; writes the shares (each 0600, in a private directory) and the
    /// signed transcript.
    pub fn run(self) -> Result<BackupOutcome, CeremonyError> {
        let log = self.identity.as_deref().map(LogFile::read).transpose()?;
        if let (Some(log), Some(key)) = (&log, self.key.peek())
            && !backup::is_committed(log.kel(), &key.key_id())
        {
            return Err(CeremonyError::NotCommittedForBackup {
                key: key.key_id(),
                identity: log.kel().identity(),
            });
        }
        if fsutil::exists_no_follow(&self.out)
            && std::fs::read_dir(&self.out)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(CeremonyError::NotEmptyDirectory {
                path: self.out.clone(),
            });
        }
        let transcript = self
            .transcript
            .clone()
            .unwrap_or_else(|| self.out.join("backup.transcript.json"));
        let opened = self.key.open(None).map_err(|e| CeremonyError::Key {
            key: self.key.name(),
            source: e,
        })?;
        let secret = opened
            .secret_key()
            .ok_or_else(|| CeremonyError::NotExportable {
                key: self.key.name(),
            })?;
        let now = Timestamp::now();
        let made = backup::split(
            secret,
            &self.custodians,
            self.threshold,
            log.as_ref().map(LogFile::kel),
            now,
        )?;
        fsutil::create_dir_all(&self.out, fsutil::SECRET_DIR_MODE).map_err(|source| {
            CeremonyError::CreateDirectory {
                path: self.out.clone(),
                source,
            }
        })?;
        let mut shares = Vec::new();
        for share in &made.shares {
            let path = self.out.join(format!(
                "share-{}-of-{}.age",
                share.index,
                made.shares.len()
            ));
            fsutil::write_new(&path, share.armored.as_bytes(), 0o600)?;
            shares.push((path, share.custodian.clone()));
        }
        let opened = [Opened {
            key: opened,
            role: Role::BackedUp,
            attestation: None,
        }];
        let mut record = Transcript::new("backup", log.as_ref().map(|l| l.kel().identity()), now);
        record.participants = opened.iter().map(Opened::participant).collect();
        record.detail("backup", made.id.clone());
        record.detail(
            "threshold",
            format!("{} of {}", made.threshold, made.shares.len()),
        );
        for (i, (path, custodian)) in shares.iter().enumerate() {
            record.detail(
                &format!("share {}", i + 1),
                format!("{custodian} {}", path.display()),
            );
        }
        let envelope = files::sign_transcript(&record, &opened)?;
        files::write_transcript(&transcript, &envelope)?;
        Ok(BackupOutcome {
            id: made.id,
            key: made.key,
            threshold: made.threshold,
            shares,
            transcript,
        })
    }
}

impl Restore<'_> {
    /// Rebuilds the key from the shares, checks it against the identity's commitment, writes
    /// the transcript (signed by the rebuilt key), then saves the key.
    pub fn run(self) -> Result<RestoreOutcome, CeremonyError> {
        files::must_be_new(&self.out, "output key file")?;
        let transcript = self
            .transcript
            .clone()
            .unwrap_or_else(|| with_suffix(&self.out, ".restore.transcript.json"));
        let log = LogFile::read(&self.identity)?;
        let mut shares = Vec::new();
        for path in &self.shares {
            let bytes = fsutil::read_bounded(path, backup::MAX_SHARE_FILE_BYTES as u64).map_err(
                |source| CeremonyError::Read {
                    what: "share",
                    path: path.clone(),
                    source,
                },
            )?;
            shares.push(backup::open_share(
                &path.display().to_string(),
                &bytes,
                &self.identities,
            )?);
        }
        let key = backup::restore(&shares, log.kel())?;
        self.sink
            .prepare()
            .map_err(|source| CeremonyError::Sink { source })?;
        let public_key = PublicKey::new(key.verifying_key());
        let description = crate::keys::KeyDescription {
            backend: "file".to_owned(),
            reference: self.reference.clone(),
            public_key,
            device: Vec::new(),
        };
        let mut record = Transcript::new("restore", Some(log.kel().identity()), Timestamp::now());
        record.participants = vec![participant(description, Role::Restored, Vec::new())];
        if let Some(first) = shares.first() {
            record.detail("backup", first.backup.clone());
        }
        record.detail(
            "shares",
            shares
                .iter()
                .map(|s| format!("{} ({})", s.index, s.source))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let envelope = record.sign(&[&key as &dyn hallmark_keyring::Ed25519Signer])?;
        // The transcript first, then the key: a restore killed between the two leaves the
        // transcript of a key that is not there, which running the restore again replaces.
        files::write_restore_transcript(&transcript, &envelope, &public_key)?;
        self.sink
            .save(0, &key)
            .map_err(|source| CeremonyError::Sink { source })?;
        Ok(RestoreOutcome {
            key: public_key,
            identity: log.kel().identity(),
            current: log.kel().current().has_key(&public_key.key_id()),
            transcript,
        })
    }
}
