//! Peer formats on the command line: `key show --format`, `sign --format minisign|ssh`,
//! `verify --format minisign|ssh`, and `hallmark ssh-keygen` for git.
//!
//! The formats themselves live in `hallmark_signer::interop`; this module reads files, opens
//! keys, prints results and maps outcomes to exit codes (0 valid, 1 refused, 2 malformed
//! input or usage, 4 hardware).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use hallmark_keyring::PublicKey;
use hallmark_keyring::fsutil;
use hallmark_signer::cmdline::ErrorReport;
use hallmark_signer::filekey;
use hallmark_signer::interop::allowed_signers::{self, AllowedSigners};
use hallmark_signer::interop::minisign::{self, MinisignPublicKey, MinisignSignature};
use hallmark_signer::interop::pubkey::{
    self, KeyFormat, ParsedKey, SshPublicKey, parse_any, ssh_fingerprint,
};
use hallmark_signer::interop::revoked::{self, RevokedKeys, RevokedKeysError};
use hallmark_signer::interop::sshsig::{self, HashAlgorithm, SshSignature};
use hallmark_signer::interop::verify::{self, Good, SshPolicy, VerifyError};
use hallmark_signer::keyref::{self, KeyHandle, KeyRef, UnlockOptions};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::cli::{
    KeyShowFormat, ShowArgs, SignArgs, SignFormat, SshHash, SshKeygenArgs, VerifyArgs, VerifyFormat,
};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

/// Largest key file read (a public key in any form, or a git signing-key file).
const MAX_KEY_FILE: u64 = 64 * 1024;

fn usage(message: String) -> Failure {
    Failure::usage(anyhow!(message))
}

// ---------------------------------------------------------------------------------------------
// Public keys

/// A public key given on the command line, and the key reference it came from, if any.
struct KeyInput {
    parsed: ParsedKey,
    reference: Option<KeyRef>,
}

