//! minisign signatures and public keys, signed by any Hallmark backend.
//!
//! A signature file (`FILE.minisig`) is four lines, each ending in `\n`:
//!
//! ```text
//! untrusted comment: <free text, not signed>
//! base64( "ED" || key id (8 bytes) || Ed25519(BLAKE2b-512(file)) )
//! trusted comment: <text>
//! base64( Ed25519(signature (64 bytes) || trusted comment) )
//! ```
//!
//! Only the prehashed algorithm `ED` is written and verified: the signer sees a 64-byte digest,
//! then 64 bytes plus the trusted comment, so hardware message limits hold for any file size.
//! The legacy algorithm `Ed` (the whole file signed, `minisign -l`) is parsed, so that it can
//! be named in an error, but never verified.
//!
//! **Key ids.** minisign draws a key's 8-byte id at random when it generates a key. A Hallmark
//! key has no such id, so Hallmark defines it from the key: the first 8 bytes of the Hallmark
//! key id (`SHA-256("hallmark-key-id-v1\n" || key)`, see [`hallmark_keyring::KeyId`]). minisign
//! prints an id as the 8 bytes read as a little-endian integer, in upper-case hex. A key
//! imported from minisign (`hallmark key import`) keeps the id minisign gave it: its key file's
//! `.pub` holds it, and its signatures and public key name it, so minisign's own public key
//! file still verifies them.
//!
//! A public key file is `untrusted comment: minisign public key <ID>` and then
//! `base64("Ed" || key id || public key)` (the `RW…` string `minisign -P` takes).
//!
//! Parsing is strict and canonical: exactly these lines, canonical base64, comments within
//! minisign's own line limits and free of control characters; writing a parsed value gives
//! back the same bytes.

use std::io::Read;
use std::path::Path;

use blake2::{Blake2b512, Digest};
use hallmark_keyring::encoding::{EncodingError, base64_decode_array, base64_encode, hex_encode};
use hallmark_keyring::envelope::Ed25519Signer;
use hallmark_keyring::key::{PublicKey, verify_signature};

use super::SignError;
use crate::keyref::KeyHandle;

/// The prefix of the first line of signature and public key files.
pub const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
/// The prefix of a signature file's third line.
pub const TRUSTED_PREFIX: &str = "trusted comment: ";
/// Longest untrusted comment minisign reads back (its 1,024-byte line buffer, less the prefix
/// and the line end).
pub const MAX_UNTRUSTED_COMMENT: usize = 1024 - 2 - UNTRUSTED_PREFIX.len();
/// Longest trusted comment minisign reads back (its 8,192-byte buffer, less the prefix and the
/// line end).
pub const MAX_TRUSTED_COMMENT: usize = 8192 - 2 - TRUSTED_PREFIX.len();
/// Longest trusted comment Hallmark signs: the second signature covers 64 bytes plus the
/// comment, and this keeps that within every backend's message limit (a YubiKey signs about
/// 1,000 bytes at most).
pub const MAX_SIGNED_TRUSTED_COMMENT: usize = 900;
/// Largest signature file read, in bytes.
pub const MAX_SIGNATURE_FILE: usize = 12 * 1024;

const ALG_PREHASHED: [u8; 2] = *b"ED";
const ALG_LEGACY: [u8; 2] = *b"Ed";

