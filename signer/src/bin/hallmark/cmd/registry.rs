//! `hallmark registry init|accept|receipt|verify-log|yank`.

use std::path::{Path, PathBuf};

use hallmark_keyring::PublicKey;
use hallmark_keyring::bundle::{BUNDLE_SUFFIX, Bundle};
use hallmark_keyring::digest::{DigestOptions, digest_path};
use hallmark_keyring::encoding::base64_encode;
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::fsutil;
use hallmark_keyring::kel::file::KelFile;
use hallmark_keyring::receipt::{Receipt, merge_receipts, receipts_file};
use hallmark_keyring::registry::{
    self, AcceptOptions, Registry, RegistryError, Submission, verify_log,
};
use hallmark_keyring::tlog::witness::WitnessEndpoint;
use hallmark_keyring::{IdentityId, Namespace, PackageName, Sha256Digest, Timestamp, Version};
use hallmark_signer::cmdline::{ErrorReport, advised_message};
use hallmark_signer::keyref::{self, KeyHandle, KeyRef};
use hallmark_signer::release::read_bundle;
use hallmark_signer::witness::HttpWitnesses;
use rayon::prelude::*;
use serde_json::json;

use crate::cli::{
    RegistryAcceptArgs, RegistryAddWitnessArgs, RegistryCommand, RegistryInitArgs,
    RegistryReceiptArgs, RegistryVerifyLogArgs, RegistryYankArgs, UnlockArgs,
};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(cmd: RegistryCommand, out: &Output) -> CmdResult {
    match cmd {
        RegistryCommand::Init(args) => init(args, out),
        RegistryCommand::Accept(args) => accept(args, out),
        RegistryCommand::Receipt(args) => receipt(args, out),
        RegistryCommand::VerifyLog(args) => verify(args, out),
        RegistryCommand::Yank(args) => yank(args, out),
        RegistryCommand::AddWitness(args) => add_witness(args, out),
        RegistryCommand::RebuildState { dir } => {
            let entries = Registry::rebuild_state(&dir.registry).map_err(registry_failure)?;
            if out.json {
                out.json(
                    "registry.rebuild-state",
                    &json!({ "registry": dir.registry.display().to_string(), "entries": entries }),
                );
            } else {
                outln!(
                    "rebuilt the state of {} from its log: {entries} entries",
                    dir.registry.display()
                );
            }
            Ok(Exit::Success)
        }
    }
}

fn registry_failure(error: RegistryError) -> Failure {
    Failure::from(anyhow::Error::from(error))
}

/// The key reference as the registry stores it in `registry.json`, which anyone who can read
/// the registry can read: parsed and printed again (a printed reference never carries a
/// secret), with a relative file path made absolute so that the registry finds its key from
/// any working directory. A PIN written into the reference (`pin-value=`) is refused rather
/// than dropped: the stored reference must open the key again, and it must not hold the PIN.
fn stored_reference(text: &str) -> Result<String, Failure> {
    let reference: KeyRef = text.parse().map_err(Failure::usage)?;
    match &reference {
        KeyRef::File(path) if path.is_relative() => Ok(match std::env::current_dir() {
            Ok(cwd) => format!("file:{}", cwd.join(path).display()),
            Err(_) => reference.to_string(),
        }),
        KeyRef::Pkcs11(uri) if uri.pin_value().is_some() => Err(Failure::usage(anyhow::anyhow!(
            "{reference}: the registry stores its key reference in {}, readable by anyone who \
             can read the registry, and a pin-value= would be stored with it",
            registry::CONFIG_FILE
        ))
        .with_hint(
            "name the PIN's source instead: pin-source=file:PATH, pin-source=env:NAME or \
             pin-source=prompt",
        )),
        _ => Ok(reference.to_string()),
    }
}

