//! Private keys of other tools, read for `hallmark key import` and written by `hallmark key
//! export`: minisign secret keys, OpenSSH Ed25519 private keys and raw 32-byte seeds.
//!
//! * **minisign** (`minisign -G`): `untrusted comment: …` and one base64 line of
//!   `"Ed" || kdf ("Sc" or two zero bytes) || "B2" || salt (32) || opslimit (u64 LE) ||
//!   memlimit (u64 LE) || key id (8) || seed (32) || public key (32) || checksum (32)`. With
//!   kdf `Sc` the last 104 bytes are XORed with scrypt(password, salt) — libsodium's
//!   `crypto_pwhash_scryptsalsa208sha256`, whose (opslimit, memlimit) pick N, r and p — and the
//!   checksum is BLAKE2b-256(`"Ed"` || key id || seed || public key) (left zero by minisign in
//!   an unencrypted key, `minisign -G -W`). The 8-byte key id is what
//!   minisign signatures and public keys name the key by; importing keeps it.
//! * **OpenSSH** (`ssh-keygen -t ed25519`): `openssh-key-v1`, unencrypted or encrypted with
//!   bcrypt-pbkdf and a cipher (aes256-ctr by default), read and written by RustCrypto's
//!   `ssh-key`.
//! * **raw seed**: exactly 32 bytes, the Ed25519 secret key of RFC 8032.
//!
//! Every secret lives in zeroizing buffers; no type here shows a secret in `Debug`.

use std::fmt;

use blake2::Digest;
use ed25519_dalek::SigningKey;
use hallmark_hsm::secret::Secret;
use hallmark_keyring::PublicKey;
use hallmark_keyring::encoding::{base64_decode, base64_encode};
use zeroize::Zeroizing;

/// The formats `key import` reads and `key export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignFormat {
    /// A minisign secret key file.
    Minisign,
    /// An OpenSSH private key file.
    OpenSsh,
    /// The 32-byte seed, raw.
    RawSeed,
}

impl ForeignFormat {
    /// The name people know the format by.
    pub fn describe(self) -> &'static str {
        match self {
            ForeignFormat::Minisign => "a minisign secret key",
            ForeignFormat::OpenSsh => "an OpenSSH private key",
            ForeignFormat::RawSeed => "a raw 32-byte Ed25519 seed",
        }
    }
}

/// The largest foreign key file read, in bytes (an OpenSSH Ed25519 key is about 460).
pub const MAX_FOREIGN_KEY_FILE: u64 = 16 * 1024;

/// The scrypt cost (log2 N) minisign uses for its keys; files asking for more are refused as
/// hostile (each step doubles memory: 22 is 4 GiB).
pub const MAX_MINISIGN_LOG_N: u8 = 22;

/// bcrypt-pbkdf rounds beyond which an OpenSSH key file is refused as hostile (`ssh-keygen`
/// uses 16 unless `-a` says otherwise).
pub const MAX_BCRYPT_ROUNDS: u32 = 1024;

/// The first line of an OpenSSH private key file.
const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const MINISIGN_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

/// Why a foreign key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForeignKeyError {
    /// Not a format Hallmark imports.
    #[error(
        "not a key Hallmark imports: expected a minisign secret key, an OpenSSH Ed25519 private \
         key or a raw 32-byte seed"
    )]
    Unrecognised,
    /// The file is in a known format but malformed.
    #[error("{format}: {detail}", format = .format.describe())]
    Malformed {
        /// The format.
        format: ForeignFormat,
        /// What is wrong.
        detail: String,
    },
    /// A key of another algorithm.
    #[error("{format} of type {algorithm}; Hallmark keys are Ed25519", format = .format.describe())]
    NotEd25519 {
        /// The format.
        format: ForeignFormat,
        /// The algorithm found.
        algorithm: String,
    },
    /// The key file asks for more key-derivation work than Hallmark spends.
    #[error("{format} asks for {what}, more than Hallmark accepts ({limit})", format = .format.describe())]
    ExcessiveWork {
        /// The format.
        format: ForeignFormat,
        /// The work asked for.
        what: String,
        /// The limit.
        limit: String,
    },
    /// The key is encrypted and no passphrase was given.
    #[error("{format} is encrypted: its passphrase is needed", format = .format.describe())]
    PassphraseNeeded {
        /// The format.
        format: ForeignFormat,
    },
    /// Wrong passphrase (or a corrupted file: the formats cannot tell the two apart).
    #[error("wrong passphrase for {format} (or the file is corrupted)", format = .format.describe())]
    WrongPassphrase {
        /// The format.
        format: ForeignFormat,
    },
    /// The private and public halves stored in the file do not belong together.
    #[error("{format} holds a public key that does not match its private key: the file is corrupted", format = .format.describe())]
    Mismatch {
        /// The format.
        format: ForeignFormat,
    },
    /// Encoding for export failed.
    #[error("writing {format} failed: {detail}", format = .format.describe())]
    Encode {
        /// The format.
        format: ForeignFormat,
        /// What went wrong.
        detail: String,
    },
}

