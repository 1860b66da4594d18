//! `hallmark ceremony …`: key ceremonies on an identity's key event log.
//!
//! Every command checks everything it can — the log, the event it would add, whether each key
//! is entitled to sign — from public keys alone, before any key is unlocked or any PIN asked
//! for. Logs are updated atomically (write, flush, rename), and only if the file did not change
//! while the ceremony ran. Every command writes a signed transcript.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use hallmark_ceremony::backup::{self, Custodian};
use hallmark_ceremony::event::{self, InceptionPlan, Planned, RotationPlan};
use hallmark_ceremony::pending::PendingEvent;
use hallmark_ceremony::transcript::{self, EventStatus, LogCheck, Participant, Transcript};
use hallmark_hsm::interact::Interaction;
use hallmark_hsm::secret::SecretSource;
use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::envelope::{Ed25519Signer, Envelope};
use hallmark_keyring::fsutil;
use hallmark_keyring::kel::{Kel, KelFile, Reason};
use hallmark_keyring::{IdentityId, KeyId, Namespace, PublicKey, Sha256Digest, Timestamp};
use hallmark_signer::filekey::{self, Protection};
use hallmark_signer::keyref::{self, KeyHandle, KeyRef, UnlockOptions};
use serde_json::json;

use crate::cli::UnlockArgs;
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};
use hallmark_hsm::interact::Headless;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CeremonyCommand {
    /// Create an identity: its inception event, signed by a threshold of its keys.
    ///
    /// The inception names the signing keys (--key, and --cosigner-key for keys that sign on
    /// another machine), how many must sign (--threshold), the namespaces the identity claims
    /// (--namespace), and commitments to the next keys (pre-rotation): --next-key REF,
    /// --next-public-key KEY, or --create-next file:PATH to create a new file key, which must
    /// then move offline. The identity's name is the digest of the inception.
    Init(InitArgs),

    /// Rotate to the pre-committed next keys, committing to the following ones.
    ///
    /// The rotation reveals keys committed by the previous rotation or inception and must be
    /// signed by the committed threshold of them (--key); current keys may co-sign
    /// (--current-key) but cannot rotate alone, so a thief holding only the current key cannot
    /// take over the identity. A rotation to a key that was not committed is refused before any
    /// key is unlocked.
    ///
    /// A rotation also supersedes whatever the current keys signed since the previous rotation
    /// on any other copy of the log (a thief's transfer, acceptance or revocation): rotating
    /// with --reason compromised on your own log is how you recover.
    Rotate(RotateArgs),

    /// Hand namespaces or packages to another identity (effective once it accepts).
    Transfer(TransferArgs),

    /// Accept names transferred by another identity, naming the transfer event.
    Accept(AcceptArgs),

    /// Retire keys the identity had in the past, from a stated time.
    ///
    /// `compromised`: statements by those keys count only where something other than the key —
    /// a receipt from a registry the consumer pins — proves they were made before --since. `retired`: no suspicion; statements made while the keys were current stay
    /// valid. Current keys are retired by rotating (--reason compromised).
    Revoke(RevokeArgs),

    /// Add signatures to a pending event (M-of-N ceremonies with keys on several machines).
    Cosign(CosignArgs),

    /// Check a pending event's signatures against its threshold and append it to the log.
    Commit(CommitArgs),

    /// Verify a ceremony transcript: every participant's signature, and the events it names.
    VerifyTranscript(VerifyTranscriptArgs),

    /// Split a file key into M-of-N shares, each encrypted to one custodian with age.
    Backup(BackupArgs),

    /// Rebuild a file key from M custodian shares, checked against the identity's log.
    Restore(RestoreArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RotationReason {
    /// A planned rotation; the old keys are not suspected.
    Scheduled,
    /// The old keys are lost (device broken or missing), not known to be stolen.
    Lost,
    /// The old keys may be in someone else's hands.
    Compromised,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RevocationReason {
    /// The keys may be in someone else's hands.
    Compromised,
    /// Retired without suspicion.
    Retired,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// A next key, read as a public key only (file:PATH reads PATH.pub, yubikey:… reads the
    /// slot without a PIN; nothing is unlocked). Repeat for M-of-N.
    #[arg(long = "next-key", value_name = "REF")]
    pub next_keys: Vec<String>,

    /// A next key given by its public key (`ed25519:…`, a .pub file) or its key id (64 hex
    /// digits), so the next private key need not be present. Repeatable.
    #[arg(long = "next-public-key", value_name = "KEY")]
    pub next_public_keys: Vec<String>,

    /// Create a new file key (file:PATH) as a next key. It must then move offline: a second
    /// device, a safe, or custodian shares (`hallmark ceremony backup`). Repeatable.
    #[arg(long = "create-next", value_name = "REF")]
    pub create_next: Vec<String>,

    /// How many next keys must sign the next rotation (default: 1 for one next key).
    #[arg(long, value_name = "M")]
    pub next_threshold: Option<u64>,

    /// Passphrase for keys made by --create-next, from this file (default: asked twice on the
    /// terminal). Use a passphrase different from the current key's.
    #[arg(long, value_name = "PATH", conflicts_with = "next_passphrase_env")]
    pub next_passphrase_file: Option<PathBuf>,

    /// Passphrase for keys made by --create-next, from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub next_passphrase_env: Option<String>,

    /// Encrypt keys made by --create-next to this age recipient (age1…) instead of a
    /// passphrase; repeatable (any one recipient can unlock).
    #[arg(long = "next-recipient", value_name = "AGE_RECIPIENT")]
    pub next_recipients: Vec<String>,

    /// scrypt work factor (log2 N, 10 to 22) for passphrase-protected keys made by
    /// --create-next; default: age's choice of about one second.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A signing key held here (file:, pkcs11: or yubikey: reference); it signs the inception.
    /// A YubiKey key's attestation goes into the inception. Repeat for M-of-N.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// A signing key held elsewhere (public key, .pub file or REF): part of the key set; it
    /// signs later with `ceremony cosign`. Needs --pending.
    #[arg(long = "cosigner-key", value_name = "KEY")]
    pub cosigner_keys: Vec<String>,

    /// How many signing keys must sign statements and events (default: 1 for one key).
    #[arg(long, value_name = "M")]
    pub threshold: Option<u64>,

    #[command(flatten)]
    pub next: NextArgs,

    /// A namespace the identity claims, reverse-domain (e.g. org.example). Repeatable.
    #[arg(long = "namespace", required = true, value_name = "NS")]
    pub namespaces: Vec<String>,

    /// The key event log file to create.
    #[arg(long, value_name = "KEL", required_unless_present = "pending")]
    pub out: Option<PathBuf>,

    /// Write the inception as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH", conflicts_with = "out")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where to write the transcript (default: beside the log or pending file).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// A pre-committed next key held here (file:, pkcs11: or yubikey: reference); it is
    /// revealed and signs. A YubiKey key's attestation goes into the rotation. Repeat for M-of-N.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// A pre-committed next key held elsewhere (public key, .pub file or REF): revealed now,
    /// it signs later with `ceremony cosign`. Needs --pending.
    #[arg(long = "cosigner-key", value_name = "KEY")]
    pub cosigner_keys: Vec<String>,

    /// A current key co-signing the rotation (optional: its signature is recorded, but only
    /// the pre-committed keys' signatures count).
    #[arg(long = "current-key", value_name = "REF")]
    pub current_keys: Vec<String>,

    /// How many of the new keys must sign statements and events (default: the committed
    /// threshold).
    #[arg(long, value_name = "M")]
    pub threshold: Option<u64>,

    #[command(flatten)]
    pub next: NextArgs,

    /// Why: `scheduled` (the default: the old keys are retired intact and what they signed
    /// stays valid), `lost` (the old keys are gone but not known to be in other hands), or
    /// `compromised` (what the old keys signed stays valid only with proof it came first,
    /// such as a registry receipt).
    #[arg(long, value_enum, default_value = "scheduled")]
    pub reason: RotationReason,

    /// Write the rotation as a pending event here instead of appending it, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The giving identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The receiving identity: its key event log file, or its name (hid:…).
    #[arg(long, value_name = "KEL|HID")]
    pub to: String,

    /// A namespace or package name to hand over. Repeatable.
    #[arg(long = "name", required = true, value_name = "NS")]
    pub names: Vec<String>,

    /// A current key of the giving identity. Repeat up to its threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the transfer as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The receiving identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The giving identity's key event log, which holds the transfer.
    #[arg(long, value_name = "KEL")]
    pub from: PathBuf,

    /// The transfer event's digest (sha256:…), when several transfers wait.
    #[arg(long, value_name = "DIGEST")]
    pub transfer: Option<String>,

    /// The names to accept: exactly the transfer's (default: the transfer's names).
    #[arg(long = "name", value_name = "NS")]
    pub names: Vec<String>,

    /// A current key of the receiving identity. Repeat up to its threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the acceptance as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The key to retire: its key id (64 hex digits), public key, .pub file or REF. Repeatable.
    #[arg(long = "revoke", required = true, value_name = "KEY")]
    pub revoke: Vec<String>,

    /// Why: compromised or retired.
    #[arg(long, value_enum)]
    pub reason: RevocationReason,

    /// The earliest time the keys may have been in someone else's hands (UTC,
    /// YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME")]
    pub since: String,

    /// A current key. Repeat up to the threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the revocation as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CosignArgs {
    /// The pending event file; updated in place.
    #[arg(value_name = "PENDING")]
    pub pending: PathBuf,

    /// The identity's key event log (not needed for a pending inception).
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,

    /// A key entitled to sign the event. Repeatable.
    #[arg(long = "key", required = true, value_name = "REF")]
    pub keys: Vec<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The pending event file.
    #[arg(value_name = "PENDING")]
    pub pending: PathBuf,

    /// The identity's key event log to append to.
    #[arg(long, value_name = "KEL", required_unless_present = "out")]
    pub identity: Option<PathBuf>,

    /// For a pending inception: the key event log file to create.
    #[arg(long, value_name = "KEL", conflicts_with = "identity")]
    pub out: Option<PathBuf>,

    /// Where to write the transcript (default: beside the log).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyTranscriptArgs {
    /// The transcript file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Check that the events the transcript names are in this key event log.
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file key to split (file:PATH), typically a pre-committed next key.
    #[arg(long, value_name = "REF")]
    pub key: String,

    /// How many shares to make: one per --recipient.
    #[arg(long, value_name = "N")]
    pub shares: usize,

    /// How many shares rebuild the key (at least 2).
    #[arg(long, value_name = "M")]
    pub threshold: u8,

    /// A custodian's age recipient (age1…); give one per share, in order.
    #[arg(long = "recipient", value_name = "AGE_RECIPIENT")]
    pub recipients: Vec<String>,

    /// The directory to write the shares into (created; must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The identity whose log commits to the key; the key must be committed in it.
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A share file. Give at least the backup's threshold of them.
    #[arg(long = "share", required = true, value_name = "FILE")]
    pub shares: Vec<PathBuf>,

    /// An age identity file (AGE-SECRET-KEY-1…) that decrypts one or more shares; repeatable.
    #[arg(long = "age-identity", required = true, value_name = "PATH")]
    pub age_identities: Vec<PathBuf>,

    /// The identity's key event log: the rebuilt key must be committed in it.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// Where to write the rebuilt key: file:PATH.
    #[arg(long, value_name = "REF")]
    pub out: String,

    /// Passphrase for the rebuilt key file, from this file (default: asked twice).
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,

    /// Passphrase for the rebuilt key file, from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub passphrase_env: Option<String>,

    /// scrypt work factor (log2 N, 10 to 22) for the rebuilt key file.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,

    /// Where to write the transcript (default: beside the rebuilt key).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
}

pub fn run(cmd: CeremonyCommand, out: &Output) -> CmdResult {
    match cmd {
        CeremonyCommand::Init(args) => init(args, out),
        CeremonyCommand::Rotate(args) => rotate(args, out),
        CeremonyCommand::Transfer(args) => transfer(args, out),
        CeremonyCommand::Accept(args) => accept(args, out),
        CeremonyCommand::Revoke(args) => revoke(args, out),
        CeremonyCommand::Cosign(args) => cosign(args, out),
        CeremonyCommand::Commit(args) => commit(args, out),
        CeremonyCommand::VerifyTranscript(args) => verify_transcript(args, out),
        CeremonyCommand::Backup(args) => backup(args, out),
        CeremonyCommand::Restore(args) => restore(args, out),
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure::usage(anyhow!("{message}"))
}

// --- reading inputs ------------------------------------------------------------------------------

/// A verified log file, with the exact bytes read (to detect a concurrent change).
struct LogFile {
    path: PathBuf,
    bytes: Vec<u8>,
    kel: Kel,
}

fn read_log(path: &Path) -> Result<LogFile, Failure> {
    let bytes = fsutil::read_bounded(path, hallmark_keyring::kel::file::MAX_KEL_FILE_BYTES as u64)
        .map_err(|e| usage(format!("cannot read key event log {}: {e}", path.display())))?;
    let file = KelFile::from_json(&bytes).map_err(|e| {
        usage(format!(
            "{} is not a Hallmark key event log: {e}",
            path.display()
        ))
    })?;
    let kel = Kel::verify(&file.events).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok(LogFile {
        path: path.to_owned(),
        bytes,
        kel,
    })
}

/// Replaces the log file with `kel`, atomically, unless the file changed since it was read.
fn write_log(file: &LogFile, kel: &Kel) -> Result<(), Failure> {
    check_unchanged(file)?;
    fsutil::write_replace(&file.path, &KelFile::from_kel(kel).to_json(), 0o644)
        .map_err(Failure::usage)
}

/// Refuses to go on if the log file changed since it was read.
fn check_unchanged(file: &LogFile) -> Result<(), Failure> {
    let now = fsutil::read_bounded(
        &file.path,
        hallmark_keyring::kel::file::MAX_KEL_FILE_BYTES as u64,
    )
    .map_err(|e| usage(format!("cannot re-read {}: {e}", file.path.display())))?;
    if now != file.bytes {
        return Err(usage(format!(
            "{} changed while the ceremony ran; nothing was written: run the ceremony again on \
             the new log",
            file.path.display()
        )));
    }
    Ok(())
}

fn parse_refs(texts: &[String]) -> Result<Vec<KeyRef>, Failure> {
    texts
        .iter()
        .map(|t| t.parse::<KeyRef>().map_err(Failure::usage))
        .collect()
}

/// A public key given as `ed25519:…`, a key reference (read without unlocking), or a .pub file.
fn parse_public_key(text: &str) -> Result<PublicKey, Failure> {
    super::key::parse_public_key(text)
}

/// A key id given as 64 hex digits, or any form [`parse_public_key`] reads.
fn parse_key_id(text: &str) -> Result<KeyId, Failure> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return text
            .parse::<KeyId>()
            .map_err(|e| usage(format!("key id {text:?}: {e}")));
    }
    parse_public_key(text).map(|k| k.key_id())
}

fn parse_names(texts: &[String]) -> Result<Vec<Namespace>, Failure> {
    texts
        .iter()
        .map(|t| t.parse::<Namespace>().map_err(Failure::usage))
        .collect()
}

/// The public key a reference names, without unlocking it (and without sending any PIN), when
/// the backend can tell.
fn peek_key(reference: &KeyRef) -> Option<PublicKey> {
    keyref::peek_public_key(reference)
}

/// The path of a `file:` reference; other backends are refused with `why`.
fn file_only<'a>(reference: &'a KeyRef, why: &str) -> Result<&'a PathBuf, Failure> {
    match reference {
        KeyRef::File(path) => Ok(path),
        other => Err(usage(format!("{why}: give file:PATH, not {other}"))),
    }
}

