//! File keys: an Ed25519 key in an age-encrypted file, the no-hardware backend.
//!
//! `hallmark key generate --out file:release.key` writes two files:
//!
//! * `release.key` (mode 0600) — the private key as PKCS#8 PEM (RFC 8410), encrypted with age and
//!   ASCII-armoured. It is encrypted either to a passphrase (age's scrypt recipient) or to one or
//!   more age recipients, so that a key can be escrowed to custodians. Decrypting it with
//!   `age -d` gives a key that OpenSSL reads.
//! * `release.key.pub` — the public key as one line, `ed25519:<base64>`, so the key can be
//!   named and checked without unlocking it.
//!
//! Neither file is ever overwritten. The secret key lives in ed25519-dalek's `SigningKey`, which
//! zeroizes on drop; [`FileKey`] has a redacted `Debug` and no other way to show the secret.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hallmark_hsm::secret::Secret;
use hallmark_keyring::PublicKey;
use zeroize::Zeroizing;

use hallmark_keyring::fsutil::{self, WriteError};

/// Largest key file read, in bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Default scrypt work factor for new key files is age's own choice (about one second of work
/// on the machine generating the key). These bound what callers may choose instead.
pub const MIN_WORK_FACTOR: u8 = 10;
/// See [`MIN_WORK_FACTOR`].
pub const MAX_WORK_FACTOR: u8 = 22;

/// How a key file is encrypted.
pub enum Protection {
    /// To a passphrase, with an optional scrypt work factor (log2 N).
    Passphrase {
        /// The passphrase.
        passphrase: Secret,
        /// scrypt's log2(N); `None` lets age pick about one second of work.
        work_factor: Option<u8>,
    },
    /// To age recipients (X25519 `age1…`), e.g. custodians holding the key in escrow.
    Recipients(Vec<age::x25519::Recipient>),
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::Passphrase { work_factor, .. } => f
                .debug_struct("Passphrase")
                .field("work_factor", work_factor)
                .finish_non_exhaustive(),
            Protection::Recipients(r) => f
                .debug_tuple("Recipients")
                .field(&r.iter().map(ToString::to_string).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// How a key file is unlocked.
pub enum Unlock {
    /// With a passphrase.
    Passphrase(Secret),
    /// With age identities (`AGE-SECRET-KEY-1…`), read from identity files.
    Identities(Vec<age::x25519::Identity>),
}

impl fmt::Debug for Unlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unlock::Passphrase(_) => f.write_str("Unlock::Passphrase(<redacted>)"),
            Unlock::Identities(ids) => {
                write!(f, "Unlock::Identities({} identities, redacted)", ids.len())
            }
        }
    }
}

/// An unlocked file key.
pub struct FileKey {
    key: SigningKey,
    path: PathBuf,
    minisign_key_id: Option<[u8; 8]>,
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKey")
            .field("path", &self.path)
            .field("public_key", &PublicKey::new(self.key.verifying_key()))
            .field("minisign_key_id", &self.minisign_key_id)
            .finish_non_exhaustive()
    }
}