/// Why a minisign signature or public key was refused as input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MinisignError {
    /// The input is larger than any minisign file.
    #[error("minisign {what}: {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Signature or public key.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// Not UTF-8 text.
    #[error("minisign {what}: not UTF-8 text")]
    NotText {
        /// Signature or public key.
        what: &'static str,
    },
    /// A line is missing, extra or not what it should be.
    #[error("minisign {what}, line {line}: {problem}")]
    Line {
        /// Signature or public key.
        what: &'static str,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Base64 that is not canonical or of the wrong length.
    #[error("minisign {what}: {source}")]
    Encoding {
        /// Signature or public key.
        what: &'static str,
        /// The encoding error.
        source: EncodingError,
    },
    /// An algorithm minisign does not define.
    #[error("minisign {what}: unknown algorithm {found:?} (expected {expected})")]
    Algorithm {
        /// Signature or public key.
        what: &'static str,
        /// The two bytes found, as text.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The public key is not a usable Ed25519 key.
    #[error("minisign public key: {0}")]
    Key(String),
    /// A comment Hallmark will not write.
    #[error("{0}")]
    Comment(String),
}

/// Why a minisign signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MinisignVerifyError {
    /// The signature names another key.
    #[error(
        "the signature was made by key id {} but the public key's id is {}",
        display_key_id(.signature),
        display_key_id(.key)
    )]
    KeyIdMismatch {
        /// The key id in the signature.
        signature: [u8; 8],
        /// The key id of the public key.
        key: [u8; 8],
    },
    /// A legacy, non-prehashed signature.
    #[error(
        "legacy minisign signature (algorithm Ed, the whole file signed): Hallmark verifies only \
         prehashed signatures (ED); re-sign with minisign 0.8 or later without -l"
    )]
    Legacy,
    /// The signature over the file does not verify: the file or the signature was changed, or
    /// another key signed.
    #[error("the signature does not verify: the file was modified, or another key signed it")]
    BadSignature,
    /// The signature over the trusted comment does not verify.
    #[error("the trusted comment's signature does not verify: the comment was modified")]
    BadTrustedComment,
}

/// minisign's display of a key id: the 8 bytes as a little-endian integer, upper-case hex.
pub fn display_key_id(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// The minisign key id Hallmark gives a key: the first 8 bytes of its Hallmark key id.
pub fn key_id_for(key: &PublicKey) -> [u8; 8] {
    let mut id = [0u8; 8];
    id.copy_from_slice(&key.key_id().as_bytes()[..8]);
    id
}

/// BLAKE2b-512 of a file, streamed: what a prehashed (`ED`) signature signs. Only a regular
/// file is read: a FIFO or a device is refused without blocking.
pub fn prehash_file(path: &Path) -> std::io::Result<[u8; 64]> {
    let file = hallmark_keyring::fsutil::open_regular(path, hallmark_keyring::fsutil::Follow::Yes)?;
    prehash_reader(file)
}

/// BLAKE2b-512 of everything a reader yields.
pub fn prehash_reader(mut reader: impl Read) -> std::io::Result<[u8; 64]> {
    let mut hasher = Blake2b512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// BLAKE2b-512 of bytes.
pub fn prehash(bytes: &[u8]) -> [u8; 64] {
    Blake2b512::digest(bytes).into()
}

/// minisign's default trusted comment: `timestamp:<unix seconds>\tfile:<file name>\thashed`.
pub fn default_trusted_comment(timestamp: u64, file_name: &str) -> String {
    format!("timestamp:{timestamp}\tfile:{file_name}\thashed")
}

/// The untrusted comment Hallmark writes on signatures.
pub fn default_untrusted_comment(key: &PublicKey) -> String {
    format!("signature from hallmark key {}", key.key_id().short())
}

fn check_comment(text: &str, what: &str, max: usize, allow_tab: bool) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "the {what} is {} bytes, more than the {max} allowed",
            text.len()
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(allow_tab && c == '\t'))
    {
        return Err(format!(
            "the {what} holds a control character (a line break?), which minisign cannot read back"
        ));
    }
    Ok(())
}

/// Checks a trusted comment before signing it.
pub fn check_trusted_comment(text: &str) -> Result<(), MinisignError> {
    check_comment(text, "trusted comment", MAX_SIGNED_TRUSTED_COMMENT, true)
        .map_err(MinisignError::Comment)
}

/// Checks an untrusted comment before writing it.
pub fn check_untrusted_comment(text: &str) -> Result<(), MinisignError> {
    check_comment(text, "untrusted comment", MAX_UNTRUSTED_COMMENT, true)
        .map_err(MinisignError::Comment)
}

/// Splits text into lines that each end in `\n`; the text must end with one.
fn lines<'a>(
    what: &'static str,
    text: &'a str,
    expected: usize,
) -> Result<Vec<&'a str>, MinisignError> {
    let body = text.strip_suffix('\n').ok_or(MinisignError::Line {
        what,
        line: text.split('\n').count(),
        problem: "the file does not end with a line break".into(),
    })?;
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() != expected {
        return Err(MinisignError::Line {
            what,
            line: lines.len().min(expected) + 1,
            problem: format!("expected exactly {expected} lines, found {}", lines.len()),
        });
    }
    for (n, line) in lines.iter().enumerate() {
        if line.ends_with('\r') {
            return Err(MinisignError::Line {
                what,
                line: n + 1,
                problem: "ends with a carriage return (CRLF line ends are not minisign's)".into(),
            });
        }
    }
    Ok(lines)
}

