//! The virtual YubiKey's attestation hierarchy: a test root, an intermediate, the device's F9
//! key and certificate, and per-key attestation certificates in Yubico's format.
//!
//! It mirrors what firmware 5.7.4 and later ship — root → "PIV Attestation" intermediate → F9
//! ("CN=YubiKey PIV Attestation", `CA:TRUE, pathlen:0`) → per-key certificate
//! ("CN=YubiKey PIV Attestation 9c") — with ECDSA P-256 keys derived from fixed labels, fixed
//! validity dates and RFC 6979 deterministic signatures, so the whole hierarchy is the same
//! bytes on every run. Nothing here is trusted by anything shipped: the root's name says so.
//!
//! Per-key certificates carry Yubico's extensions, each value raw inside the extension's
//! OCTET STRING, exactly as real devices write them:
//!
//! | OID | value |
//! | --- | --- |
//! | `1.3.6.1.4.1.41482.3.3` | firmware, 3 bytes (major, minor, patch) |
//! | `1.3.6.1.4.1.41482.3.7` | serial, a DER INTEGER |
//! | `1.3.6.1.4.1.41482.3.8` | PIN policy then touch policy, 1 byte each |
//! | `1.3.6.1.4.1.41482.3.9` | form factor, 1 byte |

use std::str::FromStr;

use ed25519_dalek::pkcs8::EncodePublicKey;
use p256::ecdsa::{DerSignature, SigningKey};
use sha2::{Digest, Sha256};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::asn1::OctetString;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{DateTime, Decode, Encode, EncodePem, pem::LineEnding};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

/// Yubico's firmware-version extension.
pub const OID_FIRMWARE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
/// Yubico's serial-number extension.
pub const OID_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
/// Yubico's PIN-and-touch-policy extension.
pub const OID_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");
/// Yubico's form-factor extension.
pub const OID_FORM_FACTOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.9");

/// Subject of the test root.
pub const ROOT_SUBJECT: &str = "CN=Hallmark Virtual YubiKey Test Root CA (not trusted)";
/// Subject of the test intermediate that issues F9 certificates.
pub const INTERMEDIATE_SUBJECT: &str = "CN=Hallmark Virtual YubiKey Test PIV Attestation";
/// Subject of the F9 certificate, as on real YubiKeys.
pub const F9_SUBJECT: &str = "CN=YubiKey PIV Attestation";

/// Errors while building the hierarchy (only on a bug: every input is fixed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The certificate builder failed.
    #[error("building the {what} certificate: {source}")]
    Build {
        /// Which certificate.
        what: &'static str,
        /// The builder's error.
        source: x509_cert::builder::Error,
    },
    /// A public key could not be encoded.
    #[error("encoding a public key: {source}")]
    PublicKey {
        /// The SPKI error.
        source: x509_cert::spki::Error,
    },
    /// DER encoding or decoding failed.
    #[error("encoding the {what}: {source}")]
    Der {
        /// What was being encoded.
        what: &'static str,
        /// The DER error.
        source: x509_cert::der::Error,
    },
}

fn der_err(what: &'static str) -> impl Fn(x509_cert::der::Error) -> AuthorityError {
    move |source| AuthorityError::Der { what, source }
}

/// The test attestation hierarchy, shared by every virtual card.
pub struct TestAuthority {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    f9_key: SigningKey,
    f9_der: Vec<u8>,
    validity: Validity,
}

impl std::fmt::Debug for TestAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuthority").finish_non_exhaustive()
    }
}

/// A P-256 key derived from a label: deterministic, test-only.
fn derived_key(label: &str) -> SigningKey {
    let mut counter = 0u8;
    loop {
        let digest = Sha256::new()
            .chain_update(label.as_bytes())
            .chain_update([counter])
            .finalize();
        // A digest is a valid scalar unless it is zero or above the group order (probability
        // about 2^-32); then try the next counter.
        if let Ok(key) = SigningKey::from_slice(&digest) {
            return key;
        }
        counter = counter.wrapping_add(1);
    }
}

