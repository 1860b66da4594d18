//! Key references: one string that names a key wherever it lives, resolved to a signer in one
//! place.
//!
//! | reference | backend |
//! | --- | --- |
//! | `file:./release.key` | an age-encrypted key file ([`crate::filekey`]) |
//! | `pkcs11:token=ci;object=release?pin-source=env:PIN` | a key in a PKCS#11 token (RFC 7512, [`hallmark_hsm::pkcs11`]) |
//! | `yubikey:serial=12345678;slot=9c?pin-source=env:PIN` | a key in a YubiKey PIV slot ([`hallmark_hsm::yubikey`]) |
//! | `awskms:alias/release?region=eu-west-1` | a key in AWS KMS ([`hallmark_hsm::awskms`]); credentials from the standard AWS chain |
//!
//! Secrets — passphrases, PINs, management keys — never appear in a reference's value on the
//! command line: they come from a prompt, a file or an environment variable (the reference's
//! `pin-source=` / `management-key-source=`, or [`UnlockOptions`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::Signature;
use hallmark_hsm::awskms::{self, AwsKmsRef, AwsKmsSigner};
use hallmark_hsm::interact::Interaction;
use hallmark_hsm::pkcs11::{self, LoginOptions, Pkcs11Signer, Pkcs11Uri, UriError};
use hallmark_hsm::secret::{SecretError, SecretSource};
use hallmark_hsm::yubikey::{self, SignerOptions, YubiKeyRef, YubiKeySigner};
use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::{Ed25519Signer, KeyId, PublicKey};
use serde::Serialize;

use crate::filekey::{self, FileKey, FileKeyError, Unlock};

/// A parsed key reference. Exhaustive on purpose: every command must handle every backend.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `file:PATH` — an age-encrypted key file.
    File(PathBuf),
    /// `pkcs11:…` — a key in a PKCS#11 token (RFC 7512 URI).
    Pkcs11(Pkcs11Uri),
    /// `yubikey:…` — a key in a YubiKey PIV slot.
    YubiKey(YubiKeyRef),
    /// `awskms:…` — a key in AWS KMS.
    AwsKms(AwsKmsRef),
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::File(path) => write!(f, "file:{}", path.display()),
            // The URI's Display never prints a pin-value.
            KeyRef::Pkcs11(uri) => write!(f, "{uri}"),
            // A YubiKey reference names secret sources, never secrets.
            KeyRef::YubiKey(reference) => write!(f, "{reference}"),
            // Names a key and a region, never credentials.
            KeyRef::AwsKms(reference) => write!(f, "{reference}"),
        }
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRef({self})")
    }
}

/// A key reference that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRefError {
    /// A path where a reference was expected (`--key k.key` for `--key file:k.key`).
    #[error("{0:?} is not a key reference: for the key file, write file:{0}")]
    BarePath(String),
    /// Not one of the known schemes.
    #[error(
        "unknown key reference {0:?}: use file:PATH (an age-encrypted key file), \
         pkcs11:token=…;object=… (RFC 7512), yubikey:slot=9c or awskms:alias/NAME (AWS KMS)"
    )]
    UnknownScheme(String),
    /// `file:` without a path.
    #[error("file: key reference without a path; write file:PATH, e.g. file:./release.key")]
    EmptyPath,
    /// A `pkcs11:` URI that does not parse.
    #[error("invalid PKCS#11 URI: {0}")]
    Pkcs11(#[from] UriError),
    /// A `yubikey:` reference that does not parse.
    #[error(transparent)]
    YubiKey(#[from] yubikey::RefError),
    /// An `awskms:` reference that does not parse.
    #[error(transparent)]
    AwsKms(#[from] awskms::RefError),
}

impl FromStr for KeyRef {
    type Err = KeyRefError;

    fn from_str(text: &str) -> Result<Self, KeyRefError> {
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(KeyRefError::EmptyPath);
            }
            return Ok(KeyRef::File(PathBuf::from(path)));
        }
        if text.starts_with("pkcs11:") {
            return Ok(KeyRef::Pkcs11(text.parse()?));
        }
        if text.starts_with("yubikey:") {
            return Ok(KeyRef::YubiKey(text.parse()?));
        }
        if text.starts_with(awskms::SCHEME) {
            return Ok(KeyRef::AwsKms(text.parse()?));
        }
        let shown: String = redacted(text).chars().take(100).collect();
        // Every reference has a scheme; text without a colon is a path.
        if !text.is_empty() && !text.contains(':') {
            return Err(KeyRefError::BarePath(shown));
        }
        Err(KeyRefError::UnknownScheme(shown))
    }
}

/// The schemes of key references.
const SCHEMES: [&str; 4] = ["file:", "pkcs11:", "yubikey:", "awskms:"];

