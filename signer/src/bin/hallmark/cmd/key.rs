//! `hallmark key …`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hallmark_hsm::attestation::{self, ExpectedKey, TrustRoots};
use hallmark_hsm::awskms;
use hallmark_hsm::interact::Interaction;
use hallmark_hsm::pkcs11;
use hallmark_hsm::secret::{Secret, SecretSource};
use hallmark_hsm::yubikey::{self, GenerateOptions, PinPolicy, TouchPolicy};
use hallmark_keyring::PublicKey;
use hallmark_signer::filekey::{self, Protection};
use hallmark_signer::keyref::{self, KeyRef, PublicKeyArg};
use serde_json::json;

use crate::cli::{
    AttestArgs, AttestationTrustArgs, GenerateArgs, KeyCommand, ListArgs, NewProtectionArgs,
    PasswdArgs, PinPolicyArg, TouchPolicyArg, VerifyAttestationArgs, YubiKeySlotArgs,
};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(cmd: KeyCommand, out: &Output) -> CmdResult {
    match cmd {
        KeyCommand::Generate(args) => generate(args, out),
        KeyCommand::Show(args) => super::interop::show(args, out),
        KeyCommand::Passwd(args) => passwd(args, out),
        KeyCommand::Import(args) => super::keyio::import(args, out),
        KeyCommand::Export(args) => super::keyio::export(args, out),
        KeyCommand::List(args) => list(args, out),
        KeyCommand::Attest(args) => attest(args, out),
        KeyCommand::VerifyAttestation(args) => verify_attestation(args, out),
    }
}

/// Yubico's attestation roots, plus the roots and intermediates the flags name.
pub fn trust_roots(roots: &[PathBuf], intermediates: &[PathBuf]) -> Result<TrustRoots, Failure> {
    let mut trust = TrustRoots::yubico();
    for path in roots {
        let pem = read_input(path, "root certificate")?;
        trust = trust
            .with_extra_root(&pem)
            .with_context(|| format!("root certificate {}", path.display()))
            .map_err(Failure::usage)?;
    }
    for path in intermediates {
        let pem = read_input(path, "intermediate certificate")?;
        trust = trust
            .with_extra_intermediate(&pem)
            .with_context(|| format!("intermediate certificate {}", path.display()))
            .map_err(Failure::usage)?;
    }
    Ok(trust)
}

fn trust_from_args(args: &AttestationTrustArgs) -> Result<TrustRoots, Failure> {
    trust_roots(&args.roots, &args.intermediates)
}