/// Refuses a path that exists (an output that must be new).
fn must_be_new(path: &Path, what: &str) -> Result<(), Failure> {
    if fsutil::exists_no_follow(path) {
        return Err(usage(format!(
            "{what} {} already exists; refusing to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

// --- next keys -------------------------------------------------------------------------------------

/// Next keys: commitments, plus keys to create once the ceremony has succeeded.
struct NextKeys {
    ids: Vec<KeyId>,
    threshold: u64,
    create: Vec<(PathBuf, ed25519_dalek::SigningKey)>,
    protection: Option<Protection>,
}

fn next_keys(args: &NextArgs, ui: &dyn Interaction) -> Result<NextKeys, Failure> {
    let mut ids = Vec::new();
    for text in &args.next_keys {
        let reference: KeyRef = text.parse().map_err(Failure::usage)?;
        let key = keyref::public_key(&reference, &Headless).map_err(|e| {
            Failure::usage(e).with_hint(
                "--next-key reads the public key only (file:PATH reads PATH.pub); or give \
                 --next-public-key ed25519:… / a key id",
            )
        })?;
        ids.push(key.key_id());
    }
    for text in &args.next_public_keys {
        ids.push(parse_key_id(text)?);
    }
    let mut create = Vec::new();
    for text in &args.create_next {
        let reference: KeyRef = text.parse().map_err(Failure::usage)?;
        let path = file_only(&reference, "--create-next makes a new file key")?;
        must_be_new(path, "next key file")?;
        must_be_new(&filekey::public_key_path(path), "next public key file")?;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| usage(format!("no randomness: {e}")))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        ids.push(PublicKey::new(key.verifying_key()).key_id());
        create.push((path.clone(), key));
    }
    if ids.is_empty() {
        return Err(usage(
            "pre-rotation is always on: name the next key(s) with --next-key REF, \
             --next-public-key KEY, or --create-next file:PATH",
        ));
    }
    for text in &args.next_keys {
        if let Ok(KeyRef::File(path)) = text.parse::<KeyRef>()
            && fsutil::exists_no_follow(&path)
        {
            errln!(
                "note: next key {} is on this machine; keep it offline, apart from the current \
                 key (a thief holding both can rotate this identity)",
                path.display()
            );
        }
    }
    let threshold = match args.next_threshold {
        Some(m) => m,
        None if ids.len() == 1 => 1,
        None => {
            return Err(usage(format!(
                "{} next keys: say how many must sign the next rotation with --next-threshold",
                ids.len()
            )));
        }
    };
    let protection = if create.is_empty() {
        None
    } else if !args.next_recipients.is_empty() {
        let recipients = args
            .next_recipients
            .iter()
            .map(|r| {
                r.parse::<age::x25519::Recipient>()
                    .map_err(|_| usage(format!("{r:?} is not an age X25519 recipient (age1…)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(Protection::Recipients(recipients))
    } else {
        let passphrase = if let Some(path) = &args.next_passphrase_file {
            SecretSource::File(path.clone()).read("passphrase for the next key", ui)?
        } else if let Some(name) = &args.next_passphrase_env {
            SecretSource::Env(name.clone()).read("passphrase for the next key", ui)?
        } else {
            ui.request_new_secret("new passphrase for the next key")?
        };
        Some(Protection::Passphrase {
            passphrase,
            work_factor: args.work_factor,
        })
    };
    Ok(NextKeys {
        ids,
        threshold,
        create,
        protection,
    })
}

fn write_next_keys(next: &NextKeys, out: &Output) -> Result<(), Failure> {
    let Some(protection) = &next.protection else {
        return Ok(());
    };
    for (path, key) in &next.create {
        filekey::write_key(path, key, protection).map_err(Failure::usage)?;
        errln!(
            "important: created next key {} (key id {}). Move it offline now — a second \
             device, a safe, or custodian shares (`hallmark ceremony backup`) — and delete this \
             copy: only the next rotation needs it, and whoever holds it can rotate this \
             identity.",
            path.display(),
            PublicKey::new(key.verifying_key()).key_id()
        );
        let _ = out;
    }
    Ok(())
}

// --- signing ---------------------------------------------------------------------------------------

/// A key opened for a ceremony, with how it took part and its hardware attestation, if any.
struct Opened<'ui> {
    handle: Box<dyn KeyHandle + 'ui>,
    role: &'static str,
    attestation: Option<Attestation>,
}

impl Opened<'_> {
    /// The transcript's record of the key: its device facts (a YubiKey's serial, firmware,
    /// slot and policies) and its attestation.
    fn participant(&self) -> Participant {
        let d = self.handle.describe();
        Participant {
            public_key: d.public_key,
            key_id: d.public_key.key_id(),
            role: self.role.to_owned(),
            backend: d.backend.to_owned(),
            reference: d.reference,
            device: d.device,
            attestations: self.attestation.iter().cloned().collect(),
        }
    }
}

/// The attestations of the opened keys among `keys` (the keys an inception or rotation
/// establishes), for the event itself: a verifier whose policy requires attestation then finds
/// them in the identity's log.
fn attestations_of(opened: &[Opened<'_>], keys: &[PublicKey]) -> Vec<Attestation> {
    opened
        .iter()
        .filter_map(|o| o.attestation.as_ref())
        .filter(|a| keys.iter().any(|k| k.key_id() == a.key))
        .cloned()
        .collect()
}

/// Checks, from public keys alone, that each key may sign the planned event; then opens them
/// and reads their hardware attestations.
fn open_signers<'ui>(
    planned: &Planned,
    references: &[(KeyRef, &'static str)],
    unlock: &UnlockOptions,
    ui: &'ui dyn Interaction,
) -> Result<Vec<Opened<'ui>>, Failure> {
    let refuse = |key: &PublicKey, reference: &KeyRef| {
        let entitled: Vec<String> = planned
            .entitled
            .iter()
            .chain(&planned.co_signers)
            .map(|k| k.key_id().short())
            .collect();
        usage(format!(
            "{reference} holds key {}, which is not entitled to sign this {} event (entitled: {}); \
             nothing was unlocked",
            key.key_id().short(),
            planned.event.kind,
            entitled.join(", ")
        ))
    };
    for (reference, _) in references {
        if let Some(key) = peek_key(reference)
            && !planned.may_sign(&key.key_id())
        {
            return Err(refuse(&key, reference));
        }
    }
    let mut opened = Vec::with_capacity(references.len());
    for (reference, role) in references {
        let expected = peek_key(reference);
        let handle = keyref::open(reference, unlock, ui, expected.as_ref())?;
        let key = PublicKey::new(handle.verifying_key());
        if !planned.may_sign(&key.key_id()) {
            return Err(refuse(&key, reference));
        }
        if opened
            .iter()
            .any(|o: &Opened<'_>| o.handle.verifying_key() == handle.verifying_key())
        {
            return Err(usage(format!("{reference} names a key already given")));
        }
        let attestation = keyref::attestation_or_warn(handle.as_ref(), ui)?;
        opened.push(Opened {
            handle,
            role,
            attestation,
        });
    }
    Ok(opened)
}

fn sign_transcript(transcript: &Transcript, opened: &[Opened<'_>]) -> Result<Envelope, Failure> {
    let signers: Vec<&dyn Ed25519Signer> = opened
        .iter()
        .map(|o| o.handle.as_ref() as &dyn Ed25519Signer)
        .collect();
    transcript.sign(&signers).map_err(Failure::from)
}

fn write_transcript(path: &Path, envelope: &Envelope) -> Result<(), Failure> {
    let mut bytes = envelope.to_json();
    bytes.push(b'\n');
    fsutil::write_new(path, &bytes, 0o644).map_err(Failure::usage)
}

/// Checks the transcript path of a ceremony that commits an event: free, or holding the
/// transcript of a run killed after it wrote its transcript and before its event reached the
/// log — every event the transcript marks committed is missing from `log` (the identity's log;
/// `None` before the inception) — which this run replaces. Returns whether there is such a
/// transcript; anything else at the path is refused.
fn transcript_slot(path: &Path, log: Option<&Kel>) -> Result<bool, Failure> {
    if !fsutil::exists_no_follow(path) {
        return Ok(false);
    }
    let interrupted = fsutil::read_bounded(path, 16 * 1024 * 1024)
        .ok()
        .and_then(|bytes| Envelope::from_json(bytes.trim_ascii_end()).ok())
        .and_then(|envelope| transcript::verify(&envelope).ok())
        .is_some_and(|t| {
            let committed: Vec<_> = t
                .events
                .iter()
                .filter(|e| e.status == EventStatus::Committed)
                .collect();
            !committed.is_empty()
                && committed.iter().all(|e| {
                    log.is_none_or(|kel| {
                        t.identity != Some(kel.identity())
                            || kel.event(e.sequence).is_none_or(|f| f.digest != e.digest)
                    })
                })
        });
    if interrupted {
        return Ok(true);
    }
    must_be_new(path, "transcript").map(|()| false)
}

/// Writes the transcript of a committed event, then `commit` writes the event: a kill between
/// the two leaves a transcript whose event is not in the log, which the next run of the
/// ceremony replaces ([`transcript_slot`]) — never a committed event without its transcript.
fn write_transcript_then(
    path: &Path,
    envelope: &Envelope,
    log: Option<&Kel>,
    commit: impl FnOnce() -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut bytes = envelope.to_json();
    bytes.push(b'\n');
    if transcript_slot(path, log)? {
        errln!(
            "note: replacing {}, the transcript of an interrupted run whose event never reached \
             the log",
            path.display()
        );
        fsutil::write_replace(path, &bytes, 0o644).map_err(Failure::usage)?;
    } else {
        fsutil::write_new(path, &bytes, 0o644).map_err(Failure::usage)?;
    }
    commit()
}

/// How a signed event leaves the command: appended to its log, or written as a pending event.
enum Destination<'a> {
    Log(&'a LogFile),
    NewLog(PathBuf),
    Pending(PathBuf),
}

struct Outcome {
    kel: Option<Kel>,
    pending: PendingEvent,
    transcript: Envelope,
}

/// Signs the planned event with every opened key, then commits it (threshold checked by the
/// log's own verification) or writes it as a pending event; writes the transcript.
#[allow(clippy::too_many_arguments)]
fn sign_and_finish(
    action: &str,
    base: Option<&Kel>,
    planned: &Planned,
    opened: &[Opened<'_>],
    destination: Destination<'_>,
    transcript_path: &Path,
    details: &[(&str, String)],
    next: Option<&NextKeys>,
    out: &Output,
) -> Result<Outcome, Failure> {
    let mut pending = PendingEvent::new(planned)?;
    for o in opened {
        pending.sign(base, o.handle.as_ref())?;
    }
    let committed = match &destination {
        Destination::Pending(_) => None,
        _ => Some(pending.commit(base)?),
    };
    let mut transcript = Transcript::new(action, Some(pending.identity()), Timestamp::now());
    transcript.event(
        &planned.event,
        if committed.is_some() {
            EventStatus::Committed
        } else {
            EventStatus::Pending
        },
    );
    transcript.participants = opened.iter().map(Opened::participant).collect();
    for (name, value) in details {
        transcript.detail(name, value.clone());
    }
    let envelope = sign_transcript(&transcript, opened)?;

    // Writes: next keys first (so a committed rotation never commits to a key that was not
    // saved), then the transcript, then the log (so a committed event always has its
    // transcript); or the pending file, then its transcript.
    if let Some(next) = next {
        write_next_keys(next, out)?;
    }
    match (&destination, &committed) {
        (Destination::Log(file), Some(kel)) => {
            check_unchanged(file)?;
            write_transcript_then(transcript_path, &envelope, base, || write_log(file, kel))?;
        }
        (Destination::NewLog(path), Some(kel)) => {
            write_transcript_then(transcript_path, &envelope, None, || {
                fsutil::write_new(path, &KelFile::from_kel(kel).to_json(), 0o644)
                    .map_err(Failure::usage)
            })?;
        }
        (Destination::Pending(path), _) => {
            pending.transcripts.push(envelope.clone());
            fsutil::write_new(path, &pending.to_json(), 0o644).map_err(Failure::usage)?;
            write_transcript(transcript_path, &envelope)?;
        }
        _ => write_transcript(transcript_path, &envelope)?,
    }
    Ok(Outcome {
        kel: committed,
        pending,
        transcript: envelope,
    })
}

fn report(
    out: &Output,
    action: &str,
    outcome: &Outcome,
    written: &Path,
    transcript_path: &Path,
    base: Option<&Kel>,
) -> CmdResult {
    let event = outcome.pending.key_event()?;
    let identity = outcome.pending.identity();
    let (signed, needed) = outcome.pending.progress(base)?;
    let status = if outcome.kel.is_some() {
        "committed"
    } else {
        "pending"
    };
    if out.json {
        out.json(&json!({
            "action": action,
            "identity": identity.to_string(),
            "event": {
                "sequence": event.sequence,
                "kind": event.kind.as_str(),
                "digest": event.digest().to_string(),
            },
            "status": status,
            "signed": signed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "threshold": needed,
            "file": written.display().to_string(),
            "transcript": transcript_path.display().to_string(),
        }));
    } else {
        outln!("identity {identity}");
        outln!(
            "  event #{} {} {}",
            event.sequence,
            event.kind,
            event.digest()
        );
        if outcome.kel.is_some() {
            outln!("  committed to {}", written.display());
        } else if (signed.len() as u64) < needed {
            outln!(
                "  pending in {}: signed by {} of the {} needed; co-sign with `hallmark ceremony \
                 cosign {}`",
                written.display(),
                signed.len(),
                needed,
                written.display()
            );
        } else {
            outln!(
                "  pending in {}: signed by {} of the {} needed; append it with `hallmark \
                 ceremony commit {} {}`",
                written.display(),
                signed.len(),
                needed,
                written.display(),
                if event.sequence == 0 {
                    "--out KEL"
                } else {
                    "--identity KEL"
                }
            );
        }
        outln!("  transcript {}", transcript_path.display());
    }
    let _ = &outcome.transcript;
    Ok(Exit::Success)
}

// --- commands --------------------------------------------------------------------------------------

fn init(args: InitArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let references = parse_refs(&args.keys)?;
    let namespaces = parse_names(&args.namespaces)?;
    if !args.cosigner_keys.is_empty() && args.pending.is_none() {
        return Err(usage(
            "--cosigner-key names keys that sign elsewhere: write a pending inception with \
             --pending PATH, co-sign it there, then `hallmark ceremony commit`",
        ));
    }
    let mut keys = Vec::new();
    for reference in &references {
        let key = keyref::public_key(reference, &Headless).map_err(|e| {
            Failure::usage(e).with_hint("the key's public key is needed to build the inception")
        })?;
        keys.push(key);
    }
    for text in &args.cosigner_keys {
        keys.push(parse_public_key(text)?);
    }
    if keys.is_empty() {
        return Err(usage("give the identity's signing key(s) with --key REF"));
    }
    let threshold = match args.threshold {
        Some(m) => m,
        None if keys.len() == 1 => 1,
        None => {
            return Err(usage(format!(
                "{} signing keys: say how many must sign with --threshold",
                keys.len()
            )));
        }
    };
    let (destination_path, transcript_path) = match (&args.out, &args.pending) {
        (Some(path), _) => (path.clone(), with_suffix(path, ".0-init.transcript.json")),
        (None, Some(path)) => (path.clone(), with_suffix(path, ".init.transcript.json")),
        (None, None) => return Err(usage("give --out KEL (or --pending PATH)")),
    };
    let transcript_path = args.common.transcript.clone().unwrap_or(transcript_path);
    must_be_new(&destination_path, "output")?;
    transcript_slot(&transcript_path, None)?;
    let plan = |next: &NextKeys| InceptionPlan {
        keys: keys.clone(),
        threshold,
        next: next.ids.clone(),
        next_threshold: next.threshold,
        namespaces: namespaces.clone(),
        attestations: Vec::new(),
        time: Timestamp::now(),
    };
    // Check the event's shape with the commitments known so far before asking for any secret.
    let shape = args.next.clone_shape()?;
    event::inception(&plan(&shape)).map_err(Failure::usage)?;
    let next = next_keys(&args.next, &ui)?;
    let mut final_plan = plan(&next);
    let planned = event::inception(&final_plan).map_err(Failure::usage)?;
    let unlock = super::unlock_options(&args.common.passphrase);
    let roles: Vec<(KeyRef, &'static str)> =
        references.into_iter().map(|r| (r, "signer")).collect();
    let opened = open_signers(&planned, &roles, &unlock, &ui)?;
    // Keys on devices that attest them (YubiKeys) carry their attestations into the inception.
    final_plan.attestations = attestations_of(&opened, &keys);
    let planned = if final_plan.attestations.is_empty() {
        planned
    } else {
        event::inception(&final_plan).map_err(Failure::usage)?
    };
    let destination = match &args.out {
        Some(path) => Destination::NewLog(path.clone()),
        None => Destination::Pending(destination_path.clone()),
    };
    let details = vec![
        (
            "namespaces",
            namespaces
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("threshold", format!("{threshold} of {}", keys.len())),
    ];
    let outcome = sign_and_finish(
        "init",
        None,
        &planned,
        &opened,
        destination,
        &transcript_path,
        &details,
        Some(&next),
        out,
    )?;
    report(
        out,
        "init",
        &outcome,
        &destination_path,
        &transcript_path,
        None,
    )
}

impl NextArgs {
    /// The commitments that can be read without creating or unlocking anything, used to check
    /// an event's shape before asking for secrets. Keys to be created count with a placeholder.
    fn clone_shape(&self) -> Result<NextKeys, Failure> {
        let mut ids = Vec::new();
        for text in &self.next_keys {
            let reference: KeyRef = text.parse().map_err(Failure::usage)?;
            let key = keyref::public_key(&reference, &Headless).map_err(|e| {
                Failure::usage(e).with_hint(
                    "--next-key reads the public key only (file:PATH reads PATH.pub); or give \
                     --next-public-key ed25519:… / a key id",
                )
            })?;
            ids.push(key.key_id());
        }
        for text in &self.next_public_keys {
            ids.push(parse_key_id(text)?);
        }
        for (i, text) in self.create_next.iter().enumerate() {
            let reference: KeyRef = text.parse().map_err(Failure::usage)?;
            let path = file_only(&reference, "--create-next makes a new file key")?;
            must_be_new(path, "next key file")?;
            must_be_new(&filekey::public_key_path(path), "next public key file")?;
            // A placeholder commitment, distinct per key; replaced by the real one.
            let mut bytes = [0u8; 32];
            bytes[0] = 0xff;
            bytes[1] = i as u8;
            ids.push(
                hallmark_keyring::encoding::hex_encode(&bytes)
                    .parse()
                    .map_err(|e| usage(format!("{e}")))?,
            );
        }
        if ids.is_empty() {
            return Err(usage(
                "pre-rotation is always on: name the next key(s) with --next-key REF, \
                 --next-public-key KEY, or --create-next file:PATH",
            ));
        }
        let threshold = match self.next_threshold {
            Some(m) => m,
            None if ids.len() == 1 => 1,
            None => {
                return Err(usage(format!(
                    "{} next keys: say how many must sign the next rotation with --next-threshold",
                    ids.len()
                )));
            }
        };
        Ok(NextKeys {
            ids,
            threshold,
            create: Vec::new(),
            protection: None,
        })
    }
}

fn rotate(args: RotateArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let log = read_log(&args.identity)?;
    let kel = &log.kel;
    let references = parse_refs(&args.keys)?;
    let current_refs = parse_refs(&args.current_keys)?;
    if !args.cosigner_keys.is_empty() && args.pending.is_none() {
        return Err(usage(
            "--cosigner-key names keys that sign elsewhere: write a pending rotation with \
             --pending PATH, co-sign it there, then `hallmark ceremony commit`",
        ));
    }
    // The revealed keys, from public keys alone: nothing is unlocked yet.
    let mut keys = Vec::new();
    for reference in &references {
        let key = keyref::public_key(reference, &Headless).map_err(|e| {
            Failure::usage(e).with_hint("the new key's public key is needed to build the rotation")
        })?;
        keys.push(key);
    }
    for text in &args.cosigner_keys {
        keys.push(parse_public_key(text)?);
    }
    if keys.is_empty() {
        return Err(usage(
            "give the pre-committed next key(s) with --key REF: a rotation reveals them and is \
             signed by them",
        ));
    }
    let current = kel.current();
    for key in &keys {
        if !current.next.contains(&key.key_id()) {
            let committed: Vec<String> = current.next.iter().map(|k| k.short()).collect();
            return Err(usage(format!(
                "rotation to key {} refused: it was not pre-committed. Event #{} of identity {} \
                 commits to {}; only those keys can become current. Nothing was unlocked.",
                key.key_id().short(),
                current.start,
                kel.identity().short(),
                committed.join(", ")
            )));
        }
    }
    let threshold = args
        .threshold
        .unwrap_or(current.next_threshold.min(keys.len() as u64));
    let (destination_path, transcript_path) = match &args.pending {
        Some(path) => (path.clone(), with_suffix(path, ".rotate.transcript.json")),
        None => (
            args.identity.clone(),
            with_suffix(
                &args.identity,
                &format!(".{}-rotate.transcript.json", kel.head().event.sequence + 1),
            ),
        ),
    };
    let transcript_path = args.common.transcript.clone().unwrap_or(transcript_path);
    if args.pending.is_some() {
        must_be_new(&destination_path, "pending event file")?;
    }
    transcript_slot(&transcript_path, Some(kel))?;
    let reason = match args.reason {
        RotationReason::Scheduled => Reason::Scheduled,
        RotationReason::Lost => Reason::Lost,
        RotationReason::Compromised => Reason::Compromised,
    };
    let plan = |next: &NextKeys| RotationPlan {
        keys: keys.clone(),
        threshold,
        next: next.ids.clone(),
        next_threshold: next.threshold,
        reason,
        attestations: Vec::new(),
        time: Timestamp::now(),
    };
    let shape = args.next.clone_shape()?;
    event::rotation(kel, &plan(&shape)).map_err(Failure::usage)?;
    let next = next_keys(&args.next, &ui)?;
    let mut final_plan = plan(&next);
    let planned = event::rotation(kel, &final_plan).map_err(Failure::usage)?;
    let unlock = super::unlock_options(&args.common.passphrase);
    let mut roles: Vec<(KeyRef, &'static str)> =
        references.into_iter().map(|r| (r, "signer")).collect();
    for r in current_refs {
        if let Some(key) = peek_key(&r)
            && !current.has_key(&key.key_id())
        {
            return Err(usage(format!(
                "--current-key {r} holds key {}, which is not a current key of identity {}",
                key.key_id().short(),
                kel.identity().short()
            )));
        }
        roles.push((r, "co-signer"));
    }
    let opened = open_signers(&planned, &roles, &unlock, &ui)?;
    // The revealed keys' attestations (not the co-signing current keys') go into the rotation.
    final_plan.attestations = attestations_of(&opened, &keys);
    let planned = if final_plan.attestations.is_empty() {
        planned
    } else {
        event::rotation(kel, &final_plan).map_err(Failure::usage)?
    };
    let destination = match &args.pending {
        Some(path) => Destination::Pending(path.clone()),
        None => Destination::Log(&log),
    };
    let details = vec![("reason", reason.to_string())];
    let outcome = sign_and_finish(
        "rotate",
        Some(kel),
        &planned,
        &opened,
        destination,
        &transcript_path,
        &details,
        Some(&next),
        out,
    )?;
    report(
        out,
        "rotate",
        &outcome,
        &destination_path,
        &transcript_path,
        Some(kel),
    )
}

/// The common tail of transfer, accept and revoke: current keys sign an event planned on `log`.
#[allow(clippy::too_many_arguments)]
fn current_keys_ceremony(
    action: &str,
    log: &LogFile,
    planned: &Planned,
    keys: &[String],
    pending: Option<&PathBuf>,
    common: &CommonArgs,
    details: &[(&str, String)],
    out: &Output,
) -> CmdResult {
    let ui = TerminalUi;
    let references = parse_refs(keys)?;
    let kel = &log.kel;
    let (destination_path, transcript_path) = match pending {
        Some(path) => (
            path.clone(),
            with_suffix(path, &format!(".{action}.transcript.json")),
        ),
        None => (
            log.path.clone(),
            with_suffix(
                &log.path,
                &format!(
                    ".{}-{action}.transcript.json",
                    kel.head().event.sequence + 1
                ),
            ),
        ),
    };
    let transcript_path = common.transcript.clone().unwrap_or(transcript_path);
    if pending.is_some() {
        must_be_new(&destination_path, "pending event file")?;
    }
    transcript_slot(&transcript_path, Some(kel))?;
    if references.is_empty() && pending.is_none() {
        return Err(usage(format!(
            "identity {} needs {} of its current keys to sign; give --key REF (or --pending PATH \
             to gather signatures on other machines)",
            kel.identity().short(),
            planned.threshold
        )));
    }
    let unlock = super::unlock_options(&common.passphrase);
    let roles: Vec<(KeyRef, &'static str)> =
        references.into_iter().map(|r| (r, "signer")).collect();
    let opened = open_signers(planned, &roles, &unlock, &ui)?;
    let destination = match pending {
        Some(path) => Destination::Pending(path.clone()),
        None => Destination::Log(log),
    };
    let outcome = sign_and_finish(
        action,
        Some(kel),
        planned,
        &opened,
        destination,
        &transcript_path,
        details,
        None,
        out,
    )?;
    report(
        out,
        action,
        &outcome,
        &destination_path,
        &transcript_path,
        Some(kel),
    )
}

fn transfer(args: TransferArgs, out: &Output) -> CmdResult {
    let log = read_log(&args.identity)?;
    let names = parse_names(&args.names)?;
    let to: IdentityId = if args.to.starts_with("hid:") {
        args.to
            .parse()
            .map_err(|e| usage(format!("--to {:?}: {e}", args.to)))?
    } else {
        read_log(Path::new(&args.to))?.kel.identity()
    };
    let planned =
        event::transfer(&log.kel, to, &names, Timestamp::now()).map_err(Failure::usage)?;
    let details = vec![
        ("to", to.to_string()),
        (
            "names",
            names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    current_keys_ceremony(
        "transfer",
        &log,
        &planned,
        &args.keys,
        args.pending.as_ref(),
        &args.common,
        &details,
        out,
    )
}

fn accept(args: AcceptArgs, out: &Output) -> CmdResult {
    let log = read_log(&args.identity)?;
    let giver = read_log(&args.from)?;
    let transfer = args
        .transfer
        .as_deref()
        .map(|t| {
            t.parse::<Sha256Digest>()
                .map_err(|e| usage(format!("--transfer {t:?}: {e}")))
        })
        .transpose()?;
    let names = parse_names(&args.names)?;
    let planned = event::acceptance(
        &log.kel,
        &giver.kel,
        transfer,
        (!names.is_empty()).then_some(names.as_slice()),
        Timestamp::now(),
    )
    .map_err(Failure::usage)?;
    let details = vec![
        ("from", giver.kel.identity().to_string()),
        (
            "transfer",
            planned
                .event
                .transfer
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        (
            "names",
            planned
                .event
                .names
                .iter()
                .flatten()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    current_keys_ceremony(
        "accept",
        &log,
        &planned,
        &args.keys,
        args.pending.as_ref(),
        &args.common,
        &details,
        out,
    )
}

fn revoke(args: RevokeArgs, out: &Output) -> CmdResult {
    let log = read_log(&args.identity)?;
    let since: Timestamp = args.since.parse().map_err(Failure::usage)?;
    let revoked = args
        .revoke
        .iter()
        .map(|t| parse_key_id(t))
        .collect::<Result<Vec<_>, _>>()?;
    let reason = match args.reason {
        RevocationReason::Compromised => Reason::Compromised,
        RevocationReason::Retired => Reason::Retired,
    };
    let planned = event::revocation(&log.kel, &revoked, reason, since, Timestamp::now())
        .map_err(Failure::usage)?;
    let details = vec![
        ("reason", reason.to_string()),
        ("since", since.to_string()),
        (
            "revoked",
            revoked
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    current_keys_ceremony(
        "revoke",
        &log,
        &planned,
        &args.keys,
        args.pending.as_ref(),
        &args.common,
        &details,
        out,
    )
}

fn read_pending(path: &Path) -> Result<(Vec<u8>, PendingEvent), Failure> {
    let bytes = fsutil::read_bounded(path, hallmark_ceremony::pending::MAX_PENDING_BYTES as u64)
        .map_err(|e| usage(format!("cannot read pending event {}: {e}", path.display())))?;
    let pending =
        PendingEvent::from_json(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok((bytes, pending))
}

fn cosign(args: CosignArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let (bytes, mut pending) = read_pending(&args.pending)?;
    let log = args.identity.as_deref().map(read_log).transpose()?;
    let base = log.as_ref().map(|l| &l.kel);
    let planned = pending.plan(base).map_err(Failure::usage)?;
    let references = parse_refs(&args.keys)?;
    let transcript_path = args.common.transcript.clone().unwrap_or_else(|| {
        let first = references
            .first()
            .and_then(peek_key)
            .map(|k| k.key_id().short())
            .unwrap_or_else(|| "key".to_owned());
        with_suffix(&args.pending, &format!(".cosign-{first}.transcript.json"))
    });
    must_be_new(&transcript_path, "transcript")?;
    let event = &planned.event;
    let unlock = super::unlock_options(&args.common.passphrase);
    let is_current = |r: &KeyRef| {
        event.kind == hallmark_keyring::kel::EventKind::Rotation
            && peek_key(r).is_some_and(|k| planned.co_signers.contains(&k))
    };
    let roles: Vec<(KeyRef, &'static str)> = references
        .into_iter()
        .map(|r| {
            let role = if is_current(&r) {
                "co-signer"
            } else {
                "signer"
            };
            (r, role)
        })
        .collect();
    let opened = open_signers(&planned, &roles, &unlock, &ui)?;
    out.note(&format!(
        "co-signing event #{} ({}) of identity {}: {}",
        event.sequence,
        event.kind,
        pending.identity(),
        event.digest()
    ));
    for o in &opened {
        pending.sign(base, o.handle.as_ref())?;
    }
    let mut transcript = Transcript::new("cosign", Some(pending.identity()), Timestamp::now());
    transcript.event(event, EventStatus::Pending);
    transcript.participants = opened.iter().map(Opened::participant).collect();
    let envelope = sign_transcript(&transcript, &opened)?;
    pending.transcripts.push(envelope.clone());
    // Replace the pending file only if nobody else changed it meanwhile.
    let now = fsutil::read_bounded(
        &args.pending,
        hallmark_ceremony::pending::MAX_PENDING_BYTES as u64,
    )
    .map_err(|e| usage(format!("cannot re-read {}: {e}", args.pending.display())))?;
    if now != bytes {
        return Err(usage(format!(
            "{} changed while co-signing; nothing was written: co-sign the new file",
            args.pending.display()
        )));
    }
    fsutil::write_replace(&args.pending, &pending.to_json(), 0o644).map_err(Failure::usage)?;
    write_transcript(&transcript_path, &envelope)?;
    let outcome = Outcome {
        kel: None,
        pending,
        transcript: envelope,
    };
    report(
        out,
        "cosign",
        &outcome,
        &args.pending,
        &transcript_path,
        base,
    )
}

fn commit(args: CommitArgs, out: &Output) -> CmdResult {
    let (_, pending) = read_pending(&args.pending)?;
    let log = args.identity.as_deref().map(read_log).transpose()?;
    let base = log.as_ref().map(|l| &l.kel);
    let event = pending.key_event()?;
    pending.plan(base).map_err(Failure::usage)?;
    let (destination, transcript_path) = match (&log, &args.out) {
        (Some(log), _) => (
            log.path.clone(),
            with_suffix(
                &log.path,
                &format!(".{}-commit.transcript.json", event.sequence),
            ),
        ),
        (None, Some(path)) => (
            path.clone(),
            with_suffix(path, &format!(".{}-commit.transcript.json", event.sequence)),
        ),
        (None, None) => return Err(usage("give --identity KEL (or --out KEL for an inception)")),
    };
    let transcript_path = args.transcript.clone().unwrap_or(transcript_path);
    transcript_slot(&transcript_path, base)?;
    if log.is_none() {
        must_be_new(&destination, "output")?;
    }
    let kel = pending.commit(base).map_err(Failure::usage)?;
    let mut transcript = Transcript::new("commit", Some(pending.identity()), Timestamp::now());
    transcript.event(&event, EventStatus::Committed);
    transcript.parts = pending.transcripts.clone();
    let envelope = Envelope::new(
        hallmark_keyring::PayloadType::Transcript,
        transcript.to_payload(),
    )?;
    // A commit involves no key: its transcript is unsigned and carries the signed
    // transcripts of the steps that gathered the signatures.
    transcript::verify(&envelope).map_err(|e| {
        usage(format!(
            "the pending event's transcripts do not verify ({e}); the event itself is valid: \
             pass --transcript to choose another path, or re-gather the signatures"
        ))
    })?;
    if let Some(log) = &log {
        check_unchanged(log)?;
    }
    write_transcript_then(&transcript_path, &envelope, base, || match &log {
        Some(log) => write_log(log, &kel),
        None => fsutil::write_new(&destination, &KelFile::from_kel(&kel).to_json(), 0o644)
            .map_err(Failure::usage),
    })?;
    let outcome = Outcome {
        kel: Some(kel),
        pending,
        transcript: envelope,
    };
    report(
        out,
        "commit",
        &outcome,
        &destination,
        &transcript_path,
        base,
    )
}

fn verify_transcript(args: VerifyTranscriptArgs, out: &Output) -> CmdResult {
    let bytes = fsutil::read_bounded(&args.file, 1024 * 1024).map_err(|e| {
        usage(format!(
            "cannot read transcript {}: {e}",
            args.file.display()
        ))
    })?;
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let envelope = Envelope::from_json(text)
        .map_err(|e| usage(format!("{} is not a transcript: {e}", args.file.display())))?;
    let t = transcript::verify(&envelope)
        .map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
    let log = args.identity.as_deref().map(read_log).transpose()?;
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    if let Some(log) = &log {
        for (event, check) in t.check_log(&log.kel) {
            match &check {
                LogCheck::InLog => {}
                LogCheck::Missing if event.status == EventStatus::Pending => {}
                LogCheck::Missing => problems.push(format!(
                    "event #{} ({}) {} is not in the log: the log is shorter",
                    event.sequence, event.kind, event.digest
                )),
                LogCheck::Different { found } => problems.push(format!(
                    "event #{} ({}) {} is not in the log, which has {found} there",
                    event.sequence, event.kind, event.digest
                )),
                LogCheck::OtherIdentity => problems.push(format!(
                    "the transcript is about identity {}, not {}",
                    t.identity.map(|i| i.to_string()).unwrap_or_default(),
                    log.kel.identity()
                )),
                _ => problems.push(format!("event #{}: {check:?}", event.sequence)),
            }
            checks.push((event, check));
        }
    }
    let mut participants: Vec<&Participant> = t.participants.iter().collect();
    let mut parts = Vec::new();
    for part in &t.parts {
        let inner =
            transcript::verify(part).map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
        parts.push(inner);
    }
    for p in &parts {
        participants.extend(p.participants.iter());
    }
    if out.json {
        out.json(&json!({
            "valid": problems.is_empty(),
            "action": t.action,
            "identity": t.identity.map(|i| i.to_string()),
            "time": t.time.to_string(),
            "events": t.events.iter().map(|e| json!({
                "sequence": e.sequence, "kind": e.kind.as_str(),
                "digest": e.digest.to_string(),
                "status": match e.status { EventStatus::Committed => "committed", EventStatus::Pending => "pending" },
                "in_log": checks.iter().find(|(c, _)| c == e).map(|(_, c)| *c == LogCheck::InLog),
            })).collect::<Vec<_>>(),
            "participants": participants.iter().map(|p| json!({
                "key_id": p.key_id.to_string(), "role": p.role, "backend": p.backend,
                "reference": p.reference, "device": p.device,
            })).collect::<Vec<_>>(),
            "details": t.details,
            "problems": problems,
        }));
    } else {
        outln!(
            "transcript: {} of identity {} at {}",
            t.action,
            t.identity.map(|i| i.to_string()).unwrap_or_default(),
            t.time
        );
        for e in &t.events {
            let state = match checks.iter().find(|(c, _)| c == e).map(|(_, c)| c) {
                Some(LogCheck::InLog) => " (in the log)",
                Some(_) => " (NOT in the log)",
                None => "",
            };
            outln!(
                "  event #{} {} {} {:?}{state}",
                e.sequence,
                e.kind,
                e.digest,
                e.status
            );
        }
        for p in &participants {
            let device: Vec<String> = p.device.iter().map(|(k, v)| format!("{k}={v}")).collect();
            outln!(
                "  signed by {} ({}, {} {}{})",
                p.key_id.short(),
                p.role,
                p.backend,
                p.reference,
                if device.is_empty() {
                    String::new()
                } else {
                    format!(", {}", device.join(" "))
                }
            );
        }
        for (k, v) in &t.details {
            outln!("  {k}: {v}");
        }
    }
    if let Some(problem) = problems.first() {
        return Err(usage(format!("{}: {problem}", args.file.display())));
    }
    Ok(Exit::Success)
}

fn backup(args: BackupArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let reference: KeyRef = args.key.parse().map_err(Failure::usage)?;
    let key_path = file_only(
        &reference,
        "a custodian backup splits a file key (hardware keys cannot leave their device)",
    )?;
    if args.recipients.len() != args.shares {
        return Err(usage(format!(
            "--shares {} needs exactly {} --recipient (one custodian per share); {} given",
            args.shares,
            args.shares,
            args.recipients.len()
        )));
    }
    if args.threshold < 2 || usize::from(args.threshold) > args.shares || args.shares > 255 {
        return Err(usage(format!(
            "--threshold {} of --shares {}: the threshold is at least 2 and at most the number of \
             shares (at most 255)",
            args.threshold, args.shares
        )));
    }
    let mut custodians = Vec::new();
    for text in &args.recipients {
        let recipient = text.parse::<age::x25519::Recipient>().map_err(|_| {
            usage(format!(
                "{text:?} is not an age X25519 recipient (age1…); plugin recipients \
                     (age1yubikey1…) are not supported by this build — see docs/ceremony.md"
            ))
        })?;
        custodians.push(Custodian {
            label: text.clone(),
            recipient: Box::new(recipient),
        });
    }
    let log = args.identity.as_deref().map(read_log).transpose()?;
    if let (Some(log), Some(key)) = (&log, peek_key(&reference))
        && !backup::is_committed(&log.kel, &key.key_id())
    {
        return Err(usage(format!(
            "key {} is neither committed as a next key nor a current key of identity {}: \
             refusing to back it up; nothing was unlocked",
            key.key_id().short(),
            log.kel.identity().short()
        )));
    }
    if fsutil::exists_no_follow(&args.out)
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(usage(format!(
            "{} exists and is not an empty directory; refusing to write shares into it",
            args.out.display()
        )));
    }
    let transcript_path = args
        .common
        .transcript
        .clone()
        .unwrap_or_else(|| args.out.join("backup.transcript.json"));
    let unlock = super::unlock_options(&args.common.passphrase);
    let key = filekey::FileKey::unlock(
        key_path,
        &match hallmark_signer::filekey::is_passphrase_protected(key_path)? {
            true => filekey::Unlock::Passphrase(
                unlock
                    .passphrase
                    .clone()
                    .unwrap_or(SecretSource::Prompt)
                    .read(&format!("passphrase for {}", key_path.display()), &ui)?,
            ),
            false => {
                let mut ids = Vec::new();
                for file in &unlock.age_identities {
                    ids.extend(keyref::read_age_identities(file)?);
                }
                filekey::Unlock::Identities(ids)
            }
        },
    )?;
    let now = Timestamp::now();
    let made = backup::split(
        key.signing_key(),
        &custodians,
        args.threshold,
        log.as_ref().map(|l| &l.kel),
        now,
    )
    .map_err(Failure::usage)?;
    // Only the custodians' shares live here (each 0600): the directory is private too.
    fsutil::create_dir_all(&args.out, fsutil::SECRET_DIR_MODE)
        .map_err(|e| usage(format!("cannot create {}: {e}", args.out.display())))?;
    let mut files = Vec::new();
    for share in &made.shares {
        let path = args.out.join(format!(
            "share-{}-of-{}.age",
            share.index,
            made.shares.len()
        ));
        fsutil::write_new(&path, share.armored.as_bytes(), 0o600).map_err(Failure::usage)?;
        files.push((path, share.custodian.clone()));
    }
    let handle: Box<dyn KeyHandle> = Box::new(key);
    let opened = [Opened {
        handle,
        role: "backed-up",
        attestation: None,
    }];
    let mut transcript = Transcript::new("backup", log.as_ref().map(|l| l.kel.identity()), now);
    transcript.participants = opened.iter().map(Opened::participant).collect();
    transcript.detail("backup", made.id.clone());
    transcript.detail(
        "threshold",
        format!("{} of {}", made.threshold, made.shares.len()),
    );
    for (i, (path, custodian)) in files.iter().enumerate() {
        transcript.detail(
            &format!("share {}", i + 1),
            format!("{custodian} {}", path.display()),
        );
    }
    let envelope = sign_transcript(&transcript, &opened)?;
    write_transcript(&transcript_path, &envelope)?;
    if out.json {
        out.json(&json!({
            "backup": made.id,
            "key_id": made.key.key_id().to_string(),
            "threshold": made.threshold,
            "shares": files.iter().map(|(p, c)| json!({"file": p.display().to_string(), "recipient": c})).collect::<Vec<_>>(),
            "transcript": transcript_path.display().to_string(),
        }));
    } else {
        outln!(
            "backup {} of key {}: {} of {} shares rebuild it",
            made.id,
            made.key.key_id(),
            made.threshold,
            made.shares.len()
        );
        for (path, custodian) in &files {
            outln!("  {} -> {custodian}", path.display());
        }
        outln!("  transcript {}", transcript_path.display());
    }
    out.note(
        "Hand each share to its custodian and delete it here; no single share reveals anything \
         about the key.",
    );
    Ok(Exit::Success)
}

/// Writes a restore's transcript. Something at the path is replaced only if it is the
/// transcript of a restore of this very key that was killed before it wrote the key (the key
/// file is known to be absent); anything else is refused.
fn write_restore_transcript(
    path: &Path,
    envelope: &Envelope,
    restored: &PublicKey,
) -> Result<(), Failure> {
    if !fsutil::exists_no_follow(path) {
        return write_transcript(path, envelope);
    }
    let interrupted = fsutil::read_bounded(path, 16 * 1024 * 1024)
        .ok()
        .and_then(|bytes| Envelope::from_json(bytes.trim_ascii_end()).ok())
        .and_then(|envelope| transcript::verify(&envelope).ok())
        .is_some_and(|t| {
            t.action == "restore"
                && t.participants.len() == 1
                && t.participants[0].public_key == *restored
        });
    if !interrupted {
        return must_be_new(path, "transcript");
    }
    let mut bytes = envelope.to_json();
    bytes.push(b'\n');
    fsutil::write_replace(path, &bytes, 0o644).map_err(Failure::usage)
}

fn restore(args: RestoreArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let reference: KeyRef = args.out.parse().map_err(Failure::usage)?;
    let out_path = file_only(&reference, "a restored key is written as a file key")?;
    must_be_new(out_path, "output key file")?;
    let transcript_path = args
        .transcript
        .clone()
        .unwrap_or_else(|| with_suffix(out_path, ".restore.transcript.json"));
    let log = read_log(&args.identity)?;
    let mut identities = Vec::new();
    for file in &args.age_identities {
        identities.extend(keyref::read_age_identities(file)?);
    }
    let ids: Vec<&dyn age::Identity> = identities.iter().map(|i| i as &dyn age::Identity).collect();
    let mut shares = Vec::new();
    for path in &args.shares {
        let bytes = fsutil::read_bounded(path, backup::MAX_SHARE_FILE_BYTES as u64)
            .map_err(|e| usage(format!("cannot read share {}: {e}", path.display())))?;
        shares.push(
            backup::open_share(&path.display().to_string(), &bytes, &ids)
                .map_err(Failure::usage)?,
        );
    }
    let key = backup::restore(&shares, &log.kel).map_err(Failure::usage)?;
    let passphrase = if let Some(path) = &args.passphrase_file {
        SecretSource::File(path.clone()).read("passphrase for the restored key", &ui)?
    } else if let Some(name) = &args.passphrase_env {
        SecretSource::Env(name.clone()).read("passphrase for the restored key", &ui)?
    } else {
        ui.request_new_secret(&format!("new passphrase for {}", out_path.display()))?
    };
    let public_key = PublicKey::new(key.verifying_key());
    let participant = Participant {
        public_key,
        key_id: public_key.key_id(),
        role: "restored".to_owned(),
        backend: "file".to_owned(),
        reference: reference.to_string(),
        device: Vec::new(),
        attestations: Vec::new(),
    };
    let mut transcript = Transcript::new("restore", Some(log.kel.identity()), Timestamp::now());
    transcript.participants = vec![participant];
    transcript.detail("backup", shares[0].backup.clone());
    transcript.detail(
        "shares",
        shares
            .iter()
            .map(|s| format!("{} ({})", s.index, s.source))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let envelope = transcript.sign(&[&key as &dyn Ed25519Signer])?;
    // The transcript first, then the key: a restore killed between the two leaves the
    // transcript of a key that is not there, which running the restore again replaces.
    write_restore_transcript(&transcript_path, &envelope, &public_key)?;
    let written = filekey::write_key(
        out_path,
        &key,
        &Protection::Passphrase {
            passphrase,
            work_factor: args.work_factor,
        },
    )
    .map_err(Failure::usage)?;
    let key_id = public_key.key_id();
    let role = if log.kel.current().has_key(&key_id) {
        "a current key"
    } else {
        "the committed next key"
    };
    if out.json {
        out.json(&json!({
            "key_id": key_id.to_string(),
            "public_key": written.public_key.to_string(),
            "file": written.path.display().to_string(),
            "identity": log.kel.identity().to_string(),
            "transcript": transcript_path.display().to_string(),
        }));
    } else {
        outln!(
            "restored key {key_id} ({role} of identity {}) to {}",
            log.kel.identity(),
            written.path.display()
        );
        outln!("  transcript {}", transcript_path.display());
    }
    Ok(Exit::Success)
}