/// Whether `text` starts with a key reference scheme, so that it is meant as a key reference
/// (and an error parsing it is about the reference, not about a file of that name).
pub fn has_scheme(text: &str) -> bool {
    SCHEMES.iter().any(|s| text.starts_with(s))
}

/// Attributes whose values are secrets: never printed, never stored.
const SECRET_ATTRIBUTES: [&str; 3] = ["pin-value", "pin", "management-key"];

/// `text` with the value of every secret attribute (`pin-value=`, `pin=`, `management-key=`)
/// replaced by `<redacted>`: what an error may quote of an argument that did not parse as a
/// key reference. A parsed reference prints itself without secrets ([`KeyRef`]'s `Display`).
pub fn redacted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_start = true;
    loop {
        // One attribute: up to the next separator.
        let end = rest.find([';', '?', '&']).unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        let attribute = if at_start {
            // The first part carries the scheme: `pkcs11:pin-value=…` or `yubikey:pin=…`.
            part.split_once(':').map_or(part, |(_, after)| after)
        } else {
            part
        };
        match attribute.split_once('=') {
            Some((name, _)) if SECRET_ATTRIBUTES.contains(&name.trim()) => {
                out.push_str(&part[..part.len() - attribute.len()]);
                out.push_str(name);
                out.push_str("=<redacted>");
            }
            _ => out.push_str(part),
        }
        at_start = false;
        let mut chars = tail.chars();
        match chars.next() {
            Some(separator) => {
                out.push(separator);
                rest = chars.as_str();
            }
            None => return out,
        }
    }
}

/// Where the secrets needed to unlock keys come from, beyond what a reference says itself
/// (PKCS#11 and YubiKey references name their PIN source in `pin-source=`).
#[derive(Clone, Debug, Default)]
pub struct UnlockOptions {
    /// The passphrase source for passphrase-protected key files; `None` prompts.
    pub passphrase: Option<SecretSource>,
    /// age identity files, for key files encrypted to age recipients.
    pub age_identities: Vec<PathBuf>,
    /// Send a PIN even when the token or YubiKey reports that the next wrong PIN locks it.
    pub allow_final_pin_try: bool,
}

/// What a signer is, for messages, `--json` output and ceremony transcripts. Never holds a
/// secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyDescription {
    /// `file`, `pkcs11`, `yubikey` or `awskms`.
    pub backend: &'static str,
    /// The key reference, with any secret removed.
    pub reference: String,
    /// The public key.
    pub public_key: PublicKey,
    /// Device facts (token label and serial, YubiKey serial and firmware, …), as
    /// `[name, value]` pairs.
    pub device: Vec<(String, String)>,
}

/// A batch signature failed part-way.
#[derive(Debug, thiserror::Error)]
#[error("signed {} of {total} messages, then: {source}", signed.len())]
pub struct BatchError {
    /// The signatures made before the failure, in order.
    pub signed: Vec<Signature>,
    /// How many were asked for.
    pub total: usize,
    /// What failed.
    #[source]
    pub source: SignerFailure,
}

/// Why a signer stopped: the backend's own error, which says what to do. A closed set, so
/// callers can tell device failures from mistakes without inspecting error chains.
#[derive(Debug)]
pub enum SignerFailure {
    /// A PKCS#11 token failed.
    Pkcs11(Box<pkcs11::Error>),
    /// A YubiKey failed.
    YubiKey(Box<yubikey::Error>),
    /// AWS KMS failed.
    AwsKms(Box<awskms::Error>),
    /// A single signature failed: a file key, or a signer signing one message at a time
    /// (its backend's error, if any, is the source).
    Signature(signature::Error),
}

impl SignerFailure {
    /// Whether the device, token or service failed (exit code 4 in the CLI), rather than
    /// something asked of it being wrong (a PIN, a reference; exit code 2).
    pub fn is_hardware(&self) -> bool {
        use std::error::Error as _;
        match self {
            SignerFailure::Pkcs11(e) => !e.is_usage(),
            SignerFailure::YubiKey(e) => !e.is_usage(),
            SignerFailure::AwsKms(e) => !e.is_usage(),
            SignerFailure::Signature(e) => {
                let backend = e.source();
                backend
                    .and_then(|b| b.downcast_ref::<pkcs11::Error>())
                    .is_some_and(|e| !e.is_usage())
                    || backend
                        .and_then(|b| b.downcast_ref::<yubikey::Error>())
                        .is_some_and(|e| !e.is_usage())
                    || backend
                        .and_then(|b| b.downcast_ref::<awskms::Error>())
                        .is_some_and(|e| !e.is_usage())
            }
        }
    }
}

impl fmt::Display for SignerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerFailure::Pkcs11(e) => e.fmt(f),
            SignerFailure::YubiKey(e) => e.fmt(f),
            SignerFailure::AwsKms(e) => e.fmt(f),
            SignerFailure::Signature(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SignerFailure {
    /// The backend's error itself, so that error chains name it once (the text is the same).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(match self {
            SignerFailure::Pkcs11(e) => &**e,
            SignerFailure::YubiKey(e) => &**e,
            SignerFailure::AwsKms(e) => &**e,
            SignerFailure::Signature(e) => e,
        })
    }
}

