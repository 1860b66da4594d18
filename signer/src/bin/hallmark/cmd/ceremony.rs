//! `hallmark ceremony …`: key ceremonies on an identity's key event log.
//!
//! Every command checks everything it can — the log, the event it would add, whether each key
//! is entitled to sign — from public keys alone, before any key is unlocked or any PIN asked
//! for. Logs are updated atomically (write, flush, rename), and only if the file did not change
//! while the ceremony ran. Every command writes a signed transcript.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use hallmark_ceremony::backup::Custodian;
use hallmark_ceremony::error::KeySet;
use hallmark_ceremony::files::{self, LogFile};
use hallmark_ceremony::keys::KeyFailure;
use hallmark_ceremony::run::{
    Accept, Backup, Commit, Cosign, Destination, Init, LogTarget, NextKeys, Notice, Outcome,
    Restore, Revoke, Rotate, Signing, Transfer, VerifyTranscript,
};
use hallmark_ceremony::transcript::{EventStatus, LogCheck, TranscriptEvent};
use hallmark_ceremony::{CeremonyError, KeySink, KeySource};
use hallmark_hsm::interact::{Headless, Interaction};
use hallmark_hsm::secret::SecretSource;
use hallmark_keyring::fsutil;
use hallmark_keyring::kel::Reason;
use hallmark_keyring::{IdentityId, KeyId, Namespace, PublicKey, Sha256Digest, Timestamp};
use hallmark_signer::filekey::{self, NewKeyFiles, NewKeyProtection};
use hallmark_signer::keyref::{self, CeremonyKey, KeyRef, UnlockOptions};
use serde_json::json;

use crate::cli::UnlockArgs;
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

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

fn short_list(keys: &[KeyId]) -> String {
    if keys.is_empty() {
        return "none".to_owned();
    }
    keys.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
}

/// A ceremony's error as the command reports it: what to run or which flag to give, for the
/// errors that need it (the library names neither); `public_key_hint` for a key whose public
/// key cannot be read.
fn failure(error: CeremonyError, public_key_hint: &str) -> Failure {
    use CeremonyError as E;
    let text = match &error {
        E::ThresholdNotMet {
            kind,
            needed,
            signed,
            entitled,
        } => format!(
            "the {kind} event is signed by {} of the {needed} entitled keys it needs{}; co-sign it \
             with `hallmark ceremony cosign` on the machines that hold the others (entitled: {})",
            signed.len(),
            if signed.is_empty() {
                String::new()
            } else {
                format!(" ({})", short_list(signed))
            },
            short_list(entitled)
        ),
        E::NoTransfer { giver, receiver } => format!(
            "identity {} has no transfer to {} that is not yet accepted; the giver runs \
             `hallmark ceremony transfer --to` first",
            giver.short(),
            receiver.short()
        ),
        E::NoKeys { kind: "inception" } => {
            "give the identity's signing key(s) with --key REF".to_owned()
        }
        E::NoKeys { .. } => "give the pre-committed next key(s) with --key REF: a rotation \
                             reveals them and is signed by them"
            .to_owned(),
        E::CosignersNeedPending { kind } => format!(
            "--cosigner-key names keys that sign elsewhere: write a pending {kind} with \
             --pending PATH, co-sign it there, then `hallmark ceremony commit`"
        ),
        E::ThresholdNeeded {
            keys,
            set: KeySet::Signing,
        } => format!("{keys} signing keys: say how many must sign with --threshold"),
        E::ThresholdNeeded { keys, .. } => format!(
            "{keys} next keys: say how many must sign the next rotation with --next-threshold"
        ),
        E::NoNextKeys => "pre-rotation is always on: name the next key(s) with --next-key REF, \
                          --next-public-key KEY, or --create-next file:PATH"
            .to_owned(),
        E::NoSigners {
            identity,
            threshold,
        } => format!(
            "identity {} needs {threshold} of its current keys to sign; give --key REF (or \
             --pending PATH to gather signatures on other machines)",
            identity.short()
        ),
        E::NotCurrentKey { .. } => format!("--current-key {error}"),
        E::PartsInvalid(e) => format!(
            "the pending event's transcripts do not verify ({e}); the event itself is valid: \
             pass --transcript to choose another path, or re-gather the signatures"
        ),
        E::PublicKey { .. } => return Failure::usage(error).with_hint(public_key_hint),
        _ => return Failure::from(error),
    };
    usage(text)
}

