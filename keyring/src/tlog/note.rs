//! C2SP signed notes: text, a blank line, and signature lines `— <name> <base64(key id ||
//! signature)>`; Ed25519 note keys (type `0x01`) and witness cosignature keys (type `0x04`).

use std::fmt;

use sha2::{Digest, Sha256};

use crate::encoding::{base64_decode, base64_encode, hex_decode_array, hex_encode};
use crate::envelope::{Ed25519Signer, SignError};
use crate::key::{PublicKey, verify_signature};

/// The largest note read: checkpoints are about 100 bytes, a note with many cosignatures a
/// few kilobytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most signature lines a note may have (as Go's `note` package allows).
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// The largest signature (after the key id) a line may carry.
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// The first bytes of a signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Signature type byte of Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of tlog-cosignature v1 (Ed25519 over a timestamped checkpoint).
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// The kind of a note key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// An Ed25519 key signing the note text (type `0x01`): a log's key.
    Ed25519,
    /// A witness key making tlog-cosignature v1 signatures (type `0x04`).
    Cosignature,
}

impl KeyType {
    /// The signature type byte.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => TYPE_ED25519,
            KeyType::Cosignature => TYPE_COSIGNATURE,
        }
    }
}

/// Why a note, a signature line or a verifier key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {len} bytes, more than the {MAX_NOTE_BYTES} allowed")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// Not UTF-8, or a control character other than newline.
    #[error("the note is not UTF-8 text without control characters")]
    NotText,
    /// No blank line before signatures, or no signatures.
    #[error("the note has no signature lines after a blank line")]
    Unsigned,
    /// A signature line that is not `— <name> <base64>` ending in a newline.
    #[error("signature line {line} is malformed: {detail}")]
    BadSignatureLine {
        /// 1-based line number among the signature lines.
        line: usize,
        /// What is wrong.
        detail: &'static str,
    },
    /// More than [`MAX_NOTE_SIGNATURES`] signatures.
    #[error("the note has {count} signatures, more than the {MAX_NOTE_SIGNATURES} allowed")]
    TooManySignatures {
        /// How many.
        count: usize,
    },
    /// A key name that is empty or holds a space or a `+`.
    #[error("key name {0:?} is invalid: it must be non-empty, without spaces or '+'")]
    BadKeyName(String),
    /// A verifier key string that is not `<name>+<hex key id>+<base64(type || key)>`.
    #[error("verifier key is malformed: {0}")]
    BadVerifierKey(&'static str),
    /// A known key's signature does not verify: the note is refused.
    #[error(
        "the signature by {name} (key id {}) does not verify",
        hex_encode(key_id)
    )]
    BadSignature {
        /// The key's name.
        name: String,
        /// The key id.
        key_id: [u8; 4],
    },
    /// No signature by any known key.
    #[error("the note carries no signature by a known key (expected one by {expected})")]
    NoKnownSignature {
        /// The names of the keys that were looked for.
        expected: String,
    },
    /// Text that cannot be signed: empty, not ending in a newline, ending in a blank line,
    /// or with control characters.
    #[error("note text must be non-empty UTF-8 ending in one newline, without control characters")]
    BadText,
}