/// Why a file key could not be created or unlocked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileKeyError {
    /// Writing failed (including: the file already exists).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The key file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong: an I/O error, or not a regular file.
        source: fsutil::ReadError,
    },
    /// The key file is larger than any key file Hallmark writes.
    #[error("{} is larger than {max} bytes, too large to be a Hallmark key file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// Not an age file.
    #[error("{} is not an age-encrypted Hallmark key file: {detail}", path.display())]
    NotAgeFile {
        /// The file.
        path: PathBuf,
        /// age's description.
        detail: String,
    },
    /// A private key of another tool (minisign, OpenSSH, a raw seed) where a Hallmark key
    /// file was expected.
    #[error("{} is {}, not a Hallmark key file (an age-encrypted key)", path.display(), format.describe())]
    ForeignKey {
        /// The file.
        path: PathBuf,
        /// What it is.
        format: crate::foreignkey::ForeignFormat,
    },
    /// The file is passphrase-encrypted but age identities were given, or the reverse.
    #[error("{} is encrypted to {found}; {hint}", path.display())]
    WrongUnlockKind {
        /// The file.
        path: PathBuf,
        /// "a passphrase" or "age recipients".
        found: &'static str,
        /// What to give instead.
        hint: &'static str,
    },
    /// Wrong passphrase.
    #[error("wrong passphrase for {}", path.display())]
    WrongPassphrase {
        /// The file.
        path: PathBuf,
    },
    /// None of the age identities can decrypt the file.
    #[error("none of the given age identities can decrypt {}", path.display())]
    NoMatchingIdentity {
        /// The file.
        path: PathBuf,
    },
    /// The file's scrypt work factor is beyond what Hallmark accepts (a hostile file).
    #[error("{} asks for scrypt work factor {required}, above the {MAX_WORK_FACTOR} Hallmark accepts", path.display())]
    ExcessiveWork {
        /// The file.
        path: PathBuf,
        /// The work factor in the file.
        required: u8,
    },
    /// Decrypted, but the content is not an Ed25519 PKCS#8 key.
    #[error("{} decrypts, but does not hold an Ed25519 private key", path.display())]
    NotAKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key does not match the public key beside it.
    #[error(
        "the private key in {} does not match its public key file {}: one of the two was replaced",
        path.display(), pub_path.display()
    )]
    PublicKeyMismatch {
        /// The key file.
        path: PathBuf,
        /// The public key file.
        pub_path: PathBuf,
    },
    /// The public key file does not hold a public key.
    #[error("{}: {detail}", path.display())]
    BadPublicKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A change of passphrase to the passphrase the file already has.
    #[error("the new passphrase for {} is its current one; nothing was changed", path.display())]
    SamePassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The work factor asked for is out of range.
    #[error("scrypt work factor {0} is out of range ({MIN_WORK_FACTOR} to {MAX_WORK_FACTOR})")]
    WorkFactor(u8),
    /// age could not encrypt.
    #[error("encrypting the key failed: {0}")]
    Encrypt(String),
}

/// The public key file beside a key file: `PATH.pub`.
pub fn public_key_path(path: &Path) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(".pub");
    PathBuf::from(text)
}

/// Whether the `.pub` beside the key file `path` is missing, or empty — as the shell leaves it
/// while it is being re-created (`hallmark key show file:KEY > KEY.pub`).
pub fn public_key_lost(path: &Path) -> bool {
    let pub_path = public_key_path(path);
    !fsutil::exists_no_follow(&pub_path)
        || std::fs::symlink_metadata(&pub_path).is_ok_and(|m| m.is_file() && m.len() == 0)
}

/// The result of generating a file key.
#[derive(Debug)]
pub struct GeneratedFileKey {
    /// The new public key.
    pub public_key: PublicKey,
    /// The encrypted private key file.
    pub path: PathBuf,
    /// The public key file.
    pub pub_path: PathBuf,
}

/// Generates a key and writes it, encrypted, to `path` (0600) and its public key to
/// `path.pub`. Refuses to overwrite either file.
pub fn generate(path: &Path, protection: &Protection) -> Result<GeneratedFileKey, FileKeyError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| FileKeyError::Encrypt(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    write_key(path, &key, protection)
}

/// Writes an existing key (e.g. one restored from custodian shares) as a key file.
pub fn write_key(
    path: &Path,
    key: &SigningKey,
    protection: &Protection,
) -> Result<GeneratedFileKey, FileKeyError> {
    write_key_with_id(path, key, protection, None)
}