/// Reads a public key: a key reference (`file:PATH` reads `PATH.pub`, `pkcs11:` opens the
/// token), a key given inline in any form, or a file holding a key in any form.
fn read_key(text: &str) -> Result<KeyInput, Failure> {
    let parsed = text.parse::<KeyRef>();
    if let Err(e) = &parsed
        && keyref::has_scheme(text)
    {
        // A reference that does not parse is not a file name: the error names what is wrong
        // with it without repeating the argument (which may carry a PIN).
        return Err(Failure::usage(anyhow!("{e}")));
    }
    if let Ok(reference) = parsed {
        let key = keyref::public_key(&reference, &TerminalUi)?;
        let minisign_key_id = match &reference {
            KeyRef::File(path) => filekey::minisign_key_id(path),
            _ => None,
        };
        return Ok(KeyInput {
            parsed: ParsedKey {
                key,
                format: KeyFormat::Hallmark,
                minisign_key_id,
                ssh_comment: None,
            },
            reference: Some(reference),
        });
    }
    if pubkey::looks_inline(text) && !Path::new(text).exists() {
        let parsed =
            parse_any(text).map_err(|e| Failure::usage(anyhow!("public key {text:?}: {e}")))?;
        return Ok(KeyInput {
            parsed,
            reference: None,
        });
    }
    let path = Path::new(text);
    let bytes = fsutil::read_bounded(path, MAX_KEY_FILE).map_err(|e| {
        // Shown redacted: a mistyped key reference taken for a file name may carry a PIN.
        Failure::usage(anyhow!(
            "cannot read public key file {}: {e}",
            keyref::redacted(text)
        ))
        .with_hint(
            "give a key reference (file:KEY, pkcs11:…), a key (ed25519:…, ssh-ed25519 AAAA…, \
             RW…) or a file holding one (.pub, minisign .pub, PEM, JWK)",
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        usage(format!(
            "public key file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    // `hallmark key show`'s own text (`ed25519:…` and its `key id:` line) reads back.
    let parsed = if text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        filekey::parse_public_key_file_text(&text)
            .map(|(key, minisign_key_id)| ParsedKey {
                key,
                format: KeyFormat::Hallmark,
                minisign_key_id,
                ssh_comment: None,
            })
            .map_err(|e| e.to_string())
    } else {
        parse_any(&text).map_err(|e| e.to_string())
    }
    .map_err(|e| usage(format!("public key file {}: {e}", path.display())))?;
    Ok(KeyInput {
        parsed,
        reference: None,
    })
}

/// A `file:` reference whose key file exists but whose `.pub` beside it does not, or is empty
/// (as the shell leaves it for `hallmark key show file:KEY > KEY.pub`).
fn lost_public_key_file(text: &str) -> Option<KeyRef> {
    match text.parse::<KeyRef>() {
        Ok(KeyRef::File(path))
            if fsutil::exists_no_follow(&path) && filekey::public_key_lost(&path) =>
        {
            Some(KeyRef::File(path))
        }
        _ => None,
    }
}

/// The public key of a file key whose `.pub` is lost, derived by unlocking the key itself.
fn derive_public_key(
    reference: KeyRef,
    args: &ShowArgs,
    out: &Output,
) -> Result<KeyInput, Failure> {
    let KeyRef::File(path) = &reference else {
        return Err(usage(format!("{reference} is not a key file")));
    };
    let pub_path = filekey::public_key_path(path);
    out.note(&format!(
        "{} is missing or empty: unlocking {} to derive its public key (save it with `hallmark key show \
         {reference} > {}`)",
        pub_path.display(),
        path.display(),
        pub_path.display()
    ));
    let handle = keyref::open(
        &reference,
        &super::unlock_options(&args.passphrase),
        &TerminalUi,
        None,
    )?;
    let key = PublicKey::new(handle.verifying_key());
    Ok(KeyInput {
        parsed: ParsedKey {
            key,
            format: KeyFormat::Hallmark,
            // A key imported from minisign keeps its id in the key file too.
            minisign_key_id: handle.minisign_key_id(),
            ssh_comment: None,
        },
        reference: Some(reference),
    })
}

/// The comment `key show --format ssh` writes by default: the key reference, with a file
/// key's path made absolute so that the line works from any directory (as git's signing key).
fn default_ssh_comment(reference: &KeyRef) -> String {
    if let KeyRef::File(path) = reference
        && let Ok(absolute) = std::path::absolute(path)
    {
        return KeyRef::File(absolute).to_string();
    }
    reference.to_string()
}

pub fn show(args: ShowArgs, out: &Output) -> CmdResult {
    let input = match lost_public_key_file(&args.key) {
        Some(reference) => derive_public_key(reference, &args, out)?,
        None => read_key(&args.key)?,
    };
    let key = input.parsed.key;
    let comment = match (&args.comment, &input.reference) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(reference)) => Some(default_ssh_comment(reference)),
        (None, None) => input.parsed.ssh_comment.clone(),
    };
    if let Some(c) = &comment {
        // The line must read back: no control characters, no empty comment.
        let line = pubkey::render(&key, KeyFormat::Ssh, Some(c));
        SshPublicKey::parse(&line).map_err(|e| usage(format!("--comment: {e}")))?;
    }
    let minisign_key = match input.parsed.minisign_key_id {
        Some(id) => MinisignPublicKey::with_key_id(&key, id),
        None => MinisignPublicKey::for_hallmark_key(&key),
    };
    if out.json {
        out.json(
            "key.show",
            &json!({
                "publicKey": key.to_string(),
                "keyId": key.key_id().to_string(),
                "ssh": pubkey::render(&key, KeyFormat::Ssh, comment.as_deref()),
                "sshFingerprint": ssh_fingerprint(&key),
                "minisign": minisign_key.to_file_text(),
                "minisignBase64": minisign_key.to_base64(),
                "minisignKeyId": minisign::display_key_id(&minisign_key.key_id),
                "pem": pubkey::pem(&key),
                "jwk": serde_json::from_str::<serde_json::Value>(&pubkey::jwk(&key))
                    .unwrap_or(serde_json::Value::Null),
            }),
        );
        return Ok(Exit::Success);
    }
    match args.format {
        KeyShowFormat::Hallmark => {
            outln!("{key}");
            outln!("key id: {}", key.key_id());
            // A key imported from minisign: its own id, so that `key show > KEY.pub` keeps it.
            if let Some(id) = input
                .parsed
                .minisign_key_id
                .filter(|id| *id != minisign::key_id_for(&key))
            {
                outln!(
                    "{}{}",
                    filekey::MINISIGN_KEY_ID_PREFIX,
                    minisign::display_key_id(&id)
                );
            }
        }
        KeyShowFormat::Ssh => outln!(
            "{}",
            pubkey::render(&key, KeyFormat::Ssh, comment.as_deref())
        ),
        KeyShowFormat::Minisign => outln!("{}", minisign_key.to_file_text()),
        KeyShowFormat::Pem => outln!("{}", pubkey::pem(&key)),
        KeyShowFormat::Jwk => outln!("{}", pubkey::jwk(&key)),
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------------
// Signing

fn signature_path(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Files to sign and where their signatures go, checked before any key is unlocked.
fn plan(
    files: &[PathBuf],
    suffix: &str,
    replace: bool,
) -> Result<Vec<(PathBuf, PathBuf)>, Failure> {
    let mut planned: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
    let mut existing = Vec::new();
    for file in files {
        let meta = std::fs::metadata(file)
            .map_err(|e| usage(format!("cannot sign {}: {e}", file.display())))?;
        if !meta.is_file() {
            return Err(usage(format!(
                "{} is not a regular file; minisign and SSH signatures cover single files (sign \
                 a directory tree with the hallmark format)",
                file.display()
            )));
        }
        let sig = signature_path(file, suffix);
        if planned.iter().any(|(_, s)| *s == sig) {
            return Err(usage(format!("{} is given more than once", file.display())));
        }
        if !replace && fsutil::exists_no_follow(&sig) {
            existing.push(sig.display().to_string());
        }
        planned.push((file.clone(), sig));
    }
    if !existing.is_empty() {
        return Err(usage(format!(
            "{} already exist{}; nothing was signed. Use --force to replace {}",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
        )));
    }
    Ok(planned)
}

fn hash_files<T: Send>(
    planned: &[(PathBuf, PathBuf)],
    hash: impl Fn(&Path) -> std::io::Result<T> + Sync,
) -> Result<Vec<T>, Failure> {
    planned
        .par_iter()
        .map(|(file, _)| {
            hash(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))
        })
        .collect()
}

fn write_signatures(
    planned: &[(PathBuf, PathBuf)],
    texts: &[String],
    replace: bool,
) -> Result<(), Failure> {
    for ((_, sig), text) in planned.iter().zip(texts) {
        let written = if replace {
            fsutil::write_replace(sig, text.as_bytes(), 0o644)
        } else {
            fsutil::write_new(sig, text.as_bytes(), 0o644)
        };
        written.map_err(Failure::usage)?;
    }
    Ok(())
}

fn ssh_hash(hash: SshHash) -> HashAlgorithm {
    match hash {
        SshHash::Sha256 => HashAlgorithm::Sha256,
        SshHash::Sha512 => HashAlgorithm::Sha512,
    }
}

/// Signs files as SSH signatures with an open key, writing FILE.sig beside each.
fn sign_ssh_files(
    handle: &dyn KeyHandle,
    namespace: &str,
    hash: HashAlgorithm,
    planned: &[(PathBuf, PathBuf)],
    replace: bool,
    out: &Output,
) -> Result<Vec<SshSignature>, Failure> {
    let bar = out.progress(planned.len() as u64, "hashing");
    let hashes = hash_files(planned, |p| {
        let h = hash.hash_file(p);
        bar.inc(1);
        h
    })?;
    bar.finish_and_clear();
    let bar = out.progress(planned.len() as u64, "signing");
    let signed = sshsig::sign_batch(handle, namespace, hash, &hashes, &|n| {
        bar.set_position(n as u64)
    });
    bar.finish_and_clear();
    let signatures = signed?;
    let texts: Vec<String> = signatures.iter().map(SshSignature::to_armored).collect();
    write_signatures(planned, &texts, replace)?;
    Ok(signatures)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn sign(args: SignArgs, out: &Output) -> CmdResult {
    let format = args.peer.format;
    let format_name = match format {
        SignFormat::Minisign => "minisign",
        _ => "ssh",
    };
    if args.identity.is_some() || args.name.is_some() || args.version.is_some() {
        return Err(usage(format!(
            "--identity, --name and --version describe Hallmark bundles; a {format_name} \
             signature carries none of them"
        )));
    }
    let [key] = args.keys.as_slice() else {
        return Err(usage(format!(
            "a {format_name} signature has one signer: give one --key"
        )));
    };
    let reference: KeyRef = key.parse().map_err(Failure::usage)?;
    let peer = &args.peer;
    let (suffix, namespace) = match format {
        SignFormat::Minisign => {
            if peer.namespace.is_some() {
                return Err(usage("--namespace applies to --format ssh".into()));
            }
            if let Some(tc) = &peer.trusted_comment {
                minisign::check_trusted_comment(tc).map_err(Failure::usage)?;
            }
            if let Some(uc) = &peer.untrusted_comment {
                minisign::check_untrusted_comment(uc).map_err(Failure::usage)?;
            }
            (".minisig", String::new())
        }
        _ => {
            if peer.trusted_comment.is_some() || peer.untrusted_comment.is_some() {
                return Err(usage(
                    "--trusted-comment and --untrusted-comment apply to --format minisign".into(),
                ));
            }
            let namespace = peer.namespace.clone().ok_or_else(|| {
                usage(
                    "--format ssh needs --namespace (e.g. \"file\"; verifiers require the same)"
                        .into(),
                )
            })?;
            sshsig::check_namespace(&namespace).map_err(Failure::usage)?;
            (".sig", namespace)
        }
    };
    let planned = plan(&args.paths, suffix, args.force)?;

    let ui = TerminalUi;
    let unlock = super::unlock_options(&args.passphrase);
    let handle = keyref::open(&reference, &unlock, &ui, None)?;
    let public = PublicKey::new(handle.verifying_key());

    let texts: Vec<String> = if format == SignFormat::Minisign {
        let bar = out.progress(planned.len() as u64, "hashing");
        let prehashes = hash_files(&planned, |p| {
            let h = minisign::prehash_file(p);
            bar.inc(1);
            h
        })?;
        bar.finish_and_clear();
        let now = unix_now();
        let jobs = planned
            .iter()
            .zip(prehashes)
            .map(|((file, _), prehash)| {
                let trusted_comment = match &peer.trusted_comment {
                    Some(tc) => tc.clone(),
                    None => {
                        let name = file
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let tc = minisign::default_trusted_comment(now, &name);
                        minisign::check_trusted_comment(&tc).map_err(|e| {
                            usage(format!("{}: {e}; give --trusted-comment", file.display()))
                        })?;
                        tc
                    }
                };
                Ok(minisign::SignJob {
                    prehash,
                    trusted_comment,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let untrusted = peer
            .untrusted_comment
            .clone()
            .unwrap_or_else(|| minisign::default_untrusted_comment(&public));
        let bar = out.progress(2 * planned.len() as u64, "signing");
        let signed = minisign::sign_batch(handle.as_ref(), &jobs, &untrusted, &|n| {
            bar.set_position(n as u64)
        });
        bar.finish_and_clear();
        let texts: Vec<String> = signed?
            .iter()
            .map(MinisignSignature::to_file_text)
            .collect();
        write_signatures(&planned, &texts, args.force)?;
        texts
    } else {
        sign_ssh_files(
            handle.as_ref(),
            &namespace,
            ssh_hash(peer.hash),
            &planned,
            args.force,
            out,
        )?
        .iter()
        .map(SshSignature::to_armored)
        .collect()
    };

    let minisign_key_id = handle
        .minisign_key_id()
        .unwrap_or_else(|| minisign::key_id_for(&public));
    if out.json {
        out.json(
            "sign.peer",
            &json!({
                "format": format_name,
                "signed": planned.iter().map(|(file, sig)| json!({
                    "artifact": file.display().to_string(),
                    "signature": sig.display().to_string(),
                })).collect::<Vec<_>>(),
                "signer": handle.describe(),
                "sshFingerprint": ssh_fingerprint(&public),
                "minisignKeyId": minisign::display_key_id(&minisign_key_id),
            }),
        );
    } else {
        for (file, sig) in &planned {
            outln!(
                "signed {} -> {} ({format_name}, key {})",
                file.display(),
                sig.display(),
                match format {
                    SignFormat::Minisign => minisign::display_key_id(&minisign_key_id),
                    _ => ssh_fingerprint(&public),
                }
            );
        }
    }
    debug_assert_eq!(texts.len(), planned.len());
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------------
// Verifying

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    artifact: String,
    signature: String,
    /// `valid` or `refused`; null when the signature could not be checked.
    verdict: Option<&'static str>,
    message: String,
    key: Option<String>,
    trusted_comment: Option<String>,
    namespace: Option<String>,
    principal: Option<String>,
    error: Option<ErrorReport>,
    exit_code: u8,
}

fn read_signature_file(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    fsutil::read_bounded(path, max as u64)
        .map_err(|e| format!("cannot read signature {}: {e}", path.display()))
}

fn read_allowed_signers(path: &Path) -> Result<AllowedSigners, Failure> {
    let bytes = fsutil::read_bounded(path, allowed_signers::MAX_FILE as u64).map_err(|e| {
        usage(format!(
            "cannot read allowed signers file {}: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("{} is not UTF-8 text", path.display())))?;
    AllowedSigners::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

pub fn verify(args: VerifyArgs, out: &Output) -> CmdResult {
    let peer = &args.peer;
    if args.bundle.is_some() {
        return Err(usage(
            "--bundle names a Hallmark bundle; give the signature file with --signature".into(),
        ));
    }
    if peer.signature.is_some() && args.paths.len() != 1 {
        return Err(usage(
            "--signature names the signature of a single file".into(),
        ));
    }
    let keys: Vec<ParsedKey> = args
        .public_keys
        .iter()
        .map(|k| read_key(k).map(|input| input.parsed))
        .collect::<Result<_, _>>()?;
    let (suffix, format_name) = match peer.format {
        VerifyFormat::Minisign => (".minisig", "minisign"),
        _ => (".sig", "ssh"),
    };
    let allowed = match (&peer.allowed_signers, peer.format) {
        (Some(_), VerifyFormat::Minisign) | (None, VerifyFormat::Minisign)
            if peer.namespace.is_some() =>
        {
            return Err(usage("--namespace applies to --format ssh".into()));
        }
        (Some(_), VerifyFormat::Minisign) => {
            return Err(usage("--allowed-signers applies to --format ssh".into()));
        }
        (Some(path), _) => Some(read_allowed_signers(path)?),
        (None, _) => None,
    };
    if peer.format == VerifyFormat::Minisign && keys.is_empty() {
        return Err(usage("--format minisign needs --public-key".into()));
    }
    let namespace = match peer.format {
        VerifyFormat::Minisign => String::new(),
        _ => peer.namespace.clone().ok_or_else(|| {
            usage("--format ssh needs --namespace: the namespace the signature must be for".into())
        })?,
    };
    let policy = SshPolicy {
        namespace: &namespace,
        keys: &keys,
        allowed: allowed.as_ref(),
        principal: peer.principal.as_deref(),
        time: unix_now(),
    };
    let jobs: Vec<(PathBuf, PathBuf)> = args
        .paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                peer.signature
                    .clone()
                    .unwrap_or_else(|| signature_path(p, suffix)),
            )
        })
        .collect();
    let outcomes: Vec<Result<Good, VerifyError>> = jobs
        .par_iter()
        .map(|(file, sig)| match peer.format {
            VerifyFormat::Minisign => verify::verify_minisign_file(file, sig, &keys),
            _ => verify::verify_ssh_file(file, sig, &policy),
        })
        .collect();

    let mut exit = Exit::Success;
    let mut reports = Vec::with_capacity(jobs.len());
    for ((file, sig), outcome) in jobs.iter().zip(outcomes) {
        let mut report = Report {
            artifact: file.display().to_string(),
            signature: sig.display().to_string(),
            verdict: None,
            message: String::new(),
            key: None,
            trusted_comment: None,
            namespace: None,
            principal: None,
            error: None,
            exit_code: Exit::Success.code(),
        };
        match outcome {
            Ok(Good {
                key,
                trusted_comment,
                namespace,
                principal,
            }) => {
                if !out.json {
                    let by = match &principal {
                        Some(p) => format!("{p} ({key})"),
                        None => key.to_string(),
                    };
                    outln!("{}: good {format_name} signature by {by}", file.display());
                    if let Some(tc) = &trusted_comment {
                        outln!("  trusted comment: {tc}");
                    }
                }
                report.verdict = Some("valid");
                report.message = format!("good {format_name} signature by {key}");
                report.key = Some(key.to_string());
                report.trusted_comment = trusted_comment;
                report.namespace = namespace;
                report.principal = principal;
            }
            Err(why) if why.is_refusal() => {
                exit = exit.worst(Exit::Refused);
                if !out.json {
                    outln!("{}: refused: {why}", file.display());
                }
                report.verdict = Some("refused");
                report.message = why.to_string();
                report.exit_code = Exit::Refused.code();
            }
            Err(why) => {
                exit = exit.worst(Exit::Usage);
                errln!("error: {}: {why}", file.display());
                report.message = why.to_string();
                report.error = Some(ErrorReport::new(why.to_string()));
                report.exit_code = Exit::Usage.code();
            }
        }
        reports.push(report);
    }
    if out.json {
        out.json(
            "verify.peer",
            &serde_json::json!({ "results": reports, "exitCode": exit.code() }),
        );
    }
    Ok(exit)
}

// ---------------------------------------------------------------------------------------------
// hallmark ssh-keygen

/// Reads git's signing key file: the first line that is neither blank nor a `#` comment is a
/// key reference, or an OpenSSH public key line whose comment is a key reference (then the
/// key opened must be that key).
fn read_signing_key_file(path: &Path) -> Result<(KeyRef, Option<PublicKey>), Failure> {
    let bytes = fsutil::read_bounded(path, MAX_KEY_FILE)
        .map_err(|e| usage(format!("cannot read key file {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("key file {} is not UTF-8 text", path.display())))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| {
            usage(format!(
                "key file {} holds no key reference",
                path.display()
            ))
        })?;
    let hint = "write a key reference (file:/path/key, pkcs11:…) in the file, or the line \
                `hallmark key show REF --format ssh` prints";
    if line.starts_with("ssh-") {
        let ssh = SshPublicKey::parse(line)
            .map_err(|e| usage(format!("key file {}: {e}", path.display())).with_hint(hint))?;
        let comment = ssh.comment.as_deref().unwrap_or_default();
        let reference = comment.parse::<KeyRef>().map_err(|e| {
            usage(format!(
                "key file {}: the comment of its SSH public key must be a Hallmark key reference: {e}",
                path.display()
            ))
            .with_hint(hint)
        })?;
        return Ok((reference, Some(ssh.key)));
    }
    let reference = line
        .parse::<KeyRef>()
        .map_err(|e| usage(format!("key file {}: {e}", path.display())).with_hint(hint))?;
    Ok((reference, None))
}

/// The `-O` options: `hashalg=` and `verify-time=`.
struct KeygenOptions {
    hash: HashAlgorithm,
    /// `verify-time=`, as written.
    verify_time: Option<String>,
}

fn keygen_options(options: &[String]) -> Result<KeygenOptions, Failure> {
    let mut parsed = KeygenOptions {
        hash: HashAlgorithm::Sha512,
        verify_time: None,
    };
    for option in options {
        if let Some(alg) = option.strip_prefix("hashalg=") {
            parsed.hash = alg.parse().map_err(Failure::usage)?;
        } else if let Some(time) = option.strip_prefix("verify-time=") {
            parsed.verify_time = Some(time.to_owned());
        } else {
            return Err(usage(format!(
                "unsupported option -O {option:?} (supported: hashalg=sha256|sha512, verify-time=TIME)"
            )));
        }
    }
    Ok(parsed)
}

/// The time to check key validity at: `verify-time=` when given, else now. A local-time
/// `verify-time` (as git passes) is used only when it matters, and then refused: Hallmark
/// does not guess a time zone.
fn verification_time(
    options: &KeygenOptions,
    allowed: Option<&AllowedSigners>,
) -> Result<u64, Failure> {
    let Some(text) = &options.verify_time else {
        return Ok(unix_now());
    };
    match allowed_signers::parse_time(text) {
        Ok(t) => Ok(t),
        Err(_) if !allowed.is_some_and(AllowedSigners::has_validity) => {
            // No line restricts validity, so the time decides nothing.
            Ok(unix_now())
        }
        Err(e) => Err(usage(format!("verify-time: {e}"))),
    }
}

fn required<'a, T>(value: &'a Option<T>, flag: &str, op: &str) -> Result<&'a T, Failure> {
    value
        .as_ref()
        .ok_or_else(|| usage(format!("-Y {op} needs {flag}")))
}

/// The largest message read from standard input (git hands commits and tags over this way).
const MAX_STDIN_MESSAGE: u64 = 64 * 1024 * 1024;

fn read_stdin() -> Result<Vec<u8>, Failure> {
    fsutil::read_stream_bounded(std::io::stdin().lock(), MAX_STDIN_MESSAGE)
        .map_err(|e| usage(format!("cannot read the message from standard input: {e}")))
}

fn read_ssh_signature(path: &Path) -> Result<SshSignature, Failure> {
    let bytes = read_signature_file(path, sshsig::MAX_ARMORED).map_err(usage)?;
    SshSignature::parse_armored(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Refuses a key listed in a revocation file of public keys (one per line).
fn check_revoked(path: &Path, key: &PublicKey) -> Result<(), Failure> {
    let bytes = fsutil::read_bounded(path, revoked::MAX_FILE as u64).map_err(|e| {
        usage(format!(
            "cannot read revocation file {}: {e}",
            path.display()
        ))
    })?;
    let list = RevokedKeys::parse(&bytes).map_err(|e| match e {
        RevokedKeysError::Line { .. } => usage(format!("{} {e}", path.display())),
        e => usage(format!("{} is {e}", path.display())),
    })?;
    match list.revokes(key) {
        Some(line) => Err(refused(format!(
            "key {} is revoked ({} line {line})",
            ssh_fingerprint(key),
            path.display()
        ))),
        None => Ok(()),
    }
}

fn refused(error: impl std::fmt::Display) -> Failure {
    Failure {
        exit: Exit::Refused,
        error: anyhow!("{error}"),
        hint: None,
    }
}

pub fn ssh_keygen(args: SshKeygenArgs, out: &Output) -> CmdResult {
    let options = keygen_options(&args.options)?;
    let op = args.op.as_str();
    match op {
        "sign" => {
            let namespace = required(&args.namespace, "-n NAMESPACE", op)?;
            sshsig::check_namespace(namespace).map_err(Failure::usage)?;
            let key_file = required(&args.file, "-f KEYFILE", op)?;
            let (reference, expected) = read_signing_key_file(key_file)?;
            let planned = plan(&args.files, ".sig", true)?;
            let unlock = UnlockOptions {
                passphrase: super::passphrase_source(&crate::cli::UnlockArgs {
                    passphrase_file: args.passphrase_file.clone(),
                    passphrase_env: args.passphrase_env.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let handle = keyref::open(&reference, &unlock, &TerminalUi, expected.as_ref())?;
            if planned.is_empty() {
                let message = read_stdin()?;
                let hash = options.hash.hash(&message);
                let sig = sshsig::sign(handle.as_ref(), namespace, options.hash, &hash)?;
                out!("{}", sig.to_armored());
            } else {
                sign_ssh_files(
                    handle.as_ref(),
                    namespace,
                    options.hash,
                    &planned,
                    true,
                    out,
                )?;
                for (_, sig) in &planned {
                    out.note(&format!("Write signature to {}", sig.display()));
                }
            }
            Ok(Exit::Success)
        }
        "verify" => {
            let namespace = required(&args.namespace, "-n NAMESPACE", op)?;
            let allowed = read_allowed_signers(required(&args.file, "-f ALLOWED_SIGNERS", op)?)?;
            let principal = required(&args.principal, "-I PRINCIPAL", op)?;
            let sig = read_ssh_signature(required(&args.signature, "-s SIGNATURE", op)?)?;
            let time = verification_time(&options, Some(&allowed))?;
            if let Some(revoked) = &args.revoked {
                check_revoked(revoked, &sig.public_key)?;
            }
            let hash = sig.hash_algorithm.hash(&read_stdin()?);
            sig.verify(namespace, &hash).map_err(refused)?;
            allowed
                .check(&sig.public_key, Some(principal), namespace, time)
                .map_err(refused)?;
            outln!(
                "Good \"{namespace}\" signature for {principal} with ED25519 key {}",
                ssh_fingerprint(&sig.public_key)
            );
            Ok(Exit::Success)
        }
        "find-principals" => {
            let allowed = read_allowed_signers(required(&args.file, "-f ALLOWED_SIGNERS", op)?)?;
            let sig = read_ssh_signature(required(&args.signature, "-s SIGNATURE", op)?)?;
            let time = verification_time(&options, Some(&allowed))?;
            match allowed.find_principals(&sig.public_key, time) {
                Some(entry) => {
                    outln!("{}", entry.principals);
                    Ok(Exit::Success)
                }
                None => Err(refused("No principal matched.")),
            }
        }
        "check-novalidate" => {
            let namespace = required(&args.namespace, "-n NAMESPACE", op)?;
            let sig = read_ssh_signature(required(&args.signature, "-s SIGNATURE", op)?)?;
            let hash = sig.hash_algorithm.hash(&read_stdin()?);
            sig.verify(namespace, &hash).map_err(refused)?;
            outln!(
                "Good \"{namespace}\" signature with ED25519 key {}",
                ssh_fingerprint(&sig.public_key)
            );
            Ok(Exit::Success)
        }
        other => Err(usage(format!(
            "hallmark ssh-keygen does -Y sign, verify, find-principals and check-novalidate, \
             not {other:?}"
        ))),
    }
}