/// A YubiKey's facts as a JSON object, with camelCase names (`pinPolicy`).
pub(super) fn facts_json(info: &yubikey::DeviceInfo) -> serde_json::Value {
    keyref::yubikey_facts(info)
        .into_iter()
        .map(|(k, v)| (camel_case(&k), serde_json::Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `pin_policy` as `pinPolicy`.
fn camel_case(name: &str) -> String {
    let mut parts = name.split('_');
    let mut text = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            text.extend(first.to_uppercase());
            text.push_str(chars.as_str());
        }
    }
    text
}

/// A DER certificate as PEM, with 64-character lines as OpenSSL writes it.
pub(super) fn certificate_pem(der: &[u8]) -> String {
    let body = hallmark_keyring::encoding::base64_encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Prints a verified attestation's report, or why it does not hold (exit 1), as the document
/// of `command`.
fn report_attestation(
    command: &str,
    result: Result<attestation::AttestationReport, attestation::AttestationError>,
    extra: serde_json::Value,
    out: &Output,
) -> CmdResult {
    match result {
        Ok(report) => {
            if out.json {
                let mut value = json!({
                    "verdict": "holds",
                    "reason": null,
                    "message": hallmark_signer::attest::summary(&report),
                    "report": report,
                    "exitCode": Exit::Success.code(),
                });
                merge(&mut value, extra);
                out.json(command, &value);
            } else {
                outln!("{report}");
            }
            Ok(Exit::Success)
        }
        Err(err) => {
            if err.is_input_error() {
                return Err(Failure::usage(err));
            }
            if out.json {
                let mut value = json!({
                    "verdict": "does-not-hold",
                    "reason": err.code(),
                    "message": err.to_string(),
                    "report": null,
                    "exitCode": Exit::Refused.code(),
                });
                merge(&mut value, extra);
                out.json(command, &value);
            } else {
                outln!("attestation does not hold: {err}");
            }
            Ok(Exit::Refused)
        }
    }
}

fn merge(value: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
}

fn attest(args: AttestArgs, out: &Output) -> CmdResult {
    let reference: KeyRef = args.key.parse().map_err(Failure::usage)?;
    let KeyRef::YubiKey(yk) = &reference else {
        return Err(Failure::usage(anyhow::anyhow!(
            "{reference} is not a YubiKey key: only keys generated on a YubiKey can be attested \
             (give yubikey:serial=…;slot=…)"
        )));
    };
    let trust = trust_from_args(&args.trust)?;
    let slot = yk.slot();
    let key_path = args.out_dir.join(format!("attestation-{slot}.pem"));
    let device_path = args.out_dir.join("f9.pem");
    for path in [&key_path, &device_path] {
        if hallmark_keyring::fsutil::exists_no_follow(path) {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} already exists; refusing to overwrite it (choose another --out-dir)",
                path.display()
            )));
        }
    }
    let exported = yubikey::attest(yk)?;
    hallmark_keyring::fsutil::create_dir_all(&args.out_dir, hallmark_keyring::fsutil::DIR_MODE)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))
        .map_err(Failure::usage)?;
    for (path, der) in [
        (&key_path, &exported.key_certificate_der),
        (&device_path, &exported.device_certificate_der),
    ] {
        hallmark_keyring::fsutil::write_new(path, certificate_pem(der).as_bytes(), 0o644)
            .map_err(Failure::usage)?;
    }
    let info = &exported.device;
    if !out.json {
        outln!(
            "YubiKey {} (firmware {}) slot {}: wrote {} (per-key attestation) and {} (device \
             certificate, F9)",
            info.serial,
            info.firmware,
            slot,
            key_path.display(),
            device_path.display()
        );
    }
    // The slot's own key, read from its metadata, is the key the attestation must name.
    let expected = PublicKey::new(exported.public_key);
    let result = attestation::verify(
        &exported.device_certificate_der,
        &exported.key_certificate_der,
        &trust,
        Some(&ExpectedKey::Ed25519(*expected.verifying_key())),
    );
    let extra = json!({
        "reference": yubikey_key_reference(info.serial, slot),
        "publicKey": expected.to_string(),
        "keyId": expected.key_id().to_string(),
        "files": {
            "keyCertificate": key_path.display().to_string(),
            "deviceCertificate": device_path.display().to_string(),
        },
        "device": facts_json(info),
    });
    report_attestation("key.attest", result, extra, out)
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
    let roots = trust_from_args(&args.trust)?;
    report_attestation(
        "key.verify-attestation",
        attestation::verify(&device, &key_cert, &roots, expected.as_ref()),
        json!({}),
        out,
    )
}

fn read_recipients(args: &GenerateArgs) -> Result<Vec<age::x25519::Recipient>, Failure> {
    parse_recipients(&args.recipients, args.recipients_file.as_deref())
}

pub(super) fn parse_recipients(
    recipients: &[String],
    recipients_file: Option<&Path>,
) -> Result<Vec<age::x25519::Recipient>, Failure> {
    let mut texts: Vec<(String, String)> = recipients
        .iter()
        .map(|r| (r.clone(), "--recipient".to_owned()))
        .collect();
    if let Some(file) = recipients_file {
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
    if !matches!(reference, KeyRef::YubiKey(_)) {
        for (given, flag) in [
            (args.slot.pin_policy.is_some(), "--pin-policy"),
            (args.slot.touch_policy.is_some(), "--touch-policy"),
            (args.slot.subject.is_some(), "--subject"),
            (args.slot.force, "--force"),
        ] {
            if given {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{flag} applies to keys generated on a YubiKey (--out yubikey:…), not to \
                     {reference}"
                )));
            }
        }
    }
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
        KeyRef::YubiKey(yk) => generate_yubikey(&args, yk, &ui, out)?,
        KeyRef::AwsKms(reference) => generate_awskms(&args, reference, out)?,
    }
    Ok(Exit::Success)
}