/// A foreign key file, parsed but not yet decrypted.
pub struct ForeignKeyFile {
    inner: Inner,
}

enum Inner {
    Minisign(Box<MinisignSecretKey>),
    OpenSsh(Box<ssh_key::PrivateKey>),
    Raw(Zeroizing<[u8; 32]>),
}

/// The fields of a minisign secret key file; `sealed` is still XORed with the scrypt stream
/// when `encrypted`.
struct MinisignSecretKey {
    encrypted: bool,
    salt: [u8; 32],
    opslimit: u64,
    memlimit: u64,
    sealed: Zeroizing<[u8; 104]>,
}

impl fmt::Debug for ForeignKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignKeyFile")
            .field("format", &self.format())
            .field("encrypted", &self.is_encrypted())
            .finish_non_exhaustive()
    }
}

/// A decrypted foreign key: the seed, and what identified the key in its own tool.
pub struct ForeignKey {
    key: SigningKey,
    format: ForeignFormat,
    minisign_key_id: Option<[u8; 8]>,
    comment: Option<String>,
}

impl fmt::Debug for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignKey")
            .field("format", &self.format)
            .field("public_key", &self.public_key())
            .field("minisign_key_id", &self.minisign_key_id)
            .finish_non_exhaustive()
    }
}

impl ForeignKey {
    /// The signing key (zeroized on drop).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.key.verifying_key())
    }

    /// The format it came from.
    pub fn format(&self) -> ForeignFormat {
        self.format
    }

    /// The minisign key id, for a key read from a minisign secret key.
    pub fn minisign_key_id(&self) -> Option<[u8; 8]> {
        self.minisign_key_id
    }

    /// The OpenSSH key's comment, if it had one.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