/// An opened signer of any backend.
pub trait KeyHandle: Ed25519Signer + Send + Sync {
    /// What this signer is.
    fn describe(&self) -> KeyDescription;

    /// The key's hardware attestation — proof, signed by the device's maker, that the key was
    /// generated inside the device — when the backend gives one. File keys and PKCS#11 keys
    /// have none (`Ok(None)`); a YubiKey gives its per-key and F9 certificates. An error says
    /// why a device that could attest did not (e.g. the key was imported).
    fn attestation(&self) -> Result<Option<Attestation>, OpenError> {
        Ok(None)
    }

    /// The private key, for keys that may leave their backend (key files), which custodian
    /// backups split; hardware keys give `None`.
    fn secret_key(&self) -> Option<&ed25519_dalek::SigningKey> {
        None
    }

    /// Verifies now a PIN that opening left for the first signature (a YubiKey whose PIN
    /// policy is "once"), so that a wrong PIN shows before any long work; nothing for other
    /// keys. See [`open_locked`] for why it is a step of its own.
    fn unlock(&self) -> Result<(), OpenError> {
        Ok(())
    }

    /// The 8-byte id minisign knew the key by, for a key imported from minisign; `None` when
    /// the key has none (minisign signatures then use the id derived from the key, see
    /// [`crate::interop::minisign::key_id_for`]).
    fn minisign_key_id(&self) -> Option<[u8; 8]> {
        None
    }

    /// Signs many small messages, calling `progress` after each. Hardware backends override
    /// this to use one session (or a pool) for the whole batch.
    fn sign_batch(
        &self,
        messages: &[&[u8]],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Signature>, BatchError> {
        let mut signed = Vec::with_capacity(messages.len());
        for message in messages {
            match self.try_sign(message) {
                Ok(sig) => signed.push(sig),
                Err(source) => {
                    return Err(BatchError {
                        signed,
                        total: messages.len(),
                        source: SignerFailure::Signature(source),
                    });
                }
            }
            progress(signed.len());
        }
        Ok(signed)
    }
}

impl KeyHandle for FileKey {
    fn describe(&self) -> KeyDescription {
        KeyDescription {
            backend: "file",
            reference: KeyRef::File(self.path().to_owned()).to_string(),
            public_key: self.public_key(),
            device: Vec::new(),
        }
    }

    fn secret_key(&self) -> Option<&ed25519_dalek::SigningKey> {
        Some(self.signing_key())
    }

    fn minisign_key_id(&self) -> Option<[u8; 8]> {
        FileKey::minisign_key_id(self)
    }
}

impl KeyHandle for Pkcs11Signer {
    fn describe(&self) -> KeyDescription {
        let info = self.device_info();
        let mut device = vec![
            ("module".to_owned(), info.module.display().to_string()),
            ("token".to_owned(), info.token_label),
            ("model".to_owned(), info.model),
            ("manufacturer".to_owned(), info.manufacturer),
            ("serial".to_owned(), info.serial),
            ("cka_id".to_owned(), info.key_id_hex),
        ];
        if let Some(label) = info.key_label {
            device.push(("label".to_owned(), label));
        }
        KeyDescription {
            backend: "pkcs11",
            reference: info.key_uri,
            public_key: PublicKey::new(signature::Keypair::verifying_key(self)),
            device,
        }
    }

    fn sign_batch(
        &self,
        messages: &[&[u8]],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Signature>, BatchError> {
        Pkcs11Signer::sign_batch(self, messages, |done, _| progress(done)).map_err(|err| {
            BatchError {
                total: err.total,
                signed: err.signatures,
                source: SignerFailure::Pkcs11(err.cause),
            }
        })
    }
}

impl KeyHandle for AwsKmsSigner {
    fn describe(&self) -> KeyDescription {
        let facts = self.facts();
        KeyDescription {
            backend: "awskms",
            reference: self.reference().to_string(),
            public_key: PublicKey::new(signature::Keypair::verifying_key(self)),
            device: vec![
                ("arn".to_owned(), facts.arn),
                ("region".to_owned(), facts.region),
                ("endpoint".to_owned(), facts.endpoint),
                ("key_spec".to_owned(), facts.key_spec.to_owned()),
                (
                    "signing_algorithm".to_owned(),
                    facts.signing_algorithm.to_owned(),
                ),
            ],
        }
    }

