//! Custodian backups: a file key split into M-of-N Shamir shares, each encrypted to one
//! custodian with age.
//!
//! The key's 32-byte secret seed is split byte-wise over GF(256) with `vsss-rs` (constant-time
//! field arithmetic, no lookup tables; audited). Any `threshold` shares rebuild it; fewer reveal
//! nothing about it. Each share travels as an age file (armoured) encrypted to its custodian's
//! recipient. Its plaintext is canonical JSON:
//!
//! ```json
//! {"mediaType":"application/vnd.hallmark.key-share.v1+json","backup":"<64 hex>",
//!  "identity":"hid:…","publicKey":"ed25519:…","keyId":"<64 hex>","index":1,"threshold":2,
//!  "shares":3,"created":"2026-11-23T10:00:00Z","value":"<base64 of 32 bytes>","sig":"<base64>"}
//! ```
//!
//! * `backup` — a random id shared by the shares of one backup, so a share of another backup
//!   (even of the same key) is recognised and refused;
//! * `index` (1 to `shares`) is the share's x-coordinate; `value` the 32 bytes of its
//!   y-coordinates;
//! * `sig` — an Ed25519 signature by the backed-up key itself over
//!   `"hallmark-key-share-v1\n" || SHA-256(the JSON without "sig")`. The signing input cannot be
//!   mistaken for an envelope's (`"hallmark-sig-v1\n"`). age encrypts to a public recipient and
//!   does not authenticate the sender, so anyone could make a share file for a custodian; the
//!   signature, checked under a key that the identity's log commits to, tells a genuine share
//!   from a forged or altered one *before* anything is combined, and names the bad share.
//!
//! After combining, the rebuilt key's public key must equal the shares' key, and that key must
//! be committed in the identity's log (in the current `next`, or a current key) — checked
//! before the key signs anything.
//!
//! What cannot be told: if the backed-up key itself has leaked, its holder can sign forged
//! shares that pass every check; but a leaked next key is already a compromise, to be answered
//! by rotating (see [`crate::manual`]).

use std::fmt;

use ed25519_dalek::{Signature, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use hallmark_keyring::canonical;
use hallmark_keyring::encoding::{base64_decode_array, base64_encode, hex_encode};
use hallmark_keyring::key::verify_signature;
use hallmark_keyring::{IdentityId, Kel, KeyId, PublicKey, Timestamp};

/// The share plaintext's media type.
pub const SHARE_MEDIA_TYPE: &str = "application/vnd.hallmark.key-share.v1+json";

/// Prefix of the input a share's signature covers.
pub const SHARE_SIGNING_DOMAIN: &[u8] = b"hallmark-key-share-v1\n";

/// Largest share file read, in bytes.
pub const MAX_SHARE_FILE_BYTES: usize = 16 * 1024;

/// Most shares one backup may have (GF(256) has 255 non-zero x-coordinates).
pub const MAX_SHARES: u8 = 255;

/// One custodian: where a share goes.
pub struct Custodian {
    /// How the custodian is named in messages and transcripts (their recipient, as text).
    pub label: String,
    /// The age recipient the share is encrypted to.
    pub recipient: Box<dyn age::Recipient + Send + Sync>,
}

impl fmt::Debug for Custodian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custodian")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// One encrypted share, ready to hand to its custodian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedShare {
    /// The share's index (1 to N).
    pub index: u8,
    /// The custodian it is encrypted to.
    pub custodian: String,
    /// The age file, ASCII-armoured.
    pub armored: String,
}

