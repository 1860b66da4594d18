//! Verifying minisign and SSH signature files: which key may have signed, and what a signature
//! that does not hold means.
//!
//! A verdict is [`Good`], or a [`VerifyError`] that is either a refusal (the signature is
//! well-formed and does not hold, or its signer is not trusted: [`VerifyError::is_refusal`]) or
//! an input that could not be read or is malformed.

use std::path::{Path, PathBuf};

use hallmark_keyring::PublicKey;
use hallmark_keyring::fsutil::{self, ReadError};

use super::allowed_signers::{AllowedSigners, NotAllowed};
use super::minisign::{self, MinisignError, MinisignSignature, MinisignVerifyError};
use super::pubkey::{ParsedKey, ssh_fingerprint};
use super::sshsig::{self, SshSigError, SshSigVerifyError, SshSignature};

/// A signature that holds, and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Good {
    /// The signer's key.
    pub key: PublicKey,
    /// minisign: the trusted comment.
    pub trusted_comment: Option<String>,
    /// SSH: the signature's namespace.
    pub namespace: Option<String>,
    /// SSH with an allowed-signers file: the principal(s) the key signs as.
    pub principal: Option<String>,
}

/// Why a signature file does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature file cannot be read.
    #[error("cannot read signature {}: {source}", path.display())]
    ReadSignature {
        /// The signature file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The signed file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The minisign signature file is malformed.
    #[error("{}: {source}", path.display())]
    MinisignFormat {
        /// The signature file.
        path: PathBuf,
        /// What is wrong.
        source: MinisignError,
    },
    /// The SSH signature file is malformed.
    #[error("{}: {source}", path.display())]
    SshFormat {
        /// The signature file.
        path: PathBuf,
        /// What is wrong.
        source: SshSigError,
    },
    /// The minisign signature names a key that was not given.
    #[error(
        "signed by key id {}, which is not a given key (key id{} {})",
        minisign::display_key_id(.signed),
        if .given.len() == 1 { "" } else { "s" },
        .given.iter().map(minisign::display_key_id).collect::<Vec<_>>().join(", ")
    )]
    UnknownMinisignKey {
        /// The key id in the signature.
        signed: [u8; 8],
        /// The key ids given.
        given: Vec<[u8; 8]>,
    },
    /// The minisign signature does not hold (or is a legacy signature, which is malformed).
    #[error(transparent)]
    Minisign(MinisignVerifyError),
    /// The SSH signature does not hold.
    #[error(transparent)]
    Ssh(SshSigVerifyError),
    /// The SSH signer is in the allowed-signers file, but not for this principal, namespace or
    /// time.
    #[error("signed by {key} ({}): {source}", ssh_fingerprint(.key))]
    NotAllowed {
        /// The signer.
        key: Box<PublicKey>,
        /// Why.
        source: NotAllowed,
    },
    /// The SSH signer is not a given key.
    #[error("signed by {key} ({}), which is not a given key", ssh_fingerprint(.key))]
    UnknownSshKey {
        /// The signer.
        key: Box<PublicKey>,
    },
}

impl VerifyError {
    /// Whether the signature is well-formed and refused (exit 1), rather than unreadable or
    /// malformed (exit 2).
    pub fn is_refusal(&self) -> bool {
        match self {
            VerifyError::Minisign(MinisignVerifyError::Legacy) => false,
            VerifyError::Minisign(_)
            | VerifyError::UnknownMinisignKey { .. }
            | VerifyError::Ssh(_)
            | VerifyError::NotAllowed { .. }
            | VerifyError::UnknownSshKey { .. } => true,
            _ => false,
        }
    }
}

fn read_signature(path: &Path, max: usize) -> Result<Vec<u8>, VerifyError> {
    fsutil::read_bounded(path, max as u64).map_err(|source| VerifyError::ReadSignature {
        path: path.to_owned(),
        source,
    })
}

/// Verifies `file` against its minisign signature `signature` made by one of `keys`.
pub fn verify_minisign_file(
    file: &Path,
    signature: &Path,
    keys: &[ParsedKey],
) -> Result<Good, VerifyError> {
    let bytes = read_signature(signature, minisign::MAX_SIGNATURE_FILE)?;
    let sig = MinisignSignature::parse(&bytes).map_err(|source| VerifyError::MinisignFormat {
        path: signature.to_owned(),
        source,
    })?;
    let key_id = |k: &ParsedKey| {
        k.minisign_key_id
            .unwrap_or_else(|| minisign::key_id_for(&k.key))
    };
    let Some(key) = keys.iter().find(|k| key_id(k) == sig.key_id) else {
        return Err(VerifyError::UnknownMinisignKey {
            signed: sig.key_id,
            given: keys.iter().map(key_id).collect(),
        });
    };
    let prehash = minisign::prehash_file(file).map_err(|source| VerifyError::ReadFile {
        path: file.to_owned(),
        source,
    })?;
    sig.verify(&key.key, &key_id(key), &prehash)
        .map_err(VerifyError::Minisign)?;
    Ok(Good {
        key: key.key,
        trusted_comment: Some(sig.trusted_comment.clone()),
        namespace: None,
        principal: None,
    })
}

/// Who may have made an SSH signature.
#[derive(Clone, Copy, Debug)]
pub struct SshPolicy<'a> {
    /// The namespace the signature must be for.
    pub namespace: &'a str,
    /// Keys given directly: any of them may sign (when no principal is asked for).
    pub keys: &'a [ParsedKey],
    /// An allowed-signers file.
    pub allowed: Option<&'a AllowedSigners>,
    /// The principal the signer must be allowed as.
    pub principal: Option<&'a str>,
    /// When (Unix seconds) the allowed-signers validity is checked.
    pub time: u64,
}

/// Verifies `file` against its SSH signature `signature` under `policy`.
pub fn verify_ssh_file(
    file: &Path,
    signature: &Path,
    policy: &SshPolicy<'_>,
) -> Result<Good, VerifyError> {
    let bytes = read_signature(signature, sshsig::MAX_ARMORED)?;
    let sig = SshSignature::parse_armored(&bytes).map_err(|source| VerifyError::SshFormat {
        path: signature.to_owned(),
        source,
    })?;
    let hash = sig
        .hash_algorithm
        .hash_file(file)
        .map_err(|source| VerifyError::ReadFile {
            path: file.to_owned(),
            source,
        })?;
    sig.verify(policy.namespace, &hash)
        .map_err(VerifyError::Ssh)?;
    check_ssh_signer(&sig, policy)
}

/// Whether the policy trusts the signer of a signature that holds: a key given directly, or a
/// line of the allowed-signers file for the principal, namespace and time.
pub fn check_ssh_signer(sig: &SshSignature, policy: &SshPolicy<'_>) -> Result<Good, VerifyError> {
    let good = |principal: Option<String>| Good {
        key: sig.public_key,
        trusted_comment: None,
        namespace: Some(sig.namespace.clone()),
        principal,
    };
    if policy.principal.is_none() && policy.keys.iter().any(|k| k.key == sig.public_key) {
        return Ok(good(None));
    }
    let Some(allowed) = policy.allowed else {
        return Err(VerifyError::UnknownSshKey {
            key: Box::new(sig.public_key),
        });
    };
    match allowed.check(
        &sig.public_key,
        policy.principal,
        policy.namespace,
        policy.time,
    ) {
        Ok(entry) => Ok(good(Some(
            policy
                .principal
                .map_or_else(|| entry.principals.clone(), str::to_owned),
        ))),
        Err(source) => Err(VerifyError::NotAllowed {
            key: Box::new(sig.public_key),
            source,
        }),
    }
}