/// [`write_key`] for a key that had a minisign key id before it was imported: the id is kept
/// in `PATH.pub` (a `minisign key id:` line after the key), so that minisign signatures and
/// public keys keep naming the key as minisign did.
pub fn write_key_with_id(
    path: &Path,
    key: &SigningKey,
    protection: &Protection,
    minisign_key_id: Option<[u8; 8]>,
) -> Result<GeneratedFileKey, FileKeyError> {
    let public_key = PublicKey::new(key.verifying_key());
    let armored = encrypt(sealed_text(key, minisign_key_id)?.as_bytes(), protection)?;
    let pub_path = public_key_path(path);
    // Check both names first so a refusal leaves nothing behind. An existing `.pub` is never
    // replaced: it may be all that is left here of a key moved offline.
    for p in [path, pub_path.as_path()] {
        if fsutil::exists_no_follow(p) {
            return Err(WriteError::Exists { path: p.to_owned() }.into());
        }
    }
    // The key first: a generation killed before the `.pub` is written leaves a complete key,
    // whose public key `hallmark key show` derives again (with the passphrase).
    fsutil::write_new(path, armored.as_bytes(), 0o600)?;
    let mut pub_text = format!("{public_key}\n");
    if let Some(id) = minisign_key_id {
        pub_text.push_str(&format!(
            "{MINISIGN_KEY_ID_PREFIX}{}\n",
            display_minisign_id(&id)
        ));
    }
    if let Err(err) = fsutil::write_new(&pub_path, pub_text.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(path);
        return Err(err.into());
    }
    Ok(GeneratedFileKey {
        public_key,
        path: path.to_owned(),
        pub_path,
    })
}

/// What a key file encrypts: the key as PKCS#8 PEM, then, for a key imported from minisign, a
/// `minisign key id:` line, so that the id survives the loss of `PATH.pub`.
fn sealed_text(
    key: &SigningKey,
    minisign_key_id: Option<[u8; 8]>,
) -> Result<Zeroizing<String>, FileKeyError> {
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| FileKeyError::Encrypt(format!("encoding PKCS#8: {e}")))?;
    let mut text = Zeroizing::new(String::from(pem.as_str()));
    if let Some(id) = minisign_key_id {
        text.push_str(&format!(
            "{MINISIGN_KEY_ID_PREFIX}{}\n",
            display_minisign_id(&id)
        ));
    }
    Ok(text)
}

/// Splits a key file's decrypted text into the PKCS#8 PEM and the minisign key id that may
/// follow it (see [`sealed_text`]); `None` when the text is neither.
fn parse_sealed_text(text: &str) -> Option<(&str, Option<[u8; 8]>)> {
    const END: &str = "-----END PRIVATE KEY-----";
    let end = text.find(END)? + END.len();
    let (pem, rest) = text.split_at(end);
    let rest = rest.strip_prefix("\r").unwrap_or(rest);
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    if rest.is_empty() {
        return Some((pem, None));
    }
    let id = rest
        .strip_suffix('\n')
        .unwrap_or(rest)
        .strip_prefix(MINISIGN_KEY_ID_PREFIX)
        .and_then(parse_minisign_id)?;
    Some((pem, Some(id)))
}

/// A minisign key id as Hallmark writes it: 16 upper-case hex digits (minisign's own comments
/// drop leading zeros; the key file keeps them).
fn parse_minisign_id(text: &str) -> Option<[u8; 8]> {
    (text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
    .then(|| u64::from_str_radix(text, 16).ok())
    .flatten()
    .map(u64::to_le_bytes)
}

fn encrypt(plaintext: &[u8], protection: &Protection) -> Result<String, FileKeyError> {
    let encryptor = match protection {
        Protection::Passphrase {
            passphrase,
            work_factor,
        } => {
            let mut recipient =
                age::scrypt::Recipient::new(SecretString::from(passphrase.expose().to_owned()));
            if let Some(wf) = *work_factor {
                if !(MIN_WORK_FACTOR..=MAX_WORK_FACTOR).contains(&wf) {
                    return Err(FileKeyError::WorkFactor(wf));
                }
                recipient.set_work_factor(wf);
            }
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        }
        Protection::Recipients(recipients) => {
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        }
    }
    .map_err(|e| FileKeyError::Encrypt(e.to_string()))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| FileKeyError::Encrypt(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|e| FileKeyError::Encrypt(e.to_string()))?;
    writer
        .write_all(plaintext)
        .map_err(|e| FileKeyError::Encrypt(e.to_string()))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| FileKeyError::Encrypt(e.to_string()))?;
    String::from_utf8(out).map_err(|e| FileKeyError::Encrypt(e.to_string()))
}