    fn sign_batch(
        &self,
        messages: &[&[u8]],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Signature>, BatchError> {
        AwsKmsSigner::sign_batch(self, messages, |done, _| progress(done)).map_err(|err| {
            BatchError {
                total: err.total,
                signed: err.signatures,
                source: SignerFailure::AwsKms(err.cause),
            }
        })
    }
}

/// The canonical reference of a YubiKey key: its serial and slot, no secret sources.
fn yubikey_reference(info: &yubikey::DeviceInfo) -> YubiKeyRef {
    YubiKeyRef::new(info.slot).with_serial(info.serial)
}

/// The facts a YubiKey key is described by, in transcripts and `--json` output.
pub fn yubikey_facts(info: &yubikey::DeviceInfo) -> Vec<(String, String)> {
    let mut facts = vec![
        ("serial".to_owned(), info.serial.to_string()),
        ("firmware".to_owned(), info.firmware.to_string()),
        ("slot".to_owned(), info.slot.to_string()),
        ("pin_policy".to_owned(), info.pin_policy.to_string()),
        ("touch_policy".to_owned(), info.touch_policy.to_string()),
        ("reader".to_owned(), info.reader.clone()),
    ];
    if let Some(origin) = info.origin {
        facts.push(("origin".to_owned(), origin.to_string()));
    }
    if let Some(form_factor) = info.form_factor {
        facts.push(("form_factor".to_owned(), form_factor.to_string()));
    }
    facts
}

/// The attestation format of YubiKey PIV attestations in bundles and key events.
pub const YUBIKEY_PIV_FORMAT: &str = "yubikey-piv";

/// A YubiKey attestation in the form bundles and key events carry: the per-key certificate,
/// then the device's F9 certificate, each DER in base64.
pub fn attestation_record(key: &PublicKey, attestation: &yubikey::Attestation) -> Attestation {
    use hallmark_keyring::encoding::base64_encode;
    Attestation {
        key: key.key_id(),
        format: YUBIKEY_PIV_FORMAT.to_owned(),
        certificates: vec![
            base64_encode(&attestation.key_certificate_der),
            base64_encode(&attestation.device_certificate_der),
        ],
    }
}

impl KeyHandle for YubiKeySigner<'_> {
    fn unlock(&self) -> Result<(), OpenError> {
        Ok(YubiKeySigner::unlock(self)?)
    }

    fn describe(&self) -> KeyDescription {
        let info = self.device_info();
        KeyDescription {
            backend: "yubikey",
            reference: yubikey_reference(info).to_string(),
            public_key: PublicKey::new(signature::Keypair::verifying_key(self)),
            device: yubikey_facts(info),
        }
    }

    fn attestation(&self) -> Result<Option<Attestation>, OpenError> {
        let attestation = YubiKeySigner::attestation(self)?;
        let key = PublicKey::new(signature::Keypair::verifying_key(self));
        Ok(Some(attestation_record(&key, &attestation)))
    }