/// Tells which foreign private key format `bytes` are, without decrypting; `None` when they
/// are none of them. Cheap: for error messages where a key reference was expected.
pub fn sniff(bytes: &[u8]) -> Option<ForeignFormat> {
    if bytes.len() == 32 {
        return Some(ForeignFormat::RawSeed);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim_start().starts_with(OPENSSH_BEGIN) {
        return Some(ForeignFormat::OpenSsh);
    }
    let mut lines = text.lines();
    let first = lines.next()?;
    let second = lines.next()?.trim_end();
    (first.starts_with(crate::interop::minisign::UNTRUSTED_PREFIX)
        && second.starts_with("RW")
        && second.len() == MINISIGN_KEY_LEN.div_ceil(3) * 4)
        .then_some(ForeignFormat::Minisign)
}

impl ForeignKeyFile {
    /// Parses a foreign key file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ForeignKeyError> {
        let inner = match sniff(bytes).ok_or(ForeignKeyError::Unrecognised)? {
            ForeignFormat::RawSeed => {
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(bytes);
                Inner::Raw(seed)
            }
            ForeignFormat::OpenSsh => Inner::OpenSsh(Box::new(parse_openssh(bytes)?)),
            ForeignFormat::Minisign => Inner::Minisign(Box::new(parse_minisign(bytes)?)),
        };
        Ok(ForeignKeyFile { inner })
    }

    /// The format.
    pub fn format(&self) -> ForeignFormat {
        match self.inner {
            Inner::Minisign(_) => ForeignFormat::Minisign,
            Inner::OpenSsh(_) => ForeignFormat::OpenSsh,
            Inner::Raw(_) => ForeignFormat::RawSeed,
        }
    }

    /// Whether a passphrase is needed to open it.
    pub fn is_encrypted(&self) -> bool {
        match &self.inner {
            Inner::Minisign(k) => k.encrypted,
            Inner::OpenSsh(k) => k.is_encrypted(),
            Inner::Raw(_) => false,
        }
    }

    /// Decrypts (with `passphrase` when [`is_encrypted`](Self::is_encrypted)) and checks the
    /// key: its public half, where the file stores one, must match the private half.
    pub fn open(&self, passphrase: Option<&Secret>) -> Result<ForeignKey, ForeignKeyError> {
        let format = self.format();
        let passphrase = || passphrase.ok_or(ForeignKeyError::PassphraseNeeded { format });
        match &self.inner {
            Inner::Raw(seed) => Ok(ForeignKey {
                key: SigningKey::from_bytes(seed),
                format,
                minisign_key_id: None,
                comment: None,
            }),
            Inner::Minisign(k) => {
                let mut plain = k.sealed.clone();
                if k.encrypted {
                    let stream = minisign_stream(passphrase()?, &k.salt, k.opslimit, k.memlimit)?;
                    for (b, s) in plain.iter_mut().zip(stream.iter()) {
                        *b ^= s;
                    }
                }
                let mut key_id = [0u8; 8];
                key_id.copy_from_slice(&plain[..8]);
                let checksum = minisign_checksum(&key_id, &plain[8..72]);
                // minisign leaves the checksum of an unencrypted key (`-W`) zero.
                let unchecked = !k.encrypted && plain[72..104].iter().all(|&b| b == 0);
                if checksum[..] != plain[72..104] && !unchecked {
                    return Err(if k.encrypted {
                        ForeignKeyError::WrongPassphrase { format }
                    } else {
                        ForeignKeyError::Malformed {
                            format,
                            detail: "its checksum does not match".to_owned(),
                        }
                    });
                }
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(&plain[8..40]);
                let key = SigningKey::from_bytes(&seed);
                if key.verifying_key().as_bytes()[..] != plain[40..72] {
                    return Err(ForeignKeyError::Mismatch { format });
                }
                Ok(ForeignKey {
                    key,
                    format,
                    minisign_key_id: Some(key_id),
                    comment: None,
                })
            }
            Inner::OpenSsh(k) => {
                let decrypted;
                let k = if k.is_encrypted() {
                    decrypted =
                        k.decrypt(passphrase()?.expose().as_bytes())
                            .map_err(|e| match e {
                                ssh_key::Error::Crypto | ssh_key::Error::Decrypted => {
                                    ForeignKeyError::WrongPassphrase { format }
                                }
                                other => ForeignKeyError::Malformed {
                                    format,
                                    detail: other.to_string(),
                                },
                            })?;
                    &decrypted
                } else {
                    k.as_ref()
                };
                let ssh_key::private::KeypairData::Ed25519(pair) = k.key_data() else {
                    return Err(ForeignKeyError::NotEd25519 {
                        format,
                        algorithm: k.algorithm().to_string(),
                    });
                };
                let seed = Zeroizing::new(pair.private.to_bytes());
                let key = SigningKey::from_bytes(&seed);
                if key.verifying_key().as_bytes() != pair.public.as_ref() {
                    return Err(ForeignKeyError::Mismatch { format });
                }
                let comment = k.comment().as_bytes();
                Ok(ForeignKey {
                    key,
                    format,
                    minisign_key_id: None,
                    comment: (!comment.is_empty())
                        .then(|| String::from_utf8_lossy(comment).into_owned()),
                })
            }
        }
    }
}

fn parse_openssh(bytes: &[u8]) -> Result<ssh_key::PrivateKey, ForeignKeyError> {
    let format = ForeignFormat::OpenSsh;
    let key = ssh_key::PrivateKey::from_openssh(bytes).map_err(|e| ForeignKeyError::Malformed {
        format,
        detail: e.to_string(),
    })?;
    let algorithm = key.public_key().algorithm();
    if algorithm != ssh_key::Algorithm::Ed25519 {
        return Err(ForeignKeyError::NotEd25519 {
            format,
            algorithm: algorithm.to_string(),
        });
    }
    if let ssh_key::Kdf::Bcrypt { rounds, .. } = key.kdf()
        && *rounds > MAX_BCRYPT_ROUNDS
    {
        return Err(ForeignKeyError::ExcessiveWork {
            format,
            what: format!("{rounds} bcrypt-pbkdf rounds"),
            limit: format!("{MAX_BCRYPT_ROUNDS}"),
        });
    }
    Ok(key)
}