/// Runs a ceremony's library step, mapping its error for the command line.
fn ceremony<T>(step: Result<T, CeremonyError>) -> Result<T, Failure> {
    step.map_err(|e| failure(e, "the key's public key is needed to build the inception"))
}

/// Prints what a ceremony tells the operator while it runs.
fn notices(out: &Output) -> impl Fn(&Notice) + '_ {
    move |notice| match notice {
        Notice::ReplacingTranscript(path) => errln!(
            "note: replacing {}, the transcript of an interrupted run whose event never reached \
             the log",
            path.display()
        ),
        Notice::CoSigning { identity, event } => out.note(&format!(
            "co-signing event #{} ({}) of identity {identity}: {}",
            event.sequence,
            event.kind,
            event.digest()
        )),
        _ => {}
    }
}

fn parse_refs(texts: &[String]) -> Result<Vec<KeyRef>, Failure> {
    texts
        .iter()
        .map(|t| t.parse::<KeyRef>().map_err(Failure::usage))
        .collect()
}

/// The references as key sources for a ceremony.
fn sources<'a>(
    references: Vec<KeyRef>,
    unlock: &'a UnlockOptions,
    ui: &'a dyn Interaction,
) -> Vec<CeremonyKey<'a>> {
    references
        .into_iter()
        .map(|reference| CeremonyKey {
            reference,
            unlock,
            ui,
        })
        .collect()
}

fn dyn_sources<'a>(keys: &'a [CeremonyKey<'_>]) -> Vec<&'a dyn KeySource> {
    keys.iter().map(|k| k as &dyn KeySource).collect()
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

/// The path of a `file:` reference; other backends are refused with `why`.
fn file_only<'a>(reference: &'a KeyRef, why: &str) -> Result<&'a PathBuf, Failure> {
    match reference {
        KeyRef::File(path) => Ok(path),
        other => Err(usage(format!("{why}: give file:PATH, not {other}"))),
    }
}

/// Where a signed event goes: `--pending PATH`, else the log.
fn destination(log: &Path, pending: Option<&PathBuf>) -> Destination {
    match pending {
        Some(path) => Destination::Pending(path.clone()),
        None => Destination::Log(log.to_owned()),
    }
}

/// The keys that sign an event of the log `log` here, and where the event and its transcript
/// go.
fn signing<'a>(
    keys: &'a [CeremonyKey<'_>],
    log: &Path,
    pending: Option<&PathBuf>,
    transcript: Option<PathBuf>,
) -> Signing<'a> {
    Signing {
        keys: dyn_sources(keys),
        to: destination(log, pending),
        transcript,
    }
}

// --- next keys -------------------------------------------------------------------------------------

/// The next keys of `--next-key`, `--next-public-key` and `--create-next`: commitments read
/// from public keys alone, and file keys to create, saved by [`NextKeyFiles`].
fn next_commitments(args: &NextArgs) -> Result<(Vec<KeyId>, Vec<PathBuf>), Failure> {
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
        ceremony(files::must_be_new(path, "next key file"))?;
        ceremony(files::must_be_new(
            &filekey::public_key_path(path),
            "next public key file",
        ))?;
        create.push(path.clone());
    }
    Ok((ids, create))
}

/// The next key files `--create-next` makes, protected as `--next-recipient` or the next
/// passphrase say; once the ceremony's checks pass, it notes `--next-key` files found here.
struct NextKeyFiles<'a> {
    files: NewKeyFiles<'a>,
    args: &'a NextArgs,
}

