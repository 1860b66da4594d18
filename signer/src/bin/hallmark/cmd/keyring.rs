//! `hallmark keyring pin|pin-registry|unpin|import|show|log`.

use hallmark_keyring::KelFile;
use hallmark_keyring::kel::Kel;
use hallmark_keyring::kel::log::KelErrorKind;
use hallmark_keyring::tlog::DirTileReader;
use hallmark_keyring::trust::registries::RefreshError;
use hallmark_keyring::trust::{self, Imported, Policy, TrustError, TrustStore};
use hallmark_keyring::{IdentityId, Namespace, Rejection, Sha256Digest, Timestamp};
use hallmark_signer::tlog_http::HttpTileReader;
use serde_json::json;

use crate::cli::{KeyringCommand, PinArgs, PinRegistryArgs, RefreshArgs};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

pub fn run(cmd: KeyringCommand, out: &Output) -> CmdResult {
    match cmd {
        KeyringCommand::Pin(args) => pin(args, out),
        KeyringCommand::PinRegistry(args) => pin_registry(args, out),
        KeyringCommand::Refresh(args) => refresh(args, out),
        KeyringCommand::Unpin { namespace, dir } => {
            let namespace: Namespace = namespace.parse().map_err(Failure::usage)?;
            let mut store = TrustStore::open(&dir.keyring, false, true).map_err(trust_failure)?;
            let pin = store
                .unpin(&namespace, Timestamp::now())
                .map_err(trust_failure)?;
            if out.json {
                out.json(
                    "keyring.unpin",
                    &json!({ "namespace": namespace.to_string(), "identity": pin.identity }),
                );
            } else {
                outln!("unpinned {namespace} (was {})", pin.identity);
            }
            Ok(Exit::Success)
        }
        KeyringCommand::Import { paths, dir } => {
            let mut store = TrustStore::open(&dir.keyring, false, true).map_err(trust_failure)?;
            let mut reports = Vec::new();
            let mut exit = Exit::Success;
            for path in &paths {
                let bytes = hallmark_keyring::fsutil::read_bounded(
                    path,
                    hallmark_keyring::kel::file::MAX_KEL_FILE_BYTES as u64,
                )
                .map_err(|e| {
                    Failure::usage(anyhow::anyhow!("cannot read {}: {e}", path.display()))
                })?;
                let file = KelFile::from_json(&bytes).map_err(|e| {
                    Failure::usage(anyhow::anyhow!(
                        "{} is not a Hallmark key event log: {e}",
                        path.display()
                    ))
                })?;
                let Some(first) = file.events.first() else {
                    return Err(Failure::usage(anyhow::anyhow!(
                        "{} holds no events",
                        path.display()
                    )));
                };
                let identity = IdentityId::from_inception(&first.payload_digest());
                let result = match Kel::verify(&file.events) {
                    Ok(kel) => store.import(kel, "import", Timestamp::now()),
                    // An event that does not even decode: a damaged file, not a forgery.
                    Err(e) if matches!(&*e.kind, KelErrorKind::Malformed(_)) => {
                        return Err(Failure::usage(anyhow::anyhow!(
                            "{} is damaged: {e}",
                            path.display()
                        )));
                    }
                    // A rewritten or forged log: refused, and the refusal recorded.
                    Err(e) => Err(store.refuse_invalid(
                        identity,
                        format!("the log does not verify: {e}"),
                        Timestamp::now(),
                    )),
                };
                match result {
                    Ok(imported) => {
                        let text = match imported {
                            Imported::New { events } => format!("stored ({events} events)"),
                            Imported::Extended { from, to } => {
                                format!("extended from {from} to {to} events")
                            }
                            Imported::Recovered {
                                at,
                                rotation,
                                superseded,
                            } => format!(
                                "recovered by rotation #{rotation}: {superseded} event{} from #{at} superseded (kept in the audit log as evidence)",
                                if superseded == 1 { "" } else { "s" }
                            ),
                            Imported::Unchanged => "unchanged".to_owned(),
                        };
                        if !out.json {
                            outln!("{}: {identity}: {text}", path.display());
                        }
                        reports.push(json!({
                            "kel": path.display().to_string(),
                            "identity": identity,
                            "verdict": "imported",
                            "reason": null,
                            "message": text,
                            "exitCode": Exit::Success.code(),
                        }));
                    }
                    Err(TrustError::Refused {
                        verdict, detail, ..
                    }) => {
                        exit = exit.worst(Exit::Refused);
                        if !out.json {
                            outln!("{}: {identity}: {verdict}: {detail}", path.display());
                        }
                        reports.push(json!({
                            "kel": path.display().to_string(),
                            "identity": identity,
                            "verdict": verdict.kind(),
                            "reason": verdict.rejection().map(|r| r.as_str()),
                            "message": detail,
                            "exitCode": Exit::Refused.code(),
                        }));
                    }
                    Err(e) => return Err(trust_failure(e)),
                }
            }
            if out.json {
                out.json(
                    "keyring.import",
                    &json!({ "results": reports, "exitCode": exit.code() }),
                );
            }
            Ok(exit)
        }
        KeyringCommand::Show { dir } => show(&dir.keyring, out),
        KeyringCommand::Log {
            verify,
            expect_head,
            dir,
        } => log(&dir.keyring, verify, expect_head.as_deref(), out),
    }
}

