//! `hallmark key …`.

use std::path::Path;

use anyhow::Context;
use hallmark_hsm::attestation::{self, ExpectedKey, TrustRoots};
use hallmark_hsm::interact::Interaction;
use hallmark_keyring::PublicKey;
use hallmark_signer::filekey::{self, Protection};
use hallmark_signer::keyref::{self, KeyRef};
use serde_json::json;

use crate::cli::{GenerateArgs, KeyCommand, ShowArgs, VerifyAttestationArgs};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(cmd: KeyCommand, out: &Output) -> CmdResult {
    match cmd {
        KeyCommand::Generate(args) => generate(args, out),
        KeyCommand::Show(args) => show(args, out),
        KeyCommand::VerifyAttestation(args) => verify_attestation(args, out),
    }
}

fn read_input(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    hallmark_keyring::fsutil::read_bounded(path, 1024 * 1024)
        .with_context(|| format!("cannot read {what} {}", path.display()))
        .map_err(Failure::usage)
}

fn verify_attestation(args: VerifyAttestationArgs, out: &Output) -> CmdResult {
    let device = read_input(&args.device, "device certificate")?;
    let key_cert = read_input(&args.key_cert, "attestation certificate")?;
    let expected = match &args.key {
        Some(text) => Some(ExpectedKey::Ed25519(*parse_public_key(text)?.verifying_key())),
        None => None,
    };
    let mut roots = TrustRoots::yubico();
    for path in &args.extra_roots {
        let pem = read_input(path, "root certificate")?;
        roots = roots
            .with_extra_root(&pem)
            .with_context(|| format!("root certificate {}", path.display()))
            .map_err(Failure::usage)?;
    }
    match attestation::verify(&device, &key_cert, &roots, expected.as_ref()) {
        Ok(report) => {
            if out.json {
                out.json(&json!({ "holds": true, "report": report }));
            } else {
                println!("{report}");
            }
            Ok(Exit::Success)
        }
        Err(err) => {
            if err.is_input_error() {
                return Err(Failure::usage(err));
            }
            if out.json {
                out.json(&json!({ "holds": false, "error": err.code(), "reason": err.to_string() }));
            } else {
                println!("attestation does not hold: {err}");
            }
            Ok(Exit::Refused)
        }
    }
}

fn read_recipients(args: &GenerateArgs) -> Result<Vec<age::x25519::Recipient>, Failure> {
    let mut texts: Vec<(String, String)> = args
        .recipients
        .iter()
        .map(|r| (r.clone(), "--recipient".to_owned()))
        .collect();
    if let Some(file) = &args.recipients_file {
        let bytes = hallmark_keyring::fsutil::read_bounded(file, 1024 * 1024)
            .with_context(|| format!("cannot read recipients file {}", file.display()))
            .map_err(Failure::usage)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Failure::usage(anyhow::anyhow!("{} is not UTF-8 text", file.display())))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                texts.push((
                    line.to_owned(),
                    format!("{} line {}", file.display(), n + 1),
                ));
            }
        }
    }
    texts
        .into_iter()
        .map(|(text, origin)| {
            text.parse::<age::x25519::Recipient>().map_err(|_| {
                Failure::usage(anyhow::anyhow!(
                    "{origin}: {text:?} is not an age X25519 recipient (age1…)"
                ))
            })
        })
        .collect()
}

fn generate(args: GenerateArgs, out: &Output) -> CmdResult {
    let reference: KeyRef = args.out.parse().map_err(Failure::usage)?;
    let ui = TerminalUi;
    match &reference {
        KeyRef::File(path) => {
            let recipients = read_recipients(&args)?;
            let protection = if recipients.is_empty() {
                let passphrase = match super::passphrase_source(&args.passphrase) {
                    Some(source) => {
                        source.read(&format!("passphrase for {}", path.display()), &ui)?
                    }
                    None => {
                        ui.request_new_secret(&format!("new passphrase for {}", path.display()))?
                    }
                };
                Protection::Passphrase {
                    passphrase,
                    work_factor: args.work_factor,
                }
            } else {
                if args.passphrase.passphrase_file.is_some()
                    || args.passphrase.passphrase_env.is_some()
                {
                    return Err(Failure::usage(anyhow::anyhow!(
                        "give either a passphrase or age recipients, not both"
                    )));
                }
                Protection::Recipients(recipients)
            };
            let escrowed = matches!(protection, Protection::Recipients(_));
            let generated = filekey::generate(path, &protection)?;
            report_generated(
                &reference,
                &generated.public_key,
                &[&generated.path, &generated.pub_path],
                out,
            );
            out.note(if escrowed {
                "The key can be unlocked by any one of the recipients (--age-identity FILE)."
            } else {
                "Keep the passphrase safe: without it the key cannot be unlocked or recovered."
            });
        }
    }
    Ok(Exit::Success)
}

fn report_generated(reference: &KeyRef, key: &PublicKey, files: &[&Path], out: &Output) {
    if out.json {
        out.json(&json!({
            "reference": reference.to_string(),
            "public_key": key.to_string(),
            "key_id": key.key_id().to_string(),
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        }));
    } else {
        println!("created {reference}");
        println!("  public key: {key}");
        println!("  key id:     {}", key.key_id());
        for file in files {
            println!("  wrote       {}", file.display());
        }
    }
}

/// Reads a public key given as `ed25519:…`, a key reference, or a public key file.
pub fn parse_public_key(text: &str) -> Result<PublicKey, Failure> {
    if text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        return text
            .parse()
            .map_err(|e| Failure::usage(anyhow::anyhow!("public key {text:?}: {e}")));
    }
    if let Ok(reference) = text.parse::<KeyRef>() {
        return keyref::public_key(&reference).map_err(Failure::from);
    }
    filekey::read_public_key_file(Path::new(text)).map_err(|e| {
        Failure::usage(e).with_hint(
            "give a public key as ed25519:<base64>, file:KEY (reads KEY.pub) or a .pub file",
        )
    })
}

fn show(args: ShowArgs, out: &Output) -> CmdResult {
    let key = parse_public_key(&args.key)?;
    if out.json {
        out.json(&json!({ "public_key": key.to_string(), "key_id": key.key_id().to_string() }));
    } else {
        println!("{key}");
        println!("key id: {}", key.key_id());
    }
    Ok(Exit::Success)
}