fn generate_awskms(
    args: &GenerateArgs,
    reference: &awskms::AwsKmsRef,
    out: &Output,
) -> Result<(), Failure> {
    if !args.recipients.is_empty()
        || args.recipients_file.is_some()
        || args.work_factor.is_some()
        || args.passphrase.passphrase_file.is_some()
        || args.passphrase.passphrase_env.is_some()
    {
        return Err(Failure::usage(anyhow::anyhow!(
            "passphrases, age recipients and work factors apply to key files; an AWS KMS key is \
             protected by IAM and the key policy"
        )));
    }
    let generated = awskms::generate(reference)?;
    let key = PublicKey::new(generated.verifying_key);
    let named = KeyRef::AwsKms(generated.reference.clone());
    if out.json {
        let device = json!({
            "arn": generated.arn,
            "region": generated.region,
            "keySpec": "ECC_NIST_EDWARDS25519",
        });
        out.json(
            "key.generate",
            &generated_json(&named, &key, &[], device, None),
        );
    } else {
        report_generated(&named, &key, &[], out);
        outln!(
            "  AWS KMS:    {} (ECC_NIST_EDWARDS25519, SIGN_VERIFY)",
            generated.arn
        );
    }
    out.note(
        "The private key was created inside AWS KMS and cannot be exported: pre-commit a next key \
         (another KMS key, a token or a YubiKey) in a ceremony; KMS key rotation does not apply \
         to asymmetric keys (see docs/hardware/aws-kms.md).",
    );
    Ok(())
}

fn generate_yubikey(
    args: &GenerateArgs,
    yk: &yubikey::YubiKeyRef,
    ui: &dyn Interaction,
    out: &Output,
) -> Result<(), Failure> {
    if !args.recipients.is_empty()
        || args.recipients_file.is_some()
        || args.work_factor.is_some()
        || args.passphrase.passphrase_file.is_some()
        || args.passphrase.passphrase_env.is_some()
    {
        return Err(Failure::usage(anyhow::anyhow!(
            "passphrases, age recipients and work factors apply to key files; a YubiKey key is \
             protected by the YubiKey's PIN (pin-source= in the reference)"
        )));
    }
    let options = yubikey_options(&args.slot, args.passphrase.allow_final_pin_try, ui);
    let generated = yubikey::generate(yk, &options, ui)?;
    let info = &generated.device;
    let key = PublicKey::new(generated.verifying_key);
    // The reference to sign with names the YubiKey by serial, so it stays right when another
    // YubiKey is plugged in, and keeps where the PIN comes from.
    let mut named = yubikey::YubiKeyRef::new(info.slot).with_serial(info.serial);
    if let Some(source) = yk.pin_source() {
        named = named.with_pin_source(source.clone());
    }
    let reference = KeyRef::YubiKey(named);
    let certificate = certificate_pem(&generated.certificate_der);
    if out.json {
        out.json(
            "key.generate",
            &generated_json(&reference, &key, &[], facts_json(info), Some(certificate)),
        );
    } else {
        report_generated(&reference, &key, &[], out);
        outln!(
            "  YubiKey:    serial {}, firmware {}, slot {}",
            info.serial,
            info.firmware,
            info.slot
        );
        outln!(
            "  policies:   PIN {}, touch {} (fixed for the life of the key)",
            info.pin_policy,
            info.touch_policy
        );
        outln!(
            "  cert:       self-signed X.509, written to slot {}",
            info.slot
        );
        outln!(
            "  attest:     hallmark key attest '{}'",
            yubikey_key_reference(info.serial, info.slot)
        );
    }
    out.note(
        "The private key was generated inside the YubiKey and cannot be exported or backed up: \
         pre-commit a next key on a second device (see docs/ceremony.md).",
    );
    Ok(())
}