/// Maps trust-store errors to exit codes: refusals (a conflicting pin, a log that would roll
/// back or fork) are 1, everything else an input error.
fn trust_failure(error: TrustError) -> Failure {
    let exit = match &error {
        TrustError::Refused { .. } | TrustError::Pin(trust::PinError::Conflict { .. }) => {
            Exit::Refused
        }
        _ => Exit::Usage,
    };
    Failure {
        exit,
        error: error.into(),
        hint: None,
    }
}

fn read_kel(path: &std::path::Path) -> Result<Kel, Failure> {
    KelFile::read_verified(path).map_err(Failure::usage)
}

fn pin(args: PinArgs, out: &Output) -> CmdResult {
    let namespace: Namespace = args.namespace.parse().map_err(Failure::usage)?;
    let kel = read_kel(&args.identity)?;
    let identity = kel.identity();
    let policy = Policy {
        require_receipt: args.require_receipt,
        require_attestation: args.require_attestation,
    };
    let mut store = TrustStore::open(&args.dir.keyring, true, true).map_err(trust_failure)?;
    let changed = store
        .pin(namespace.clone(), kel, policy.clone(), Timestamp::now())
        .map_err(trust_failure)?;
    if out.json {
        out.json(
            "keyring.pin",
            &json!({
                "namespace": namespace.to_string(),
                "identity": identity,
                "policy": policy,
                "changed": changed,
            }),
        );
    } else if changed {
        outln!("pinned {namespace} to {identity} (policy: {policy})");
    } else {
        outln!("{namespace} is already pinned to {identity} (policy: {policy})");
    }
    Ok(Exit::Success)
}

fn pin_registry(args: PinRegistryArgs, out: &Output) -> CmdResult {
    let kel = read_kel(&args.identity)?;
    let identity = kel.identity();
    if let Some(age) = &args.max_age {
        trust::registries::parse_max_age(age).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    }
    let mut store = TrustStore::open(&args.dir.keyring, true, true).map_err(trust_failure)?;
    let mut changed = store
        .pin_registry(&args.name, kel, Timestamp::now())
        .map_err(trust_failure)?;
    changed |= store
        .follow_registry(
            &args.name,
            args.location.as_deref().map(location_text),
            args.max_age.clone(),
            Timestamp::now(),
        )
        .map_err(trust_failure)?;
    if !args.witnesses.is_empty() {
        let threshold = match (args.witness_threshold, args.witnesses.len()) {
            (Some(k), _) => k,
            (None, 1) => 1,
            (None, n) => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{n} witnesses are given but not how many must have cosigned"
                ))
                .with_hint("add --witness-threshold K (K of the witnesses given)"));
            }
        };
        changed |= store
            .require_witnesses(
                &args.name,
                args.witnesses.clone(),
                threshold,
                Timestamp::now(),
            )
            .map_err(trust_failure)?;
    }
    if out.json {
        out.json(
            "keyring.pin-registry",
            &json!({ "registry": args.name, "identity": identity, "changed": changed }),
        );
    } else if changed {
        outln!("pinned registry `{}` to {identity}", args.name);
    } else {
        outln!("registry `{}` is already pinned to {identity}", args.name);
    }
    Ok(Exit::Success)
}

/// A location as recorded: a URL as given, a directory made absolute (the store may be used
/// from another working directory).
fn location_text(location: &str) -> String {
    if HttpTileReader::is_url(location) {
        return location.to_owned();
    }
    let path = std::path::Path::new(location);
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path).display().to_string(),
        _ => location.to_owned(),
    }
}