/// A positive 16-byte serial number derived from `parts`.
fn derived_serial(parts: &[&[u8]]) -> Result<SerialNumber, AuthorityError> {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).map_err(der_err("serial number"))
}

fn name(text: &str) -> Result<Name, AuthorityError> {
    Name::from_str(text).map_err(der_err("name"))
}

/// A profile that issues exactly the extensions it is given.
struct Fixed {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Fixed {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, AuthorityError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(der_err("extension"))?,
    })
}

fn ca_extensions(path_len: Option<u8>) -> Result<Vec<Extension>, AuthorityError> {
    let constraints = BasicConstraints {
        ca: true,
        path_len_constraint: path_len,
    };
    let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    Ok(vec![
        extension(
            BasicConstraints::OID,
            true,
            constraints.to_der().map_err(der_err("basic constraints"))?,
        )?,
        extension(
            KeyUsage::OID,
            true,
            usage.to_der().map_err(der_err("key usage"))?,
        )?,
    ])
}

impl TestAuthority {
    /// Builds the hierarchy. Deterministic: every call returns the same certificates.
    pub fn new() -> Result<Self, AuthorityError> {
        let validity = Validity::new(
            Time::from(DateTime::new(2024, 12, 1, 0, 0, 0).map_err(der_err("date"))?),
            Time::from(DateTime::new(9999, 12, 31, 23, 59, 59).map_err(der_err("date"))?),
        );
        let root_key = derived_key("hallmark virtual yubikey: test root");
        let intermediate_key = derived_key("hallmark virtual yubikey: test intermediate");
        let f9_key = derived_key("hallmark virtual yubikey: F9 attestation key");

        let issue = |what: &'static str,
                     issuer: &str,
                     subject: &str,
                     subject_key: &SigningKey,
                     signer: &SigningKey,
                     extensions: Vec<Extension>|
         -> Result<Vec<u8>, AuthorityError> {
            let spki = SubjectPublicKeyInfoOwned::from_key(subject_key.verifying_key())
                .map_err(|source| AuthorityError::PublicKey { source })?;
            let profile = Fixed {
                issuer: name(issuer)?,
                subject: name(subject)?,
                extensions,
            };
            let serial = derived_serial(&[what.as_bytes()])?;
            let builder = CertificateBuilder::new(profile, serial, validity, spki)
                .map_err(|source| AuthorityError::Build { what, source })?;
            let cert = builder
                .build::<_, DerSignature>(signer)
                .map_err(|source| AuthorityError::Build { what, source })?;
            cert.to_der().map_err(der_err(what))
        };

        let root_der = issue(
            "root",
            ROOT_SUBJECT,
            ROOT_SUBJECT,
            &root_key,
            &root_key,
            ca_extensions(None)?,
        )?;
        let intermediate_der = issue(
            "intermediate",
            ROOT_SUBJECT,
            INTERMEDIATE_SUBJECT,
            &intermediate_key,
            &root_key,
            ca_extensions(Some(1))?,
        )?;
        // Real F9 certificates carry the firmware extension and `CA:TRUE, pathlen:0`.
        let mut f9_extensions = vec![extension(OID_FIRMWARE, false, vec![5, 7, 4])?];
        f9_extensions.extend(ca_extensions(Some(0))?);
        let f9_der = issue(
            "F9",
            INTERMEDIATE_SUBJECT,
            F9_SUBJECT,
            &f9_key,
            &intermediate_key,
            f9_extensions,
        )?;
        Ok(TestAuthority {
            root_der,
            intermediate_der,
            f9_key,
            f9_der,
            validity,
        })
    }

    /// The test root certificate (DER).
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The intermediate certificate that issued the F9 certificate (DER).
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// The F9 device certificate (DER), as stored in object `5FFF01`.
    pub fn f9_der(&self) -> &[u8] {
        &self.f9_der
    }

    /// The root and intermediate as PEM, for tools that take files.
    pub fn pem(der: &[u8]) -> Result<String, AuthorityError> {
        x509_cert::Certificate::from_der(der)
            .map_err(der_err("certificate"))?
            .to_pem(LineEnding::LF)
            .map_err(der_err("PEM"))
    }