fn parse_minisign(bytes: &[u8]) -> Result<MinisignSecretKey, ForeignKeyError> {
    let format = ForeignFormat::Minisign;
    let malformed = |detail: &str| ForeignKeyError::Malformed {
        format,
        detail: detail.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("not text"))?;
    let mut lines = text.lines();
    let (Some(_comment), Some(line), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(malformed(
            "expected two lines: an untrusted comment and the key",
        ));
    };
    let raw = Zeroizing::new(
        base64_decode("minisign secret key", line.trim_end(), MINISIGN_KEY_LEN)
            .map_err(|e| malformed(&e.to_string()))?,
    );
    if raw.len() != MINISIGN_KEY_LEN {
        return Err(malformed("the key is not 158 bytes long"));
    }
    if &raw[0..2] != b"Ed" {
        return Err(ForeignKeyError::NotEd25519 {
            format,
            algorithm: String::from_utf8_lossy(&raw[0..2]).into_owned(),
        });
    }
    let encrypted = match &raw[2..4] {
        b"Sc" => true,
        [0, 0] => false,
        _ => return Err(malformed("unknown key derivation (expected Sc or none)")),
    };
    if &raw[4..6] != b"B2" {
        return Err(malformed("unknown checksum algorithm (expected B2)"));
    }
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&raw[6..38]);
    let le = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (opslimit, memlimit) = (le(38), le(46));
    if encrypted {
        // Refuse hostile parameters before any work.
        scrypt_params(opslimit, memlimit)?;
    }
    let mut sealed = Zeroizing::new([0u8; 104]);
    sealed.copy_from_slice(&raw[54..158]);
    Ok(MinisignSecretKey {
        encrypted,
        salt,
        opslimit,
        memlimit,
        sealed,
    })
}

/// libsodium's choice of scrypt (log2 N, r, p) for `crypto_pwhash_scryptsalsa208sha256` with
/// these limits (its `pickparams`), bounded by [`MAX_MINISIGN_LOG_N`].
fn scrypt_params(opslimit: u64, memlimit: u64) -> Result<scrypt::Params, ForeignKeyError> {
    let format = ForeignFormat::Minisign;
    let opslimit = opslimit.max(32768);
    let r: u64 = 8;
    let smallest_log_n = |max_n: u64| (1u8..63).find(|n| (1u64 << n) > max_n / 2).unwrap_or(63);
    let (log_n, p) = if opslimit < memlimit / 32 {
        (smallest_log_n(opslimit / (r * 4)), 1)
    } else {
        let log_n = smallest_log_n(memlimit / (r * 128));
        let max_rp = ((opslimit / 4) >> log_n).min(0x3fff_ffff);
        (log_n, max_rp / r)
    };
    if log_n > MAX_MINISIGN_LOG_N || p > 16 {
        return Err(ForeignKeyError::ExcessiveWork {
            format,
            what: format!("scrypt with N = 2^{log_n}, r = 8, p = {p}"),
            limit: format!("N up to 2^{MAX_MINISIGN_LOG_N}, p up to 16"),
        });
    }
    let p = u32::try_from(p.max(1)).unwrap_or(1);
    scrypt::Params::new(log_n, 8, p, 32).map_err(|e| ForeignKeyError::Malformed {
        format,
        detail: format!("scrypt parameters: {e}"),
    })
}

fn minisign_stream(
    passphrase: &Secret,
    salt: &[u8; 32],
    opslimit: u64,
    memlimit: u64,
) -> Result<Zeroizing<[u8; 104]>, ForeignKeyError> {
    let params = scrypt_params(opslimit, memlimit)?;
    let mut stream = Zeroizing::new([0u8; 104]);
    scrypt::scrypt(
        passphrase.expose().as_bytes(),
        salt,
        &params,
        stream.as_mut(),
    )
    .map_err(|e| ForeignKeyError::Malformed {
        format: ForeignFormat::Minisign,
        detail: e.to_string(),
    })?;
    Ok(stream)
}

fn minisign_checksum(key_id: &[u8; 8], secret_and_public: &[u8]) -> [u8; 32] {
    let mut hasher = blake2::Blake2b256::new();
    hasher.update(b"Ed");
    hasher.update(key_id);
    hasher.update(secret_and_public);
    hasher.finalize().into()
}