fn refresh(args: RefreshArgs, out: &Output) -> CmdResult {
    let mut store = TrustStore::open(&args.dir.keyring, false, true).map_err(trust_failure)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => match store.view().pins.registries.as_slice() {
            [only] => only.name.clone(),
            [] => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "the trust store pins no registry; pin one with `hallmark keyring pin-registry NAME --identity REGISTRY.kel`"
                )));
            }
            _ => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "the trust store pins several registries: name the one to refresh"
                )));
            }
        },
    };
    let now = Timestamp::now();
    if let Some(location) = &args.registry {
        store
            .follow_registry(&name, Some(location_text(location)), None, now)
            .map_err(trust_failure)?;
    }
    let location = store
        .view()
        .pins
        .registry(&name)
        .and_then(|r| r.location.clone())
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "no location is recorded for registry `{name}`: give --registry DIR|URL"
            ))
        })?;
    let result = if HttpTileReader::is_url(&location) {
        let reader =
            HttpTileReader::new(&location).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
        store.refresh(&name, &reader, now)
    } else {
        store.refresh(&name, &DirTileReader::new(&location), now)
    };
    match result {
        Ok(done) => {
            if out.json {
                out.json("keyring.refresh", &json!({
                    "registry": done.name,
                    "verdict": "trusted",
                    "reason": null,
                    "message": format!("checkpoint of {} entries verified (held: {})", done.to, done.from),
                    "from": done.from,
                    "to": done.to,
                    "extended": done.extended.iter().map(|(id, n)| json!({"identity": id, "events": n})).collect::<Vec<_>>(),
                    "proved": done.proved,
                    "exitCode": Exit::Success.code(),
                }));
            } else {
                outln!(
                    "registry `{}`: checkpoint of {} entries verified (held: {}); {} key event log(s) extended",
                    done.name,
                    done.to,
                    done.from,
                    done.extended.len()
                );
                for (id, n) in &done.extended {
                    outln!("  {id}: now {n} events");
                }
            }
            Ok(Exit::Success)
        }
        Err(e @ (RefreshError::Equivocation { .. } | RefreshError::Unwitnessed { .. })) => {
            let reason = match e {
                RefreshError::Equivocation { .. } => Rejection::Equivocation,
                _ => Rejection::Unwitnessed,
            };
            if out.json {
                // The verdict has its own fields; the message is the explanation.
                let text = e.to_string();
                let prefix = format!("rejected: {}: ", reason.as_str());
                let message = text.strip_prefix(&prefix).unwrap_or(&text);
                out.json(
                    "keyring.refresh",
                    &json!({
                        "registry": name,
                        "verdict": "rejected",
                        "reason": reason.as_str(),
                        "message": message,
                        "from": null,
                        "to": null,
                        "extended": [],
                        "proved": 0,
                        "exitCode": Exit::Refused.code(),
                    }),
                );
            } else {
                outln!("{e}");
            }
            Ok(Exit::Refused)
        }
        Err(e) => Err(Failure::usage(anyhow::anyhow!(e))),
    }
}