    fn sign_batch(
        &self,
        messages: &[&[u8]],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Signature>, BatchError> {
        YubiKeySigner::sign_batch(self, messages, |done, _| progress(done)).map_err(|err| {
            BatchError {
                total: err.total,
                signed: err.signatures,
                source: SignerFailure::YubiKey(Box::new(err.source)),
            }
        })
    }
}

/// Why a key could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file key could not be unlocked.
    #[error(transparent)]
    File(#[from] FileKeyError),
    /// A passphrase or PIN could not be obtained.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A PKCS#11 token or module failed, or the URI names no usable key.
    #[error(transparent)]
    Pkcs11(#[from] pkcs11::Error),
    /// A YubiKey failed, or the reference names no usable key.
    #[error(transparent)]
    YubiKey(#[from] yubikey::Error),
    /// AWS KMS, the credentials or the network failed, or the reference names no usable key.
    #[error(transparent)]
    AwsKms(#[from] awskms::Error),
    /// The public key could not be read without unlocking the key.
    #[error("cannot read the public key of {reference}: {detail}")]
    PublicKeyUnavailable {
        /// The reference.
        reference: String,
        /// Why.
        detail: String,
    },
    /// A PKCS#11 URI could not be adjusted.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// An age identity file could not be read.
    #[error("cannot read age identity file {}: {detail}", path.display())]
    AgeIdentity {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The key is not the one expected.
    #[error("{reference} holds key {}, not the expected key {}", actual.short(), expected.short())]
    UnexpectedKey {
        /// The reference opened.
        reference: String,
        /// The id of the key it holds.
        actual: KeyId,
        /// The id of the key expected.
        expected: KeyId,
    },
}

/// The attestation of an opened key, for bundles, key events and transcripts: `None` for a
/// backend without attestations, and also — after a warning through `ui` saying why — for a
/// YubiKey key its device cannot attest (an imported key, firmware without attestation). Other
/// device failures are errors.
pub fn attestation_or_warn(
    handle: &dyn KeyHandle,
    ui: &dyn Interaction,
) -> Result<Option<Attestation>, OpenError> {
    match handle.attestation() {
        Err(OpenError::YubiKey(err @ yubikey::Error::AttestationUnavailable { .. })) => {
            ui.warn(&format!(
                "{err}; nothing will carry an attestation of this key"
            ));
            Ok(None)
        }
        other => other,
    }
}

/// Reads X25519 age identities (`AGE-SECRET-KEY-1…` lines; `#` comments and blank lines
/// skipped) from a file.
pub fn read_age_identities(path: &Path) -> Result<Vec<age::x25519::Identity>, OpenError> {
    let err = |detail: String| OpenError::AgeIdentity {
        path: path.to_owned(),
        detail,
    };
    let bytes = hallmark_keyring::fsutil::read_bounded(path, 1024 * 1024)
        .map_err(|e| err(e.to_string()))?;
    let text = zeroize::Zeroizing::new(
        String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?,
    );
    let mut identities = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = line.parse::<age::x25519::Identity>().map_err(|_| {
            err(format!(
                "line {} is not an age X25519 identity (AGE-SECRET-KEY-1…)",
                n + 1
            ))
        })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(err("no identities in the file".into()));
    }
    Ok(identities)
}

/// How to unlock the key file `path` with the given options: its passphrase (from the source
/// the options name, else the terminal) or, for a file encrypted to age recipients, the
/// identities the options name.
pub fn file_unlock(
    path: &Path,
    unlock: &UnlockOptions,
    ui: &dyn Interaction,
) -> Result<Unlock, OpenError> {
    if filekey::is_passphrase_protected(path)? {
        let source = unlock.passphrase.clone().unwrap_or(SecretSource::Prompt);
        let what = format!("passphrase for {}", path.display());
        return Ok(Unlock::Passphrase(source.read(&what, ui)?));
    }
    let mut identities = Vec::new();
    for file in &unlock.age_identities {
        identities.extend(read_age_identities(file)?);
    }
    if identities.is_empty() {
        return Err(FileKeyError::WrongUnlockKind {
            path: path.to_owned(),
            found: "age recipients",
            hint: "give an age identity file with --age-identity",
        }
        .into());
    }
    Ok(Unlock::Identities(identities))
}

/// Opens the key a reference names, unlocking it with the given options, and — when `expected`
/// is given — checks that it is that key before it signs anything.
///
/// A PKCS#11 token is logged in to, and a YubiKey whose PIN policy is "once" has its PIN
/// verified, here: a wrong PIN shows before any long work. A YubiKey key keeps `ui` to announce
/// touches (and to ask for the PIN before each signature under the policy "always").
pub fn open<'ui>(
    reference: &KeyRef,
    unlock: &UnlockOptions,
    ui: &'ui dyn Interaction,
    expected: Option<&PublicKey>,
) -> Result<Box<dyn KeyHandle + 'ui>, OpenError> {
    let handle = open_locked(reference, unlock, ui, expected)?;
    handle.unlock()?;
    Ok(handle)
}

/// [`open`], leaving a YubiKey's PIN to [`KeyHandle::unlock`] (or the first signature).
///
/// Opening a YubiKey selects the PIV application of every connected YubiKey to learn its
/// serial, which clears the PIN verification those cards held. A command that signs with keys
/// on several YubiKeys opens them all first, then unlocks each: a PIN verified before another
/// YubiKey was opened would be gone when its key signs.
pub fn open_locked<'ui>(
    reference: &KeyRef,
    unlock: &UnlockOptions,
    ui: &'ui dyn Interaction,
    expected: Option<&PublicKey>,
) -> Result<Box<dyn KeyHandle + 'ui>, OpenError> {
    let handle: Box<dyn KeyHandle + 'ui> = match reference {
        KeyRef::File(path) => Box::new(FileKey::unlock(path, &file_unlock(path, unlock, ui)?)?),
        KeyRef::Pkcs11(uri) => {
            let options = LoginOptions::new().allow_final_pin_try(unlock.allow_final_pin_try);
            let expected = expected.map(|k| *k.verifying_key());
            Box::new(Pkcs11Signer::open_with(
                uri,
                expected.as_ref(),
                &options,
                ui,
            )?)
        }
        KeyRef::YubiKey(yk) => {
            let options = SignerOptions::new().allow_final_pin_try(unlock.allow_final_pin_try);
            let expected = expected.map(|k| *k.verifying_key());
            Box::new(YubiKeySigner::open_with(
                yk,
                expected.as_ref(),
                &options,
                ui,
            )?)
        }
        KeyRef::AwsKms(reference) => {
            let expected = expected.map(|k| *k.verifying_key());
            Box::new(AwsKmsSigner::open(reference, expected.as_ref())?)
        }
    };
    if let Some(expected) = expected {
        let actual = PublicKey::new(handle.verifying_key()).key_id();
        if actual != expected.key_id() {
            return Err(OpenError::UnexpectedKey {
                reference: reference.to_string(),
                actual,
                expected: expected.key_id(),
            });
        }
    }
    Ok(handle)
}

/// A public key as a command line takes it (`--public-key`): `ed25519:…` text, a key
/// reference, or a path to a `.pub` file.
#[derive(Debug)]
pub enum PublicKeyArg {
    /// The key itself: given as text, or read from `KEY.pub` (`file:KEY`) or a `.pub` file.
    Key(PublicKey),
    /// A key inside a token or a YubiKey: reading it takes the device ([`public_key`]).
    Device(KeyRef),
}

/// Why a `--public-key` argument could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyArgError {
    /// `ed25519:…` text that is not a key.
    #[error("public key {text:?}: {reason}")]
    Text {
        /// The argument.
        text: String,
        /// What is wrong with it.
        reason: hallmark_keyring::key::KeyError,
    },
    /// `file:KEY`, and `KEY.pub` could not be read.
    #[error(transparent)]
    KeyFile(FileKeyError),
    /// A path to a `.pub` file that could not be read.
    #[error(transparent)]
    PubFile(FileKeyError),
    /// A `file:`, `pkcs11:` or `yubikey:` reference that does not parse. It is not taken for a
    /// file path: the error would repeat the whole argument, PIN included if it carries one.
    #[error(transparent)]
    Reference(KeyRefError),
    /// A key written out in another tool's form (an OpenSSH line, a minisign key, PEM, JWK)
    /// that is not an Ed25519 public key.
    #[error("public key {text:?}: {reason}")]
    Inline {
        /// The start of the argument.
        text: String,
        /// What is wrong with it.
        reason: crate::interop::pubkey::PublicKeyError,
    },
}