impl<'a> NextKeyFiles<'a> {
    fn new(
        paths: Vec<PathBuf>,
        args: &'a NextArgs,
        ui: &'a dyn Interaction,
    ) -> Result<Self, Failure> {
        let protection = if !paths.is_empty() && !args.next_recipients.is_empty() {
            let recipients = args
                .next_recipients
                .iter()
                .map(|r| {
                    r.parse::<age::x25519::Recipient>()
                        .map_err(|_| usage(format!("{r:?} is not an age X25519 recipient (age1…)")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            NewKeyProtection::Recipients(recipients)
        } else {
            NewKeyProtection::Passphrase {
                source: passphrase_source(&args.next_passphrase_file, &args.next_passphrase_env),
                what: "passphrase for the next key".to_owned(),
                prompt: "new passphrase for the next key".to_owned(),
                work_factor: args.work_factor,
            }
        };
        Ok(NextKeyFiles {
            files: NewKeyFiles::new(paths, protection, ui, &created_next_key),
            args,
        })
    }

    fn next_keys(&mut self, committed: Vec<KeyId>) -> NextKeys<'_> {
        NextKeys {
            committed,
            create: self.files.len(),
            threshold: self.args.next_threshold,
            sink: Some(self),
        }
    }
}

fn created_next_key(written: &filekey::GeneratedFileKey) {
    errln!(
        "important: created next key {} (key id {}). Move it offline now — a second device, a \
         safe, or custodian shares (`hallmark ceremony backup`) — and delete this copy: only the \
         next rotation needs it, and whoever holds it can rotate this identity.",
        written.path.display(),
        written.public_key.key_id()
    );
}

impl KeySink for NextKeyFiles<'_> {
    fn prepare(&mut self) -> Result<(), KeyFailure> {
        for text in &self.args.next_keys {
            if let Ok(KeyRef::File(path)) = text.parse::<KeyRef>()
                && fsutil::exists_no_follow(&path)
            {
                errln!(
                    "note: next key {} is on this machine; keep it offline, apart from the \
                     current key (a thief holding both can rotate this identity)",
                    path.display()
                );
            }
        }
        self.files.prepare()
    }

    fn save(&self, index: usize, key: &ed25519_dalek::SigningKey) -> Result<(), KeyFailure> {
        self.files.save(index, key)
    }
}

/// A passphrase from `--…-passphrase-file` or `--…-passphrase-env`; `None` asks.
fn passphrase_source(file: &Option<PathBuf>, env: &Option<String>) -> Option<SecretSource> {
    match (file, env) {
        (Some(path), _) => Some(SecretSource::File(path.clone())),
        (None, Some(name)) => Some(SecretSource::Env(name.clone())),
        (None, None) => None,
    }
}

// --- reports ---------------------------------------------------------------------------------------

fn report(out: &Output, action: &str, outcome: &Outcome) -> CmdResult {
    let event = &outcome.event;
    let written = &outcome.file;
    let status = if outcome.committed {
        "committed"
    } else {
        "pending"
    };
    if out.json {
        out.json(&json!({
            "action": action,
            "identity": outcome.identity.to_string(),
            "event": {
                "sequence": event.sequence,
                "kind": event.kind.as_str(),
                "digest": event.digest().to_string(),
            },
            "status": status,
            "signed": outcome.signed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "threshold": outcome.threshold,
            "file": written.display().to_string(),
            "transcript": outcome.transcript.display().to_string(),
        }));
    } else {
        outln!("identity {}", outcome.identity);
        outln!(
            "  event #{} {} {}",
            event.sequence,
            event.kind,
            event.digest()
        );
        let (signed, needed) = (outcome.signed.len(), outcome.threshold);
        if outcome.committed {
            outln!("  committed to {}", written.display());
        } else if (signed as u64) < needed {
            outln!(
                "  pending in {}: signed by {signed} of the {needed} needed; co-sign with \
                 `hallmark ceremony cosign {}`",
                written.display(),
                written.display()
            );
        } else {
            outln!(
                "  pending in {}: signed by {signed} of the {needed} needed; append it with \
                 `hallmark ceremony commit {} {}`",
                written.display(),
                written.display(),
                if event.sequence == 0 {
                    "--out KEL"
                } else {
                    "--identity KEL"
                }
            );
        }
        outln!("  transcript {}", outcome.transcript.display());
    }
    Ok(Exit::Success)
}

// --- commands --------------------------------------------------------------------------------------

fn init(args: InitArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let references = parse_refs(&args.keys)?;
    let namespaces = parse_names(&args.namespaces)?;
    let cosigners = args
        .cosigner_keys
        .iter()
        .map(|t| parse_public_key(t))
        .collect::<Result<Vec<_>, _>>()?;
    let to = match (&args.out, &args.pending) {
        (Some(path), _) => Destination::Log(path.clone()),
        (None, Some(path)) => Destination::Pending(path.clone()),
        (None, None) => return Err(usage("give --out KEL (or --pending PATH)")),
    };
    let (committed, create) = next_commitments(&args.next)?;
    let mut next_files = NextKeyFiles::new(create, &args.next, &ui)?;
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(references, &unlock, &ui);
    let request = Init {
        signing: Signing {
            keys: dyn_sources(&keys),
            to,
            transcript: args.common.transcript.clone(),
        },
        cosigners,
        threshold: args.threshold,
        next: next_files.next_keys(committed),
        namespaces,
    };
    let outcome = ceremony(request.run(&notices(out)))?;
    report(out, "init", &outcome)
}

fn rotate(args: RotateArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let references = parse_refs(&args.keys)?;
    let current_refs = parse_refs(&args.current_keys)?;
    let cosigners = args
        .cosigner_keys
        .iter()
        .map(|t| parse_public_key(t))
        .collect::<Result<Vec<_>, _>>()?;
    let (committed, create) = next_commitments(&args.next)?;
    let mut next_files = NextKeyFiles::new(create, &args.next, &ui)?;
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(references, &unlock, &ui);
    let current = sources(current_refs, &unlock, &ui);
    let reason = match args.reason {
        RotationReason::Scheduled => Reason::Scheduled,
        RotationReason::Lost => Reason::Lost,
        RotationReason::Compromised => Reason::Compromised,
    };
    let request = Rotate {
        signing: signing(
            &keys,
            &args.identity,
            args.pending.as_ref(),
            args.common.transcript.clone(),
        ),
        identity: args.identity,
        cosigners,
        current: dyn_sources(&current),
        threshold: args.threshold,
        next: next_files.next_keys(committed),
        reason,
    };
    let outcome = request.run(&notices(out)).map_err(|e| {
        failure(
            e,
            "the new key's public key is needed to build the rotation",
        )
    })?;
    report(out, "rotate", &outcome)
}

fn transfer(args: TransferArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let names = parse_names(&args.names)?;
    let to: IdentityId = if args.to.starts_with("hid:") {
        args.to
            .parse()
            .map_err(|e| usage(format!("--to {:?}: {e}", args.to)))?
    } else {
        ceremony(LogFile::read(Path::new(&args.to)))?
            .kel()
            .identity()
    };
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(parse_refs(&args.keys)?, &unlock, &ui);
    let request = Transfer {
        signing: signing(
            &keys,
            &args.identity,
            args.pending.as_ref(),
            args.common.transcript,
        ),
        identity: args.identity,
        to,
        names,
    };
    report(out, "transfer", &ceremony(request.run(&notices(out)))?)
}

fn accept(args: AcceptArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let transfer = args
        .transfer
        .as_deref()
        .map(|t| {
            t.parse::<Sha256Digest>()
                .map_err(|e| usage(format!("--transfer {t:?}: {e}")))
        })
        .transpose()?;
    let names = parse_names(&args.names)?;
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(parse_refs(&args.keys)?, &unlock, &ui);
    let request = Accept {
        signing: signing(
            &keys,
            &args.identity,
            args.pending.as_ref(),
            args.common.transcript,
        ),
        identity: args.identity,
        from: args.from,
        transfer,
        names,
    };
    report(out, "accept", &ceremony(request.run(&notices(out)))?)
}

fn revoke(args: RevokeArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
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
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(parse_refs(&args.keys)?, &unlock, &ui);
    let request = Revoke {
        signing: signing(
            &keys,
            &args.identity,
            args.pending.as_ref(),
            args.common.transcript,
        ),
        identity: args.identity,
        revoked,
        reason,
        since,
    };
    report(out, "revoke", &ceremony(request.run(&notices(out)))?)
}

fn cosign(args: CosignArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let unlock = super::unlock_options(&args.common.passphrase);
    let keys = sources(parse_refs(&args.keys)?, &unlock, &ui);
    let request = Cosign {
        pending: args.pending,
        identity: args.identity,
        keys: dyn_sources(&keys),
        transcript: args.common.transcript,
    };
    report(out, "cosign", &ceremony(request.run(&notices(out)))?)
}

fn commit(args: CommitArgs, out: &Output) -> CmdResult {
    let to = match (args.identity, args.out) {
        (Some(path), _) => LogTarget::Existing(path),
        (None, Some(path)) => LogTarget::New(path),
        (None, None) => return Err(usage("give --identity KEL (or --out KEL for an inception)")),
    };
    let request = Commit {
        pending: args.pending,
        to,
        transcript: args.transcript,
    };
    report(out, "commit", &ceremony(request.run(&notices(out)))?)
}

fn verify_transcript(args: VerifyTranscriptArgs, out: &Output) -> CmdResult {
    let file = args.file.clone();
    let report = ceremony(
        VerifyTranscript {
            file: args.file,
            identity: args.identity,
        }
        .run(),
    )?;
    let t = &report.transcript;
    let in_log = |e: &TranscriptEvent| {
        report
            .checks
            .iter()
            .find(|(c, _)| c == e)
            .map(|(_, c)| *c == LogCheck::InLog)
    };
    if out.json {
        out.json(&json!({
            "valid": report.problems.is_empty(),
            "action": t.action,
            "identity": t.identity.map(|i| i.to_string()),
            "time": t.time.to_string(),
            "events": t.events.iter().map(|e| json!({
                "sequence": e.sequence, "kind": e.kind.as_str(),
                "digest": e.digest.to_string(),
                "status": match e.status { EventStatus::Committed => "committed", EventStatus::Pending => "pending" },
                "in_log": in_log(e),
            })).collect::<Vec<_>>(),
            "participants": report.participants.iter().map(|p| json!({
                "key_id": p.key_id.to_string(), "role": p.role, "backend": p.backend,
                "reference": p.reference, "device": p.device,
            })).collect::<Vec<_>>(),
            "details": t.details,
            "problems": report.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    } else {
        outln!(
            "transcript: {} of identity {} at {}",
            t.action,
            t.identity.map(|i| i.to_string()).unwrap_or_default(),
            t.time
        );
        for e in &t.events {
            let state = match in_log(e) {
                Some(true) => " (in the log)",
                Some(false) => " (NOT in the log)",
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
        for p in &report.participants {
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
    if let Some(problem) = report.problems.first() {
        return Err(usage(format!("{}: {problem}", file.display())));
    }
    Ok(Exit::Success)
}

fn backup(args: BackupArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let reference: KeyRef = args.key.parse().map_err(Failure::usage)?;
    file_only(
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
    let unlock = super::unlock_options(&args.common.passphrase);
    let key = CeremonyKey {
        reference,
        unlock: &unlock,
        ui: &ui,
    };
    let made = ceremony(
        Backup {
            key: &key,
            custodians,
            threshold: args.threshold,
            out: args.out,
            identity: args.identity,
            transcript: args.common.transcript,
        }
        .run(),
    )?;
    if out.json {
        out.json(&json!({
            "backup": made.id,
            "key_id": made.key.key_id().to_string(),
            "threshold": made.threshold,
            "shares": made.shares.iter().map(|(p, c)| json!({"file": p.display().to_string(), "recipient": c})).collect::<Vec<_>>(),
            "transcript": made.transcript.display().to_string(),
        }));
    } else {
        outln!(
            "backup {} of key {}: {} of {} shares rebuild it",
            made.id,
            made.key.key_id(),
            made.threshold,
            made.shares.len()
        );
        for (path, custodian) in &made.shares {
            outln!("  {} -> {custodian}", path.display());
        }
        outln!("  transcript {}", made.transcript.display());
    }
    out.note(
        "Hand each share to its custodian and delete it here; no single share reveals anything \
         about the key.",
    );
    Ok(Exit::Success)
}

fn restore(args: RestoreArgs, out: &Output) -> CmdResult {
    let ui = TerminalUi;
    let reference: KeyRef = args.out.parse().map_err(Failure::usage)?;
    let out_path = file_only(&reference, "a restored key is written as a file key")?;
    let mut identities = Vec::new();
    for file in &args.age_identities {
        identities.extend(keyref::read_age_identities(file)?);
    }
    let written = std::cell::RefCell::new(None);
    let remember = |key: &filekey::GeneratedFileKey| *written.borrow_mut() = Some(key.path.clone());
    let protection = NewKeyProtection::Passphrase {
        source: passphrase_source(&args.passphrase_file, &args.passphrase_env),
        what: "passphrase for the restored key".to_owned(),
        prompt: format!("new passphrase for {}", out_path.display()),
        work_factor: args.work_factor,
    };
    let mut sink = NewKeyFiles::new(vec![out_path.clone()], protection, &ui, &remember);
    let restored = ceremony(
        Restore {
            shares: args.shares.clone(),
            identities: identities.iter().map(|i| i as &dyn age::Identity).collect(),
            identity: args.identity.clone(),
            out: out_path.clone(),
            reference: reference.to_string(),
            sink: &mut sink,
            transcript: args.transcript.clone(),
        }
        .run(),
    )?;
    let file = written.take().unwrap_or_else(|| out_path.clone());
    let key_id = restored.key.key_id();
    let role = if restored.current {
        "a current key"
    } else {
        "the committed next key"
    };
    if out.json {
        out.json(&json!({
            "key_id": key_id.to_string(),
            "public_key": restored.key.to_string(),
            "file": file.display().to_string(),
            "identity": restored.identity.to_string(),
            "transcript": restored.transcript.display().to_string(),
        }));
    } else {
        outln!(
            "restored key {key_id} ({role} of identity {}) to {}",
            restored.identity,
            file.display()
        );
        outln!("  transcript {}", restored.transcript.display());
    }
    Ok(Exit::Success)
}