fn show(dir: &std::path::Path, out: &Output) -> CmdResult {
    let store = TrustStore::open(dir, false, false).map_err(trust_failure)?;
    let view = store.view();
    let mut kels: Vec<_> = view.kels.values().collect();
    kels.sort_by_key(|k| k.identity());
    if out.json {
        out.json("keyring.show", &json!({
            "pins": view.pins.pins,
            "registries": view.pins.registries,
            "kels": kels.iter().map(|k| json!({
                "identity": k.identity(),
                "events": k.events().len(),
                "head": k.head().digest,
                "currentKeys": k.current().keys.iter().map(|key| key.key_id().to_string()).collect::<Vec<_>>(),
                "threshold": k.current().threshold,
            })).collect::<Vec<_>>(),
            "checkpoints": view.checkpoints.iter().map(|(name, k)| json!({
                "registry": name,
                "size": k.tree().ok().map(|(_, t)| t.size),
                "verified": k.verified,
                "pending": k.pending.len(),
            })).collect::<Vec<_>>(),
            "audit": { "entries": store.audit_head().len, "head": store.audit_head().digest },
        }));
        return Ok(Exit::Success);
    }
    outln!("pins:");
    if view.pins.pins.is_empty() {
        outln!("  (none)");
    }
    for pin in &view.pins.pins {
        outln!(
            "  {} -> {} (event #{}, {}, policy: {})",
            pin.namespace,
            pin.identity,
            pin.pinned_at,
            pin.source,
            pin.policy
        );
    }
    outln!("registries:");
    if view.pins.registries.is_empty() {
        outln!("  (none)");
    }
    for r in &view.pins.registries {
        outln!("  {} -> {}", r.name, r.identity);
        if let Some(k) = view.checkpoints.get(&r.name) {
            let size = k
                .tree()
                .map_or_else(|e| format!("unreadable ({e})"), |(_, t)| t.size.to_string());
            let when = k
                .verified
                .map_or("not yet fetched from the registry".to_owned(), |t| {
                    format!("verified {t}")
                });
            outln!("    checkpoint: {size} entries, {when}");
        }
    }
    outln!("key event logs:");
    for kel in kels {
        outln!(
            "  {}: {} event{}, current key{} {}",
            kel.identity(),
            kel.events().len(),
            if kel.events().len() == 1 { "" } else { "s" },
            if kel.current().keys.len() == 1 {
                ""
            } else {
                "s"
            },
            kel.current()
                .keys
                .iter()
                .map(|k| k.key_id().short())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let head = store.audit_head();
    outln!(
        "audit log: {} entr{}{}",
        head.len,
        if head.len == 1 { "y" } else { "ies" },
        head.digest
            .map(|d| format!(", head {d}"))
            .unwrap_or_default()
    );
    Ok(Exit::Success)
}

fn log(dir: &std::path::Path, verify: bool, expect_head: Option<&str>, out: &Output) -> CmdResult {
    if !dir.join(trust::PINS_FILE).exists() {
        return Err(trust_failure(TrustError::NotAStore {
            path: dir.to_owned(),
        }));
    }
    let expected: Option<Sha256Digest> = match expect_head {
        Some(text) => Some(text.parse().map_err(Failure::usage)?),
        None => None,
    };
    let log = match trust::read_audit_log(dir) {
        Ok(log) => log,
        Err(TrustError::Audit { source, .. }) if verify => {
            if out.json {
                out.json(
                    "keyring.log.verify",
                    &log_verdict(None, Some(source.at), source.kind.to_string()),
                );
            } else {
                outln!("audit log broken at entry #{}: {}", source.at, source.kind);
            }
            return Ok(Exit::Refused);
        }
        Err(e) => return Err(trust_failure(e)),
    };
    if verify {
        if let Some(expected) = expected
            && log.head.digest != Some(expected)
        {
            let found = log
                .head
                .digest
                .map_or("nothing (the log is empty)".to_owned(), |d| d.to_string());
            if out.json {
                out.json(
                    "keyring.log.verify",
                    &log_verdict(
                        None,
                        Some(log.head.len),
                        format!("the log ends at {found}, not at {expected}"),
                    ),
                );
            } else {
                outln!(
                    "audit log does not end at {expected}: it ends at {found} after {} entries; entries were removed from the end, or the log was replaced",
                    log.head.len
                );
            }
            return Ok(Exit::Refused);
        }
        if out.json {
            out.json(
                "keyring.log.verify",
                &log_verdict(
                    Some((log.head.len, log.head.digest, log.torn_tail as u64)),
                    None,
                    format!("audit log verified: {} entries", log.head.len),
                ),
            );
        } else {
            outln!(
                "audit log verified: {} entries, head {}",
                log.head.len,
                log.head
                    .digest
                    .map_or("(empty)".to_owned(), |d| d.to_string())
            );
            if log.torn_tail > 0 {
                outln!(
                    "note: {} bytes at the end are an interrupted write, not part of the log; the next write removes them",
                    log.torn_tail
                );
            }
        }
        return Ok(Exit::Success);
    }
    if out.json {
        let entries = log.entries
            .iter()
            .map(|e| json!({ "index": e.entry.index, "time": e.entry.time, "digest": e.digest, "record": e.entry.record }))
            .collect::<Vec<_>>();
        out.json("keyring.log", &json!({ "entries": entries }));
    } else {
        for e in &log.entries {
            outln!(
                "#{} {} {}",
                e.entry.index,
                e.entry.time,
                e.entry.record.describe()
            );
        }
    }
    Ok(Exit::Success)
}

/// The document of `keyring log --verify` and `registry verify-log`: a verified log (its
/// entries, head and the bytes of an interrupted write at its end), or where it broke.
pub(super) fn log_verdict(
    verified: Option<(u64, Option<Sha256Digest>, u64)>,
    position: Option<u64>,
    message: String,
) -> serde_json::Value {
    let exit = if verified.is_some() {
        Exit::Success
    } else {
        Exit::Refused
    };
    json!({
        "verified": verified.is_some(),
        "message": message,
        "entries": verified.map(|(entries, _, _)| entries),
        "head": verified.and_then(|(_, head, _)| head),
        "tornTail": verified.map(|(_, _, torn)| torn),
        "position": position,
        "exitCode": exit.code(),
    })
}
