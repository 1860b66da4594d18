//! YubiKey PIV attestation: proof that a key was generated on a YubiKey, checked from files.
//!
//! A YubiKey signs, with the key in its slot F9, a certificate for a key it generated in one of
//! its PIV slots (the *per-key attestation*). The F9 certificate (the *device certificate*) is
//! signed by Yubico. Given the two certificates, [`verify`]:
//!
//! 1. reads each as exactly one PEM or DER certificate (no other blocks, no trailing bytes);
//! 2. checks that the per-key certificate's issuer is the device certificate's subject and that
//!    its signature verifies with the device certificate's key;
//! 3. walks from the device certificate up to a trusted root, verifying every signature on the
//!    way, with intermediates taken only from the [`TrustRoots`] (never from the input):
//!    firmware before 5.7.4 chains directly to "Yubico PIV Root CA Serial 263751" (a 2017/2018
//!    YubiKey 4 batch to "Yubico U2F Root CA Serial 457200631"); 5.7.4 and later chain through
//!    "Yubico PIV Attestation A 1 / B 1" and "Yubico Attestation Intermediate A 1 / B 1" to
//!    "Yubico Attestation Root 1";
//! 4. reads Yubico's extensions from the per-key certificate (firmware, serial, PIN and touch
//!    policy, form factor) and the slot from its subject;
//! 5. compares the attested public key with the key being enrolled, when one is given.
//!
//! Deliberate departures from RFC 5280 path validation, as in piv-go and ykman:
//!
//! * The device certificate of firmware 4.3 has no basicConstraints extension, so it is not a
//!   CA certificate by RFC 5280's rules; it is accepted as an issuer because its signature
//!   chains, link by link, to a pinned Yubico root, and Yubico generates its key on the device.
//!   A device certificate that *says* CA:FALSE, or whose keyUsage lacks keyCertSign, is refused.
//!   Trusted intermediates must say CA:TRUE.
//! * Path length constraints are not enforced: the U2F root carries pathlen:0, yet YubiKey 4
//!   devices of 2017/2018 have device certificates under it that issue per-key certificates.
//! * Validity dates are not checked. Yubico's certificates run from 2014–2024 to 2050–9999, and
//!   an attestation is evidence about how a key was made, which stays true.
//!
//! ```no_run
//! use hallmark_hsm::attestation::{self, TrustRoots};
//!
//! let device = std::fs::read("f9.pem")?;
//! let key_cert = std::fs::read("attestation-9c.pem")?;
//! let report = attestation::verify(&device, &key_cert, &TrustRoots::yubico(), None)?;
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cert;
mod chain;
mod error;
mod keys;
mod report;
mod trust;
mod yubico;

use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

pub use error::{AttestationError, CertId, CertRole, EncodingProblem};
pub use keys::KeyAlgorithm;
pub use report::{AttestationReport, AttestedKey, KeyCheck};
pub use trust::TrustRoots;
pub use yubico::{FirmwareVersion, FormFactor, PinPolicy, PivSlot, TouchPolicy};

use crate::hex;
use cert::ParsedCert;
use keys::PublicKey;

/// The key a maintainer claims to have enrolled, to compare with the attested key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedKey {
    /// An Ed25519 key, as Hallmark enrols it.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// Any key as a DER SubjectPublicKeyInfo (for RSA and ECDSA attestations).
    SpkiDer(Vec<u8>),
}

impl ExpectedKey {
    /// The decoded key and its SPKI DER.
    fn decode(&self) -> Result<(PublicKey, Vec<u8>), AttestationError> {
        let invalid = |detail: String| AttestationError::InvalidExpectedKey { detail };
        match self {
            ExpectedKey::Ed25519(key) => {
                use ed25519_dalek::pkcs8::EncodePublicKey;
                let spki = key
                    .to_public_key_der()
                    .map_err(|e| invalid(e.to_string()))?;
                Ok((PublicKey::Ed25519(*key), spki.into_vec()))
            }
            ExpectedKey::SpkiDer(der) => {
                let spki =
                    SubjectPublicKeyInfoOwned::from_der(der).map_err(|e| invalid(e.to_string()))?;
                let key = PublicKey::from_spki(&spki).map_err(invalid)?;
                Ok((key, der.clone()))
            }
        }
    }
}