fn comment_line<'a>(
    what: &'static str,
    line: &'a str,
    n: usize,
    prefix: &str,
    max: usize,
) -> Result<&'a str, MinisignError> {
    let text = line
        .strip_prefix(prefix)
        .ok_or_else(|| MinisignError::Line {
            what,
            line: n,
            problem: format!("does not start with {prefix:?}"),
        })?;
    check_comment(text, "comment", max, true).map_err(|problem| MinisignError::Line {
        what,
        line: n,
        problem,
    })?;
    Ok(text)
}

/// The algorithm of a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// `ED`: BLAKE2b-512 of the file is signed.
    Prehashed,
    /// `Ed`: the whole file is signed (parsed, never verified).
    Legacy,
}

/// A minisign signature file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignSignature {
    /// The first line's text (not signed).
    pub untrusted_comment: String,
    /// The signature algorithm.
    pub algorithm: Algorithm,
    /// The signer's key id.
    pub key_id: [u8; 8],
    /// The signature over the file's digest.
    pub signature: [u8; 64],
    /// The trusted comment.
    pub trusted_comment: String,
    /// The signature over `signature || trusted comment`.
    pub global_signature: [u8; 64],
}

impl MinisignSignature {
    /// Reads a signature file, strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        const WHAT: &str = "signature";
        if bytes.len() > MAX_SIGNATURE_FILE {
            return Err(MinisignError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_SIGNATURE_FILE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| MinisignError::NotText { what: WHAT })?;
        let lines = lines(WHAT, text, 4)?;
        let untrusted_comment =
            comment_line(WHAT, lines[0], 1, UNTRUSTED_PREFIX, MAX_UNTRUSTED_COMMENT)?;
        let sig = base64_decode_array::<74>("signature line", lines[1])
            .map_err(|source| MinisignError::Encoding { what: WHAT, source })?;
        let algorithm = match [sig[0], sig[1]] {
            ALG_PREHASHED => Algorithm::Prehashed,
            ALG_LEGACY => Algorithm::Legacy,
            other => {
                return Err(MinisignError::Algorithm {
                    what: WHAT,
                    found: String::from_utf8_lossy(&other).into_owned(),
                    expected: "ED",
                });
            }
        };
        let trusted_comment = comment_line(WHAT, lines[2], 3, TRUSTED_PREFIX, MAX_TRUSTED_COMMENT)?;
        let global_signature = base64_decode_array::<64>("trusted comment signature", lines[3])
            .map_err(|source| MinisignError::Encoding { what: WHAT, source })?;
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&sig[2..10]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&sig[10..]);
        Ok(MinisignSignature {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm,
            key_id,
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }

    /// The file's bytes, exactly as minisign writes them.
    pub fn to_file_text(&self) -> String {
        let mut sig = Vec::with_capacity(74);
        sig.extend_from_slice(match self.algorithm {
            Algorithm::Prehashed => &ALG_PREHASHED,
            Algorithm::Legacy => &ALG_LEGACY,
        });
        sig.extend_from_slice(&self.key_id);
        sig.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            base64_encode(&sig),
            self.trusted_comment,
            base64_encode(&self.global_signature)
        )
    }

    /// What the second signature covers: the first signature, then the trusted comment.
    pub fn global_signing_input(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
        let mut input = Vec::with_capacity(64 + trusted_comment.len());
        input.extend_from_slice(signature);
        input.extend_from_slice(trusted_comment.as_bytes());
        input
    }

