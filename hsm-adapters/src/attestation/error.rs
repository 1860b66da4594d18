//! Why an attestation does not hold, and which certificate is to blame.

use std::fmt;

use serde::Serialize;

/// Which certificate an error or a chain entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CertRole {
    /// The per-key attestation certificate the device signed for one slot (`--key-cert`).
    KeyAttestation,
    /// The device's attestation certificate, read from slot F9 (`--device`).
    Device,
    /// A Yubico intermediate certificate from the trust configuration.
    Intermediate,
    /// A trusted root: one of Yubico's, or one added with
    /// [`TrustRoots::with_extra_root`](super::TrustRoots::with_extra_root).
    Root,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertRole::KeyAttestation => "per-key attestation certificate",
            CertRole::Device => "device certificate (slot F9)",
            CertRole::Intermediate => "intermediate certificate",
            CertRole::Root => "root certificate",
        })
    }
}

/// Names one certificate in an error or a report: its role, subject and SHA-256 fingerprint (of
/// the DER encoding, lowercase hex — the value `openssl x509 -fingerprint -sha256` prints).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertId {
    /// What the certificate is in this attestation.
    pub role: CertRole,
    /// The subject name, RFC 4514 style (`CN=YubiKey PIV Attestation 9c`).
    pub subject: Box<str>,
    /// SHA-256 of the certificate's DER encoding, lowercase hex.
    pub sha256: Box<str>,
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" (SHA-256 {})",
            self.role, self.subject, self.sha256
        )
    }
}

/// What is wrong with the bytes given as a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodingProblem {
    /// No bytes at all (or only whitespace).
    Empty,
    /// Neither a PEM block nor DER (which starts with a SEQUENCE, byte `0x30`).
    NotPemOrDer,
    /// A PEM block with another label than `CERTIFICATE`.
    WrongPemLabel {
        /// The label found after `-----BEGIN `.
        label: String,
    },
    /// The PEM structure is broken: missing end line, bad base64, and the like.
    Pem {
        /// What the PEM reader found.
        detail: String,
    },
    /// Text before the `-----BEGIN CERTIFICATE-----` line.
    LeadingData,
    /// Bytes after the end of the certificate (after the PEM end line, or after the DER).
    TrailingData {
        /// How many bytes follow.
        bytes: usize,
    },
    /// More than one certificate where exactly one is expected.
    MultipleCertificates {
        /// How many were found.
        count: usize,
    },
    /// The DER does not decode as an X.509 certificate.
    Der {
        /// What the DER decoder reported.
        detail: String,
    },
}

impl fmt::Display for EncodingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodingProblem::Empty => f.write_str("the input is empty"),
            EncodingProblem::NotPemOrDer => f.write_str(
                "the input is neither a PEM certificate (-----BEGIN CERTIFICATE-----) nor DER",
            ),
            EncodingProblem::WrongPemLabel { label } => {
                write!(f, "the PEM block is a \"{label}\", not a \"CERTIFICATE\"")
            }
            EncodingProblem::Pem { detail } => write!(f, "the PEM encoding is broken: {detail}"),
            EncodingProblem::LeadingData => f.write_str(
                "there is text before -----BEGIN CERTIFICATE-----; keep only the PEM block",
            ),
            EncodingProblem::TrailingData { bytes } => {
                write!(f, "{bytes} unexpected byte(s) follow the certificate")
            }
            EncodingProblem::MultipleCertificates { count } => write!(
                f,
                "{count} certificates found where exactly one is expected; give each certificate in its own file"
            ),
            EncodingProblem::Der { detail } => {
                write!(
                    f,
                    "the DER does not decode as an X.509 certificate: {detail}"
                )
            }
        }
    }
}