    /// Issues the per-key attestation certificate for an Ed25519 key in `slot`.
    #[allow(clippy::too_many_arguments)]
    pub fn attest(
        &self,
        slot: u8,
        public_key: &ed25519_dalek::VerifyingKey,
        firmware: [u8; 3],
        serial: u32,
        pin_policy: u8,
        touch_policy: u8,
        form_factor: u8,
    ) -> Result<Vec<u8>, AuthorityError> {
        let mut serial_der = Vec::new();
        x509_cert::der::asn1::Uint::new(&serial.to_be_bytes())
            .map_err(der_err("serial"))?
            .encode_to_vec(&mut serial_der)
            .map_err(der_err("serial"))?;
        let extensions = vec![
            extension(OID_FIRMWARE, false, firmware.to_vec())?,
            extension(OID_SERIAL, false, serial_der)?,
            extension(OID_POLICY, false, vec![pin_policy, touch_policy])?,
            extension(OID_FORM_FACTOR, false, vec![form_factor])?,
        ];
        let profile = Fixed {
            issuer: name(F9_SUBJECT)?,
            subject: name(&format!("CN=YubiKey PIV Attestation {slot:02x}"))?,
            extensions,
        };
        let spki_der = public_key
            .to_public_key_der()
            .map_err(|source| AuthorityError::PublicKey { source })?;
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())
            .map_err(der_err("public key"))?;
        let serial_number = derived_serial(&[&[slot], public_key.as_bytes()])?;
        let builder = CertificateBuilder::new(profile, serial_number, self.validity, spki)
            .map_err(|source| AuthorityError::Build {
                what: "per-key attestation",
                source,
            })?;
        let cert = builder
            .build::<_, DerSignature>(&self.f9_key)
            .map_err(|source| AuthorityError::Build {
                what: "per-key attestation",
                source,
            })?;
        cert.to_der().map_err(der_err("per-key attestation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_is_deterministic() {
        let a = TestAuthority::new().unwrap();
        let b = TestAuthority::new().unwrap();
        assert_eq!(a.root_der(), b.root_der());
        assert_eq!(a.intermediate_der(), b.intermediate_der());
        assert_eq!(a.f9_der(), b.f9_der());
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            a.attest(0x9c, &key, [5, 7, 4], 12345678, 2, 2, 3).unwrap(),
            b.attest(0x9c, &key, [5, 7, 4], 12345678, 2, 2, 3).unwrap()
        );
    }

    #[test]
    fn per_key_certificate_has_yubico_layout() {
        let authority = TestAuthority::new().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let der = authority
            .attest(0x9c, &key, [5, 7, 4], 12345678, 2, 3, 1)
            .unwrap();
        let cert = x509_cert::Certificate::from_der(&der).unwrap();
        let tbs = cert.tbs_certificate();
        assert_eq!(tbs.subject().to_string(), "CN=YubiKey PIV Attestation 9c");
        assert_eq!(tbs.issuer().to_string(), F9_SUBJECT);
        let f9 = x509_cert::Certificate::from_der(authority.f9_der()).unwrap();
        assert_eq!(tbs.issuer(), f9.tbs_certificate().subject());
        let ext: Vec<(String, Vec<u8>)> = tbs
            .extensions()
            .unwrap()
            .iter()
            .map(|e| (e.extn_id.to_string(), e.extn_value.as_bytes().to_vec()))
            .collect();
        assert_eq!(
            ext,
            vec![
                ("1.3.6.1.4.1.41482.3.3".to_owned(), vec![5, 7, 4]),
                (
                    "1.3.6.1.4.1.41482.3.7".to_owned(),
                    vec![0x02, 0x04, 0x00, 0xbc, 0x61, 0x4e]
                ),
                ("1.3.6.1.4.1.41482.3.8".to_owned(), vec![2, 3]),
                ("1.3.6.1.4.1.41482.3.9".to_owned(), vec![1]),
            ]
        );
        assert_eq!(
            tbs.subject_public_key_info().subject_public_key.raw_bytes(),
            key.as_bytes()
        );
    }
}
