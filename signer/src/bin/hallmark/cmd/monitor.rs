//! `hallmark monitor`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hallmark_keyring::fsutil;
use hallmark_keyring::monitor::{Alert, Follow, Watch};
use hallmark_keyring::tlog::{DirTileReader, TileReader};
use hallmark_keyring::trust::{TrustStore, registries::parse_max_age};
use hallmark_signer::tlog_http::HttpTileReader;

use crate::cli::MonitorArgs;
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

pub fn run(args: MonitorArgs, out: &Output) -> CmdResult {
    let watches = watches(&args)?;
    let interval = parse_max_age(&args.interval).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    let mut followed = Vec::new();
    for location in &args.registries {
        let reader: Box<dyn TileReader> = if HttpTileReader::is_url(location) {
            Box::new(HttpTileReader::new(location).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?)
        } else {
            if !fsutil::exists_no_follow(&std::path::Path::new(location).join("checkpoint")) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{location} is neither an http(s) URL nor a registry directory (no checkpoint in it)"
                )));
            }
            Box::new(DirTileReader::new(location))
        };
        let follow =
            Follow::open(&args.state, location).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
        followed.push((follow, reader));
    }
    let evidence = args.state.join("evidence");
    loop {
        let mut raised = 0usize;
        let mut failed = false;
        for (follow, reader) in &mut followed {
            if let Err(e) = follow.poll(reader.as_ref(), &watches, &evidence) {
                failed = true;
                errln!("error: {e}");
            }
            raised += deliver(follow, args.exec.as_deref(), out)?;
        }
        if args.once {
            return Ok(if failed {
                Exit::Usage
            } else if raised > 0 {
                Exit::Refused
            } else {
                Exit::Success
            });
        }
        std::thread::sleep(Duration::from_secs(interval));
    }
}

/// The namespaces to watch: those pinned in --keyring (with their holders) and --watch.
fn watches(args: &MonitorArgs) -> Result<Vec<Watch>, Failure> {
    let mut watches = Vec::new();
    if let Some(dir) = &args.keyring {
        let store =
            TrustStore::open(dir, false, false).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
        for pin in &store.view().pins.pins {
            watches.push(Watch {
                namespace: pin.namespace.clone(),
                holder: Some(pin.identity),
            });
        }
    }
    for text in &args.watches {
        watches.push(Watch {
            namespace: text.parse().map_err(Failure::usage)?,
            holder: None,
        });
    }
    if watches.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!("nothing to watch"))
            .with_hint("name namespaces with --watch, or a trust store with --keyring"));
    }
    Ok(watches)
}

/// Delivers the outbox in order: prints each alert and runs the hook; stops at the first
/// hook that fails (the alert stays for the next poll). Returns how many were delivered.
fn deliver(follow: &mut Follow, exec: Option<&str>, out: &Output) -> Result<usize, Failure> {
    let mut delivered = 0;
    while let Some(alert) = follow.state.outbox.first().cloned() {
        if let Some(cmd) = exec
            && let Err(e) = run_hook(cmd, &alert)
        {
            errln!(
                "error: --exec failed for alert {}: {e}; it is kept and retried at the next poll",
                alert.id
            );
            break;
        }
        if out.json {
            // One line per alert (JSON lines), for log shippers and `jq -c`.
            out.json_line(ALERT_SCHEMA, &alert_json(&alert));
        } else {
            outln!("ALERT {}", alert.message);
            for file in &alert.evidence {
                outln!("  evidence: {file}");
            }
        }
        follow
            .delivered()
            .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
        delivered += 1;
    }
    Ok(delivered)
}

fn run_hook(cmd: &str, alert: &Alert) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("HALLMARK_ALERT_KIND", alert.kind.as_str())
        .env("HALLMARK_ALERT_ID", &alert.id)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let mut line =
        hallmark_signer::cmdline::json_line(ALERT_SCHEMA, &alert_json(alert)).unwrap_or_default();
    line.push('\n');
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(line.as_bytes());
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("it exited with {status}"))
    }
}

/// The command part of an alert's `schema`: `hallmark.monitor.alert/v1`.
const ALERT_SCHEMA: &str = "monitor.alert";

/// An alert as `monitor --json` prints it and `--exec` receives it: every field present.
fn alert_json(alert: &Alert) -> serde_json::Value {
    serde_json::json!({
        "id": alert.id,
        "kind": alert.kind.as_str(),
        "origin": alert.origin,
        "index": alert.index,
        "namespace": alert.namespace,
        "identity": alert.identity,
        "message": alert.message,
        "evidence": alert.evidence,
    })
}