/// Re-encrypts the key file `path` under new protection — a new passphrase, or age recipients
/// — replacing the file atomically: a crash leaves the old file or the new one, never neither.
/// The key is unlocked with `unlock` first, and a new passphrase is proved to open the new
/// file before it replaces the old one. Returns the key's public key.
pub fn change_protection(
    path: &Path,
    unlock: &Unlock,
    protection: &Protection,
) -> Result<PublicKey, FileKeyError> {
    let key = FileKey::unlock(path, unlock)?;
    if let (Unlock::Passphrase(current), Protection::Passphrase { passphrase, .. }) =
        (unlock, protection)
        && current == passphrase
    {
        return Err(FileKeyError::SamePassphrase {
            path: path.to_owned(),
        });
    }
    // A minisign key id kept only in `PATH.pub` (a key imported before the key file kept it
    // too) moves into the key file here.
    let armored = encrypt(
        sealed_text(&key.key, key.minisign_key_id)?.as_bytes(),
        protection,
    )?;
    if let Protection::Passphrase { passphrase, .. } = protection {
        let reopened = FileKey::unlock_bytes(
            path,
            armored.as_bytes(),
            &Unlock::Passphrase(passphrase.clone()),
        )?;
        if reopened.key.verifying_key() != key.key.verifying_key() {
            return Err(FileKeyError::Encrypt(
                "the re-encrypted key does not decrypt to the same key".to_owned(),
            ));
        }
    }
    fsutil::write_replace(path, armored.as_bytes(), 0o600)?;
    Ok(PublicKey::new(key.key.verifying_key()))
}

/// Reads the public key of a key file from `PATH.pub`, without unlocking the key.
pub fn read_public_key(path: &Path) -> Result<PublicKey, FileKeyError> {
    let pub_path = public_key_path(path);
    read_public_key_file(&pub_path)
}

/// Reads a public key file in any form `hallmark key show` prints: `ed25519:<base64>` (the
/// `.pub` file `key generate` writes, or `key show`'s text, whose `key id:` line must then name
/// the same key), an OpenSSH line, a minisign public key, PEM or a JWK.
pub fn read_public_key_file(pub_path: &Path) -> Result<PublicKey, FileKeyError> {
    read_public_key_file_meta(pub_path).map(|(key, _)| key)
}

/// [`read_public_key_file`], with the minisign key id the file keeps, if any.
pub fn read_public_key_file_meta(
    pub_path: &Path,
) -> Result<(PublicKey, Option<[u8; 8]>), FileKeyError> {
    let text = fsutil::read_bounded(pub_path, 4096).map_err(|source| match source {
        fsutil::ReadError::TooLarge { max } => FileKeyError::TooLarge {
            path: pub_path.to_owned(),
            max,
        },
        source => FileKeyError::Read {
            path: pub_path.to_owned(),
            source,
        },
    })?;
    let text = String::from_utf8(text).map_err(|_| FileKeyError::BadPublicKeyFile {
        path: pub_path.to_owned(),
        detail: "not UTF-8 text".into(),
    })?;
    parse_public_key_file_text(&text).map_err(|e| FileKeyError::BadPublicKeyFile {
        path: pub_path.to_owned(),
        detail: e.to_string(),
    })
}

/// The key in a public key file's text; see [`read_public_key_file`].
pub fn parse_public_key_text(text: &str) -> Result<PublicKey, PublicKeyTextError> {
    parse_public_key_file_text(text).map(|(key, _)| key)
}

