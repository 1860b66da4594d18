//! `hallmark verify`.

use std::path::PathBuf;

use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::{DigestOptions, digest_path};
use hallmark_keyring::trust::{Gate, Outcome, TrustStore, TrustView};
use hallmark_keyring::{KelFile, Timestamp};
use hallmark_signer::attest::HardwareAttestationVerifier;
use hallmark_signer::release::{self, VerifyReport};
use rayon::prelude::*;

use crate::cli::{VerifyArgs, VerifyFormat};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

pub fn run(args: VerifyArgs, out: &Output) -> CmdResult {
    if args.peer.format != VerifyFormat::Hallmark {
        return super::interop::verify(args, out);
    }
    if args.bundle.is_some() && args.paths.len() != 1 {
        return Err(Failure::usage(anyhow::anyhow!(
            "--bundle names the bundle of a single artifact"
        )));
    }
    if args.keyring.is_some() || args.identity.is_some() {
        return run_trust(args, out);
    }
    let keys = args
        .public_keys
        .iter()
        .map(|k| super::key::parse_public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs: Vec<(PathBuf, PathBuf)> = args
        .paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                args.bundle.clone().unwrap_or_else(|| Bundle::path_for(p)),
            )
        })
        .collect();
    let bar = out.progress(jobs.len() as u64, "verifying");
    let verify_one = |(artifact, bundle): &(PathBuf, PathBuf)| {
        let result = release::verify_with_keys(artifact, bundle, &keys);
        bar.inc(1);
        result
    };
    // A single artifact is verified without starting a thread pool.
    let results: Vec<_> = if jobs.len() == 1 {
        jobs.iter().map(verify_one).collect()
    } else {
        jobs.par_iter().map(verify_one).collect()
    };
    bar.finish_and_clear();

    let mut exit = Exit::Success;
    let mut reports = Vec::with_capacity(results.len());
    for ((artifact, _), result) in jobs.iter().zip(results) {
        let shown = artifact.display().to_string();
        match result {
            Ok(decision) => {
                exit = exit.worst(match decision.verdict.exit_code() {
                    0 => Exit::Success,
                    3 => Exit::UnknownPublisher,
                    _ => Exit::Refused,
                });
                if !out.json {
                    outln!("{shown}: {decision}");
                }
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: Some(decision),
                    error: None,
                });
            }
            Err(err) => {
                exit = exit.worst(Exit::Usage);
                errln!("error: {err}");
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    if out.json {
        out.json(&reports);
    }
    Ok(exit)
}

/// `verify --keyring DIR` and `verify --identity KEL`: the gatekeeper.
fn run_trust(args: VerifyArgs, out: &Output) -> CmdResult {
    let now = Timestamp::now();
    let record = args.keyring.is_some() && !args.no_record;
    let (mut store, identity_view) = match (&args.keyring, &args.identity) {
        (Some(dir), _) => {
            let store = TrustStore::open(dir, args.trust_on_first_use, record)
                .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
            (Some(store), None)
        }
        (None, Some(path)) => {
            let kel = KelFile::read_verified(path).map_err(Failure::usage)?;
            (None, Some(TrustView::for_identity(kel, now)))
        }
        (None, None) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "give --keyring DIR, --identity KEL or --public-key KEY"
            )));
        }
    };
    let jobs: Vec<(PathBuf, PathBuf)> = args
        .paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                args.bundle.clone().unwrap_or_else(|| Bundle::path_for(p)),
            )
        })
        .collect();
    // Hardware attestations (for pins that require them) chain to Yubico's roots, and to a
    // test device's root only when the hidden --attestation-root names one.
    let attestation = HardwareAttestationVerifier::with_roots(super::key::trust_roots(
        &args.attestation_roots,
        &args.attestation_intermediates,
    )?);
    let bar = out.progress(jobs.len() as u64, "verifying");
    let results: Vec<Result<Outcome, String>> = {
        let view = match (&store, &identity_view) {
            (Some(store), _) => store.view(),
            (None, Some(view)) => view,
            (None, None) => return Ok(Exit::Usage),
        };
        let gate = Gate::new(view, &attestation, args.trust_on_first_use, now);
        jobs.par_iter()
            .map(|(artifact, bundle_path)| {
                let result = (|| {
                    let bundle =
                        release::read_bundle(artifact, bundle_path).map_err(|e| e.to_string())?;
                    let actual = digest_path(artifact, &DigestOptions::default())
                        .map_err(|e| e.to_string())?;
                    gate.decide(&bundle, &actual).map_err(|e| {
                        format!(
                            "bundle {} is damaged or not a Hallmark bundle: {e}",
                            bundle_path.display()
                        )
                    })
                })();
                bar.inc(1);
                result
            })
            .collect()
    };
    bar.finish_and_clear();

    // Record the verdicts (and longer logs, and first-use pins) before printing them.
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut slots = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(o) => {
                slots.push(Ok(outcomes.len()));
                outcomes.push(o);
            }
            Err(e) => slots.push(Err(e)),
        }
    }
    if record && let Some(store) = store.as_mut() {
        store
            .record(&mut outcomes, now)
            .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    }

    let mut exit = Exit::Success;
    let mut reports = Vec::with_capacity(slots.len());
    for ((artifact, _), slot) in jobs.iter().zip(slots) {
        let shown = artifact.display().to_string();
        match slot {
            Ok(i) => {
                let decision = outcomes[i].decision.clone();
                exit = exit.worst(match decision.verdict.exit_code() {
                    0 => Exit::Success,
                    3 => Exit::UnknownPublisher,
                    _ => Exit::Refused,
                });
                if !out.json {
                    outln!("{shown}: {decision}");
                }
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: Some(decision),
                    error: None,
                });
            }
            Err(err) => {
                exit = exit.worst(Exit::Usage);
                errln!("error: {err}");
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: None,
                    error: Some(err),
                });
            }
        }
    }
    if out.json {
        out.json(&reports);
    }
    Ok(exit)
}