impl PublicKeyArgError {
    /// What to tell the user besides the error, if anything.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PublicKeyArgError::PubFile(_) => Some(
                "give a public key (ed25519:…, an OpenSSH line, a minisign key), file:KEY (reads \
                 KEY.pub) or a file holding one (.pub, minisign .pub, PEM, JWK)",
            ),
            _ => None,
        }
    }
}

/// Reads a `--public-key` argument without touching any device: `ed25519:…` text, a key in
/// another tool's form written out (`ssh-ed25519 AAAA…`, a minisign `RW…` key), `file:KEY`
/// (reads `KEY.pub`) or a file holding a key in any form `hallmark key show` prints are read
/// here; `pkcs11:`, `yubikey:` and `awskms:` references come back as [`PublicKeyArg::Device`].
pub fn parse_public_key_arg(text: &str) -> Result<PublicKeyArg, PublicKeyArgError> {
    if text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        return text
            .parse()
            .map(PublicKeyArg::Key)
            .map_err(|reason| PublicKeyArgError::Text {
                text: text.to_owned(),
                reason,
            });
    }
    match text.parse::<KeyRef>() {
        Ok(KeyRef::File(path)) => filekey::read_public_key(&path)
            .map(PublicKeyArg::Key)
            .map_err(PublicKeyArgError::KeyFile),
        Ok(device) => Ok(PublicKeyArg::Device(device)),
        Err(e) if has_scheme(text) => Err(PublicKeyArgError::Reference(e)),
        Err(_) if crate::interop::pubkey::looks_inline(text) && !Path::new(text).exists() => {
            crate::interop::pubkey::parse_any(text)
                .map(|parsed| PublicKeyArg::Key(parsed.key))
                .map_err(|reason| PublicKeyArgError::Inline {
                    text: text.chars().take(40).collect(),
                    reason,
                })
        }
        Err(_) => filekey::read_public_key_file(Path::new(text))
            .map(PublicKeyArg::Key)
            .map_err(|e| match e {
                // Named redacted: a mistyped key reference taken for a file name may carry a
                // PIN (the name is unchanged when it carries none).
                FileKeyError::Read { source, .. } => {
                    PublicKeyArgError::PubFile(FileKeyError::Read {
                        path: redacted(text).into(),
                        source,
                    })
                }
                other => PublicKeyArgError::PubFile(other),
            }),
    }
}