/// A backup: N encrypted shares of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The backup's id (64 hex digits).
    pub id: String,
    /// The key backed up.
    pub key: PublicKey,
    /// How many shares rebuild it.
    pub threshold: u8,
    /// The shares, by index.
    pub shares: Vec<EncryptedShare>,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Threshold or share count out of range.
    #[error(
        "a backup needs a threshold of at least 2, at most the number of shares, and at most \
         {MAX_SHARES} shares (asked: {threshold} of {shares})"
    )]
    Parameters {
        /// The threshold asked for.
        threshold: usize,
        /// The number of shares asked for.
        shares: usize,
    },
    /// The same custodian twice.
    #[error("custodian {0} is given twice: each share goes to a different custodian")]
    DuplicateCustodian(String),
    /// The key is not committed in the identity's log.
    #[error(
        "key {} is neither committed as a next key nor a current key of identity {}: refusing \
         to {what} it",
        key.short(), identity.short()
    )]
    NotCommitted {
        /// The key.
        key: KeyId,
        /// The identity.
        identity: IdentityId,
        /// "back up" or "restore".
        what: &'static str,
    },
    /// age failed to encrypt.
    #[error("encrypting share {index} to {custodian} failed: {detail}")]
    Encrypt {
        /// The share.
        index: u8,
        /// The custodian.
        custodian: String,
        /// age's description.
        detail: String,
    },
    /// A share file cannot be decrypted.
    #[error("cannot decrypt share {share}: {detail}")]
    Decrypt {
        /// The share file.
        share: String,
        /// What went wrong.
        detail: String,
    },
    /// A decrypted share is not a Hallmark key share.
    #[error("{share} is not a Hallmark key share: {detail}")]
    NotAShare {
        /// The share file.
        share: String,
        /// What is wrong.
        detail: String,
    },
    /// A share's signature does not verify: it was altered or forged.
    #[error(
        "share {share} (index {index}) was altered or forged: its signature by key {} does not \
         verify; ask its custodian for an intact copy",
        key.short()
    )]
    Tampered {
        /// The share file.
        share: String,
        /// Its index.
        index: u8,
        /// The key it claims.
        key: KeyId,
    },
    /// A share belongs to another backup.
    #[error(
        "share {share} belongs to {found}, not to {expected} like {first}: shares of different backups never combine"
    )]
    OtherBackup {
        /// The share file.
        share: String,
        /// Its backup and key, in words.
        found: String,
        /// The first share's file.
        first: String,
        /// The first share's backup and key, in words.
        expected: String,
    },
    /// Two shares with the same index.
    #[error(
        "{second} is share {index} again (already given as {first}); give {threshold} different shares"
    )]
    Duplicate {
        /// The index.
        index: u8,
        /// The first file with it.
        first: String,
        /// The second.
        second: String,
        /// The threshold.
        threshold: u8,
    },
    /// Fewer shares than the threshold.
    #[error("{have} share(s) given, but backup {}… needs {need} of its {total}", &backup[..16])]
    TooFewShares {
        /// Shares given.
        have: usize,
        /// The threshold.
        need: u8,
        /// The number of shares made.
        total: u8,
        /// The backup id.
        backup: String,
    },
    /// The shares name another identity.
    #[error("the shares are of a key of identity {}, not of {}", found.short(), expected.short())]
    OtherIdentity {
        /// The identity the shares name.
        found: IdentityId,
        /// The log's identity.
        expected: IdentityId,
    },
    /// No shares at all.
    #[error("no shares given")]
    NoShares,
    /// The shares combine to a key other than the one they name.
    #[error("the shares combine to key {}, not to key {} that they name", found.short(), expected.short())]
    WrongKey {
        /// The key rebuilt.
        found: KeyId,
        /// The key named.
        expected: KeyId,
    },
    /// Secret sharing failed.
    #[error("secret sharing failed: {0}")]
    Sharing(String),
}

/// The share document: every field but `sig` is signed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShareDoc {
    media_type: String,
    backup: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<IdentityId>,
    public_key: PublicKey,
    key_id: KeyId,
    index: u8,
    threshold: u8,
    shares: u8,
    created: Timestamp,
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<String>,
}

impl ShareDoc {
    fn signing_input(&self) -> Vec<u8> {
        let mut body = self.clone();
        body.sig = None;
        let bytes = Zeroizing::new(canonical::to_vec(&body));
        let mut input = SHARE_SIGNING_DOMAIN.to_vec();
        input.extend_from_slice(&Sha256::digest(&*bytes));
        input
    }
}

impl Drop for ShareDoc {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

/// A decrypted share whose signature verified.
pub struct Share {
    /// The file it came from (for messages).
    pub source: String,
    /// The backup id.
    pub backup: String,
    /// The identity named at backup time.
    pub identity: Option<IdentityId>,
    /// The key it is a share of.
    pub key: PublicKey,
    /// Its index.
    pub index: u8,
    /// How many shares rebuild the key.
    pub threshold: u8,
    /// How many shares were made.
    pub shares: u8,
    /// When the backup was made.
    pub created: Timestamp,
    value: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("source", &self.source)
            .field("backup", &self.backup)
            .field("key", &self.key)
            .field("index", &self.index)
            .field("threshold", &self.threshold)
            .field("shares", &self.shares)
            .finish_non_exhaustive()
    }
}

/// Whether `key` is committed in `kel` now: one of the current `next` commitments, or a
/// current signing key.
pub fn is_committed(kel: &Kel, key: &KeyId) -> bool {
    kel.current().next.contains(key) || kel.current().has_key(key)
}