/// The line of a `.pub` file that keeps an imported minisign key's id.
pub const MINISIGN_KEY_ID_PREFIX: &str = "minisign key id: ";

fn display_minisign_id(id: &[u8; 8]) -> String {
    crate::interop::minisign::display_key_id(id)
}

/// The key in a public key file's text, and the minisign key id its `minisign key id:` line
/// keeps (a key imported from minisign); see [`read_public_key_file`].
pub fn parse_public_key_file_text(
    text: &str,
) -> Result<(PublicKey, Option<[u8; 8]>), PublicKeyTextError> {
    if !text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        let parsed = crate::interop::pubkey::parse_any(text)?;
        return Ok((parsed.key, parsed.minisign_key_id));
    }
    let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    let key = PublicKey::from_str(lines.next().unwrap_or_default())?;
    let mut minisign_key_id = None;
    let mut key_id_seen = false;
    for line in lines {
        if let Some(named) = line.strip_prefix("key id: ")
            && !key_id_seen
        {
            key_id_seen = true;
            let id = key.key_id().to_string();
            if named != id {
                return Err(PublicKeyTextError::KeyIdMismatch {
                    named: named.to_owned(),
                    id,
                });
            }
        } else if let Some(named) = line.strip_prefix(MINISIGN_KEY_ID_PREFIX)
            && minisign_key_id.is_none()
        {
            minisign_key_id = Some(parse_minisign_id(named).ok_or_else(|| {
                PublicKeyTextError::BadMinisignKeyId {
                    named: named.chars().take(40).collect(),
                }
            })?);
        } else {
            return Err(PublicKeyTextError::ExtraLine {
                line: line.chars().take(40).collect(),
            });
        }
    }
    Ok((key, minisign_key_id))
}

/// The minisign key id kept in `PATH.pub` for a key imported from minisign; `None` for other
/// keys, and when the file cannot be read.
pub fn minisign_key_id(path: &Path) -> Option<[u8; 8]> {
    let text = fsutil::read_bounded(&public_key_path(path), 4096).ok()?;
    parse_public_key_file_text(std::str::from_utf8(&text).ok()?)
        .ok()
        .and_then(|(_, id)| id)
}

/// Why a public key file's text is not a public key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyTextError {
    /// Hallmark's `ed25519:` line does not parse.
    #[error(transparent)]
    Key(#[from] hallmark_keyring::key::KeyError),
    /// Another form (OpenSSH, minisign, PEM, JWK) that does not parse.
    #[error(transparent)]
    Other(#[from] crate::interop::pubkey::PublicKeyError),
    /// A second line that is not the key id line.
    #[error(
        "after the key, only the `key id: …` line of `hallmark key show` and a `minisign key id: …` line may follow, each once, not {line:?}"
    )]
    ExtraLine {
        /// The line (its first 40 characters).
        line: String,
    },
    /// The key id line names another key.
    #[error("its key id line names {named}, but the key's id is {id}: the file was edited")]
    KeyIdMismatch {
        /// The id the line names.
        named: String,
        /// The key's id.
        id: String,
    },
    /// The minisign key id line of a key imported from minisign does not parse.
    #[error("its minisign key id {named:?} is not 16 upper-case hex digits")]
    BadMinisignKeyId {
        /// The id the line names (its first 40 characters).
        named: String,
    },
}

