//! `hallmark key …`.

use std::path::Path;

use anyhow::Context;
use hallmark_hsm::attestation::{self, ExpectedKey, TrustRoots};
use hallmark_hsm::interact::Interaction;
use hallmark_hsm::pkcs11;
use hallmark_keyring::PublicKey;
use hallmark_signer::filekey::{self, Protection};
use hallmark_signer::keyref::{self, KeyRef};
use serde_json::json;

use crate::cli::{GenerateArgs, KeyCommand, ListArgs, VerifyAttestationArgs};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(cmd: KeyCommand, out: &Output) -> CmdResult {
    match cmd {
        KeyCommand::Generate(args) => generate(args, out),
        KeyCommand::Show(args) => super::interop::show(args, out),
        KeyCommand::List(args) => list(args, out),
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
        Some(text) => Some(ExpectedKey::Ed25519(
            *parse_public_key(text)?.verifying_key(),
        )),
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
                out.json(
                    &json!({ "holds": false, "error": err.code(), "reason": err.to_string() }),
                );
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
        KeyRef::Pkcs11(uri) => {
            let options = pkcs11::LoginOptions::new()
                .allow_final_pin_try(args.passphrase.allow_final_pin_try);
            let generated = pkcs11::generate_with(uri, &options, &ui)?;
            let key = PublicKey::new(generated.verifying_key);
            let reference = KeyRef::Pkcs11(generated.uri);
            report_generated(&reference, &key, &[], out);
            out.note("The private key was generated inside the token and cannot be exported.");
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
        if let KeyRef::Pkcs11(_) = reference {
            println!("  sign with:  hallmark sign --key '{reference}' …");
        }
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
        return keyref::public_key(&reference, &TerminalUi).map_err(Failure::from);
    }
    filekey::read_public_key_file(Path::new(text)).map_err(|e| {
        Failure::usage(e).with_hint(
            "give a public key as ed25519:<base64>, file:KEY (reads KEY.pub) or a .pub file",
        )
    })
}

fn list(args: ListArgs, out: &Output) -> CmdResult {
    let mut uris: Vec<pkcs11::Pkcs11Uri> = Vec::new();
    for text in &args.modules {
        let uri = if text.starts_with("pkcs11:") {
            text.parse().map_err(Failure::usage)?
        } else {
            let mut uri = pkcs11::Pkcs11Uri::new();
            uri.set_module_path(Some(text.into()))
                .map_err(Failure::usage)?;
            uri
        };
        uris.push(uri);
    }
    if uris.is_empty() {
        if std::env::var_os(pkcs11::MODULE_ENV).is_none() {
            return Err(Failure::usage(anyhow::anyhow!(
                "no PKCS#11 module to list: give a module path or URI, or set {}",
                pkcs11::MODULE_ENV
            )));
        }
        uris.push(pkcs11::Pkcs11Uri::new());
    }
    let mut reports = Vec::new();
    for uri in &uris {
        reports.extend(pkcs11::list(uri, &TerminalUi)?);
    }
    if out.json {
        out.json(&reports.iter().map(slot_json).collect::<Vec<_>>());
        return Ok(Exit::Success);
    }
    for slot in &reports {
        println!(
            "{} slot {}: {}",
            slot.module.display(),
            slot.slot_id,
            slot.description
        );
        let Some(token) = &slot.token else {
            println!("  (no token)");
            continue;
        };
        println!(
            "  token {:?}  model {}  manufacturer {}  serial {}",
            token.label, token.model, token.manufacturer, token.serial
        );
        println!("  flags {}", token.flags);
        if !token.flags.initialized {
            println!("  (not initialized)");
            continue;
        }
        if !token.ed25519 {
            println!("  this token does not offer Ed25519 (see docs/hardware/pkcs11.md)");
        }
        if let Some(problem) = &token.keys_error {
            println!("  keys could not be listed: {problem}");
        }
        if token.keys.is_empty() && token.keys_error.is_none() {
            println!(
                "  no Ed25519 keys{}",
                if token.logged_in {
                    ""
                } else {
                    " visible without logging in"
                }
            );
        }
        for key in &token.keys {
            match &key.verifying_key {
                Some(vk) => {
                    let public = PublicKey::new(*vk);
                    println!("  key {}  id {}", public.key_id().short(), key.id_hex());
                    println!("    {public}");
                }
                None => println!(
                    "  key id {} ({})",
                    key.id_hex(),
                    key.problem.as_deref().unwrap_or("unreadable")
                ),
            }
            println!("    {}", key.uri);
        }
    }
    Ok(Exit::Success)
}

fn slot_json(slot: &pkcs11::SlotReport) -> serde_json::Value {
    json!({
        "module": slot.module.display().to_string(),
        "slot_id": slot.slot_id,
        "description": slot.description,
        "token": slot.token.as_ref().map(|t| json!({
            "label": t.label,
            "model": t.model,
            "manufacturer": t.manufacturer,
            "serial": t.serial,
            "flags": t.flags.to_string(),
            "ed25519": t.ed25519,
            "logged_in": t.logged_in,
            "keys_error": t.keys_error,
            "keys": t.keys.iter().map(|k| json!({
                "label": k.label,
                "cka_id": k.id_hex(),
                "public_key": k.verifying_key.map(|v| PublicKey::new(v).to_string()),
                "key_id": k.verifying_key.map(|v| PublicKey::new(v).key_id().to_string()),
                "uri": k.uri,
            })).collect::<Vec<_>>(),
        })),
    })
}
