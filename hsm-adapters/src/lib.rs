//! Hardware-backed Ed25519 signers for Hallmark.
//!
//! Every backend in this crate implements the RustCrypto traits
//! [`signature::Signer<ed25519_dalek::Signature>`] (device failures surface through
//! `try_sign`) and [`signature::Keypair`] with an [`ed25519_dalek::VerifyingKey`], so any
//! ecosystem API that accepts a signer — x509-cert's certificate builder, Hallmark's envelope
//! signing — can use a key that never leaves its hardware.
//!
//! The crate has no dependency on Hallmark's formats: it knows keys, devices, PINs and
//! attestations, nothing about packages.
//!
//! * [`secret`] — PINs, passphrases and management keys: zeroizing types with redacted `Debug`,
//!   and where they come from (prompt, file, environment variable).
//! * [`interact`] — the user-interaction seam (prompts, "touch your key" notices), with a
//!   headless implementation for CI.
//! * [`attestation`] — verifying a YubiKey PIV attestation (device certificate and per-key
//!   certificate) against Yubico's published roots, from files alone.
//! * [`awskms`] — Ed25519 keys in AWS KMS: `awskms:` references, key creation, listing, and a
//!   signer with concurrent batch signing (cargo feature `awskms`, on by default).
//! * [`pkcs11`] — Ed25519 keys in PKCS#11 tokens: RFC 7512 key references, key generation,
//!   listing, and a signer with batch signing.
//! * [`yubikey`] — Ed25519 keys in YubiKey PIV slots: generation with a self-signed
//!   certificate, signing, attestation export, listing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attestation;
pub mod awskms;
pub mod interact;
pub mod pkcs11;
pub mod secret;
pub mod yubikey;

/// Lowercase hex, for key ids, fingerprints and digests in messages and reports.
pub(crate) fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}