fn open_key(
    reference: &str,
    passphrase: &UnlockArgs,
    expected: Option<PublicKey>,
) -> Result<Box<dyn KeyHandle>, Failure> {
    let reference: KeyRef = reference.parse().map_err(Failure::usage)?;
    let unlock = super::unlock_options(passphrase);
    Ok(keyref::open(
        &reference,
        &unlock,
        &TerminalUi,
        expected.as_ref(),
    )?)
}

/// The registry's key as its own log names it (when it has one current key), so that the
/// backend refuses another key — a swapped YubiKey or token — before it signs.
fn registry_key(registry: &Registry) -> Option<PublicKey> {
    match registry.kel()?.current().keys.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

fn init(args: RegistryInitArgs, out: &Output) -> CmdResult {
    let namespace: Namespace = args.namespace.parse().map_err(Failure::usage)?;
    let next: KeyRef = args.next_key.parse().map_err(Failure::usage)?;
    let next = keyref::public_key(&next, &hallmark_hsm::interact::Headless)?;
    let reference = stored_reference(&args.key)?;
    let handle = open_key(&args.key, &args.passphrase, None)?;
    let registry = Registry::init(
        &args.dir.registry,
        handle.as_ref(),
        &reference,
        &next,
        namespace,
        args.origin,
        Timestamp::now(),
    )
    .map_err(registry_failure)?;
    let identity = registry.config().identity;
    let kel_path = args.dir.registry.join(registry::KEL_FILE);
    if out.json {
        out.json(
            "registry.init",
            &json!({ "identity": identity, "kel": kel_path.display().to_string() }),
        );
    } else {
        outln!("registry {identity}");
        outln!(
            "its key event log, for consumers to pin: {}",
            kel_path.display()
        );
    }
    Ok(Exit::Success)
}

/// Where a submission comes from and where its receipts go.
enum Input {
    Bundle {
        shown: PathBuf,
        bundle_path: PathBuf,
    },
    Kel {
        path: PathBuf,
    },
}

fn classify(path: &Path) -> Input {
    let text = path.to_string_lossy();
    if text.ends_with(BUNDLE_SUFFIX) {
        Input::Bundle {
            shown: path.to_owned(),
            bundle_path: path.to_owned(),
        }
    } else if text.ends_with(".kel") {
        Input::Kel {
            path: path.to_owned(),
        }
    } else {
        Input::Bundle {
            shown: path.to_owned(),
            bundle_path: Bundle::path_for(path),
        }
    }
}

fn read_submission(input: &Input) -> Result<(Submission, Option<Bundle>), String> {
    match input {
        Input::Bundle { shown, bundle_path } => {
            let bundle = read_bundle(shown, bundle_path).map_err(|e| e.to_string())?;
            if shown == bundle_path {
                return Ok((Submission::Bundle(Box::new(bundle.clone())), Some(bundle)));
            }
            // An artifact with its bundle: the registry checks the bytes it countersigns.
            let content = digest_path(shown, &DigestOptions::default())
                .map_err(|e| format!("cannot hash {}: {e}", shown.display()))?;
            Ok((
                Submission::Artifact {
                    bundle: Box::new(bundle.clone()),
                    content,
                },
                Some(bundle),
            ))
        }
        Input::Kel { path } => {
            let bytes = fsutil::read_bounded(path, 256 * 1024 * 1024)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file = KelFile::from_json(&bytes)
                .map_err(|e| format!("{} is not a key event log: {e}", path.display()))?;
            Ok((Submission::Kel(file.events), None))
        }
    }
}

/// What to write for a submission's receipts: the file and its new bytes (`None` when the
/// bundle already holds them), and the path shown.
type ReceiptFile = (Option<(PathBuf, Vec<u8>)>, String);

fn receipt_file(
    input: &Input,
    bundle: Option<Bundle>,
    receipts: &[Envelope],
) -> Result<ReceiptFile, String> {
    match (input, bundle) {
        (Input::Bundle { bundle_path, .. }, Some(mut bundle)) => {
            let shown = bundle_path.display().to_string();
            if merge_receipts(&mut bundle.receipts, receipts) {
                Ok((Some((bundle_path.clone(), bundle.to_json())), shown))
            } else {
                Ok((None, shown))
            }
        }
        (Input::Kel { path }, _) => {
            let mut target = path.clone().into_os_string();
            target.push(".receipts.json");
            let target = PathBuf::from(target);
            let text = receipts_file(receipts);
            let shown = target.display().to_string();
            Ok((Some((target, text)), shown))
        }
        _ => Err("no bundle to write into".to_owned()),
    }
}

fn write_receipts(
    input: &Input,
    bundle: Option<Bundle>,
    receipts: &[Envelope],
) -> Result<String, String> {
    let (file, shown) = receipt_file(input, bundle, receipts)?;
    if let Some((path, bytes)) = file {
        fsutil::write_replace(&path, &bytes, 0o644).map_err(|e| e.to_string())?;
    }
    Ok(shown)
}

/// Up to this many receipt files of one run are written and flushed one by one; more are
/// written as one batch with one flush of the file system.
const RECEIPT_FILES_PER_FSYNC: usize = 16;

fn accept(args: RegistryAcceptArgs, out: &Output) -> CmdResult {
    let inputs: Vec<Input> = args.paths.iter().map(|p| classify(p)).collect();
    // Read everything first: unreadable input is an input error before anything is unlocked.
    let read: Vec<Result<(Submission, Option<Bundle>), String>> =
        inputs.par_iter().map(read_submission).collect();
    let mut registry = Registry::open(&args.dir.registry).map_err(registry_failure)?;
    let handle = open_key(
        &registry.config().key.clone(),
        &args.passphrase,
        registry_key(&registry),
    )?;
    let mut submissions = Vec::new();
    let mut slots = Vec::with_capacity(read.len());
    let mut bundles = Vec::with_capacity(read.len());
    for r in read {
        match r {
            Ok((submission, bundle)) => {
                slots.push(Ok(submissions.len()));
                submissions.push(submission);
                bundles.push(bundle);
            }
            Err(e) => {
                slots.push(Err(e));
                bundles.push(None);
            }
        }
    }
    if !registry.config().witnesses.is_empty() {
        let witnesses = HttpWitnesses::new(&registry.config().witnesses).map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "{}: {e}",
                args.dir.registry.join(registry::CONFIG_FILE).display()
            ))
        })?;
        registry.set_cosigner(Box::new(witnesses));
    }
    let options = AcceptOptions {
        allow_similar: args.allow_similar,
    };
    let results = registry
        .accept(handle.as_ref(), &submissions, &options, Timestamp::now())
        .map_err(registry_failure)?;
    // The log is durable now; write the receipts, each atomically: a few one by one, many as
    // one batch flushed once.
    let prepared: Vec<Option<Result<ReceiptFile, String>>> = slots
        .par_iter()
        .zip(bundles.into_par_iter())
        .zip(inputs.par_iter())
        .map(|((slot, bundle), input)| match slot {
            Ok(i) => match &results[*i] {
                Ok(accepted) => Some(receipt_file(input, bundle, &accepted.receipts)),
                Err(_) => None,
            },
            Err(_) => None,
        })
        .collect();
    let files: Vec<(PathBuf, Vec<u8>)> = prepared
        .iter()
        .flatten()
        .filter_map(|r| r.as_ref().ok().and_then(|(f, _)| f.clone()))
        .collect();
    let batch_error = if files.len() > RECEIPT_FILES_PER_FSYNC {
        fsutil::write_many(&files, 0o644, true)
            .err()
            .map(|e| e.to_string())
    } else {
        None
    };
    let written: Vec<Option<Result<String, String>>> = prepared
        .into_par_iter()
        .map(|p| {
            p.map(|r| {
                let (file, shown) = r?;
                match (&batch_error, file) {
                    (Some(e), Some(_)) => Err(e.clone()),
                    (None, Some((path, bytes))) if files.len() <= RECEIPT_FILES_PER_FSYNC => {
                        fsutil::write_replace(&path, &bytes, 0o644).map_err(|e| e.to_string())?;
                        Ok(shown)
                    }
                    _ => Ok(shown),
                }
            })
        })
        .collect();

    let mut exit = Exit::Success;
    let mut reports = Vec::with_capacity(slots.len());
    for ((slot, input), written) in slots.iter().zip(&inputs).zip(written) {
        let shown = match input {
            Input::Bundle { shown, .. } => shown.display().to_string(),
            Input::Kel { path } => path.display().to_string(),
        };
        match slot {
            Err(e) => {
                exit = exit.worst(Exit::Usage);
                errln!("error: {e}");
                reports.push(accept_report(
                    shown,
                    None,
                    None,
                    e.to_string(),
                    Some(e.to_string()),
                    Exit::Usage,
                ));
            }
            Ok(i) => match &results[*i] {
                Err(refusal) => {
                    exit = exit.worst(Exit::Refused);
                    let message = advised_message(&refusal.message, refusal.advice.as_ref());
                    if !out.json {
                        outln!("{shown}: refused ({}): {message}", refusal.check);
                    }
                    reports.push(accept_report(
                        shown,
                        Some("refused"),
                        Some(refusal.check),
                        message,
                        None,
                        Exit::Refused,
                    ));
                }
                Ok(accepted) => {
                    let mut unwritten = None;
                    let target = match written {
                        Some(Ok(target)) => target,
                        Some(Err(e)) => {
                            exit = exit.worst(Exit::Usage);
                            let text = format!(
                                "{shown}: accepted, but the receipt could not be written: {e}; `hallmark registry receipt` re-issues it"
                            );
                            errln!("error: {text}");
                            unwritten = Some(text);
                            String::new()
                        }
                        None => String::new(),
                    };
                    let indexes: Vec<u64> = accepted
                        .receipts
                        .iter()
                        .filter_map(|r| Receipt::from_envelope(r).ok().map(|r| r.log_index))
                        .collect();
                    let what = accepted
                        .release
                        .clone()
                        .unwrap_or_else(|| format!("{} new key event(s)", accepted.new_events));
                    if !out.json {
                        outln!(
                            "{shown}: {} {what} (log entr{} {}); receipt written to {target}",
                            if accepted.already {
                                "already accepted"
                            } else {
                                "accepted"
                            },
                            if indexes.len() == 1 { "y" } else { "ies" },
                            indexes
                                .iter()
                                .map(|i| format!("#{i}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    let mut report = accept_report(
                        shown,
                        Some(if accepted.already {
                            "already-accepted"
                        } else {
                            "accepted"
                        }),
                        None,
                        format!(
                            "{} {what}",
                            if accepted.already {
                                "already accepted"
                            } else {
                                "accepted"
                            }
                        ),
                        unwritten.clone(),
                        if unwritten.is_some() {
                            Exit::Usage
                        } else {
                            Exit::Success
                        },
                    );
                    report["release"] = json!(accepted.release);
                    report["newEvents"] = json!(accepted.new_events);
                    report["logEntries"] = json!(indexes);
                    report["receipts"] = json!((!target.is_empty()).then_some(target));
                    reports.push(report);
                }
            },
        }
    }
    let witnessed = witness_report(&registry, out);
    if out.json {
        out.json(
            "registry.accept",
            &json!({ "results": reports, "witnesses": witnessed, "exitCode": exit.code() }),
        );
    }
    Ok(exit)
}

/// One input's outcome in `hallmark.registry.accept/v1`; an accepted release's details are
/// added by the caller.
fn accept_report(
    artifact: String,
    verdict: Option<&str>,
    reason: Option<&str>,
    message: String,
    error: Option<String>,
    exit: Exit,
) -> serde_json::Value {
    json!({
        "artifact": artifact,
        "verdict": verdict,
        "reason": reason,
        "message": message,
        "release": null,
        "newEvents": 0,
        "logEntries": [],
        "receipts": null,
        "error": error.map(ErrorReport::new),
        "exitCode": exit.code(),
    })
}

/// Says which witnesses cosigned the checkpoint the run published (a line each), and
/// returns the same as JSON.
fn witness_report(registry: &Registry, out: &Output) -> serde_json::Value {
    let size = registry.tree().size;
    let mut report = Vec::new();
    for outcome in registry.witness_outcomes() {
        match &outcome.result {
            Ok(_) => {
                if !out.json {
                    outln!(
                        "checkpoint of {size} entries cosigned by witness {}",
                        outcome.name
                    );
                }
                report.push(json!({ "witness": outcome.name, "cosigned": true, "error": null }));
            }
            Err(e) => {
                if !out.json {
                    outln!(
                        "checkpoint of {size} entries NOT cosigned by witness {}: {e}",
                        outcome.name
                    );
                }
                report.push(json!({ "witness": outcome.name, "cosigned": false, "error": ErrorReport::new(e.to_string()) }));
            }
        }
    }
    serde_json::Value::Array(report)
}

fn add_witness(args: RegistryAddWitnessArgs, out: &Output) -> CmdResult {
    let endpoint = WitnessEndpoint {
        vkey: args.vkey,
        url: args.url,
    };
    HttpWitnesses::new(std::slice::from_ref(&endpoint))
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    let mut registry = Registry::open(&args.dir.registry).map_err(registry_failure)?;
    let changed = registry
        .add_witness(endpoint.clone())
        .map_err(registry_failure)?;
    if out.json {
        out.json(
            "registry.add-witness",
            &json!({ "witness": endpoint.vkey, "url": endpoint.url, "changed": changed }),
        );
    } else if changed {
        outln!(
            "checkpoints will be submitted to {} at {}",
            endpoint.vkey,
            endpoint.url
        );
    } else {
        outln!(
            "{} at {} was configured already",
            endpoint.vkey,
            endpoint.url
        );
    }
    Ok(Exit::Success)
}

fn receipt(args: RegistryReceiptArgs, out: &Output) -> CmdResult {
    let mut registry = Registry::open(&args.dir.registry).map_err(registry_failure)?;
    let handle = open_key(
        &registry.config().key.clone(),
        &args.passphrase,
        registry_key(&registry),
    )?;
    let mut exit = Exit::Success;
    let mut reports = Vec::new();
    for path in &args.paths {
        let input = classify(path);
        let Input::Bundle { shown, bundle_path } = &input else {
            return Err(Failure::usage(anyhow::anyhow!(
                "{}: give bundles or artifacts; key event logs get their receipts from `registry accept`",
                path.display()
            )));
        };
        let bundle = read_bundle(shown, bundle_path).map_err(Failure::usage)?;
        let digest: Sha256Digest = bundle.statement.payload_digest();
        let shown_text = shown.display().to_string();
        match registry
            .receipt(handle.as_ref(), &digest, args.include_yanked)
            .map_err(registry_failure)?
        {
            Some(Ok(receipt)) => {
                let target = write_receipts(&input, Some(bundle), &[receipt])
                    .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
                if !out.json {
                    outln!("{shown_text}: receipt written to {target}");
                }
                reports
                    .push(json!({ "artifact": shown_text, "receipts": target, "refused": null }));
            }
            Some(Err(refusal)) => {
                exit = exit.worst(Exit::Refused);
                let message = format!(
                    "{}; give --include-yanked to re-issue it anyway",
                    advised_message(&refusal.message, refusal.advice.as_ref())
                );
                if !out.json {
                    outln!("{shown_text}: refused ({}): {message}", refusal.check);
                }
                reports.push(json!({
                    "artifact": shown_text,
                    "receipts": null,
                    "refused": { "reason": refusal.check, "message": message },
                }));
            }
            None => {
                exit = exit.worst(Exit::Refused);
                if !out.json {
                    outln!(
                        "{shown_text}: the registry log holds no publish of this statement; submit it with `hallmark registry accept`"
                    );
                }
                reports.push(json!({ "artifact": shown_text, "receipts": null, "refused": null }));
            }
        }
    }
    if out.json {
        out.json(
            "registry.receipt",
            &json!({ "results": reports, "exitCode": exit.code() }),
        );
    }
    Ok(exit)
}

/// The document of `registry verify-log`: [`super::keyring::log_verdict`] and, for a verified
/// log, the registry's identity, what its entries are and how many its checkpoint covers.
fn log_document(
    mut value: serde_json::Value,
    verified: Option<&hallmark_keyring::registry::LogReport>,
    published: Option<&registry::tiles::Published>,
    out: &Output,
) {
    value["checkpointSize"] = json!(published.and_then(|p| p.tree).map(|t| t.size));
    let counts = verified.map(|r| &r.counts);
    value["registry"] = json!(verified.map(|r| r.identity));
    value["publishes"] = json!(counts.map(|c| c.publishes));
    value["keyEvents"] = json!(counts.map(|c| c.key_events));
    value["yanks"] = json!(counts.map(|c| c.yanks));
    out.json("registry.verify-log", &value);
}

fn verify(mut args: RegistryVerifyLogArgs, out: &Output) -> CmdResult {
    // $HALLMARK_REGISTRY stands in for --registry when neither source is given (clap's `env`
    // would make it conflict with an explicit --log).
    if args.registry.is_none() && args.log.is_none() {
        args.registry = std::env::var_os("HALLMARK_REGISTRY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    let (path, mut expected, config) = match (&args.registry, &args.log) {
        (Some(dir), _) => {
            let config_path = dir.join(registry::CONFIG_FILE);
            if !config_path.exists() {
                return Err(registry_failure(RegistryError::NotARegistry {
                    path: dir.clone(),
                }));
            }
            let bytes = fsutil::read_bounded(&config_path, 64 * 1024).map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "cannot read {}: {e}",
                    config_path.display()
                ))
            })?;
            let config: registry::Config =
                serde_json::from_slice(&bytes).map_err(Failure::usage)?;
            (
                dir.join(registry::LOG_FILE),
                Some(config.identity),
                Some((dir.clone(), config)),
            )
        }
        (None, Some(log)) => (log.clone(), None, None),
        (None, None) => unreachable_source()?,
    };
    if let Some(text) = &args.expect_identity {
        expected = Some(text.parse::<IdentityId>().map_err(Failure::usage)?);
    }
    let expected_head: Option<Sha256Digest> = match &args.expect_head {
        Some(t) => Some(t.parse().map_err(Failure::usage)?),
        None => None,
    };
    match verify_log(&path, expected) {
        Ok(report) => {
            if let Some(head) = expected_head
                && report.head != Some(head)
            {
                let found = report.head.map_or("nothing".to_owned(), |d| d.to_string());
                if out.json {
                    let message = format!("the log ends at {found}, not at {head}");
                    let value = super::keyring::log_verdict(None, Some(report.entries), message);
                    log_document(value, None, None, out);
                } else {
                    outln!(
                        "registry log does not end at {head}: it ends at {found} after {} entries; entries were removed from the end, or the log was replaced",
                        report.entries
                    );
                }
                return Ok(Exit::Refused);
            }
            // What consumers read: the checkpoint and the tiles, against the log.
            let published = match &config {
                Some((dir, config)) => match registry::tiles::verify_published(dir, config) {
                    Ok(published) => Some(published),
                    Err(e) => {
                        let message = format!("registry checkpoint refused: {e}");
                        if out.json {
                            let value = super::keyring::log_verdict(None, None, message);
                            log_document(value, None, None, out);
                        } else {
                            outln!("{message}");
                        }
                        return Ok(Exit::Refused);
                    }
                },
                None => None,
            };
            let hallmark_keyring::registry::Counts {
                publishes,
                key_events: events,
                yanks,
                ..
            } = report.counts;
            if out.json {
                let value = super::keyring::log_verdict(
                    Some((report.entries, report.head, report.torn_tail as u64)),
                    None,
                    format!("registry log verified: {} entries", report.entries),
                );
                log_document(value, Some(&report), published.as_ref(), out);
            } else {
                outln!(
                    "registry log verified: {} ({}, {}, {}), registry {}, head {}",
                    counted(report.entries, "entry", "entries"),
                    counted(publishes, "publish", "publishes"),
                    counted(events, "key event", "key events"),
                    counted(yanks, "yank", "yanks"),
                    report.identity,
                    report.head.map_or("(empty)".to_owned(), |d| d.to_string())
                );
                if let Some(published) = &published {
                    outln!("{}", published_line(published));
                }
                if report.torn_tail > 0 {
                    outln!(
                        "note: {} bytes at the end are an interrupted write, not part of the log; the next accept removes them",
                        report.torn_tail
                    );
                }
            }
            Ok(Exit::Success)
        }
        Err(RegistryError::Log { source, .. }) => {
            if out.json {
                let value =
                    super::keyring::log_verdict(None, Some(source.at), source.kind.to_string());
                log_document(value, None, None, out);
            } else {
                outln!(
                    "registry log broken at entry #{}: {}",
                    source.at,
                    source.kind
                );
            }
            Ok(Exit::Refused)
        }
        Err(e) => Err(registry_failure(e)),
    }
}

