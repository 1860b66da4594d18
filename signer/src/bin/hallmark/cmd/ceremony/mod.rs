//! `hallmark ceremony …`: key ceremonies on an identity's key event log.
//!
//! Every command checks everything it can — the log, the event it would add, whether each key
//! is entitled to sign — from public keys alone, before any key is unlocked or any PIN asked
//! for. Logs are updated atomically (write, flush, rename), and only if the file did not change
//! while the ceremony ran. Every command writes a signed transcript.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
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

mod args;
pub use args::*;

use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

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
        out.json(
            &format!("ceremony.{action}"),
            &json!({
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
            }),
        );
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
        let valid = report.problems.is_empty();
        out.json("ceremony.verify-transcript", &json!({
            "valid": valid,
            "exitCode": if valid { Exit::Success } else { Exit::Usage }.code(),
            "action": t.action,
            "identity": t.identity.map(|i| i.to_string()),
            "time": t.time.to_string(),
            "events": t.events.iter().map(|e| json!({
                "sequence": e.sequence, "kind": e.kind.as_str(),
                "digest": e.digest.to_string(),
                "status": match e.status { EventStatus::Committed => "committed", EventStatus::Pending => "pending" },
                "inLog": in_log(e),
            })).collect::<Vec<_>>(),
            "participants": report.participants.iter().map(|p| json!({
                "keyId": p.key_id.to_string(), "role": p.role, "backend": p.backend,
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
            let status = match e.status {
                hallmark_ceremony::transcript::EventStatus::Committed => "committed",
                hallmark_ceremony::transcript::EventStatus::Pending => "pending",
            };
            outln!(
                "  event #{} {} {} {status}{state}",
                e.sequence,
                e.kind,
                e.digest,
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
        let failure = usage(format!("{}: {problem}", file.display()));
        if out.json {
            // The document above says why; one document per run.
            hallmark_signer::cmdline::write_stderr(format_args!("error: {failure}\n"));
            return Ok(failure.exit);
        }
        return Err(failure);
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
        out.json("ceremony.backup", &json!({
            "backup": made.id,
            "keyId": made.key.key_id().to_string(),
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
        out.json(
            "ceremony.restore",
            &json!({
                "keyId": key_id.to_string(),
                "publicKey": restored.key.to_string(),
                "file": file.display().to_string(),
                "identity": restored.identity.to_string(),
                "transcript": restored.transcript.display().to_string(),
            }),
        );
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
