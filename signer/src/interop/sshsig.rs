//! SSH signatures (OpenSSH's `PROTOCOL.sshsig`, as `ssh-keygen -Y sign` writes them), made by
//! any Hallmark backend.
//!
//! The signature blob:
//!
//! ```text
//! byte[6] "SSHSIG"   uint32 1   string public key   string namespace
//! string reserved ("")   string hash algorithm ("sha512" | "sha256")   string signature
//! ```
//!
//! and what the key signs (small whatever the file's size, so hardware limits hold):
//!
//! ```text
//! byte[6] "SSHSIG"   string namespace   string reserved ("")   string hash algorithm
//! string H(message)
//! ```
//!
//! The public key is `string "ssh-ed25519" || string key` and the signature
//! `string "ssh-ed25519" || string signature` (RFC 8709). The blob is armoured between
//! `-----BEGIN SSH SIGNATURE-----` and `-----END SSH SIGNATURE-----` in base64 lines:
//! ssh-keygen wraps at 70 columns, the specification suggests 76. Hallmark writes ssh-keygen's
//! layout and reads any width up to 76 (every line but the last of that width), keeping the
//! layout so that writing a parsed signature gives back the same bytes.
//!
//! Refused: other versions, key types and signature algorithms, hash algorithms other than
//! `sha256` and `sha512`, an empty namespace or one with control characters, and a non-empty
//! reserved field (no tool writes one, and ssh-keygen leaves it out of what it verifies).

use std::io::Read;
use std::path::Path;

use hallmark_keyring::encoding::{EncodingError, base64_decode, base64_encode};
use hallmark_keyring::envelope::Ed25519Signer;
use hallmark_keyring::key::{PublicKey, verify_signature};
use sha2::{Digest, Sha256, Sha512};

use super::SignError;
use super::pubkey::{PublicKeyError, SSH_ED25519, parse_ssh_key_blob, ssh_key_blob};
use super::wire::{Reader, WireError, put_string};
use crate::keyref::KeyHandle;

/// The magic preamble.
pub const MAGIC: &[u8; 6] = b"SSHSIG";
/// The only version defined.
pub const VERSION: u32 = 1;
/// The armour's first line.
pub const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
/// The armour's last line.
pub const END: &str = "-----END SSH SIGNATURE-----";
/// The line width ssh-keygen writes.
pub const SSH_KEYGEN_LINE_WIDTH: usize = 70;
/// The widest base64 line read (the specification's suggestion).
pub const MAX_LINE_WIDTH: usize = 76;
/// Longest namespace accepted, in bytes.
pub const MAX_NAMESPACE: usize = 1024;
/// Largest armoured signature read, in bytes.
pub const MAX_ARMORED: usize = 4 * 1024;

/// The hash applied to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-512 (ssh-keygen's default).
    #[default]
    Sha512,
}

impl HashAlgorithm {
    /// The name in the signature.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"sha256" => Some(HashAlgorithm::Sha256),
            b"sha512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Hashes everything a reader yields.
    pub fn hash_reader(self, mut reader: impl Read) -> std::io::Result<Vec<u8>> {
        enum H {
            S256(Sha256),
            S512(Sha512),
        }
        let mut h = match self {
            HashAlgorithm::Sha256 => H::S256(Sha256::new()),
            HashAlgorithm::Sha512 => H::S512(Sha512::new()),
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match &mut h {
                H::S256(h) => h.update(&buf[..n]),
                H::S512(h) => h.update(&buf[..n]),
            }
        }
        Ok(match h {
            H::S256(h) => h.finalize().to_vec(),
            H::S512(h) => h.finalize().to_vec(),
        })
    }

    /// Hashes a file, streamed. Only a regular file is read: a FIFO or a device is refused
    /// without blocking.
    pub fn hash_file(self, path: &Path) -> std::io::Result<Vec<u8>> {
        let file =
            hallmark_keyring::fsutil::open_regular(path, hallmark_keyring::fsutil::Follow::Yes)?;
        self.hash_reader(file)
    }