/// The line saying what the published checkpoint covers, and what to run when it does not
/// cover the whole log.
fn published_line(published: &registry::tiles::Published) -> String {
    const NEXT_RUN: &str = "the next `hallmark registry accept`, `yank` or `receipt` run signs";
    let signer = published
        .signed_by
        .map_or_else(String::new, |k| format!("key {} of ", k.key_id().short()));
    match published.tree {
        None => format!(
            "no checkpoint published yet: a run stopped before it signed the first; {NEXT_RUN} one"
        ),
        Some(tree) if published.complete() => format!(
            "checkpoint verified: {} entries, root {}, signed by {signer}{}; every tile matches the log",
            tree.size,
            base64_encode(&tree.root),
            registry::KEL_FILE
        ),
        Some(tree) => format!(
            "checkpoint verified: it covers the first {} of the log's {} entries (a run stopped before it signed the checkpoint of the rest), root {}, signed by {signer}{}; every tile matches the log; {NEXT_RUN} the checkpoint of the whole log",
            tree.size,
            published.log_entries,
            base64_encode(&tree.root),
            registry::KEL_FILE
        ),
    }
}

fn unreachable_source<T>() -> Result<T, Failure> {
    Err(Failure::usage(anyhow::anyhow!(
        "give --registry DIR (or $HALLMARK_REGISTRY) or --log FILE"
    )))
}