/// The public key a reference names, read without unlocking anything when the backend allows:
/// file keys from `PATH.pub`; PKCS#11 keys from the token's public key object, listed without
/// logging in (when the public key is a private object, the key is opened with the login its
/// URI's `pin-source` provides); YubiKey keys from the slot's metadata, which needs no PIN;
/// AWS KMS keys with `GetPublicKey`, which signs nothing.
/// Pass [`hallmark_hsm::interact::Headless`] to be sure nothing is asked.
pub fn public_key(reference: &KeyRef, ui: &dyn Interaction) -> Result<PublicKey, OpenError> {
    match reference {
        KeyRef::File(path) => Ok(filekey::read_public_key(path)?),
        KeyRef::YubiKey(yk) => {
            let signer = YubiKeySigner::open(yk, None, ui)?;
            Ok(PublicKey::new(signature::Keypair::verifying_key(&signer)))
        }
        KeyRef::AwsKms(reference) => Ok(PublicKey::new(awskms::public_key(reference)?.0)),
        KeyRef::Pkcs11(uri) => {
            let mut anonymous = uri.clone();
            anonymous.set_pin_source(None)?;
            let mut found: Vec<(PublicKey, String)> = Vec::new();
            for slot in pkcs11::list(&anonymous, ui)? {
                for key in slot.token.into_iter().flat_map(|t| t.keys) {
                    let wanted = uri.object().is_none_or(|o| key.label.as_deref() == Some(o))
                        && uri.id().is_none_or(|id| key.id == id);
                    if let (true, Some(vk)) = (wanted, key.verifying_key) {
                        found.push((PublicKey::new(vk), key.uri));
                    }
                }
            }
            match found.as_slice() {
                [(key, _)] => Ok(*key),
                [] if uri.pin_source().is_some() => {
                    let signer = Pkcs11Signer::open(uri, None, ui)?;
                    Ok(PublicKey::new(signature::Keypair::verifying_key(&signer)))
                }
                [] => Err(OpenError::PublicKeyUnavailable {
                    reference: reference.to_string(),
                    detail: "no public Ed25519 key object matches without logging in; add \
                             pin-source= to the URI or give the public key itself"
                        .to_owned(),
                }),
                several => Err(OpenError::PublicKeyUnavailable {
                    reference: reference.to_string(),
                    detail: format!(
                        "several keys match: {}",
                        several
                            .iter()
                            .map(|(_, u)| u.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
    }
}

/// The public key a reference names, when it can be read without any secret: file keys from
/// `PATH.pub`, PKCS#11 keys from public key objects listed without logging in (the URI's
/// `pin-source` is ignored), YubiKey keys from the slot's metadata. `None` when that is not
/// possible. Never asks for, reads or sends a PIN or passphrase, so it can never cost a PIN
/// retry — use it to check a key before opening it.
pub fn peek_public_key(reference: &KeyRef) -> Option<PublicKey> {
    let headless = hallmark_hsm::interact::Headless;
    match reference {
        KeyRef::Pkcs11(uri) => {
            let mut anonymous = uri.clone();
            anonymous.set_pin_source(None).ok()?;
            public_key(&KeyRef::Pkcs11(anonymous), &headless).ok()
        }
        other => public_key(other, &headless).ok(),
    }
}

/// A key reference with what opening it takes: the [`KeySource`](hallmark_ceremony::KeySource)
/// through which key ceremonies use every backend.
pub struct CeremonyKey<'a> {
    /// The reference.
    pub reference: KeyRef,
    /// How to unlock it.
    pub unlock: &'a UnlockOptions,
    /// Where prompts, touch requests and warnings go.
    pub ui: &'a dyn Interaction,
}

impl hallmark_ceremony::KeySource for CeremonyKey<'_> {
    fn name(&self) -> String {
        self.reference.to_string()
    }

    fn peek(&self) -> Option<PublicKey> {
        peek_public_key(&self.reference)
    }

    fn public_key(&self) -> Result<PublicKey, hallmark_ceremony::keys::KeyFailure> {
        Ok(public_key(
            &self.reference,
            &hallmark_hsm::interact::Headless,
        )?)
    }

    fn open(
        &self,
        expected: Option<&PublicKey>,
    ) -> Result<Box<dyn hallmark_ceremony::OpenKey + '_>, hallmark_ceremony::keys::KeyFailure> {
        // Unlocked by the ceremony once every key is open (see `open_locked`).
        let handle = open_locked(&self.reference, self.unlock, self.ui, expected)?;
        Ok(Box::new(OpenCeremonyKey {
            handle,
            ui: self.ui,
        }))
    }
}

/// An opened [`CeremonyKey`].
struct OpenCeremonyKey<'a> {
    handle: Box<dyn KeyHandle + 'a>,
    ui: &'a dyn Interaction,
}

impl signature::Keypair for OpenCeremonyKey<'_> {
    type VerifyingKey = ed25519_dalek::VerifyingKey;

    fn verifying_key(&self) -> Self::VerifyingKey {
        self.handle.verifying_key()
    }
}

impl signature::Signer<Signature> for OpenCeremonyKey<'_> {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        self.handle.try_sign(message)
    }
}