/// Splits `key` into one share per custodian, any `threshold` of which rebuild it. When `kel`
/// is given, the key must be committed in it (a current next key or a current key), and the
/// shares name its identity.
pub fn split(
    key: &SigningKey,
    custodians: &[Custodian],
    threshold: u8,
    kel: Option<&Kel>,
    created: Timestamp,
) -> Result<Backup, BackupError> {
    let n = custodians.len();
    if threshold < 2 || usize::from(threshold) > n || n > usize::from(MAX_SHARES) {
        return Err(BackupError::Parameters {
            threshold: threshold.into(),
            shares: n,
        });
    }
    for (i, c) in custodians.iter().enumerate() {
        if custodians[..i].iter().any(|o| o.label == c.label) {
            return Err(BackupError::DuplicateCustodian(c.label.clone()));
        }
    }
    let public_key = PublicKey::new(key.verifying_key());
    let identity = match kel {
        Some(kel) => {
            if !is_committed(kel, &public_key.key_id()) {
                return Err(BackupError::NotCommitted {
                    key: public_key.key_id(),
                    identity: kel.identity(),
                    what: "back up",
                });
            }
            Some(kel.identity())
        }
        None => None,
    };
    let mut id = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| BackupError::Sharing(format!("no randomness: {e}")))?;
    let backup = hex_encode(&id);
    let seed = Zeroizing::new(key.to_bytes());
    let rng = rand_core::UnwrapErr(getrandom::SysRng);
    let raw: Vec<Zeroizing<Vec<u8>>> =
        vsss_rs::Gf256::split_bytes(usize::from(threshold), n, seed.as_slice(), rng)
            .map_err(|e| BackupError::Sharing(format!("{e:?}")))?
            .into_iter()
            .map(Zeroizing::new)
            .collect();
    let mut shares = Vec::with_capacity(n);
    for (raw, custodian) in raw.iter().zip(custodians) {
        // vsss-rs writes each share as its x-coordinate followed by the y-coordinates.
        let (index, value) = match raw.split_first() {
            Some((x, y)) if y.len() == 32 => (*x, y),
            _ => return Err(BackupError::Sharing("unexpected share layout".to_owned())),
        };
        let mut doc = ShareDoc {
            media_type: SHARE_MEDIA_TYPE.to_owned(),
            backup: backup.clone(),
            identity,
            public_key,
            key_id: public_key.key_id(),
            index,
            threshold,
            shares: n as u8,
            created,
            value: base64_encode(value),
            sig: None,
        };
        let sig: Signature = signature::Signer::sign(key, &doc.signing_input());
        doc.sig = Some(base64_encode(&sig.to_bytes()));
        let plaintext = Zeroizing::new(canonical::to_vec(&doc));
        let armored = encrypt(&plaintext, custodian.recipient.as_ref()).map_err(|detail| {
            BackupError::Encrypt {
                index,
                custodian: custodian.label.clone(),
                detail,
            }
        })?;
        shares.push(EncryptedShare {
            index,
            custodian: custodian.label.clone(),
            armored,
        });
    }
    Ok(Backup {
        id: backup,
        key: public_key,
        threshold,
        shares,
    })
}

fn encrypt(plaintext: &[u8], recipient: &dyn age::Recipient) -> Result<String, String> {
    use std::io::Write;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| e.to_string())?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    writer.write_all(plaintext).map_err(|e| e.to_string())?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Decrypts a share file with the custodians' age identities, decodes it, and verifies its