/// The options of a key made in a YubiKey slot (generated or imported), warning about
/// policies that let anyone holding the YubiKey sign.
pub(super) fn yubikey_options(
    slot: &YubiKeySlotArgs,
    allow_final_pin_try: bool,
    ui: &dyn Interaction,
) -> GenerateOptions {
    let pin_policy = match slot.pin_policy.unwrap_or(PinPolicyArg::Once) {
        PinPolicyArg::Never => PinPolicy::Never,
        PinPolicyArg::Once => PinPolicy::Once,
        PinPolicyArg::Always => PinPolicy::Always,
    };
    let touch_policy = match slot.touch_policy.unwrap_or(TouchPolicyArg::Always) {
        TouchPolicyArg::Never => TouchPolicy::Never,
        TouchPolicyArg::Always => TouchPolicy::Always,
        TouchPolicyArg::Cached => TouchPolicy::Cached,
    };
    if pin_policy == PinPolicy::Never && touch_policy == TouchPolicy::Never {
        ui.warn(
            "PIN policy never and touch policy never: whoever (or whatever program) holds this \
             YubiKey can sign with the key; not advisable for a release key",
        );
    }
    let mut options =
        GenerateOptions::new(pin_policy, touch_policy).allowing_final_pin_try(allow_final_pin_try);
    if let Some(subject) = &slot.subject {
        options = options.with_subject(subject.clone());
    }
    if slot.force {
        options = options.replacing_existing();
    }
    options
}

/// The document `hallmark.key.generate/v1` of a key made: its reference and public key, the
/// files written, and what its device reports (`null` for a key file or a token).
fn generated_json(
    reference: &KeyRef,
    key: &PublicKey,
    files: &[&Path],
    device: serde_json::Value,
    certificate: Option<String>,
) -> serde_json::Value {
    json!({
        "reference": reference.to_string(),
        "publicKey": key.to_string(),
        "keyId": key.key_id().to_string(),
        "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "device": device,
        "certificate": certificate,
    })
}

pub(super) fn report_generated(reference: &KeyRef, key: &PublicKey, files: &[&Path], out: &Output) {
    if out.json {
        let document = generated_json(reference, key, files, serde_json::Value::Null, None);
        out.json("key.generate", &document);
    } else {
        outln!("created {reference}");
        outln!("  public key: {key}");
        outln!("  key id:     {}", key.key_id());
        if let KeyRef::Pkcs11(_) | KeyRef::YubiKey(_) | KeyRef::AwsKms(_) = reference {
            outln!("  sign with:  hallmark sign --key '{reference}' …");
        }
        for file in files {
            outln!("  wrote       {}", file.display());
        }
    }
}

/// Reads a public key given as `ed25519:…`, a key reference, or a public key file.
pub fn parse_public_key(text: &str) -> Result<PublicKey, Failure> {
    match keyref::parse_public_key_arg(text) {
        Ok(PublicKeyArg::Key(key)) => Ok(key),
        Ok(PublicKeyArg::Device(reference)) => {
            keyref::public_key(&reference, &TerminalUi).map_err(Failure::from)
        }
        Err(e) => {
            let hint = e.hint();
            let failure = Failure::usage(e);
            Err(match hint {
                Some(hint) => failure.with_hint(hint),
                None => failure,
            })
        }
    }
}

/// `awskms:` or `awskms:?region=REGION` as a place to list: the region, if one is given.
fn awskms_location(text: &str) -> Result<Option<String>, Failure> {
    let rest = text.strip_prefix(awskms::SCHEME).unwrap_or_default();
    let bad = || {
        Failure::usage(anyhow::anyhow!(
            "{text:?}: to list AWS KMS keys give awskms: (the region of the AWS chain) or \
             awskms:?region=REGION"
        ))
    };
    match rest {
        "" => Ok(None),
        _ => match rest.strip_prefix("?region=") {
            Some(region) if awskms::is_region(region) => Ok(Some(region.to_owned())),
            _ => Err(bad()),
        },
    }
}