impl hallmark_ceremony::OpenKey for OpenCeremonyKey<'_> {
    fn describe(&self) -> hallmark_ceremony::keys::KeyDescription {
        let d = self.handle.describe();
        hallmark_ceremony::keys::KeyDescription {
            backend: d.backend.to_owned(),
            reference: d.reference,
            public_key: d.public_key,
            device: d.device,
        }
    }

    fn attest(&self) -> Result<Option<Attestation>, hallmark_ceremony::keys::KeyFailure> {
        Ok(attestation_or_warn(self.handle.as_ref(), self.ui)?)
    }

    fn secret_key(&self) -> Option<&ed25519_dalek::SigningKey> {
        self.handle.secret_key()
    }

    fn unlock(&self) -> Result<(), hallmark_ceremony::keys::KeyFailure> {
        Ok(self.handle.unlock()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_references() {
        assert_eq!(
            "file:./release.key".parse::<KeyRef>().unwrap(),
            KeyRef::File("./release.key".into())
        );
        assert_eq!("file:".parse::<KeyRef>(), Err(KeyRefError::EmptyPath));
        assert_eq!(
            "release.key".parse::<KeyRef>(),
            Err(KeyRefError::BarePath("release.key".into()))
        );
        assert_eq!(
            KeyRefError::BarePath("keys/release.key".into()).to_string(),
            "\"keys/release.key\" is not a key reference: for the key file, write \
             file:keys/release.key"
        );
        assert!(matches!(
            "gpg:release".parse::<KeyRef>(),
            Err(KeyRefError::UnknownScheme(_))
        ));
        assert_eq!(KeyRef::File("a b".into()).to_string(), "file:a b");
    }

    #[test]
    fn redacts_secret_attributes() {
        for (text, shown) in [
            (
                "pkcs11:token=ci;object=k?pin-value=024681&module-name=softhsm2",
                "pkcs11:token=ci;object=k?pin-value=<redacted>&module-name=softhsm2",
            ),
            ("pkcs11:pin-value=1;x=2", "pkcs11:pin-value=<redacted>;x=2"),
            (
                "yubikey:slot=9c?pin=11&management-key=abc",
                "yubikey:slot=9c?pin=<redacted>&management-key=<redacted>",
            ),
            ("pkcs12:a=b?pin-value=9", "pkcs12:a=b?pin-value=<redacted>"),
            ("file:./release.key", "file:./release.key"),
            // Names that merely contain a secret attribute's name are kept.
            ("pkcs11:token=my-pin-value=x", "pkcs11:token=my-pin-value=x"),
        ] {
            assert_eq!(redacted(text), shown);
        }
        let err = "pkcs12:a=b?pin-value=987654"
            .parse::<KeyRef>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654"), "{err}");
        // A reference that does not parse is reported as one, not read as a file of that name.
        for text in [
            "pkcs11:token=ci;object=k?pin-value=987654&pin-source=env:X",
            "yubikey:slot=9c?pin-value=987654",
        ] {
            let err = parse_public_key_arg(text).unwrap_err();
            assert!(matches!(err, PublicKeyArgError::Reference(_)), "{err}");
            assert!(!err.to_string().contains("987654"), "{err}");
        }
    }

    #[test]
    fn parses_awskms_references() {
        let text = "awskms:alias/release?region=eu-west-1";
        let reference: KeyRef = text.parse().unwrap();
        let KeyRef::AwsKms(kms) = &reference else {
            panic!("{reference:?}");
        };
        assert_eq!(kms.alias(), Some("alias/release"));
        assert_eq!(kms.region(), Some("eu-west-1"));
        assert_eq!(reference.to_string(), text);
        assert_eq!(format!("{reference:?}"), format!("KeyRef({text})"));
        assert!(
            "awskms:alias/release?profile=prod"
                .parse::<KeyRef>()
                .unwrap_err()
                .to_string()
                .starts_with("profile is not accepted in a key reference")
        );
        let unknown = "kms:alias/release".parse::<KeyRef>().unwrap_err();
        assert!(
            unknown.to_string().contains("awskms:alias/NAME (AWS KMS)"),
            "{unknown}"
        );
    }

    #[test]
    fn parses_yubikey_references() {
        let text = "yubikey:serial=12345678;slot=9c?pin-source=env:YK_PIN";
        let reference: KeyRef = text.parse().unwrap();
        let KeyRef::YubiKey(yk) = &reference else {
            panic!("{reference:?}");
        };
        assert_eq!(yk.serial(), Some(12345678));
        assert_eq!(yk.slot().to_string(), "9c");
        assert_eq!(reference.to_string(), text);
        assert_eq!(format!("{reference:?}"), format!("KeyRef({text})"));
        // The adapter's own errors, unchanged: they name what to do.
        assert_eq!(
            "yubikey:slot=9c?pin-value=123456"
                .parse::<KeyRef>()
                .unwrap_err()
                .to_string(),
            "pin-value is not accepted: a secret in a key reference ends up in argv, shell \
             history and logs; use pin-source=file:PATH, env:NAME or prompt"
        );
        assert_eq!(
            "yubikey:serial=1"
                .parse::<KeyRef>()
                .unwrap_err()
                .to_string(),
            "YubiKey reference \"yubikey:serial=1\" names no slot: add one, e.g. \
             `yubikey:slot=9c` (slots: 9a, 9c, 9d, 9e, 82 to 95)"
        );
    }
}