    /// Hashes bytes.
    pub fn hash(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha256 => Sha256::digest(bytes).to_vec(),
            HashAlgorithm::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }
}

impl std::str::FromStr for HashAlgorithm {
    type Err = SshSigError;

    fn from_str(s: &str) -> Result<Self, SshSigError> {
        HashAlgorithm::from_name(s.as_bytes())
            .ok_or_else(|| SshSigError::HashAlgorithm(s.chars().take(64).collect()))
    }
}

/// Why an SSH signature was refused as input, or a namespace before signing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshSigError {
    /// Larger than any Ed25519 SSH signature.
    #[error("SSH signature: {len} bytes, more than the {MAX_ARMORED} allowed")]
    TooLarge {
        /// The length found.
        len: usize,
    },
    /// The armour is wrong.
    #[error("SSH signature: {0}")]
    Armor(String),
    /// The base64 is not canonical.
    #[error("SSH signature: {0}")]
    Encoding(#[from] EncodingError),
    /// The wire encoding is wrong.
    #[error("SSH signature: {0}")]
    Wire(#[from] WireError),
    /// The blob does not start with `SSHSIG`.
    #[error("SSH signature: the blob does not start with \"SSHSIG\"")]
    Magic,
    /// Another version.
    #[error("SSH signature: version {0}, but only version 1 is defined")]
    Version(u32),
    /// The public key is not a usable Ed25519 key.
    #[error("SSH signature: {0}")]
    PublicKey(#[from] PublicKeyError),
    /// The namespace is empty, too long or holds control characters.
    #[error("SSH signature namespace: {0}")]
    Namespace(String),
    /// The reserved field is not empty.
    #[error("SSH signature: the reserved field is not empty ({0} bytes); no known tool writes it")]
    Reserved(usize),
    /// An unknown hash algorithm.
    #[error("SSH signature: hash algorithm {0:?} is not sha256 or sha512")]
    HashAlgorithm(String),
    /// The signature is not an `ssh-ed25519` signature of 64 bytes.
    #[error("SSH signature: {0}")]
    Signature(String),
}

/// Why an SSH signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshSigVerifyError {
    /// Made for another namespace.
    #[error("the signature is for namespace {found:?}, not {expected:?}")]
    Namespace {
        /// The namespace required.
        expected: String,
        /// The namespace in the signature.
        found: String,
    },
    /// The message hash is of the wrong length for the signature's algorithm.
    #[error("the message hash does not match the signature's algorithm")]
    HashLength,
    /// The Ed25519 signature does not verify.
    #[error("the signature does not verify: the file was modified, or another key signed it")]
    BadSignature,
}

/// Checks a namespace: not empty, at most [`MAX_NAMESPACE`] bytes, no control characters.
pub fn check_namespace(namespace: &str) -> Result<(), SshSigError> {
    if namespace.is_empty() {
        return Err(SshSigError::Namespace(
            "empty; a namespace (e.g. \"file\" or \"git\") says what the signature is for".into(),
        ));
    }
    if namespace.len() > MAX_NAMESPACE {
        return Err(SshSigError::Namespace(format!(
            "{} bytes, more than {MAX_NAMESPACE}",
            namespace.len()
        )));
    }
    if namespace.chars().any(char::is_control) {
        return Err(SshSigError::Namespace("holds a control character".into()));
    }
    Ok(())
}

/// How the base64 is laid out in the armour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmorLayout {
    /// Characters per base64 line (the last line may be shorter).
    pub line_width: usize,
    /// Whether a line break follows the END line.
    pub final_newline: bool,
}

impl Default for ArmorLayout {
    /// ssh-keygen's layout.
    fn default() -> Self {
        ArmorLayout {
            line_width: SSH_KEYGEN_LINE_WIDTH,
            final_newline: true,
        }
    }
}