fn list(args: ListArgs, out: &Output) -> CmdResult {
    let mut uris: Vec<pkcs11::Pkcs11Uri> = Vec::new();
    let mut kms_regions: Vec<Option<String>> = Vec::new();
    for text in &args.modules {
        if text.starts_with(awskms::SCHEME) {
            kms_regions.push(awskms_location(text)?);
            continue;
        }
        let uri = if text.starts_with("pkcs11:") {
            text.parse().map_err(Failure::usage)?
        } else if !std::path::Path::new(text).is_absolute() {
            // Not repeated as given: a mistyped reference may carry a PIN.
            return Err(Failure::usage(anyhow::anyhow!(
                "{}: not a PKCS#11 URI (pkcs11:…) nor an absolute path to a PKCS#11 module",
                hallmark_signer::keyref::redacted(text)
            ))
            .with_hint("`hallmark key list --yubikeys` lists the keys of connected YubiKeys"));
        } else {
            let mut uri = pkcs11::Pkcs11Uri::new();
            uri.set_module_path(Some(text.into()))
                .map_err(Failure::usage)?;
            uri
        };
        uris.push(uri);
    }
    // Named modules are an explicit request: YubiKeys are added only when asked for, because
    // listing selects every card's PIV application (which ends other programs' PIN sessions).
    let want_yubikeys = args.modules.is_empty() || args.yubikeys;
    let mut listings = Vec::new();
    for region in &kms_regions {
        listings.push(awskms::list(region.as_deref())?);
    }
    if uris.is_empty() && std::env::var_os(pkcs11::MODULE_ENV).is_some() {
        uris.push(pkcs11::Pkcs11Uri::new());
    }
    if args.remove_orphans {
        remove_orphans(&uris, out)?;
    }
    let mut reports = Vec::new();
    for uri in &uris {
        reports.extend(pkcs11::list(uri, &TerminalUi)?);
    }
    let (yubikeys, yubikey_problem) = if want_yubikeys {
        match yubikey::list() {
            Ok(list) => (list, None),
            // Nothing else was asked for: the failure is the command's.
            Err(err) if uris.is_empty() => return Err(err.into()),
            Err(err) => (Vec::new(), Some(err.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    if out.json {
        out.json(
            "key.list",
            &json!({
                "pkcs11": reports.iter().map(slot_json).collect::<Vec<_>>(),
                "yubikeys": yubikeys.iter().map(yubikey_json).collect::<Vec<_>>(),
                "yubikeysError": yubikey_problem,
                "awskms": listings.iter().map(awskms_json).collect::<Vec<_>>(),
            }),
        );
        return Ok(Exit::Success);
    }
    for slot in &reports {
        print_slot(slot);
    }
    for listing in &listings {
        print_awskms(listing);
    }
    if want_yubikeys {
        if let Some(problem) = &yubikey_problem {
            outln!("YubiKeys could not be listed: {problem}");
        } else if yubikeys.is_empty() {
            outln!("no YubiKey connected");
        }
        for device in &yubikeys {
            print_yubikey(device);
        }
    }
    if uris.is_empty() && kms_regions.is_empty() {
        out.note(&format!(
            "(PKCS#11 tokens are listed for the modules given as arguments, or for {})",
            pkcs11::MODULE_ENV
        ));
    }
    Ok(Exit::Success)
}

fn print_awskms(listing: &awskms::Listing) {
    outln!("AWS KMS {} ({})", listing.region, listing.endpoint);
    if listing.keys.is_empty() {
        outln!(
            "  no aliases name Ed25519 signing keys; create one with `hallmark key generate \
             --out awskms:alias/NAME?region={}`",
            listing.region
        );
    }
    for key in &listing.keys {
        let tag = match key.hallmark_tag {
            Some(true) => ", tagged by Hallmark",
            Some(false) => "",
            None => ", tags unreadable",
        };
        match &key.verifying_key {
            Some(vk) => {
                let public = PublicKey::new(*vk);
                outln!("  {}  key {}{tag}", key.alias, public.key_id().short());
                outln!("    {public}");
            }
            None => outln!("  {}  key id {}{tag}", key.alias, key.key_id),
        }
        if let Some(problem) = &key.problem {
            outln!("    cannot sign: {problem}");
        }
        outln!("    {}", key.reference);
    }
}

fn awskms_json(listing: &awskms::Listing) -> serde_json::Value {
    json!({
        "region": listing.region,
        "endpoint": listing.endpoint,
        "keys": listing.keys.iter().map(|k| json!({
            "alias": k.alias,
            "awsKeyId": k.key_id,
            "arn": k.arn,
            "publicKey": k.verifying_key.map(|v| PublicKey::new(v).to_string()),
            "keyId": k.verifying_key.map(|v| PublicKey::new(v).key_id().to_string()),
            "hallmarkTag": k.hallmark_tag,
            "problem": k.problem,
            "reference": k.reference.to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// `key list --remove-orphans`: removes (or finishes) what interrupted key generations left on
/// each token the URIs name, and says what it did.
fn remove_orphans(uris: &[pkcs11::Pkcs11Uri], out: &Output) -> Result<(), Failure> {
    if uris.is_empty() || uris.iter().any(|u| u.pin_source_text().is_none()) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--remove-orphans needs a pkcs11: URI with token= and pin-source= for each token: \
             private keys are visible, and objects removable, only when logged in"
        )));
    }
    for uri in uris {
        for action in pkcs11::remove_orphans(uri, &TerminalUi)? {
            if out.json {
                continue;
            }
            match action {
                pkcs11::OrphanAction::Removed { uri, reason } => {
                    errln!("removed {uri}: {reason}");
                }
                pkcs11::OrphanAction::Finished { uri } => {
                    errln!("finished {uri}: its public key now has its label");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn print_slot(slot: &pkcs11::SlotReport) {
    outln!(
        "{} slot {}: {}",
        slot.module.display(),
        slot.slot_id,
        slot.description
    );
    let Some(token) = &slot.token else {
        outln!("  (no token)");
        return;
    };
    outln!(
        "  token {:?}  model {}  manufacturer {}  serial {}",
        token.label,
        token.model,
        token.manufacturer,
        token.serial
    );
    outln!("  flags {}", token.flags);
    if !token.flags.initialized {
        outln!("  (not initialized)");
        return;
    }
    if !token.ed25519 {
        outln!("  this token does not offer Ed25519 (see docs/hardware/pkcs11.md)");
    }
    if let Some(problem) = &token.keys_error {
        outln!("  keys could not be listed: {problem}");
    }
    if token.keys.is_empty() && token.keys_error.is_none() {
        outln!(
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
                outln!("  key {}  id {}", public.key_id().short(), key.id_hex());
                outln!("    {public}");
            }
            None => outln!(
                "  key id {} ({})",
                key.id_hex(),
                key.problem.as_deref().unwrap_or("unreadable")
            ),
        }
        outln!("    {}", key.uri);
        if let Some(orphan) = &key.orphan {
            outln!("    orphan: {orphan}; remove it with `hallmark key list --remove-orphans URI`");
        }
    }
}

/// The reference naming a YubiKey key by serial and slot, no secret sources.
fn yubikey_key_reference(serial: u32, slot: yubikey::Slot) -> String {
    yubikey::YubiKeyRef::new(slot)
        .with_serial(serial)
        .to_string()
}

fn print_yubikey(device: &yubikey::DeviceReport) {
    outln!(
        "YubiKey {}  firmware {}  reader {:?}",
        device.serial,
        device.firmware,
        device.reader
    );
    if !device.supports_ed25519 {
        outln!(
            "  firmware {} cannot hold Ed25519 keys ({} or later needed)",
            device.firmware,
            yubikey::ED25519_MIN_FIRMWARE
        );
        return;
    }
    if device.keys.is_empty() {
        outln!(
            "  no Ed25519 keys; create one with `hallmark key generate --out \
             yubikey:serial={};slot=9c`",
            device.serial
        );
    }
    for key in &device.keys {
        let public = PublicKey::new(key.verifying_key);
        let origin = key.origin.map(|o| format!(", {o}")).unwrap_or_default();
        outln!(
            "  slot {}  key {}  PIN {}, touch {}{origin}",
            key.slot,
            public.key_id().short(),
            key.pin_policy,
            key.touch_policy
        );
        outln!("    {public}");
        outln!("    {}", yubikey_key_reference(device.serial, key.slot));
    }
}

fn yubikey_json(device: &yubikey::DeviceReport) -> serde_json::Value {
    json!({
        "serial": device.serial,
        "firmware": device.firmware.to_string(),
        "reader": device.reader,
        "ed25519": device.supports_ed25519,
        "keys": device.keys.iter().map(|k| {
            let public = PublicKey::new(k.verifying_key);
            json!({
                "slot": k.slot.to_string(),
                "publicKey": public.to_string(),
                "keyId": public.key_id().to_string(),
                "pinPolicy": k.pin_policy.as_str(),
                "touchPolicy": k.touch_policy.as_str(),
                "origin": k.origin.map(|o| match o {
                    yubikey::KeyOrigin::Generated => "generated",
                    _ => "imported",
                }),
                "reference": yubikey_key_reference(device.serial, k.slot),
            })
        }).collect::<Vec<_>>(),
    })
}

fn slot_json(slot: &pkcs11::SlotReport) -> serde_json::Value {
    json!({
        "module": slot.module.display().to_string(),
        "slotId": slot.slot_id,
        "description": slot.description,
        "token": slot.token.as_ref().map(|t| json!({
            "label": t.label,
            "model": t.model,
            "manufacturer": t.manufacturer,
            "serial": t.serial,
            "flags": t.flags.to_string(),
            "ed25519": t.ed25519,
            "loggedIn": t.logged_in,
            "keysError": t.keys_error,
            "keys": t.keys.iter().map(|k| json!({
                "label": k.label,
                "ckaId": k.id_hex(),
                "publicKey": k.verifying_key.map(|v| PublicKey::new(v).to_string()),
                "keyId": k.verifying_key.map(|v| PublicKey::new(v).key_id().to_string()),
                "uri": k.uri,
                "orphan": k.orphan,
            })).collect::<Vec<_>>(),
        })),
    })
}

/// `hallmark key passwd`: the same key under a new passphrase, or encrypted to age recipients.
fn passwd(args: PasswdArgs, out: &Output) -> CmdResult {
    let reference: KeyRef = args.key.parse().map_err(Failure::usage)?;
    let KeyRef::File(path) = &reference else {
        return Err(Failure::usage(anyhow::anyhow!(
            "{reference}: only key files have a passphrase; a token's or YubiKey's PIN is changed \
             with its own tools (pkcs11-tool --change-pin, ykman piv access change-pin)"
        )));
    };
    let recipients = parse_recipients(&args.new.recipients, args.new.recipients_file.as_deref())?;
    if !recipients.is_empty() && args.new.work_factor.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--work-factor applies to a passphrase, not to age recipients"
        )));
    }
    let ui = TerminalUi;
    // The current protection first: a wrong passphrase is reported before a new one is asked.
    let unlock = keyref::file_unlock(path, &super::unlock_options(&args.passphrase), &ui)?;
    let protection = new_protection(&args.new, recipients, path, &ui)?;
    let escrowed = matches!(protection, Protection::Recipients(_));
    let key = filekey::change_protection(path, &unlock, &protection)?;
    if out.json {
        out.json(
            "key.passwd",
            &json!({
                "key": reference.to_string(),
                "publicKey": key.to_string(),
                "keyId": key.key_id().to_string(),
                "protection": if escrowed { "age-recipients" } else { "passphrase" },
            }),
        );
    } else {
        outln!(
            "re-encrypted {reference} (key id {}) to {}",
            key.key_id(),
            if escrowed {
                "its age recipients"
            } else {
                "the new passphrase"
            }
        );
    }
    Ok(Exit::Success)
}

/// A new key file's protection: age recipients when given, otherwise a new passphrase from
/// the flags or asked twice.
pub(super) fn new_protection(
    args: &NewProtectionArgs,
    recipients: Vec<age::x25519::Recipient>,
    path: &Path,
    ui: &dyn Interaction,
) -> Result<Protection, Failure> {
    if !recipients.is_empty() {
        return Ok(Protection::Recipients(recipients));
    }
    let passphrase = read_new_secret(
        args.new_passphrase_file.as_ref(),
        args.new_passphrase_env.as_ref(),
        &format!("new passphrase for {}", path.display()),
        ui,
    )?;
    Ok(Protection::Passphrase {
        passphrase,
        work_factor: args.work_factor,
    })
}

/// A new secret from the file or environment variable the flags name, or asked twice on the
/// terminal.
pub(super) fn read_new_secret(
    file: Option<&PathBuf>,
    env: Option<&String>,
    what: &str,
    ui: &dyn Interaction,
) -> Result<Secret, Failure> {
    Ok(match (file, env) {
        (Some(file), _) => SecretSource::File(file.clone()).read(what, ui)?,
        (None, Some(name)) => SecretSource::Env(name.clone()).read(what, ui)?,
        (None, None) => ui.request_new_secret(what)?,
    })
}