    /// Verifies the signature over a file's BLAKE2b-512 digest, then the signature over the
    /// trusted comment, with Hallmark's one strict verification. `key_id` is the id the public
    /// key is known by (see [`key_id_for`] for Hallmark keys).
    pub fn verify(
        &self,
        key: &PublicKey,
        key_id: &[u8; 8],
        prehash: &[u8; 64],
    ) -> Result<(), MinisignVerifyError> {
        if &self.key_id != key_id {
            return Err(MinisignVerifyError::KeyIdMismatch {
                signature: self.key_id,
                key: *key_id,
            });
        }
        if self.algorithm != Algorithm::Prehashed {
            return Err(MinisignVerifyError::Legacy);
        }
        verify_signature(key, prehash, &self.signature)
            .map_err(|_| MinisignVerifyError::BadSignature)?;
        let global = Self::global_signing_input(&self.signature, &self.trusted_comment);
        verify_signature(key, &global, &self.global_signature)
            .map_err(|_| MinisignVerifyError::BadTrustedComment)
    }
}

/// What to sign for one file.
#[derive(Clone, Debug)]
pub struct SignJob {
    /// BLAKE2b-512 of the file ([`prehash_file`]).
    pub prehash: [u8; 64],
    /// The trusted comment ([`check_trusted_comment`]).
    pub trusted_comment: String,
}

/// Signs one file's digest with any signer.
pub fn sign(
    signer: &(impl Ed25519Signer + ?Sized),
    job: &SignJob,
    untrusted_comment: &str,
) -> Result<MinisignSignature, SignError> {
    check_untrusted_comment(untrusted_comment)?;
    check_trusted_comment(&job.trusted_comment)?;
    let signature = super::sign_checked(signer, &job.prehash)?;
    let global = MinisignSignature::global_signing_input(&signature, &job.trusted_comment);
    let global_signature = super::sign_checked(signer, &global)?;
    let key = PublicKey::new(signer.verifying_key());
    Ok(MinisignSignature {
        untrusted_comment: untrusted_comment.to_owned(),
        algorithm: Algorithm::Prehashed,
        key_id: key_id_for(&key),
        signature,
        trusted_comment: job.trusted_comment.clone(),
        global_signature,
    })
}

/// Signs many files with one key handle, in two batches (file digests, then trusted
/// comments), so that a token logs in once. Every signature is checked before it is returned.
pub fn sign_batch(
    handle: &dyn KeyHandle,
    jobs: &[SignJob],
    untrusted_comment: &str,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<MinisignSignature>, SignError> {
    check_untrusted_comment(untrusted_comment)?;
    for job in jobs {
        check_trusted_comment(&job.trusted_comment)?;
    }
    let key = PublicKey::new(handle.verifying_key());
    let key_id = handle.minisign_key_id().unwrap_or_else(|| key_id_for(&key));
    let digests: Vec<&[u8]> = jobs.iter().map(|j| &j.prehash[..]).collect();
    let signatures = handle
        .sign_batch(&digests, &|n| progress(n))
        .map_err(|e| SignError::Signer(e.source))?;
    let globals: Vec<Vec<u8>> = signatures
        .iter()
        .zip(jobs)
        .map(|(s, j)| MinisignSignature::global_signing_input(&s.to_bytes(), &j.trusted_comment))
        .collect();
    let global_refs: Vec<&[u8]> = globals.iter().map(Vec::as_slice).collect();
    let global_signatures = handle
        .sign_batch(&global_refs, &|n| progress(jobs.len() + n))
        .map_err(|e| SignError::Signer(e.source))?;
    let mut out = Vec::with_capacity(jobs.len());
    for ((job, sig), (global_input, global)) in jobs
        .iter()
        .zip(&signatures)
        .zip(globals.iter().zip(&global_signatures))
    {
        let signature = sig.to_bytes();
        let global_signature = global.to_bytes();
        if verify_signature(&key, &job.prehash, &signature).is_err()
            || verify_signature(&key, global_input, &global_signature).is_err()
        {
            return Err(SignError::BadSignatureFromSigner);
        }
        out.push(MinisignSignature {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm: Algorithm::Prehashed,
            key_id,
            signature,
            trusted_comment: job.trusted_comment.clone(),
            global_signature,
        });
    }
    Ok(out)
}

/// A minisign public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignPublicKey {
    /// The comment line's text; `None` for the bare `RW…` form.
    pub untrusted_comment: Option<String>,
    /// The key id.
    pub key_id: [u8; 8],
    /// The key.
    pub key: PublicKey,
}

impl MinisignPublicKey {
    /// A Hallmark key as a minisign public key, with its derived id and minisign's comment.
    pub fn for_hallmark_key(key: &PublicKey) -> Self {
        Self::with_key_id(key, key_id_for(key))
    }

