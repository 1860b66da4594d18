//! Peer formats: minisign and OpenSSH signatures, and public keys in each ecosystem's form,
//! made with any Hallmark backend (file keys, PKCS#11 tokens, YubiKeys) through the
//! [`Ed25519Signer`] and [`crate::keyref::KeyHandle`] seams.
//!
//! * [`minisign`] — `FILE.minisig` (prehashed `ED`), minisign public keys;
//! * [`sshsig`] — `FILE.sig`, OpenSSH's SSHSIG (`ssh-keygen -Y sign`), as git uses for
//!   `gpg.format=ssh`;
//! * [`allowed_signers`] — OpenSSH allowed-signers files;
//! * [`pubkey`] — public keys as `ed25519:…`, OpenSSH lines, minisign keys, PEM and JWK;
//! * [`revoked`] — OpenSSH revoked-key lists;
//! * [`verify`] — verifying minisign and SSH signature files: which keys and allowed signers
//!   are trusted, and refusals told apart from malformed input.
//!
//! What reaches a signer is always small: a 64-byte digest, 64 bytes plus a trusted comment, or
//! the SSHSIG preamble with the file's hash. Every parser here takes untrusted input: sizes are
//! bounded before anything is allocated, errors say what was wrong, nothing panics, and writing
//! a parsed value gives back the bytes it was parsed from. Signatures are checked only with
//! [`hallmark_keyring::key::verify_signature`]. The formats are specified, with the known
//! answers the tests check, in `docs/interop.md`.

pub mod allowed_signers;
pub mod minisign;
pub mod pubkey;
pub mod revoked;
pub mod sshsig;
pub mod verify;
pub mod wire;

use hallmark_keyring::envelope::Ed25519Signer;
use hallmark_keyring::key::{PublicKey, verify_signature};

/// Why signing in a peer format failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signer (key file, token, YubiKey) failed.
    #[error("signing failed: {0}")]
    Signer(#[source] crate::keyref::SignerFailure),
    /// The signer returned a signature that does not verify under its own key.
    #[error(
        "the signer returned a signature that does not verify under its public key; the device \
         or key is faulty, nothing was written"
    )]
    BadSignatureFromSigner,
    /// A minisign comment cannot be written.
    #[error(transparent)]
    Minisign(#[from] minisign::MinisignError),
    /// An SSH namespace cannot be used.
    #[error(transparent)]
    Ssh(#[from] sshsig::SshSigError),
}

/// Signs a small message and checks the signature under the signer's key before returning it.
fn sign_checked(
    signer: &(impl Ed25519Signer + ?Sized),
    message: &[u8],
) -> Result<[u8; 64], SignError> {
    let signature = signer
        .try_sign(message)
        .map_err(|e| SignError::Signer(crate::keyref::SignerFailure::Signature(e)))?
        .to_bytes();
    let key = PublicKey::new(signer.verifying_key());
    verify_signature(&key, message, &signature).map_err(|_| SignError::BadSignatureFromSigner)?;
    Ok(signature)
}