/// Verifies a YubiKey PIV attestation given as files: the device certificate (slot F9) and the
/// per-key attestation certificate, each PEM or DER.
///
/// With `expected`, the attested key must be that key. Returns what the attestation
/// establishes, or the first reason it does not hold; see the [module documentation](self) for
/// the rules.
pub fn verify(
    device: &[u8],
    key_cert: &[u8],
    trust: &TrustRoots,
    expected: Option<&ExpectedKey>,
) -> Result<AttestationReport, AttestationError> {
    let device = ParsedCert::parse(device, CertRole::Device)?;
    let key = ParsedCert::parse(key_cert, CertRole::KeyAttestation)?;
    let expected = expected.map(ExpectedKey::decode).transpose()?;
    let device_id = || device.id(CertRole::Device);
    let key_id = || key.id(CertRole::KeyAttestation);

    // Each certificate in its place.
    let slot = yubico::slot_from_subject(key.cert.tbs_certificate().subject());
    match (looks_like_key_attestation(&device), slot.is_some()) {
        (true, false) => {
            return Err(AttestationError::SwappedCertificates {
                device: device.id(CertRole::Device),
                key_cert: key.id(CertRole::KeyAttestation),
            });
        }
        (true, true) => {
            return Err(AttestationError::DeviceCertIsKeyAttestation {
                device: device_id(),
            });
        }
        (false, _) => {}
    }
    let slot = slot.ok_or_else(|| AttestationError::NotAKeyAttestation { key_cert: key_id() })?;

    // The per-key certificate was signed by this device.
    let key_tbs = key.cert.tbs_certificate();
    if key_tbs.issuer() != device.cert.tbs_certificate().subject() {
        return Err(AttestationError::KeyCertIssuerMismatch {
            key_cert: key_id(),
            issuer: key_tbs.issuer().to_string(),
            device: device_id(),
        });
    }
    let device_key = PublicKey::from_spki(device.cert.tbs_certificate().subject_public_key_info())
        .map_err(|detail| AttestationError::UnsupportedIssuerKey {
            cert: device_id(),
            detail,
        })?;
    chain::check_link(&key, &device_key).map_err(|failure| {
        chain::link_error(failure, key_id(), device_id(), |key_cert, device| {
            AttestationError::KeyCertSignatureInvalid { key_cert, device }
        })
    })?;
    chain::check_critical_extensions(&key, CertRole::KeyAttestation)?;
    chain::check_critical_extensions(&device, CertRole::Device)?;
    chain::device_may_issue(&device.cert).map_err(|detail| AttestationError::NotACa {
        cert: device_id(),
        detail,
    })?;

    // The device certificate chains to a trusted root.
    let path = chain::chain_to_root(&device, trust)?;

    // What the device says about the key.
    let ext = yubico::read_extensions(&key.cert).map_err(|p| match p.detail {
        None => AttestationError::MissingExtension {
            key_cert: key_id(),
            extension: p.name,
            oid: p.oid,
        },
        Some(detail) => AttestationError::MalformedExtension {
            key_cert: key_id(),
            extension: p.name,
            oid: p.oid,
            detail,
        },
    })?;

    // The attested key, and the expected one.
    let spki = key_tbs.subject_public_key_info();
    let attested =
        PublicKey::from_spki(spki).map_err(|detail| AttestationError::MalformedAttestedKey {
            key_cert: key_id(),
            detail,
        })?;
    let spki_der = spki
        .to_der()
        .map_err(|e| AttestationError::MalformedAttestedKey {
            key_cert: key_id(),
            detail: e.to_string(),
        })?;
    let public_key = AttestedKey {
        algorithm: attested.algorithm(),
        spki_sha256: hex(&Sha256::digest(&spki_der)),
        spki_der,
    };
    let expected_key = match expected {
        None => KeyCheck::NotCompared,
        Some((expected, expected_spki)) => {
            let same = match (&attested, &expected) {
                (PublicKey::Other(_), _) | (_, PublicKey::Other(_)) => {
                    public_key.spki_der == expected_spki
                }
                _ => attested == expected,
            };
            if !same {
                return Err(AttestationError::KeyMismatch {
                    key_cert: key_id(),
                    attested: format!(
                        "{}, SPKI SHA-256 {}",
                        public_key.algorithm, public_key.spki_sha256
                    ),
                    expected: format!(
                        "{}, SPKI SHA-256 {}",
                        expected.algorithm(),
                        hex(&Sha256::digest(&expected_spki))
                    ),
                });
            }
            KeyCheck::Matches
        }
    };

    let mut chain = vec![key_id(), device_id()];
    chain.extend(path.iter().map(|c| c.id()));
    Ok(AttestationReport {
        slot,
        firmware: ext.firmware,
        serial: ext.serial,
        pin_policy: ext.pin_policy,
        touch_policy: ext.touch_policy,
        form_factor: ext.form_factor,
        public_key,
        expected_key,
        chain,
    })
}

/// A per-key attestation names a slot in its subject or carries the policy extension; a device
/// certificate does neither.
fn looks_like_key_attestation(cert: &ParsedCert) -> bool {
    yubico::slot_from_subject(cert.cert.tbs_certificate().subject()).is_some()
        || yubico::has_policy_extension(&cert.cert)
}