    /// A key as a minisign public key with the given id (a key imported from minisign keeps
    /// its own) and minisign's comment.
    pub fn with_key_id(key: &PublicKey, key_id: [u8; 8]) -> Self {
        MinisignPublicKey {
            // minisign writes the id with `%" PRIX64 "`: no leading zeros, so that an id whose
            // first digit is 0 has 15 digits or fewer in its comment.
            untrusted_comment: Some(format!(
                "minisign public key {:X}",
                u64::from_le_bytes(key_id)
            )),
            key_id,
            key: *key,
        }
    }

    /// Reads a public key file: the comment line and the `RW…` line, each ending in `\n` (the
    /// final one may be left out).
    pub fn parse(text: &str) -> Result<Self, MinisignError> {
        const WHAT: &str = "public key";
        if text.len() > 2048 {
            return Err(MinisignError::TooLarge {
                what: WHAT,
                len: text.len(),
                max: 2048,
            });
        }
        let with_newline;
        let text = if text.ends_with('\n') {
            text
        } else {
            with_newline = format!("{text}\n");
            &with_newline
        };
        let lines = lines(WHAT, text, 2)?;
        let comment = comment_line(WHAT, lines[0], 1, UNTRUSTED_PREFIX, MAX_UNTRUSTED_COMMENT)?;
        let mut key = Self::parse_base64(lines[1]).map_err(|e| match e {
            MinisignError::Line { problem, .. } => MinisignError::Line {
                what: WHAT,
                line: 2,
                problem,
            },
            other => other,
        })?;
        key.untrusted_comment = Some(comment.to_owned());
        Ok(key)
    }

    /// Reads the bare base64 form (`minisign -P RW…`).
    pub fn parse_base64(text: &str) -> Result<Self, MinisignError> {
        const WHAT: &str = "public key";
        let bytes = base64_decode_array::<42>("minisign public key", text)
            .map_err(|source| MinisignError::Encoding { what: WHAT, source })?;
        if bytes[..2] != ALG_LEGACY {
            return Err(MinisignError::Algorithm {
                what: WHAT,
                found: String::from_utf8_lossy(&bytes[..2]).into_owned(),
                expected: "Ed",
            });
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[2..10]);
        let mut raw = [0u8; 32];
        raw.copy_from_slice(&bytes[10..]);
        let key = PublicKey::from_bytes(&raw).map_err(|e| MinisignError::Key(e.to_string()))?;
        if key.is_weak() {
            return Err(MinisignError::Key(
                "the key has small order (a weak key) and is refused".into(),
            ));
        }
        Ok(MinisignPublicKey {
            untrusted_comment: None,
            key_id,
            key,
        })
    }

    /// The `RW…` base64 form (`minisign -P`).
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(42);
        bytes.extend_from_slice(&ALG_LEGACY);
        bytes.extend_from_slice(&self.key_id);
        bytes.extend_from_slice(self.key.as_bytes());
        base64_encode(&bytes)
    }

    /// The public key file's text (two lines, without the final line break), or the bare
    /// base64 form when there is no comment.
    pub fn to_file_text(&self) -> String {
        match &self.untrusted_comment {
            Some(comment) => format!("{UNTRUSTED_PREFIX}{comment}\n{}", self.to_base64()),
            None => self.to_base64(),
        }
    }
}

