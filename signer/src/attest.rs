//! Checking the hardware attestations that bundles and key events carry, for the gatekeeper's
//! `require-attestation` policy.
//!
//! The keyring has no hardware dependencies: its gate asks an
//! [`AttestationVerifier`] whether an attestation proves that a key was generated in hardware.
//! [`HardwareAttestationVerifier`] answers with [`hallmark_hsm::attestation::verify`]: the
//! per-key certificate must be signed by the device's F9 certificate, the F9 certificate must
//! chain to a trusted root — Yubico's published roots, shipped with Hallmark — and the attested
//! public key must be the signing key itself. Nothing else is trusted unless the caller adds it
//! explicitly ([`HardwareAttestationVerifier::with_roots`]), which only tests do, with the root
//! of the virtual YubiKey.

use hallmark_hsm::attestation::{self, AttestationReport, ExpectedKey, TrustRoots};
use hallmark_keyring::PublicKey;
use hallmark_keyring::bundle::{Attestation, MAX_CERTIFICATE_BYTES};
use hallmark_keyring::trust::{AttestationError, AttestationVerifier};

use crate::keyref::YUBIKEY_PIV_FORMAT;

/// Verifies `yubikey-piv` attestations against a set of trusted roots (by default Yubico's).
#[derive(Clone, Debug)]
pub struct HardwareAttestationVerifier {
    roots: TrustRoots,
}

impl Default for HardwareAttestationVerifier {
    fn default() -> Self {
        Self::yubico()
    }
}

impl HardwareAttestationVerifier {
    /// A verifier trusting Yubico's PIV attestation roots and intermediates only.
    pub fn yubico() -> Self {
        HardwareAttestationVerifier {
            roots: TrustRoots::yubico(),
        }
    }

    /// A verifier trusting exactly `roots` (e.g. Yubico's plus a test device's root).
    pub fn with_roots(roots: TrustRoots) -> Self {
        HardwareAttestationVerifier { roots }
    }

    /// Verifies `attestation` and checks that it attests `key`; returns what it establishes.
    pub fn report(
        &self,
        attestation: &Attestation,
        key: &PublicKey,
    ) -> Result<AttestationReport, AttestationCheckError> {
        if attestation.format != YUBIKEY_PIV_FORMAT {
            return Err(AttestationCheckError::Format {
                format: attestation.format.chars().take(40).collect(),
            });
        }
        let [key_cert, device] = attestation.certificates.as_slice() else {
            return Err(AttestationCheckError::CertificateCount {
                count: attestation.certificates.len(),
            });
        };
        let decode = |what: &'static str, text: &str| {
            hallmark_keyring::encoding::base64_decode(what, text, MAX_CERTIFICATE_BYTES)
        };
        let key_cert = decode("per-key attestation certificate", key_cert)?;
        let device = decode("device attestation certificate", device)?;
        Ok(attestation::verify(
            &device,
            &key_cert,
            &self.roots,
            Some(&ExpectedKey::Ed25519(*key.verifying_key())),
        )?)
    }
}

/// Why an attestation in a bundle or key event does not check out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationCheckError {
    /// A format this program does not check.
    #[error("its format {format:?} is not one this program checks (only {YUBIKEY_PIV_FORMAT:?})")]
    Format {
        /// The format named (its first 40 characters).
        format: String,
    },
    /// Not the two certificates a YubiKey attestation has.
    #[error(
        "a {YUBIKEY_PIV_FORMAT} attestation holds two certificates (per-key, then the device's F9 certificate), this one holds {count}"
    )]
    CertificateCount {
        /// How many it holds.
        count: usize,
    },
    /// A certificate is not base64 of a bounded size.
    #[error(transparent)]
    Encoding(#[from] hallmark_keyring::encoding::EncodingError),
    /// The certificates do not verify, or attest another key.
    #[error(transparent)]
    Attestation(#[from] attestation::AttestationError),
}

/// One line saying what a verified attestation establishes.
pub fn summary(report: &AttestationReport) -> String {
    let device = match report.serial {
        Some(serial) => format!("YubiKey {serial}"),
        None => "a YubiKey".to_owned(),
    };
    format!(
        "generated on {device} (firmware {}, slot {}, PIN policy {}, touch policy {})",
        report.firmware, report.slot, report.pin_policy, report.touch_policy
    )
}

impl AttestationVerifier for HardwareAttestationVerifier {
    fn verify(
        &self,
        attestation: &Attestation,
        key: &PublicKey,
    ) -> Result<String, AttestationError> {
        self.report(attestation, key)
            .map(|r| summary(&r))
            .map_err(|e| AttestationError::Refused(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        PublicKey::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key())
    }

    #[test]
    fn refuses_what_it_cannot_check() {
        let verifier = HardwareAttestationVerifier::yubico();
        let key = key();
        let mut attestation = Attestation {
            key: key.key_id(),
            format: "tpm".to_owned(),
            certificates: Vec::new(),
        };
        assert_eq!(
            verifier.verify(&attestation, &key).unwrap_err().to_string(),
            "its format \"tpm\" is not one this program checks (only \"yubikey-piv\")"
        );
        attestation.format = YUBIKEY_PIV_FORMAT.to_owned();
        attestation.certificates = vec!["AAAA".to_owned()];
        assert_eq!(
            verifier.verify(&attestation, &key).unwrap_err().to_string(),
            "a yubikey-piv attestation holds two certificates (per-key, then the device's F9 \
             certificate), this one holds 1"
        );
        attestation.certificates = vec!["AAAA".to_owned(), "not base64!".to_owned()];
        assert!(verifier.verify(&attestation, &key).is_err());
    }
}