fn yank(args: RegistryYankArgs, out: &Output) -> CmdResult {
    let Some((name, version)) = args.release.split_once('@') else {
        return Err(Failure::usage(anyhow::anyhow!(
            "give the release as NAME@VERSION, e.g. org.example.tool@1.0.0"
        )));
    };
    let name: PackageName = name.parse().map_err(Failure::usage)?;
    let version: Version = version.parse().map_err(Failure::usage)?;
    let mut registry = Registry::open(&args.dir.registry).map_err(registry_failure)?;
    let handle = open_key(
        &registry.config().key.clone(),
        &args.passphrase,
        registry_key(&registry),
    )?;
    match registry
        .yank(
            handle.as_ref(),
            &name,
            &version,
            &args.reason,
            Timestamp::now(),
        )
        .map_err(registry_failure)?
    {
        Ok(index) => {
            if out.json {
                out.json(
                    "registry.yank",
                    &json!({ "release": format!("{name}@{version}"), "logIndex": index }),
                );
            } else {
                outln!("yanked {name}@{version} (log entry #{index})");
            }
            Ok(Exit::Success)
        }
        Err(refusal) => Err(Failure::usage(anyhow::anyhow!(advised_message(
            &refusal.message,
            refusal.advice.as_ref()
        )))),
    }
}

/// `n` and the noun, singular for one: `1 entry`, `2 entries`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
