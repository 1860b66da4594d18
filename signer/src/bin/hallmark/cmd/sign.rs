//! `hallmark sign`.

use std::path::Path;

use hallmark_keyring::digest::Progress;
use hallmark_keyring::kel::SigningError;
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::{Kel, KelFile, PackageName, PublicKey, Timestamp, Version};
use hallmark_signer::keyref::{self, KeyHandle, KeyRef};
use hallmark_signer::release::{self, ReleaseInfo};
use serde_json::json;

use crate::cli::{SignArgs, SignFormat};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(mut args: SignArgs, out: &Output) -> CmdResult {
    // `sign dist/*` after an earlier run must not sign last run's bundles and signatures.
    args.paths = super::artifacts_only(&args.paths, out)?;
    if args.peer.format != SignFormat::Hallmark {
        return super::interop::sign(args, out);
    }
    // Everything that can be checked without a key is checked first: nothing is unlocked and
    // no PIN is asked for if the run would fail anyway.
    let required = |value: &Option<String>, flag: &str| {
        value.clone().ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "{flag} is required for a Hallmark bundle (or give --format minisign or ssh)"
            ))
        })
    };
    let name: PackageName = required(&args.name, "--name")?
        .parse()
        .map_err(Failure::usage)?;
    let version: Version = required(&args.version, "--version")?
        .parse()
        .map_err(Failure::usage)?;
    let references = args
        .keys
        .iter()
        .map(|k| k.parse::<KeyRef>().map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    let artifacts = release::plan(&args.paths, args.force).map_err(Failure::usage)?;
    let kel = match &args.identity {
        Some(path) => Some(KelFile::read_verified(path).map_err(Failure::usage)?),
        None => None,
    };
    if let Some(kel) = &kel {
        kel.may_sign_for(&name).map_err(Failure::usage)?;
    }

    let ui = TerminalUi;
    let unlock = super::unlock_options(&args.passphrase);
    let mut handles: Vec<Box<dyn KeyHandle + '_>> = Vec::with_capacity(references.len());
    for reference in &references {
        let expected = match &kel {
            Some(kel) => expected_identity_key(kel, reference)?,
            None => None,
        };
        handles.push(keyref::open(reference, &unlock, &ui, expected.as_ref())?);
    }
    // Hardware attestations of the signing keys travel in every bundle, so that a verifier
    // whose policy requires them can check that each key was made inside a device.
    let mut attestations = Vec::new();
    for handle in &handles {
        if let Some(attestation) = keyref::attestation_or_warn(handle.as_ref(), &ui)? {
            out.note(&format!(
                "bundles carry the hardware attestation of key {} ({})",
                attestation.key.short(),
                handle.describe().reference
            ));
            attestations.push(attestation);
        }
    }
    let (signer, kel_events) = match &kel {
        Some(kel) => (identity_signer(kel, &handles)?, kel.envelopes()),
        None => match handles.as_slice() {
            [only] => (
                SignerRef::key(PublicKey::new(only.verifying_key())),
                Vec::new(),
            ),
            _ => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "several --key flags co-sign statements in an identity's name; give --identity"
                )));
            }
        },
    };

    let bar = out.hash_progress("hashing");
    let paths: Vec<&Path> = artifacts.iter().map(|a| a.path.as_path()).collect();
    let digests = release::hash_all(&paths, bar.as_ref().map(|b| b as &dyn Progress))
        .map_err(Failure::usage)?;
    if let Some(bar) = &bar {
        bar.finish();
    }

    let mut related = Vec::with_capacity(args.related.len());
    for path in &args.related {
        let kel = KelFile::read_verified(path).map_err(Failure::usage)?;
        related.push(KelFile::from_kel(&kel));
    }
    let info = ReleaseInfo {
        name,
        version,
        signer,
        kel: kel_events,
        related,
        attestations,
        created: Timestamp::now(),
    };
    let signers: Vec<&dyn KeyHandle> = handles.iter().map(|h| h.as_ref()).collect();
    let bar = out.progress((artifacts.len() * signers.len()) as u64, "signing");
    let signed = release::sign_all(&signers, &info, &artifacts, &digests, args.force, &|n| {
        bar.set_position(n as u64)
    });
    bar.finish_and_clear();
    let signed = signed?;

    if out.json {
        out.json(
            "sign",
            &json!({
                "signed": signed.iter().map(|s| json!({
                    "artifact": s.artifact.path.display().to_string(),
                    "bundle": s.artifact.bundle_path.display().to_string(),
                    "release": s.statement.release(),
                    "digest": s.digest.to_string(),
                })).collect::<Vec<_>>(),
                "signers": signers.iter().map(|s| s.describe()).collect::<Vec<_>>(),
            }),
        );
    } else {
        for s in &signed {
            outln!(
                "signed {} {} -> {} ({})",
                s.statement.release(),
                s.artifact.path.display(),
                s.artifact.bundle_path.display(),
                s.digest
            );
        }
    }
    Ok(Exit::Success)
}

/// The identity's current key that `reference` holds, read from public keys alone (nothing is
/// unlocked), so that the backend compares it with the device's key before the first signature
/// (a YubiKey or token swapped since is refused). A key the identity does not hold is refused
/// here, before any PIN is asked for; a reference whose public key cannot be read without
/// unlocking is checked after opening instead.
fn expected_identity_key(kel: &Kel, reference: &KeyRef) -> Result<Option<PublicKey>, Failure> {
    let Some(key) = keyref::peek_public_key(reference) else {
        return Ok(None);
    };
    let key = kel
        .current_key(&key, &reference.to_string())
        .map_err(Failure::usage)?;
    Ok(Some(key))
}

/// The identity's rules for the opened keys ([`Kel::signer_ref`]): current keys, at least its
/// threshold of them; the statement names the identity's newest event.
fn identity_signer(kel: &Kel, handles: &[Box<dyn KeyHandle + '_>]) -> Result<SignerRef, Failure> {
    let keys: Vec<(PublicKey, String)> = handles
        .iter()
        .map(|h| (PublicKey::new(h.verifying_key()), h.describe().reference))
        .collect();
    kel.signer_ref(keys.iter().map(|(k, label)| (*k, label.as_str())))
        .map_err(|e| match e {
            // The binary's part: which flag gives the missing co-signers.
            SigningError::BelowThreshold { .. } => {
                Failure::usage(anyhow::anyhow!("{e}; give --key for each co-signer"))
            }
            other => Failure::usage(other),
        })
}