/// Why a YubiKey attestation does not hold.
///
/// Every variant names the certificate concerned (role, subject, SHA-256 fingerprint). Use
/// [`AttestationError::is_input_error`] to tell malformed input (the command-line tool's exit
/// code 2) from an attestation that was read and refused (exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The bytes given for a certificate are not one well-formed X.509 certificate.
    #[error("cannot read the {role}: {problem}")]
    Encoding {
        /// Which input.
        role: CertRole,
        /// What is wrong with it.
        problem: EncodingProblem,
    },

    /// The key given to compare with the attested key is not a valid SubjectPublicKeyInfo.
    #[error("the expected public key is not a valid DER SubjectPublicKeyInfo: {detail}")]
    InvalidExpectedKey {
        /// What the decoder reported.
        detail: String,
    },

    /// The per-key certificate was given as the device certificate and the other way round.
    #[error(
        "the two certificates are swapped: {device} is a per-key attestation and {key_cert} is a \
         device certificate; pass the slot F9 certificate as the device certificate"
    )]
    SwappedCertificates {
        /// The certificate given as the device certificate (a per-key attestation).
        device: CertId,
        /// The certificate given as the per-key certificate (a device certificate).
        key_cert: CertId,
    },

    /// The certificate given as the device (F9) certificate is itself a per-key attestation.
    #[error(
        "{device} is a per-key attestation, not the device's slot F9 certificate; export the \
         device certificate (ykman piv certificates export f9 f9.pem) and pass that"
    )]
    DeviceCertIsKeyAttestation {
        /// The certificate given as the device certificate.
        device: CertId,
    },

    /// The per-key certificate's subject does not name a PIV slot
    /// (`YubiKey PIV Attestation 9a`, `9c`, `9d`, `9e`, `82`–`95`).
    #[error(
        "{key_cert} is not a YubiKey PIV attestation: its subject does not read \
         \"YubiKey PIV Attestation <slot>\" for a PIV key slot"
    )]
    NotAKeyAttestation {
        /// The certificate given as the per-key certificate.
        key_cert: CertId,
    },

    /// The per-key certificate names another issuer than the device certificate's subject.
    #[error(
        "{key_cert} was issued by \"{issuer}\", not by {device}: the two certificates do not \
         come from the same device"
    )]
    KeyCertIssuerMismatch {
        /// The per-key certificate.
        key_cert: CertId,
        /// The issuer it names.
        issuer: String,
        /// The device certificate given with it.
        device: CertId,
    },

    /// The per-key certificate's signature does not verify with the device certificate's key.
    #[error(
        "the signature on {key_cert} does not verify with the key of {device}: it was signed by \
         another device, or one of the two certificates was altered"
    )]
    KeyCertSignatureInvalid {
        /// The per-key certificate.
        key_cert: CertId,
        /// The device certificate whose key was tried.
        device: CertId,
    },

    /// No trusted certificate has the name of this certificate's issuer.
    #[error(
        "{cert} was issued by \"{issuer}\", which is not a trusted Yubico root or intermediate \
         (nor an extra root of this configuration)"
    )]
    UnknownIssuer {
        /// The certificate whose issuer is unknown.
        cert: CertId,
        /// The issuer it names.
        issuer: String,
    },

    /// A trusted certificate has the issuer's name, but its key does not verify the signature.
    #[error(
        "the signature on {cert} does not verify with the key of {issuer}: the certificate was \
         altered, or it was signed by an impostor using that name"
    )]
    ChainSignatureInvalid {
        /// The certificate whose signature failed.
        cert: CertId,
        /// The trusted certificate whose key was tried.
        issuer: CertId,
    },

    /// The signature algorithm is not one this verifier accepts.
    #[error(
        "{cert} is signed with {name} (OID {oid}), which is not accepted; accepted: \
         sha256/384/512WithRSAEncryption (PKCS#1 v1.5), ecdsa-with-SHA256/384/512 on P-256 or \
         P-384, Ed25519"
    )]
    UnsupportedSignatureAlgorithm {
        /// The certificate carrying the signature.
        cert: CertId,
        /// The algorithm's object identifier, dotted.
        oid: String,
        /// The algorithm's name when known, else "an unknown algorithm".
        name: &'static str,
    },

    /// The certificate's outer signature algorithm differs from the one inside its signed part.
    #[error(
        "{cert} names signature algorithm {outer} outside its signed part and {inner} inside it"
    )]
    SignatureAlgorithmMismatch {
        /// The certificate.
        cert: CertId,
        /// OID of `Certificate.signatureAlgorithm`.
        outer: String,
        /// OID of `TBSCertificate.signature`.
        inner: String,
    },

    /// The signature algorithm does not fit the issuer's key (an RSA signature from an EC key).
    #[error("{cert} is signed with {algorithm}, but the key of its issuer {issuer} is {key}")]
    IssuerKeyMismatch {
        /// The certificate carrying the signature.
        cert: CertId,
        /// The signature algorithm's name.
        algorithm: &'static str,
        /// The issuing certificate.
        issuer: CertId,
        /// The issuer's key type.
        key: String,
    },

    /// An issuer's public key cannot be used to verify signatures.
    #[error("the public key of {cert} cannot verify signatures: {detail}")]
    UnsupportedIssuerKey {
        /// The certificate whose key is unusable.
        cert: CertId,
        /// Why.
        detail: String,
    },

    /// A certificate that issues another one says it may not: an intermediate without
    /// basicConstraints CA:TRUE, or a certificate whose basicConstraints or keyUsage forbids
    /// signing certificates.
    #[error("{cert} may not issue certificates: {detail}")]
    NotACa {
        /// The issuing certificate.
        cert: CertId,
        /// Which extension forbids it.
        detail: String,
    },

    /// A certificate carries a critical extension this verifier does not process (RFC 5280
    /// §4.2 requires refusing it).
    #[error("{cert} carries the critical extension {oid}, which this verifier does not process")]
    UnknownCriticalExtension {
        /// The certificate.
        cert: CertId,
        /// The extension's OID, dotted.
        oid: String,
    },

    /// The chain from the device certificate does not reach a root within the depth limit.
    #[error("no trusted root within {limit} issuers above {cert}")]
    ChainTooLong {
        /// The device certificate.
        cert: CertId,
        /// The depth limit.
        limit: usize,
    },

    /// A Yubico extension the attestation must carry is absent.
    #[error("{key_cert} lacks the {extension} extension (OID {oid})")]
    MissingExtension {
        /// The per-key certificate.
        key_cert: CertId,
        /// The extension's name.
        extension: &'static str,
        /// Its object identifier.
        oid: &'static str,
    },

    /// A Yubico extension does not have the encoding Yubico documents.
    #[error("the {extension} extension (OID {oid}) of {key_cert} is malformed: {detail}")]
    MalformedExtension {
        /// The per-key certificate.
        key_cert: CertId,
        /// The extension's name.
        extension: &'static str,
        /// Its object identifier.
        oid: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// The attested public key is malformed.
    #[error("the public key in {key_cert} is malformed: {detail}")]
    MalformedAttestedKey {
        /// The per-key certificate.
        key_cert: CertId,
        /// What the decoder reported.
        detail: String,
    },

    /// The attested key is not the key being enrolled.
    #[error(
        "{key_cert} attests another key than the expected one: attested {attested}, expected \
         {expected}"
    )]
    KeyMismatch {
        /// The per-key certificate.
        key_cert: CertId,
        /// The attested key (algorithm and SHA-256 of its SubjectPublicKeyInfo).
        attested: String,
        /// The expected key, described the same way.
        expected: String,
    },
}