/// One signature line of a note.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSignature")
            .field("name", &self.name)
            .field("key_id", &hex_encode(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSignature {
    /// The line: `— <name> <base64(key id || signature)>\n`.
    pub fn line(&self) -> String {
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, base64_encode(&bytes))
    }
}

/// A signed note: its text and signature lines, parsed but not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Checks key-name syntax: non-empty, no Unicode spaces, no `+`.
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name.contains('+')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

fn is_text(text: &str) -> bool {
    !text.chars().any(|c| c < '\u{20}' && c != '\n')
}

/// The 4-byte key id of a note key: `SHA-256(name || 0x0A || type || key)[:4]`.
pub fn key_id(name: &str, kind: KeyType, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind.byte()]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

impl Note {
    /// A note of `text` with no signatures yet. The text must be non-empty UTF-8 ending in
    /// exactly one newline (no blank last line), without control characters but newline.
    pub fn new(text: impl Into<String>) -> Result<Note, NoteError> {
        let text = text.into();
        if text.is_empty() || !text.ends_with('\n') || text.ends_with("\n\n") || !is_text(&text) {
            return Err(NoteError::BadText);
        }
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: text.len() });
        }
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note strictly: at most [`MAX_NOTE_BYTES`], UTF-8 without control
    /// characters but newline, split at the last blank line, at least one and at most
    /// [`MAX_NOTE_SIGNATURES`] well-formed signature lines.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: bytes.len() });
        }
        let all = std::str::from_utf8(bytes).map_err(|_| NoteError::NotText)?;
        if !is_text(all) {
            return Err(NoteError::NotText);
        }
        let split = all.rfind("\n\n").ok_or(NoteError::Unsigned)?;
        let text = &all[..split + 1];
        let sigs = &all[split + 2..];
        if sigs.is_empty() {
            return Err(NoteError::Unsigned);
        }
        let bad = |line, detail| NoteError::BadSignatureLine { line, detail };
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(bad(
                sigs.split('\n').count(),
                "the last line does not end in a newline",
            ));
        };
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            let n = i + 1;
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    count: sigs.split('\n').count(),
                });
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad(n, "it does not start with an em dash and a space"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad(n, "no space between name and signature"))?;
            check_key_name(name).map_err(|_| bad(n, "invalid key name"))?;
            let raw = base64_decode("note signature", b64, 4 + MAX_SIGNATURE_BYTES)
                .map_err(|_| bad(n, "the signature is not canonical base64 of at most 4 KiB"))?;
            if raw.len() < 5 {
                return Err(bad(
                    n,
                    "the signature is shorter than a key id and one byte",
                ));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: [raw[0], raw[1], raw[2], raw[3]],
                signature: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (ends in a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (at the end).
    pub fn push_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        check_key_name(&signature.name)?;
        if self.signatures.len() == MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: MAX_NOTE_SIGNATURES + 1,
            });
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the text with an Ed25519 note key named `name` (type `0x01`) through any
    /// [`Ed25519Signer`] (file key, PKCS#11, YubiKey, KMS) and adds the signature line. The
    /// signature is checked under the signer's own key before it is added.
    pub fn sign<S: Ed25519Signer + ?Sized>(
        &mut self,
        name: &str,
        signer: &S,
    ) -> Result<(), NoteSignError> {
        check_key_name(name)?;
        let key = PublicKey::new(signer.verifying_key());
        let signature = sign_checked(signer, &key, self.text.as_bytes())?;
        self.push_signature(NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, KeyType::Ed25519, &key),
            signature: signature.to_vec(),
        })?;
        Ok(())
    }

    /// The note as bytes: text, a blank line, the signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out.into_bytes()
    }

    /// Verifies the note against known keys, as the spec requires: signatures by unknown
    /// (name, key id) pairs are ignored, a known key's signature that fails refuses the note,
    /// and at least one known key must verify. Returns what verified, in note order.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            for key in known
                .iter()
                .filter(|k| k.name == sig.name && k.key_id == sig.key_id)
            {
                let timestamp = key
                    .verify(self.text.as_bytes(), &sig.signature)
                    .map_err(|()| NoteError::BadSignature {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                    })?;
                verified.push(Verified {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    kind: key.kind,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature {
                expected: known
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(verified)
    }
}

/// Why signing a note failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteSignError {
    /// The signer failed or returned a bad signature.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The note or key name is not valid.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// Signs `message` and checks the signature under `key` (a faulty device is caught here).
pub(super) fn sign_checked<S: Ed25519Signer + ?Sized>(
    signer: &S,
    key: &PublicKey,
    message: &[u8],
) -> Result<[u8; 64], SignError> {
    let signature = signer
        .try_sign(message)
        .map_err(SignError::Signer)?
        .to_bytes();
    verify_signature(key, message, &signature)
        .map_err(|_| SignError::SignatureDoesNotVerify(key.key_id()))?;
    Ok(signature)
}

/// A signature that verified under a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key's name.
    pub name: String,
    /// The key id.
    pub key_id: [u8; 4],
    /// The key's type.
    pub kind: KeyType,
    /// For a cosignature, the time it states (seconds since the Unix epoch).
    pub timestamp: Option<u64>,
}

/// A key that verifies note signatures: a name, a type and an Ed25519 public key. Its text
/// form is Go's and the ecosystem's verifier-key string,
/// `<name>+<8 hex digits of key id>+<base64(type byte || 32-byte key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    kind: KeyType,
    key: PublicKey,
    key_id: [u8; 4],
}

impl VerifierKey {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, kind: KeyType, key: PublicKey) -> Result<VerifierKey, NoteError> {
        check_key_name(name)?;
        Ok(VerifierKey {
            name: name.to_owned(),
            kind,
            key_id: key_id(name, kind, &key),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key type.
    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// Verifies one signature over a note's text strictly; for a cosignature, returns its
    /// timestamp.
    fn verify(&self, text: &[u8], signature: &[u8]) -> Result<Option<u64>, ()> {
        match self.kind {
            KeyType::Ed25519 => {
                let sig: &[u8; 64] = signature.try_into().map_err(|_| ())?;
                verify_signature(&self.key, text, sig).map_err(|_| ())?;
                Ok(None)
            }
            KeyType::Cosignature => {
                let (ts, sig) = super::cosignature::split(signature).ok_or(())?;
                let message = super::cosignature::message(ts, text);
                verify_signature(&self.key, &message, &sig).map_err(|_| ())?;
                Ok(Some(ts))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.kind.byte()];
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex_encode(&self.key_id),
            base64_encode(&raw)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(text: &str) -> Result<VerifierKey, NoteError> {
        // The base64 part may itself hold '+': split off the first two fields only.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey(
                "expected <name>+<hex key id>+<base64 key>",
            ));
        };
        check_key_name(name)?;
        let id = hex_decode_array::<4>("key id", id)
            .map_err(|_| NoteError::BadVerifierKey("the key id is not 8 lowercase hex digits"))?;
        let raw = base64_decode("verifier key", b64, 33)
            .map_err(|_| NoteError::BadVerifierKey("the key is not canonical base64"))?;
        let (kind, key) = match raw.split_first() {
            Some((&TYPE_ED25519, key)) => (KeyType::Ed25519, key),
            Some((&TYPE_COSIGNATURE, key)) => (KeyType::Cosignature, key),
            _ => {
                return Err(NoteError::BadVerifierKey(
                    "unsupported key type (0x01 Ed25519 and 0x04 cosignature are supported)",
                ));
            }
        };
        let key: &[u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("an Ed25519 key is 32 bytes"))?;
        let key = PublicKey::from_bytes(key)
            .map_err(|_| NoteError::BadVerifierKey("not a usable Ed25519 public key"))?;
        let verifier = VerifierKey::new(name, kind, key)?;
        if verifier.key_id != id {
            return Err(NoteError::BadVerifierKey(
                "the key id does not match the name and key",
            ));
        }
        Ok(verifier)
    }
}