/// An SSH signature by an Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSignature {
    /// The signer's key.
    pub public_key: PublicKey,
    /// What the signature is for (`git`, `file`, …).
    pub namespace: String,
    /// The hash applied to the message.
    pub hash_algorithm: HashAlgorithm,
    /// The Ed25519 signature over [`signed_data`].
    pub signature: [u8; 64],
    /// The armour layout (ssh-keygen's for signatures Hallmark makes).
    pub layout: ArmorLayout,
}

/// What the key signs: the preamble, namespace, empty reserved field, hash algorithm and the
/// message's hash.
pub fn signed_data(namespace: &str, hash: HashAlgorithm, message_hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + 4 * 4 + namespace.len() + 6 + message_hash.len());
    out.extend_from_slice(MAGIC);
    put_string(&mut out, namespace.as_bytes());
    put_string(&mut out, b"");
    put_string(&mut out, hash.name().as_bytes());
    put_string(&mut out, message_hash);
    out
}

fn signature_blob(signature: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(83);
    put_string(&mut out, SSH_ED25519.as_bytes());
    put_string(&mut out, signature);
    out
}

impl SshSignature {
    /// The binary blob.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        put_string(&mut out, &ssh_key_blob(&self.public_key));
        put_string(&mut out, self.namespace.as_bytes());
        put_string(&mut out, b"");
        put_string(&mut out, self.hash_algorithm.name().as_bytes());
        put_string(&mut out, &signature_blob(&self.signature));
        out
    }

    /// Reads the binary blob, strictly. The layout is set to ssh-keygen's.
    pub fn parse_blob(blob: &[u8]) -> Result<Self, SshSigError> {
        let mut r = Reader::new(blob);
        if r.bytes(6, "magic")? != MAGIC {
            return Err(SshSigError::Magic);
        }
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(SshSigError::Version(version));
        }
        let public_key = parse_ssh_key_blob(r.string("public key")?)?;
        let namespace = std::str::from_utf8(r.string("namespace")?)
            .map_err(|_| SshSigError::Namespace("not UTF-8".into()))?;
        check_namespace(namespace)?;
        let reserved = r.string("reserved")?;
        if !reserved.is_empty() {
            return Err(SshSigError::Reserved(reserved.len()));
        }
        let alg = r.string("hash algorithm")?;
        let hash_algorithm = HashAlgorithm::from_name(alg).ok_or_else(|| {
            SshSigError::HashAlgorithm(String::from_utf8_lossy(&alg[..alg.len().min(64)]).into())
        })?;
        let mut sig = Reader::new(r.string("signature")?);
        r.finish("SSH signature blob")?;
        let kind = sig.string("signature algorithm")?;
        if kind != SSH_ED25519.as_bytes() {
            return Err(SshSigError::Signature(format!(
                "signature algorithm {:?} is not ssh-ed25519",
                String::from_utf8_lossy(&kind[..kind.len().min(64)])
            )));
        }
        let bytes = sig.string("Ed25519 signature")?;
        sig.finish("signature")?;
        let signature: [u8; 64] = bytes.try_into().map_err(|_| {
            SshSigError::Signature(format!(
                "the Ed25519 signature is {} bytes, not 64",
                bytes.len()
            ))
        })?;
        Ok(SshSignature {
            public_key,
            namespace: namespace.to_owned(),
            hash_algorithm,
            signature,
            layout: ArmorLayout::default(),
        })
    }

    /// The armoured text, in this signature's layout.
    pub fn to_armored(&self) -> String {
        let b64 = base64_encode(&self.to_blob());
        let width = self.layout.line_width.clamp(1, MAX_LINE_WIDTH);
        let mut out = String::with_capacity(b64.len() + b64.len() / width + 64);
        out.push_str(BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(width) {
            // base64 is ASCII, so every chunk is valid UTF-8.
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(END);
        if self.layout.final_newline {
            out.push('\n');
        }
        out
    }

    /// Reads an armoured signature, strictly (see the module documentation).
    pub fn parse_armored(bytes: &[u8]) -> Result<Self, SshSigError> {
        if bytes.len() > MAX_ARMORED {
            return Err(SshSigError::TooLarge { len: bytes.len() });
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| SshSigError::Armor("not UTF-8 text".into()))?;
        let (body, final_newline) = match text.strip_suffix('\n') {
            Some(body) => (body, true),
            None => (text, false),
        };
        let body = body
            .strip_prefix(BEGIN)
            .and_then(|b| b.strip_prefix('\n'))
            .ok_or_else(|| SshSigError::Armor(format!("does not start with {BEGIN}")))?;
        let body = body
            .strip_suffix(END)
            .and_then(|b| b.strip_suffix('\n'))
            .ok_or_else(|| {
                SshSigError::Armor(format!(
                    "does not end with {END} on its own line (followed by at most one line break)"
                ))
            })?;
        let lines: Vec<&str> = body.split('\n').collect();
        let line_width = lines.first().map_or(0, |l| l.len());
        if line_width == 0 || line_width > MAX_LINE_WIDTH {
            return Err(SshSigError::Armor(format!(
                "base64 lines must be 1 to {MAX_LINE_WIDTH} characters (ssh-keygen writes \
                 {SSH_KEYGEN_LINE_WIDTH}); the first is {line_width}"
            )));
        }
        for (n, line) in lines.iter().enumerate() {
            let last = n + 1 == lines.len();
            if line.ends_with('\r') {
                return Err(SshSigError::Armor(
                    "carriage return in the armour (CRLF line ends)".into(),
                ));
            }
            if (!last && line.len() != line_width) || line.is_empty() || line.len() > line_width {
                return Err(SshSigError::Armor(format!(
                    "base64 line {} is {} characters; every line but the last must be {line_width}",
                    n + 2,
                    line.len()
                )));
            }
        }
        let b64: String = lines.concat();
        let blob = base64_decode("SSH signature", &b64, MAX_ARMORED)?;
        let mut sig = Self::parse_blob(&blob)?;
        sig.layout = ArmorLayout {
            line_width,
            final_newline,
        };
        Ok(sig)
    }

    /// Verifies the signature for a namespace and a message hash (computed with
    /// [`Self::hash_algorithm`]), with Hallmark's one strict verification. Which keys are
    /// acceptable is the caller's decision ([`Self::public_key`]).
    pub fn verify(&self, namespace: &str, message_hash: &[u8]) -> Result<(), SshSigVerifyError> {
        if self.namespace != namespace {
            return Err(SshSigVerifyError::Namespace {
                expected: namespace.to_owned(),
                found: self.namespace.clone(),
            });
        }
        let expected_len = match self.hash_algorithm {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha512 => 64,
        };
        if message_hash.len() != expected_len {
            return Err(SshSigVerifyError::HashLength);
        }
        let data = signed_data(&self.namespace, self.hash_algorithm, message_hash);
        verify_signature(&self.public_key, &data, &self.signature)
            .map_err(|_| SshSigVerifyError::BadSignature)
    }
}

/// Signs one message hash with any signer.
pub fn sign(
    signer: &(impl Ed25519Signer + ?Sized),
    namespace: &str,
    hash: HashAlgorithm,
    message_hash: &[u8],
) -> Result<SshSignature, SignError> {
    check_namespace(namespace)?;
    let data = signed_data(namespace, hash, message_hash);
    let signature = super::sign_checked(signer, &data)?;
    Ok(SshSignature {
        public_key: PublicKey::new(signer.verifying_key()),
        namespace: namespace.to_owned(),
        hash_algorithm: hash,
        signature,
        layout: ArmorLayout::default(),
    })
}

/// Signs many message hashes with one key handle in one batch (one token login). Every
/// signature is checked before it is returned.
pub fn sign_batch(
    handle: &dyn KeyHandle,
    namespace: &str,
    hash: HashAlgorithm,
    message_hashes: &[Vec<u8>],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SshSignature>, SignError> {
    check_namespace(namespace)?;
    let key = PublicKey::new(handle.verifying_key());
    let data: Vec<Vec<u8>> = message_hashes
        .iter()
        .map(|h| signed_data(namespace, hash, h))
        .collect();
    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let signatures = handle
        .sign_batch(&refs, progress)
        .map_err(|e| SignError::Signer(e.source))?;
    data.iter()
        .zip(signatures)
        .map(|(d, s)| {
            let signature = s.to_bytes();
            verify_signature(&key, d, &signature).map_err(|_| SignError::BadSignatureFromSigner)?;
            Ok(SshSignature {
                public_key: key,
                namespace: namespace.to_owned(),
                hash_algorithm: hash,
                signature,
                layout: ArmorLayout::default(),
            })
        })
        .collect()
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

    fn signed(hash: HashAlgorithm) -> SshSignature {
        let key = SigningKey::from_bytes(&SEED);
        sign(&key, "file", hash, &hash.hash(b"hello\n")).unwrap()
    }

    #[test]
    fn signs_verifies_and_round_trips() {
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let sig = signed(hash);
            sig.verify("file", &hash.hash(b"hello\n")).unwrap();
            let text = sig.to_armored();
            assert!(text.lines().skip(1).all(|l| l.len() <= 70));
            let parsed = SshSignature::parse_armored(text.as_bytes()).unwrap();
            assert_eq!(parsed, sig);
            assert_eq!(parsed.to_armored(), text);
            assert_eq!(
                sig.verify("git", &hash.hash(b"hello\n")),
                Err(SshSigVerifyError::Namespace {
                    expected: "git".into(),
                    found: "file".into()
                })
            );
            assert_eq!(
                sig.verify("file", &hash.hash(b"hello!\n")),
                Err(SshSigVerifyError::BadSignature)
            );
        }
    }

    #[test]
    fn other_layouts_are_read_and_kept() {
        let sig = signed(HashAlgorithm::Sha512);
        for (width, final_newline) in [(76, true), (64, false), (1, true)] {
            let mut s = sig.clone();
            s.layout = ArmorLayout {
                line_width: width,
                final_newline,
            };
            let text = s.to_armored();
            assert_eq!(SshSignature::parse_armored(text.as_bytes()).unwrap(), s);
        }
    }

    #[test]
    fn parsing_is_strict() {
        let text = signed(HashAlgorithm::Sha512).to_armored();
        let mut lines: Vec<&str> = text.lines().collect();
        for bad in [
            format!("{text}\n"),
            text.replace('\n', "\r\n"),
            format!(" {text}"),
            text.replacen("\n", "\n\n", 2),
        ] {
            assert!(
                SshSignature::parse_armored(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        // A short line in the middle.
        let shortened = &lines[1][..69];
        lines[1] = shortened;
        let bad = lines.join("\n");
        assert!(matches!(
            SshSignature::parse_armored(bad.as_bytes()),
            Err(SshSigError::Armor(_))
        ));

        let good = signed(HashAlgorithm::Sha512).to_blob();
        let mut version = good.clone();
        version[9] = 2;
        assert_eq!(
            SshSignature::parse_blob(&version),
            Err(SshSigError::Version(2))
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            SshSignature::parse_blob(&trailing),
            Err(SshSigError::Wire(WireError::Trailing { .. }))
        ));
        for cut in 0..good.len() {
            assert!(SshSignature::parse_blob(&good[..cut]).is_err());
        }
    }

    #[test]
    fn namespaces_are_checked_before_signing() {
        let key = SigningKey::from_bytes(&SEED);
        assert!(matches!(
            sign(&key, "", HashAlgorithm::Sha512, &[0; 64]),
            Err(SignError::Ssh(SshSigError::Namespace(_)))
        ));
        assert!(sign(&key, "a\nb", HashAlgorithm::Sha512, &[0; 64]).is_err());
    }
}