/// Whether a key file is encrypted to a passphrase (as opposed to age recipients).
pub fn is_passphrase_protected(path: &Path) -> Result<bool, FileKeyError> {
    let bytes = read_key_file(path)?;
    let decryptor = decryptor(path, &bytes)?;
    Ok(decryptor.is_scrypt())
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, FileKeyError> {
    fsutil::read_bounded(path, MAX_KEY_FILE_BYTES).map_err(|source| match source {
        fsutil::ReadError::TooLarge { max } => FileKeyError::TooLarge {
            path: path.to_owned(),
            max,
        },
        source => FileKeyError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

fn decryptor<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<age::Decryptor<impl std::io::BufRead + 'a>, FileKeyError> {
    age::Decryptor::new_buffered(age::armor::ArmoredReader::new(bytes)).map_err(|e| {
        match crate::foreignkey::sniff(bytes) {
            Some(format) => FileKeyError::ForeignKey {
                path: path.to_owned(),
                format,
            },
            None => FileKeyError::NotAgeFile {
                path: path.to_owned(),
                detail: e.to_string(),
            },
        }
    })
}

impl FileKey {
    /// Unlocks a key file, checking the private key against `PATH.pub` when that file exists
    /// and is not empty.
    pub fn unlock(path: &Path, unlock: &Unlock) -> Result<FileKey, FileKeyError> {
        let bytes = read_key_file(path)?;
        Self::unlock_bytes(path, &bytes, unlock)
    }

    /// Unlocks the bytes of the key file `path`.
    fn unlock_bytes(path: &Path, bytes: &[u8], unlock: &Unlock) -> Result<FileKey, FileKeyError> {
        let decryptor = decryptor(path, bytes)?;
        let scrypt = decryptor.is_scrypt();
        let mut plaintext = Zeroizing::new(Vec::new());
        let map_decrypt = |e: age::DecryptError| match e {
            age::DecryptError::ExcessiveWork { required, .. } => FileKeyError::ExcessiveWork {
                path: path.to_owned(),
                required,
            },
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed
                if scrypt =>
            {
                FileKeyError::WrongPassphrase {
                    path: path.to_owned(),
                }
            }
            age::DecryptError::NoMatchingKeys if !scrypt => FileKeyError::NoMatchingIdentity {
                path: path.to_owned(),
            },
            other => FileKeyError::NotAgeFile {
                path: path.to_owned(),
                detail: other.to_string(),
            },
        };
        match (unlock, scrypt) {
            (Unlock::Passphrase(passphrase), true) => {
                let mut identity =
                    age::scrypt::Identity::new(SecretString::from(passphrase.expose().to_owned()));
                identity.set_max_work_factor(MAX_WORK_FACTOR);
                let mut reader = decryptor
                    .decrypt(std::iter::once(&identity as &dyn age::Identity))
                    .map_err(map_decrypt)?;
                reader
                    .read_to_end(&mut plaintext)
                    .map_err(|e| FileKeyError::NotAgeFile {
                        path: path.to_owned(),
                        detail: e.to_string(),
                    })?;
            }
            (Unlock::Identities(ids), false) => {
                let mut reader = decryptor
                    .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
                    .map_err(map_decrypt)?;
                reader
                    .read_to_end(&mut plaintext)
                    .map_err(|e| FileKeyError::NotAgeFile {
                        path: path.to_owned(),
                        detail: e.to_string(),
                    })?;
            }
            (Unlock::Identities(_), true) => {
                return Err(FileKeyError::WrongUnlockKind {
                    path: path.to_owned(),
                    found: "a passphrase",
                    hint: "give the passphrase (terminal, --passphrase-file or --passphrase-env) instead of age identities",
                });
            }
            (Unlock::Passphrase(_), false) => {
                return Err(FileKeyError::WrongUnlockKind {
                    path: path.to_owned(),
                    found: "age recipients",
                    hint: "give an age identity file with --age-identity",
                });
            }
        }
        let not_a_key = || FileKeyError::NotAKey {
            path: path.to_owned(),
        };
        let text = std::str::from_utf8(&plaintext).map_err(|_| not_a_key())?;
        let (pem, sealed_id) = parse_sealed_text(text).ok_or_else(not_a_key)?;
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| not_a_key())?;
        let pub_path = public_key_path(path);
        // The key file's own id wins; keys imported before it kept one have it in `PATH.pub`.
        let mut minisign_key_id = sealed_id;
        if !public_key_lost(path) {
            let (expected, id) = read_public_key_file_meta(&pub_path)?;
            if expected.verifying_key() != &key.verifying_key() {
                return Err(FileKeyError::PublicKeyMismatch {
                    path: path.to_owned(),
                    pub_path,
                });
            }
            minisign_key_id = minisign_key_id.or(id);
        }
        Ok(FileKey {
            key,
            path: path.to_owned(),
            minisign_key_id,
        })
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.key.verifying_key())
    }

    /// The minisign key id the key had before it was imported from minisign (kept in
    /// `PATH.pub`); `None` for other keys.
    pub fn minisign_key_id(&self) -> Option<[u8; 8]> {
        self.minisign_key_id
    }

    /// The signing key, for re-encrypting or splitting into custodian shares.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl signature::Signer<Signature> for FileKey {
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        signature::Signer::try_sign(&self.key, msg)
    }
}