/// signature under the key it names. `source` names the file in messages.
pub fn open_share(
    source: &str,
    bytes: &[u8],
    identities: &[&dyn age::Identity],
) -> Result<Share, BackupError> {
    use std::io::Read;
    let decrypt_err = |detail: String| BackupError::Decrypt {
        share: source.to_owned(),
        detail,
    };
    if bytes.len() > MAX_SHARE_FILE_BYTES {
        return Err(decrypt_err(format!(
            "{} bytes, larger than any share file",
            bytes.len()
        )));
    }
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(bytes))
        .map_err(|e| decrypt_err(format!("not an age file ({e})")))?;
    if decryptor.is_scrypt() {
        return Err(decrypt_err(
            "it is encrypted to a passphrase; shares are encrypted to custodians' age recipients"
                .to_owned(),
        ));
    }
    let mut reader = decryptor
        .decrypt(identities.iter().copied())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => decrypt_err(
                "none of the given age identities (--age-identity) can decrypt it".to_owned(),
            ),
            other => decrypt_err(format!("{other} (the file is damaged or was altered)")),
        })?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| decrypt_err(format!("{e} (the file is damaged or was altered)")))?;
    let not_share = |detail: String| BackupError::NotAShare {
        share: source.to_owned(),
        detail,
    };
    let doc: ShareDoc = canonical::from_slice("key share", &plaintext, MAX_SHARE_FILE_BYTES)
        .map_err(|e| not_share(e.to_string()))?;
    if doc.media_type != SHARE_MEDIA_TYPE {
        return Err(not_share(format!(
            "media type {:?}",
            doc.media_type.chars().take(80).collect::<String>()
        )));
    }
    if doc.key_id != doc.public_key.key_id() {
        return Err(not_share("its key id does not match its key".to_owned()));
    }
    if doc.backup.len() != 64
        || !doc
            .backup
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(not_share(
            "its backup id is not 64 lowercase hex digits".to_owned(),
        ));
    }
    if doc.threshold < 2 || doc.threshold > doc.shares || doc.index == 0 || doc.index > doc.shares {
        return Err(not_share(format!(
            "index {} / threshold {} / shares {} out of range",
            doc.index, doc.threshold, doc.shares
        )));
    }
    let sig = doc
        .sig
        .as_deref()
        .ok_or_else(|| not_share("it is not signed".to_owned()))?;
    let sig =
        base64_decode_array::<64>("share signature", sig).map_err(|e| not_share(e.to_string()))?;
    if verify_signature(&doc.public_key, &doc.signing_input(), &sig).is_err() {
        return Err(BackupError::Tampered {
            share: source.to_owned(),
            index: doc.index,
            key: doc.key_id,
        });
    }
    let value = Zeroizing::new(
        base64_decode_array::<32>("share value", &doc.value)
            .map_err(|e| not_share(e.to_string()))?,
    );
    Ok(Share {
        source: source.to_owned(),
        backup: doc.backup.clone(),
        identity: doc.identity,
        key: doc.public_key,
        index: doc.index,
        threshold: doc.threshold,
        shares: doc.shares,
        created: doc.created,
        value,
    })
}

/// Rebuilds the key from verified shares and checks it against `kel`'s commitment: the shares
/// must all belong to one backup, be distinct, be at least its threshold, and name a key that
/// `kel` commits to now; the rebuilt key must be that key.
pub fn restore(shares: &[Share], kel: &Kel) -> Result<SigningKey, BackupError> {
    let first = shares.first().ok_or(BackupError::NoShares)?;
    for (i, share) in shares.iter().enumerate() {
        if share.backup != first.backup || share.key != first.key {
            let describe = |s: &Share| {
                format!(
                    "backup {}… of key {}",
                    &s.backup[..16],
                    s.key.key_id().short()
                )
            };
            return Err(BackupError::OtherBackup {
                share: share.source.clone(),
                found: describe(share),
                first: first.source.clone(),
                expected: describe(first),
            });
        }
        if share.threshold != first.threshold || share.shares != first.shares {
            return Err(BackupError::NotAShare {
                share: share.source.clone(),
                detail: "its threshold or share count differs from the other shares'".to_owned(),
            });
        }
        if let Some(earlier) = shares[..i].iter().find(|s| s.index == share.index) {
            return Err(BackupError::Duplicate {
                index: share.index,
                first: earlier.source.clone(),
                second: share.source.clone(),
                threshold: first.threshold,
            });
        }
    }
    if shares.len() < usize::from(first.threshold) {
        return Err(BackupError::TooFewShares {
            have: shares.len(),
            need: first.threshold,
            total: first.shares,
            backup: first.backup.clone(),
        });
    }
    if let Some(found) = first.identity
        && found != kel.identity()
    {
        return Err(BackupError::OtherIdentity {
            found,
            expected: kel.identity(),
        });
    }
    let expected = first.key.key_id();
    if !is_committed(kel, &expected) {
        return Err(BackupError::NotCommitted {
            key: expected,
            identity: kel.identity(),
            what: "restore",
        });
    }
    let raw: Vec<Vec<u8>> = shares
        .iter()
        .map(|s| {
            let mut v = Vec::with_capacity(33);
            v.push(s.index);
            v.extend_from_slice(s.value.as_slice());
            v
        })
        .collect();
    let combined =
        vsss_rs::Gf256::combine_bytes(&raw).map_err(|e| BackupError::Sharing(format!("{e:?}")));
    for mut v in raw {
        zeroize::Zeroize::zeroize(&mut v);
    }
    let secret = Zeroizing::new(combined?);
    let seed: Zeroizing<[u8; 32]> =
        Zeroizing::new(secret.as_slice().try_into().map_err(|_| {
            BackupError::Sharing("the shares do not combine to 32 bytes".to_owned())
        })?);
    let key = SigningKey::from_bytes(&seed);
    let found = PublicKey::new(key.verifying_key()).key_id();
    if found != expected {
        return Err(BackupError::WrongKey { found, expected });
    }
    Ok(key)
}