/// Lower-case hex of a key id, for JSON output.
pub fn key_id_hex(id: &[u8; 8]) -> String {
    hex_encode(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    // RFC 8032 §7.1 TEST 1.
    const SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];

    fn signed() -> (SigningKey, MinisignSignature) {
        let key = SigningKey::from_bytes(&SEED);
        let job = SignJob {
            prehash: prehash(b"hello\n"),
            trusted_comment: "timestamp:0\tfile:hello.txt\thashed".into(),
        };
        let sig = sign(&key, &job, "signature from hallmark").unwrap();
        (key, sig)
    }

    /// minisign prints a key id without leading zeros in a public key's comment (one id in
    /// sixteen starts with a 0 digit); Hallmark's comment must be the same, byte for byte.
    #[test]
    fn a_public_key_comment_prints_the_id_as_minisign_does() {
        let key = PublicKey::new(SigningKey::from_bytes(&SEED).verifying_key());
        let id = [0xDA, 0x0E, 0x04, 0x6E, 0x71, 0x9F, 0x69, 0x05];
        let public = MinisignPublicKey::with_key_id(&key, id);
        assert_eq!(
            public.untrusted_comment.as_deref(),
            Some("minisign public key 5699F716E040EDA")
        );
        assert_eq!(display_key_id(&id), "05699F716E040EDA");
        let id = [0xD9, 0x94, 0x4E, 0x82, 0x37, 0xAD, 0xDF, 0x43];
        assert_eq!(
            MinisignPublicKey::with_key_id(&key, id)
                .untrusted_comment
                .as_deref(),
            Some("minisign public key 43DFAD37824E94D9")
        );
    }

    #[test]
    fn signs_verifies_and_round_trips() {
        let (key, sig) = signed();
        let public = PublicKey::new(key.verifying_key());
        let id = key_id_for(&public);
        sig.verify(&public, &id, &prehash(b"hello\n")).unwrap();
        let text = sig.to_file_text();
        assert_eq!(MinisignSignature::parse(text.as_bytes()).unwrap(), sig);
        assert_eq!(
            sig.verify(&public, &id, &prehash(b"hello!\n")),
            Err(MinisignVerifyError::BadSignature)
        );
        let mut changed = sig.clone();
        changed.trusted_comment.push('x');
        assert_eq!(
            changed.verify(&public, &id, &prehash(b"hello\n")),
            Err(MinisignVerifyError::BadTrustedComment)
        );
        assert!(matches!(
            sig.verify(&public, &[0; 8], &prehash(b"hello\n")),
            Err(MinisignVerifyError::KeyIdMismatch { .. })
        ));
        let mut legacy = sig;
        legacy.algorithm = Algorithm::Legacy;
        let reparsed = MinisignSignature::parse(legacy.to_file_text().as_bytes()).unwrap();
        assert_eq!(
            reparsed.verify(&public, &id, &prehash(b"hello\n")),
            Err(MinisignVerifyError::Legacy)
        );
    }

    #[test]
    fn parsing_is_strict() {
        let (_, sig) = signed();
        let text = sig.to_file_text();
        for bad in [
            text.trim_end().to_owned(),
            format!("{text}\n"),
            text.replace('\n', "\r\n"),
            text.replacen("untrusted comment: ", "untrusted comment:", 1),
            text.replacen("trusted comment: t", "trusted comment t", 1),
            text.replacen("hallmark", "hall\u{7}mark", 1),
        ] {
            assert!(MinisignSignature::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let lines: Vec<&str> = text.lines().collect();
        let padded = format!("{}\n{}A\n{}\n{}\n", lines[0], lines[1], lines[2], lines[3]);
        assert!(matches!(
            MinisignSignature::parse(padded.as_bytes()),
            Err(MinisignError::Encoding { .. })
        ));
    }

    #[test]
    fn comments_with_line_breaks_are_refused_before_signing() {
        let key = SigningKey::from_bytes(&SEED);
        let job = SignJob {
            prehash: [0; 64],
            trusted_comment: "a\nb".into(),
        };
        assert!(matches!(
            sign(&key, &job, "x"),
            Err(SignError::Minisign(MinisignError::Comment(_)))
        ));
        let job = SignJob {
            prehash: [0; 64],
            trusted_comment: "x".repeat(MAX_SIGNED_TRUSTED_COMMENT + 1),
        };
        assert!(sign(&key, &job, "x").is_err());
    }

    #[test]
    fn public_keys_round_trip() {
        let key = PublicKey::new(SigningKey::from_bytes(&SEED).verifying_key());
        let mk = MinisignPublicKey::for_hallmark_key(&key);
        let text = mk.to_file_text();
        assert_eq!(MinisignPublicKey::parse(&text).unwrap(), mk);
        assert_eq!(MinisignPublicKey::parse(&format!("{text}\n")).unwrap(), mk);
        let bare = MinisignPublicKey::parse_base64(&mk.to_base64()).unwrap();
        assert_eq!(bare.key, key);
        assert_eq!(bare.key_id, mk.key_id);
        assert!(text.starts_with("untrusted comment: minisign public key "));
    }
}
