//! `hallmark verify`.

use std::path::PathBuf;

use hallmark_keyring::FormatError;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::{DigestOptions, digest_path};
use hallmark_keyring::trust::releases::RELEASE_FILE_DAMAGED;
use hallmark_keyring::trust::{Gate, Outcome, TrustError, TrustStore, TrustView, settle_run};
use hallmark_keyring::verify::ExpectedRelease;
use hallmark_keyring::{KelFile, Timestamp};
use hallmark_signer::attest::HardwareAttestationVerifier;
use hallmark_signer::cmdline::print_verdicts;
use hallmark_signer::release;
use rayon::prelude::*;

use crate::cli::{VerifyArgs, VerifyFormat};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

pub fn run(mut args: VerifyArgs, out: &Output) -> CmdResult {
    if args.public_keys.is_empty()
        && args.keyring.is_none()
        && args.identity.is_none()
        && args.peer.allowed_signers.is_none()
    {
        match std::env::var_os("HALLMARK_KEYRING").filter(|v| !v.is_empty()) {
            Some(dir) => args.keyring = Some(PathBuf::from(dir)),
            None => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "say what to verify against: --keyring DIR (or $HALLMARK_KEYRING), \
                     --public-key KEY, --identity KEL or --allowed-signers FILE"
                )));
            }
        }
    }
    if args.keyring.is_none() {
        for (given, flag) in [
            (args.trust_on_first_use, "--trust-on-first-use"),
            (args.no_record, "--no-record"),
            (args.record, "--record"),
        ] {
            if given {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{flag} applies to a trust store: give --keyring DIR (or $HALLMARK_KEYRING)"
                )));
            }
        }
    }
    // `verify dist/*` matches the bundles and signatures beside the artifacts too.
    args.paths = super::artifacts_only(&args.paths, out)?;
    if args.peer.format != VerifyFormat::Hallmark {
        return super::interop::verify(args, out);
    }
    if args.bundle.is_some() && args.paths.len() != 1 {
        return Err(Failure::usage(anyhow::anyhow!(
            "--bundle names the bundle of a single artifact"
        )));
    }
    let expected = release::expectations(&args.expect, args.paths.len())
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    if args.keyring.is_some() || args.identity.is_some() {
        return run_trust(args, &expected, out);
    }
    let keys = args
        .public_keys
        .iter()
        .map(|k| super::key::parse_public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let bar = out.progress(args.paths.len() as u64, "verifying");
    let results = release::verify_all_with_keys_expecting(
        &args.paths,
        args.bundle.as_deref(),
        &keys,
        &expected,
        &|| bar.inc(1),
    );
    bar.finish_and_clear();
    let outcomes = args.paths.iter().map(PathBuf::as_path).zip(results);
    Ok(print_verdicts(outcomes, out.json))
}

/// `verify --keyring DIR` and `verify --identity KEL`: the gatekeeper.
fn run_trust(args: VerifyArgs, expected: &[Option<ExpectedRelease>], out: &Output) -> CmdResult {
    let now = Timestamp::now();
    let mut record = args.keyring.is_some() && !args.no_record;
    let (mut store, identity_view) = match (&args.keyring, &args.identity) {
        (Some(dir), _) => {
            let store = match TrustStore::open(dir, args.trust_on_first_use, record) {
                // A read-only checkout (or mount) of a committed store still gates: it is
                // verified against, and nothing is recorded. --record makes that an error, and
                // first-use pinning needs to write.
                Err(TrustError::Lock { source, .. })
                    if record
                        && !args.record
                        && !args.trust_on_first_use
                        && is_read_only(&source) =>
                {
                    out.note(&format!(
                        "note: trust store {} cannot be written ({source}): verifying without \
                         recording (--no-record says so quietly, --record makes it an error)",
                        dir.display()
                    ));
                    record = false;
                    TrustStore::open(dir, false, false)
                }
                opened => opened,
            }
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
    let jobs: Vec<(PathBuf, PathBuf, Option<&ExpectedRelease>)> = args
        .paths
        .iter()
        .zip(expected)
        .map(|(p, e)| {
            (
                p.clone(),
                args.bundle.clone().unwrap_or_else(|| Bundle::path_for(p)),
                e.as_ref(),
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
            .map(|(artifact, bundle_path, expect)| {
                let result = (|| {
                    let bundle =
                        release::read_bundle(artifact, bundle_path).map_err(|e| e.to_string())?;
                    let actual = digest_path(artifact, &DigestOptions::default())
                        .map_err(|e| e.to_string())?;
                    gate.decide_expecting(&bundle, &actual, *expect)
                        .map_err(|e| match &e {
                            FormatError::Invalid { what, .. } if *what == RELEASE_FILE_DAMAGED => {
                                e.to_string()
                            }
                            _ => format!(
                                "bundle {} is damaged or not a Hallmark bundle: {e}",
                                bundle_path.display()
                            ),
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
    // A store pinned to a registry with a maximum age that it has not refreshed within fails
    // closed: what it knows may predate a compromise.
    if let Some(store) = &store {
        hallmark_keyring::trust::registries::fail_if_stale(store.view(), now, &mut outcomes);
    }
    // What the run decides together (conflicting first-use pins, two contents for one
    // release) is settled whether or not it is recorded: recording settles it itself.
    match store.as_mut() {
        Some(store) if record => store
            .record(&mut outcomes, now)
            .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?,
        _ => settle_run(&mut outcomes),
    }

    let verdicts = jobs.iter().zip(slots).map(|((artifact, _, _), slot)| {
        (
            artifact.as_path(),
            slot.map(|i| outcomes[i].decision.clone()),
        )
    });
    Ok(print_verdicts(verdicts, out.json))
}

/// Whether an error opening a store's lock file means the store cannot be written at all.
fn is_read_only(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}