impl AttestationError {
    /// A stable kebab-case name for the variant, for machine-readable output (`--json`).
    pub fn code(&self) -> &'static str {
        match self {
            AttestationError::Encoding { .. } => "encoding",
            AttestationError::InvalidExpectedKey { .. } => "invalid-expected-key",
            AttestationError::SwappedCertificates { .. } => "swapped-certificates",
            AttestationError::DeviceCertIsKeyAttestation { .. } => "device-cert-is-key-attestation",
            AttestationError::NotAKeyAttestation { .. } => "not-a-key-attestation",
            AttestationError::KeyCertIssuerMismatch { .. } => "key-cert-issuer-mismatch",
            AttestationError::KeyCertSignatureInvalid { .. } => "key-cert-signature-invalid",
            AttestationError::UnknownIssuer { .. } => "unknown-issuer",
            AttestationError::ChainSignatureInvalid { .. } => "chain-signature-invalid",
            AttestationError::UnsupportedSignatureAlgorithm { .. } => {
                "unsupported-signature-algorithm"
            }
            AttestationError::SignatureAlgorithmMismatch { .. } => "signature-algorithm-mismatch",
            AttestationError::IssuerKeyMismatch { .. } => "issuer-key-mismatch",
            AttestationError::UnsupportedIssuerKey { .. } => "unsupported-issuer-key",
            AttestationError::NotACa { .. } => "not-a-ca",
            AttestationError::UnknownCriticalExtension { .. } => "unknown-critical-extension",
            AttestationError::ChainTooLong { .. } => "chain-too-long",
            AttestationError::MissingExtension { .. } => "missing-extension",
            AttestationError::MalformedExtension { .. } => "malformed-extension",
            AttestationError::MalformedAttestedKey { .. } => "malformed-attested-key",
            AttestationError::KeyMismatch { .. } => "key-mismatch",
        }
    }

    /// True when the input could not be read as asked (malformed certificate, malformed expected
    /// key, certificates given in the wrong places): a usage error, not a verdict on the
    /// attestation. The command-line tool exits with 2 for these and 1 for the others.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            AttestationError::Encoding { .. }
                | AttestationError::InvalidExpectedKey { .. }
                | AttestationError::SwappedCertificates { .. }
                | AttestationError::DeviceCertIsKeyAttestation { .. }
        )
    }
}
