//! `hallmark key import` and `hallmark key export`: keys that move in from minisign, OpenSSH
//! or a raw seed, and file keys that move out again.

use std::path::Path;

use hallmark_hsm::interact::Interaction;
use hallmark_hsm::pkcs11;
use hallmark_hsm::secret::{Secret, SecretSource};
use hallmark_hsm::yubikey;
use hallmark_keyring::PublicKey;
use hallmark_keyring::fsutil;
use hallmark_signer::filekey;
use hallmark_signer::foreignkey::{
    self, ExportProtection, ForeignFormat, ForeignKeyFile, MAX_FOREIGN_KEY_FILE, MINISIGN_LOG_N,
};
use hallmark_signer::interop::minisign;
use hallmark_signer::keyref::{self, KeyRef};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{ExportArgs, ExportFormat, ImportArgs};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

fn usage(text: String) -> Failure {
    Failure::usage(anyhow::anyhow!(text))
}

/// The format's name on the command line and in JSON.
fn format_name(format: ForeignFormat) -> &'static str {
    match format {
        ForeignFormat::Minisign => "minisign",
        ForeignFormat::OpenSsh => "openssh",
        _ => "raw",
    }
}

pub fn import(args: ImportArgs, out: &Output) -> CmdResult {
    let reference: KeyRef = args.out.parse().map_err(Failure::usage)?;
    let ui = TerminalUi;
    check_import_flags(&args, &reference)?;
    let bytes = fsutil::read_bounded(&args.file, MAX_FOREIGN_KEY_FILE)
        .map_err(|e| usage(format!("cannot read key file {}: {e}", args.file.display())))?;
    let file = ForeignKeyFile::parse(&bytes)
        .map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
    drop(Zeroizing::new(bytes));
    let passphrase = if file.is_encrypted() {
        let what = format!("passphrase for {}", args.file.display());
        Some(match (&args.passphrase_file, &args.passphrase_env) {
            (Some(path), _) => SecretSource::File(path.clone()).read(&what, &ui)?,
            (None, Some(name)) => SecretSource::Env(name.clone()).read(&what, &ui)?,
            (None, None) => ui.request_secret(&what)?,
        })
    } else {
        None
    };
    let key = file
        .open(passphrase.as_ref())
        .map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
    drop(passphrase);
    let public = key.public_key();
    let seed = Zeroizing::new(key.signing_key().to_bytes());
    let (named, files, device) = match &reference {
        KeyRef::File(path) => {
            let recipients = super::key::parse_recipients(
                &args.new_protection.recipients,
                args.new_protection.recipients_file.as_deref(),
            )?;
            let protection =
                super::key::new_protection(&args.new_protection, recipients, path, &ui)?;
            let written = filekey::write_key_with_id(
                path,
                key.signing_key(),
                &protection,
                key.minisign_key_id(),
            )?;
            (
                reference.clone(),
                vec![written.path, written.pub_path],
                None,
            )
        }
        KeyRef::Pkcs11(uri) => {
            let options = pkcs11::LoginOptions::new().allow_final_pin_try(args.allow_final_pin_try);
            let made = pkcs11::import_with(uri, &seed, &options, &ui)?;
            check_same(&public, &PublicKey::new(made.verifying_key))?;
            (KeyRef::Pkcs11(made.uri), Vec::new(), None)
        }
        KeyRef::YubiKey(yk) => {
            let options = super::key::yubikey_options(&args.slot, args.allow_final_pin_try, &ui);
            let made = yubikey::import(yk, &seed, &options, &ui)?;
            check_same(&public, &PublicKey::new(made.verifying_key))?;
            let info = &made.device;
            let mut named = yubikey::YubiKeyRef::new(info.slot).with_serial(info.serial);
            if let Some(source) = yk.pin_source() {
                named = named.with_pin_source(source.clone());
            }
            (KeyRef::YubiKey(named), Vec::new(), Some(made))
        }
        KeyRef::AwsKms(_) => {
            return Err(usage(
                "AWS KMS does not import Ed25519 keys that Hallmark can use: import into a key \
                 file, a PKCS#11 token or a YubiKey"
                    .to_owned(),
            ));
        }
    };
    drop(seed);
    let minisign_key_id = key.minisign_key_id();
    if out.json {
        let mut value = json!({
            "reference": named.to_string(),
            "publicKey": public.to_string(),
            "keyId": public.key_id().to_string(),
            "format": format_name(key.format()),
            "minisignKeyId": minisign_key_id.as_ref().map(minisign::display_key_id),
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "device": null,
            "certificate": null,
        });
        if let (Some(made), Some(map)) = (&device, value.as_object_mut()) {
            map.insert("device".into(), super::key::facts_json(&made.device));
            map.insert(
                "certificate".into(),
                super::key::certificate_pem(&made.certificate_der).into(),
            );
        }
        out.json("key.import", &value);
    } else {
        outln!(
            "imported {} from {}",
            key.format().describe(),
            args.file.display()
        );
        let paths: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
        super::key::report_generated(&named, &public, &paths, out);
        if let Some(id) = minisign_key_id {
            outln!(
                "  minisign:   key id {} kept: its minisign signatures verify with the original \
                 public key",
                minisign::display_key_id(&id)
            );
        }
    }
    out.note(&match &named {
        KeyRef::File(_) => format!(
            "{} is unchanged: delete it (and its backups) once the new key is in use.",
            args.file.display()
        ),
        _ => format!(
            "The key can no longer be read back from the device; {} still holds it: delete it \
             (and its backups) unless you keep it as the escrowed copy.",
            args.file.display()
        ),
    });
    Ok(Exit::Success)
}

