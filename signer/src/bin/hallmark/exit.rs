//! Exit codes and how errors map to them.

use std::fmt;

pub use hallmark_signer::cmdline::Exit;

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl fmt::Display for Failure {
    /// The error and its causes, `: `-separated; a cause whose text the message already
    /// includes (library errors often say their source inline) is not repeated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hallmark_signer::cmdline::error_text(self.error.as_ref()))
    }
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            exit: Exit::Usage,
            error: error.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Classifies a library error by what it is: device and token failures are hardware errors,
/// everything else is a usage or input error.
pub fn classify(error: anyhow::Error) -> Failure {
    let hardware = error.chain().any(is_hardware);
    Failure {
        exit: if hardware {
            Exit::Hardware
        } else {
            Exit::Usage
        },
        error,
        hint: None,
    }
}

fn is_hardware(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(failure) = error.downcast_ref::<hallmark_signer::keyref::SignerFailure>() {
        return failure.is_hardware();
    }
    if let Some(err) = pkcs11_error(error) {
        return !err.is_usage();
    }
    if let Some(err) = yubikey_error(error) {
        return !err.is_usage();
    }
    if let Some(err) = awskms_error(error) {
        return !err.is_usage();
    }
    false
}

/// The AWS KMS error in one link of an error chain (a batch error carries it as its source).
fn awskms_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hallmark_hsm::awskms::Error> {
    use hallmark_signer::keyref::OpenError;
    match error.downcast_ref::<OpenError>() {
        Some(OpenError::AwsKms(err)) => Some(err),
        _ => error.downcast_ref::<hallmark_hsm::awskms::Error>(),
    }
}

/// The PKCS#11 error in one link of an error chain.
fn pkcs11_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hallmark_hsm::pkcs11::Error> {
    use hallmark_signer::keyref::OpenError;
    // `#[error(transparent)]` variants hide the inner error from the source chain.
    match error.downcast_ref::<OpenError>() {
        Some(OpenError::Pkcs11(err)) => Some(err),
        _ => error.downcast_ref::<hallmark_hsm::pkcs11::Error>(),
    }
}

/// The YubiKey error in one link of an error chain (a batch error carries it as its source).
fn yubikey_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hallmark_hsm::yubikey::Error> {
    use hallmark_signer::keyref::OpenError;
    match error.downcast_ref::<OpenError>() {
        Some(OpenError::YubiKey(err)) => Some(err),
        _ => error.downcast_ref::<hallmark_hsm::yubikey::Error>(),
    }
}

impl Failure {
    /// A stable name for the device error behind this failure, if there is one (YubiKey errors
    /// have one each; see `docs/hardware/yubikey.md`). `--json` output carries it as `code`.
    pub fn code(&self) -> Option<&'static str> {
        self.error
            .chain()
            .find_map(yubikey_error)
            .map(hallmark_hsm::yubikey::Error::code)
    }

    /// The hint to print: the one given, or what to do about a known device error.
    pub fn hint(&self) -> Option<String> {
        if let Some(hint) = &self.hint {
            return Some(hint.clone());
        }
        use hallmark_hsm::{pkcs11, yubikey};
        let chain = || self.error.chain();
        if let Some(hint) = chain().find_map(foreign_key_hint) {
            return Some(hint);
        }
        if chain().any(|e| {
            matches!(yubikey_error(e), Some(yubikey::Error::PinFinalTry { .. }))
                || matches!(pkcs11_error(e), Some(pkcs11::Error::PinFinalTry { .. }))
        }) {
            return Some(
                "once you are sure of the PIN, run the command again with --allow-final-pin-try"
                    .to_owned(),
            );
        }
        use hallmark_hsm::secret::SecretError;
        if let Some(pkcs11::Error::Pin(SecretError::NoTerminal { .. })) =
            chain().find_map(pkcs11_error)
        {
            return Some(
                "name the PIN's source in the URI: pkcs11:…?pin-source=file:PATH (or \
                 pin-source=env:NAME); a file is safer than a variable"
                    .to_owned(),
            );
        }
        if let Some(yubikey::Error::Secret(SecretError::NoTerminal { .. })) =
            chain().find_map(yubikey_error)
        {
            return Some(
                "name the PIN's source in the reference: yubikey:…?pin-source=file:PATH (or \
                 pin-source=env:NAME)"
                    .to_owned(),
            );
        }
        if let Some(err) = chain().find_map(awskms_error) {
            use hallmark_hsm::awskms::Error as Kms;
            return match err {
                Kms::KeyNotFound { .. } => Some(
                    "`hallmark key list awskms:?region=REGION` shows the Ed25519 keys a region's \
                     aliases name"
                        .to_owned(),
                ),
                Kms::AccessDenied { permission, .. } => Some(format!(
                    "docs/hardware/aws-kms.md has least-privilege policies that grant {permission}"
                )),
                _ => None,
            };
        }
        match chain().find_map(yubikey_error)? {
            yubikey::Error::NoDevice { .. } => {
                Some("`hallmark key list` shows the YubiKeys this machine sees".to_owned())
            }
            yubikey::Error::SeveralDevices { .. } => Some(
                "`hallmark key list` shows each YubiKey's serial and the keys it holds".to_owned(),
            ),
            yubikey::Error::SlotEmpty { .. } | yubikey::Error::KeyMismatch { .. } => {
                Some("`hallmark key list` shows the keys each connected YubiKey holds".to_owned())
            }
            yubikey::Error::ManagementKeyRejected { .. }
            | yubikey::Error::ManagementKeyRequired { .. } => Some(
                "name the management key's source in the reference: \
                 yubikey:…?management-key-source=prompt (or file:PATH, env:NAME)"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// For a private key of another tool given where a Hallmark key was expected (`--key
/// file:id_ed25519`, or the bare path `--key minisign.key`): what it is and how to import it.
fn foreign_key_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use hallmark_signer::filekey::FileKeyError;
    use hallmark_signer::keyref::{KeyRefError, OpenError};
    let import = |path: &std::path::Path| {
        let shown = path.display();
        format!("import it with `hallmark key import {shown} --out file:{shown}.hallmark`")
    };
    let file_error = match error.downcast_ref::<OpenError>() {
        Some(OpenError::File(err)) => Some(err),
        _ => error.downcast_ref::<FileKeyError>(),
    };
    if let Some(FileKeyError::ForeignKey { path, .. }) = file_error {
        return Some(import(path));
    }
    if let Some(KeyRefError::BarePath(text)) = error.downcast_ref::<KeyRefError>() {
        let path = std::path::Path::new(text);
        let bytes = hallmark_keyring::fsutil::read_bounded(
            path,
            hallmark_signer::foreignkey::MAX_FOREIGN_KEY_FILE,
        )
        .ok()?;
        let format = hallmark_signer::foreignkey::sniff(&bytes)?;
        return Some(format!(
            "{text} is {}, not a Hallmark key: {}",
            format.describe(),
            import(path)
        ));
    }
    None
}

pub type CmdResult = Result<Exit, Failure>;

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        classify(error.into())
    }
}