impl signature::Keypair for FileKey {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// How new key files made by a ceremony are protected, gathered only once the ceremony's
/// checks have passed.
pub enum NewKeyProtection {
    /// Encrypted to age recipients.
    Recipients(Vec<age::x25519::Recipient>),
    /// Encrypted to a passphrase: from `source`, or asked for twice on the terminal with
    /// `prompt` when there is none.
    Passphrase {
        /// Where the passphrase comes from (`None`: asked for).
        source: Option<hallmark_hsm::secret::SecretSource>,
        /// What the passphrase is, in messages about its source.
        what: String,
        /// The prompt when it is asked for.
        prompt: String,
        /// scrypt's log2(N); `None` lets age pick.
        work_factor: Option<u8>,
    },
}

/// The [`KeySink`](hallmark_ceremony::KeySink) of ceremonies that make key files (next keys,
/// a key rebuilt from custodian shares): key `i` is written to `paths[i]`.
pub struct NewKeyFiles<'a> {
    paths: Vec<PathBuf>,
    protection: Option<NewKeyProtection>,
    ready: Option<Protection>,
    ui: &'a dyn hallmark_hsm::interact::Interaction,
    written: &'a dyn Fn(&GeneratedFileKey),
}

impl<'a> NewKeyFiles<'a> {
    /// Key files at `paths`, protected as `protection` says; `written` is told of each file
    /// once it is written.
    pub fn new(
        paths: Vec<PathBuf>,
        protection: NewKeyProtection,
        ui: &'a dyn hallmark_hsm::interact::Interaction,
        written: &'a dyn Fn(&GeneratedFileKey),
    ) -> Self {
        NewKeyFiles {
            paths,
            protection: Some(protection),
            ready: None,
            ui,
            written,
        }
    }

    /// How many key files this sink makes.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether it makes none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

impl hallmark_ceremony::KeySink for NewKeyFiles<'_> {
    fn prepare(&mut self) -> Result<(), hallmark_ceremony::keys::KeyFailure> {
        if self.paths.is_empty() {
            return Ok(());
        }
        self.ready = Some(match self.protection.take() {
            Some(NewKeyProtection::Recipients(recipients)) => Protection::Recipients(recipients),
            Some(NewKeyProtection::Passphrase {
                source,
                what,
                prompt,
                work_factor,
            }) => Protection::Passphrase {
                passphrase: match source {
                    Some(source) => source.read(&what, self.ui)?,
                    None => self.ui.request_new_secret(&prompt)?,
                },
                work_factor,
            },
            None => return Ok(()),
        });
        Ok(())
    }