/// Flags that apply to another destination are refused, before any passphrase is asked.
fn check_import_flags(args: &ImportArgs, reference: &KeyRef) -> Result<(), Failure> {
    let file_flags = [
        (
            args.new_protection.new_passphrase_file.is_some(),
            "--new-passphrase-file",
        ),
        (
            args.new_protection.new_passphrase_env.is_some(),
            "--new-passphrase-env",
        ),
        (!args.new_protection.recipients.is_empty(), "--recipient"),
        (
            args.new_protection.recipients_file.is_some(),
            "--recipients-file",
        ),
        (args.new_protection.work_factor.is_some(), "--work-factor"),
    ];
    let yubikey_flags = [
        (args.slot.pin_policy.is_some(), "--pin-policy"),
        (args.slot.touch_policy.is_some(), "--touch-policy"),
        (args.slot.subject.is_some(), "--subject"),
        (args.slot.force, "--force"),
    ];
    let refused = |flags: &[(bool, &'static str)], applies: &str| {
        flags.iter().find(|(given, _)| *given).map(|(_, flag)| {
            usage(format!(
                "{flag} applies to {applies}, not to {}",
                keyref::redacted(&args.out)
            ))
        })
    };
    let error = match reference {
        KeyRef::File(_) => refused(&yubikey_flags, "imports into a YubiKey (--out yubikey:…)"),
        KeyRef::YubiKey(_) => refused(&file_flags, "imports into a key file (--out file:…)"),
        _ => refused(&file_flags, "imports into a key file (--out file:…)")
            .or_else(|| refused(&yubikey_flags, "imports into a YubiKey (--out yubikey:…)")),
    };
    if args.new_protection.work_factor.is_some() && !args.new_protection.recipients.is_empty() {
        return Err(usage(
            "--work-factor applies to a passphrase, not to age recipients".to_owned(),
        ));
    }
    error.map_or(Ok(()), Err)
}

fn check_same(expected: &PublicKey, made: &PublicKey) -> Result<(), Failure> {
    if expected == made {
        Ok(())
    } else {
        Err(Failure {
            exit: Exit::Hardware,
            error: anyhow::anyhow!(
                "the device reports the public key {made} for the imported key, not {expected}"
            ),
            hint: None,
        })
    }
}

pub fn export(args: ExportArgs, out: &Output) -> CmdResult {
    let reference: KeyRef = args.key.parse().map_err(Failure::usage)?;
    let path = match &reference {
        KeyRef::File(path) => path.clone(),
        other => {
            let device = match other {
                KeyRef::Pkcs11(_) => "a PKCS#11 token",
                KeyRef::YubiKey(_) => "a YubiKey",
                _ => "AWS KMS",
            };
            return Err(Failure {
                exit: Exit::NotExportable,
                error: anyhow::anyhow!(
                    "{other} is a key in {device}: it never leaves the device, so it cannot be \
                     exported"
                ),
                hint: Some(
                    "to keep signing when the device is lost, pre-commit a next key in a \
                     ceremony (docs/ceremony.md); only file keys (file:PATH) can be exported"
                        .to_owned(),
                ),
            });
        }
    };
    let format = match args.format {
        ExportFormat::Minisign => ForeignFormat::Minisign,
        ExportFormat::Openssh => ForeignFormat::OpenSsh,
        ExportFormat::Raw => ForeignFormat::RawSeed,
    };
    let encrypt = format != ForeignFormat::RawSeed && !args.no_passphrase;
    if format == ForeignFormat::RawSeed
        && (args.new_passphrase_file.is_some() || args.new_passphrase_env.is_some())
    {
        return Err(usage(
            "a raw seed is written unencrypted; a new passphrase applies to --format minisign \
             or openssh"
                .to_owned(),
        ));
    }
    if args.work_factor.is_some() && !(format == ForeignFormat::Minisign && encrypt) {
        return Err(usage(
            "--work-factor applies to an encrypted minisign export".to_owned(),
        ));
    }
    if args.comment.is_some() && format != ForeignFormat::OpenSsh {
        return Err(usage("--comment applies to --format openssh".to_owned()));
    }
    if fsutil::exists_no_follow(&args.out) {
        return Err(usage(format!(
            "{} already exists; Hallmark never overwrites a key file",
            args.out.display()
        )));
    }
    let ui = TerminalUi;
    let key = filekey::FileKey::unlock(
        &path,
        &keyref::file_unlock(&path, &super::unlock_options(&args.passphrase), &ui)?,
    )?;
    if !args.yes {
        let question = format!(
            "Write the secret key of {reference} (key id {}) unprotected by Hallmark to {} as {}?",
            key.public_key().key_id(),
            args.out.display(),
            format.describe()
        );
        let confirmed = ui.confirm(&question).map_err(|()| {
            usage(
                "exporting a secret key needs a confirmation, and there is no terminal to ask \
                 on: give --yes to confirm from a script"
                    .to_owned(),
            )
        })?;
        if !confirmed {
            return Err(usage("export cancelled; nothing was written".to_owned()));
        }
    }
    let new_passphrase: Option<Secret> = if encrypt {
        Some(super::key::read_new_secret(
            args.new_passphrase_file.as_ref(),
            args.new_passphrase_env.as_ref(),
            &format!("passphrase for the exported {}", args.out.display()),
            &ui,
        )?)
    } else {
        None
    };
    let protection = match &new_passphrase {
        Some(passphrase) => ExportProtection::Passphrase {
            passphrase,
            log_n: args.work_factor.unwrap_or(MINISIGN_LOG_N),
        },
        None => ExportProtection::None,
    };
    let public = key.public_key();
    let minisign_key_id = key
        .minisign_key_id()
        .unwrap_or_else(|| minisign::key_id_for(&public));
    let comment = args
        .comment
        .clone()
        .unwrap_or_else(|| reference.to_string());
    let bytes = foreignkey::export(
        key.signing_key(),
        format,
        &protection,
        minisign_key_id,
        &comment,
    )
    .map_err(Failure::usage)?;
    fsutil::write_new(&args.out, &bytes, 0o600).map_err(Failure::usage)?;
    if out.json {
        out.json(
            "key.export",
            &json!({
                "reference": reference.to_string(),
                "publicKey": public.to_string(),
                "keyId": public.key_id().to_string(),
                "format": format_name(format),
                "encrypted": new_passphrase.is_some(),
                "minisignKeyId": (format == ForeignFormat::Minisign)
                    .then(|| minisign::display_key_id(&minisign_key_id)),
                "files": [args.out.display().to_string()],
            }),
        );
    } else {
        outln!(
            "exported {reference} (key id {}) to {} as {}{}",
            public.key_id(),
            args.out.display(),
            format.describe(),
            if new_passphrase.is_some() {
                ", encrypted to the new passphrase"
            } else {
                ", unencrypted"
            }
        );
    }
    out.note(&format!(
        "{} holds the secret key: keep it as safe as the key itself, and delete it when done.",
        args.out.display()
    ));
    Ok(Exit::Success)
}