/// How an exported key file is protected.
pub enum ExportProtection<'a> {
    /// Encrypted to a passphrase; for minisign, with scrypt cost `log_n` (minisign's own is
    /// 20).
    Passphrase {
        /// The passphrase.
        passphrase: &'a Secret,
        /// minisign's scrypt log2 N (10 to [`MAX_MINISIGN_LOG_N`]).
        log_n: u8,
    },
    /// Not encrypted (`minisign -W`, `ssh-keygen -N ''`, a raw seed).
    None,
}

/// The minisign scrypt cost minisign itself uses.
pub const MINISIGN_LOG_N: u8 = 20;

/// Writes `key` in `format`. A minisign key is written with `minisign_key_id`; an OpenSSH key
/// with `comment`.
pub fn export(
    key: &SigningKey,
    format: ForeignFormat,
    protection: &ExportProtection<'_>,
    minisign_key_id: [u8; 8],
    comment: &str,
) -> Result<Zeroizing<Vec<u8>>, ForeignKeyError> {
    let encode = |detail: String| ForeignKeyError::Encode { format, detail };
    let random = |buf: &mut [u8]| {
        getrandom::fill(buf).map_err(|e| ForeignKeyError::Encode {
            format,
            detail: format!("no randomness: {e}"),
        })
    };
    match format {
        ForeignFormat::RawSeed => {
            if matches!(protection, ExportProtection::Passphrase { .. }) {
                return Err(encode(
                    "a raw seed cannot be encrypted; choose minisign or openssh".to_owned(),
                ));
            }
            Ok(Zeroizing::new(key.to_bytes().to_vec()))
        }
        ForeignFormat::Minisign => {
            let mut sealed = Zeroizing::new([0u8; 104]);
            sealed[..8].copy_from_slice(&minisign_key_id);
            sealed[8..40].copy_from_slice(key.as_bytes());
            sealed[40..72].copy_from_slice(key.verifying_key().as_bytes());
            let checksum = minisign_checksum(&minisign_key_id, &sealed[8..72]);
            sealed[72..].copy_from_slice(&checksum);
            let mut salt = [0u8; 32];
            let (kdf, opslimit, memlimit) = match protection {
                ExportProtection::Passphrase { passphrase, log_n } => {
                    if !(10..=MAX_MINISIGN_LOG_N).contains(log_n) {
                        return Err(encode(format!(
                            "scrypt work factor {log_n} is out of range (10 to {MAX_MINISIGN_LOG_N})"
                        )));
                    }
                    random(&mut salt)?;
                    // The limits from which libsodium picks N = 2^log_n, r = 8, p = 1.
                    let (opslimit, memlimit) = (1u64 << (log_n + 5), 1u64 << (log_n + 10));
                    let stream = minisign_stream(passphrase, &salt, opslimit, memlimit)?;
                    for (b, s) in sealed.iter_mut().zip(stream.iter()) {
                        *b ^= s;
                    }
                    (*b"Sc", opslimit, memlimit)
                }
                ExportProtection::None => ([0, 0], 0, 0),
            };
            let mut raw = Zeroizing::new(Vec::with_capacity(MINISIGN_KEY_LEN));
            raw.extend_from_slice(b"Ed");
            raw.extend_from_slice(&kdf);
            raw.extend_from_slice(b"B2");
            raw.extend_from_slice(&salt);
            raw.extend_from_slice(&opslimit.to_le_bytes());
            raw.extend_from_slice(&memlimit.to_le_bytes());
            raw.extend_from_slice(sealed.as_ref());
            let comment = if kdf == *b"Sc" {
                "minisign encrypted secret key"
            } else {
                "minisign secret key"
            };
            let line = Zeroizing::new(base64_encode(&raw));
            let mut out = Zeroizing::new(Vec::new());
            out.extend_from_slice(format!("untrusted comment: {comment}\n").as_bytes());
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            Ok(out)
        }
        ForeignFormat::OpenSsh => {
            let public = ssh_key::public::Ed25519PublicKey(key.verifying_key().to_bytes());
            let private = ssh_key::private::Ed25519PrivateKey::from_bytes(key.as_bytes());
            let pair = ssh_key::private::Ed25519Keypair { public, private };
            let plain = ssh_key::PrivateKey::new(
                ssh_key::private::KeypairData::Ed25519(pair),
                comment.to_owned(),
            )
            .map_err(|e| encode(e.to_string()))?;
            let written = match protection {
                ExportProtection::Passphrase { passphrase, .. } => {
                    let mut salt = vec![0u8; 16];
                    random(&mut salt)?;
                    let mut checkint = [0u8; 4];
                    random(&mut checkint)?;
                    plain
                        .encrypt_with(
                            ssh_key::Cipher::Aes256Ctr,
                            ssh_key::Kdf::Bcrypt { salt, rounds: 16 },
                            u32::from_le_bytes(checkint),
                            passphrase.expose().as_bytes(),
                        )
                        .map_err(|e| encode(e.to_string()))?
                }
                ExportProtection::None => plain,
            };
            let text = written
                .to_openssh(ssh_key::LineEnding::LF)
                .map_err(|e| encode(e.to_string()))?;
            Ok(Zeroizing::new(text.as_bytes().to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn libsodium_parameters_for_minisign_defaults() {
        // minisign's OPSLIMIT_SENSITIVE and MEMLIMIT_SENSITIVE.
        let p = scrypt_params(33_554_432, 1_073_741_824).unwrap();
        assert_eq!((p.log_n(), p.r(), p.p()), (20, 8, 1));
        for log_n in 10..=MAX_MINISIGN_LOG_N {
            let p = scrypt_params(1 << (log_n + 5), 1 << (log_n + 10)).unwrap();
            assert_eq!((p.log_n(), p.r(), p.p()), (log_n, 8, 1));
        }
        let err = scrypt_params(1 << 40, 1 << 40).err().unwrap();
        assert!(
            matches!(err, ForeignKeyError::ExcessiveWork { .. }),
            "{err}"
        );
    }

    #[test]
    fn each_format_round_trips() {
        let secret = Secret::new("correct horse".to_owned());
        for format in [
            ForeignFormat::Minisign,
            ForeignFormat::OpenSsh,
            ForeignFormat::RawSeed,
        ] {
            let mut protections = vec![ExportProtection::None];
            if format != ForeignFormat::RawSeed {
                protections.push(ExportProtection::Passphrase {
                    passphrase: &secret,
                    log_n: 10,
                });
            }
            for protection in &protections {
                let bytes = export(&key(), format, protection, *b"12345678", "me@host").unwrap();
                assert_eq!(sniff(&bytes), Some(format));
                let file = ForeignKeyFile::parse(&bytes).unwrap();
                let encrypted = matches!(protection, ExportProtection::Passphrase { .. });
                assert_eq!(file.is_encrypted(), encrypted);
                if encrypted {
                    let err = file.open(None).unwrap_err();
                    assert!(
                        matches!(err, ForeignKeyError::PassphraseNeeded { .. }),
                        "{err}"
                    );
                    let err = file
                        .open(Some(&Secret::new("wrong".to_owned())))
                        .unwrap_err();
                    assert!(
                        matches!(err, ForeignKeyError::WrongPassphrase { .. }),
                        "{err}"
                    );
                }
                let opened = file.open(Some(&secret)).unwrap();
                assert_eq!(opened.signing_key().to_bytes(), key().to_bytes());
                assert_eq!(
                    opened.minisign_key_id(),
                    (format == ForeignFormat::Minisign).then_some(*b"12345678")
                );
                assert!(!format!("{opened:?}").contains("0707"), "{opened:?}");
            }
        }
    }

    #[test]
    fn corrupted_minisign_key_is_refused() {
        let bytes = export(
            &key(),
            ForeignFormat::Minisign,
            &ExportProtection::None,
            [1; 8],
            "",
        )
        .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let (comment, line) = text.split_once('\n').unwrap();
        let mut raw = base64_decode("k", line.trim_end(), 200).unwrap();
        raw[100] ^= 1;
        let bad = format!("{comment}\n{}\n", base64_encode(&raw));
        let err = ForeignKeyFile::parse(bad.as_bytes())
            .unwrap()
            .open(None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a minisign secret key: its checksum does not match"
        );
        assert!(matches!(
            ForeignKeyFile::parse(b"hello").unwrap_err(),
            ForeignKeyError::Unrecognised
        ));
    }
}