    fn save(
        &self,
        index: usize,
        key: &SigningKey,
    ) -> Result<(), hallmark_ceremony::keys::KeyFailure> {
        let (Some(path), Some(protection)) = (self.paths.get(index), &self.ready) else {
            return Err(format!(
                "no protection was gathered for key file {index} before it was saved"
            )
            .into());
        };
        let written = write_key(path, key, protection)?;
        (self.written)(&written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pass(text: &str) -> Secret {
        Secret::new(text.to_owned())
    }

    fn quick(text: &str) -> Protection {
        Protection::Passphrase {
            passphrase: pass(text),
            work_factor: Some(MIN_WORK_FACTOR),
        }
    }

    #[test]
    fn generate_unlock_sign() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        let generated = generate(&path, &quick("correct horse")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_public_key(&path).unwrap(), generated.public_key);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            "{text}"
        );

        let key = FileKey::unlock(&path, &Unlock::Passphrase(pass("correct horse"))).unwrap();
        assert_eq!(key.public_key(), generated.public_key);
        let sig = signature::Signer::try_sign(&key, b"m").unwrap();
        hallmark_keyring::key::verify_signature(&generated.public_key, b"m", &sig.to_bytes())
            .unwrap();
        assert!(!format!("{key:?}").contains("secret"), "{key:?}");
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(&path, &quick("a")).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = generate(&path, &quick("b")).unwrap_err();
        assert!(
            matches!(err, FileKeyError::Write(WriteError::Exists { .. })),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // An existing .pub alone also blocks, and nothing is left behind.
        let other = dir.path().join("o");
        std::fs::write(public_key_path(&other), "x").unwrap();
        assert!(generate(&other, &quick("a")).is_err());
        assert!(!other.exists());
    }

    #[test]
    fn wrong_passphrase_and_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(&path, &quick("right")).unwrap();
        let err = FileKey::unlock(&path, &Unlock::Passphrase(pass("wrong"))).unwrap_err();
        assert!(matches!(err, FileKeyError::WrongPassphrase { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("wrong passphrase for {}", path.display())
        );
        let err = FileKey::unlock(
            &path,
            &Unlock::Identities(vec![age::x25519::Identity::generate()]),
        )
        .unwrap_err();
        assert!(matches!(err, FileKeyError::WrongUnlockKind { .. }), "{err}");
    }

    #[test]
    fn recipients_escrow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let custodian = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let generated =
            generate(&path, &Protection::Recipients(vec![custodian.to_public()])).unwrap();
        let key = FileKey::unlock(&path, &Unlock::Identities(vec![custodian])).unwrap();
        assert_eq!(key.public_key(), generated.public_key);
        let err = FileKey::unlock(&path, &Unlock::Identities(vec![other])).unwrap_err();
        assert!(
            matches!(err, FileKeyError::NoMatchingIdentity { .. }),
            "{err}"
        );
        let err = FileKey::unlock(&path, &Unlock::Passphrase(pass("x"))).unwrap_err();
        assert!(matches!(err, FileKeyError::WrongUnlockKind { .. }), "{err}");
    }

    #[test]
    fn replaced_public_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        generate(&a, &quick("p")).unwrap();
        generate(&b, &quick("p")).unwrap();
        std::fs::copy(public_key_path(&b), public_key_path(&a)).unwrap();
        let err = FileKey::unlock(&a, &Unlock::Passphrase(pass("p"))).unwrap_err();
        assert!(
            matches!(err, FileKeyError::PublicKeyMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn garbage_and_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(&path, &quick("p")).unwrap();
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = FileKey::unlock(&path, &Unlock::Passphrase(pass("p"))).unwrap_err();
        assert!(matches!(err, FileKeyError::NotAgeFile { .. }), "{err}");
        std::fs::write(&path, b"not a key").unwrap();
        let err = FileKey::unlock(&path, &Unlock::Passphrase(pass("p"))).unwrap_err();
        assert!(matches!(err, FileKeyError::NotAgeFile { .. }), "{err}");
        std::fs::write(&path, vec![b'a'; MAX_KEY_FILE_BYTES as usize + 1]).unwrap();
        let err = FileKey::unlock(&path, &Unlock::Passphrase(pass("p"))).unwrap_err();
        assert!(matches!(err, FileKeyError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn decrypted_key_is_standard_pkcs8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(&path, &quick("p")).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut identity = age::scrypt::Identity::new(SecretString::from("p".to_owned()));
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let plain = age::decrypt(&identity, &bytes).unwrap();
        let text = String::from_utf8(plain).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    }
}
