//! Reading one certificate from PEM or DER, strictly: exactly one certificate, nothing around it.

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Header, Reader, SliceReader};

use super::error::{AttestationError, CertId, CertRole, EncodingProblem};
use crate::hex;

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_BEGIN_CERT: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END_CERT: &[u8] = b"-----END CERTIFICATE-----";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Largest certificate input read, in bytes. YubiKey certificates are about 1 KiB; a PIV data
/// object cannot exceed a few KiB.
pub(crate) const MAX_INPUT_LEN: usize = 64 * 1024;

/// A decoded certificate with the exact bytes its signature covers and its fingerprint.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCert {
    pub(crate) cert: Certificate,
    /// The DER encoding of `TBSCertificate`, byte for byte as it was signed.
    tbs: Vec<u8>,
    pub(crate) sha256: [u8; 32],
    pub(crate) subject: String,
}

impl ParsedCert {
    /// Reads one certificate given as PEM or DER.
    pub(crate) fn parse(input: &[u8], role: CertRole) -> Result<Self, AttestationError> {
        let encoding = |problem| AttestationError::Encoding { role, problem };
        let der = decode_input(input).map_err(encoding)?;
        Self::from_der(&der).map_err(encoding)
    }

    fn from_der(der: &[u8]) -> Result<Self, EncodingProblem> {
        let first = first_tlv(der)?;
        let rest = &der[first.len()..];
        if !rest.is_empty() {
            return Err(match count_certificates(rest) {
                Some(more) => EncodingProblem::MultipleCertificates { count: 1 + more },
                None => EncodingProblem::TrailingData { bytes: rest.len() },
            });
        }
        let cert = Certificate::from_der(first).map_err(der_problem)?;
        let tbs = tbs_bytes(first).map_err(der_problem)?.to_vec();
        let sha256 = Sha256::digest(first).into();
        let subject = cert.tbs_certificate().subject().to_string();
        Ok(ParsedCert {
            cert,
            tbs,
            sha256,
            subject,
        })
    }

    /// The signed part, exactly as encoded in the input.
    pub(crate) fn tbs(&self) -> &[u8] {
        &self.tbs
    }

    /// The SHA-256 fingerprint as lowercase hex.
    pub(crate) fn fingerprint(&self) -> String {
        hex(&self.sha256)
    }

    /// Names this certificate in an error or a report.
    pub(crate) fn id(&self, role: CertRole) -> CertId {
        CertId {
            role,
            subject: self.subject.as_str().into(),
            sha256: self.fingerprint().into(),
        }
    }
}

/// Turns PEM or DER input into the DER of what should be one certificate.
fn decode_input(input: &[u8]) -> Result<Vec<u8>, EncodingProblem> {
    if input.len() > MAX_INPUT_LEN {
        return Err(EncodingProblem::Der {
            detail: format!("{} bytes is too large for a certificate", input.len()),
        });
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(EncodingProblem::Empty);
    }
    let blocks = count(text, PEM_BEGIN);
    if blocks == 0 {
        return Err(EncodingProblem::NotPemOrDer);
    }
    if !text.starts_with(PEM_BEGIN) {
        return Err(EncodingProblem::LeadingData);
    }
    if blocks > 1 {
        return Err(EncodingProblem::MultipleCertificates { count: blocks });
    }
    if !text.starts_with(PEM_BEGIN_CERT) {
        let after = &text[PEM_BEGIN.len()..];
        let label_end = find(after, b"-----").unwrap_or(after.len()).min(80);
        return Err(EncodingProblem::WrongPemLabel {
            label: String::from_utf8_lossy(&after[..label_end]).into_owned(),
        });
    }
    let body_and_end = &text[PEM_BEGIN_CERT.len()..];
    let end = find(body_and_end, PEM_END_CERT).ok_or_else(|| EncodingProblem::Pem {
        detail: "no -----END CERTIFICATE----- line".to_owned(),
    })?;
    let after_end = body_and_end[end + PEM_END_CERT.len()..].trim_ascii_start();
    if !after_end.is_empty() {
        return Err(EncodingProblem::TrailingData {
            bytes: after_end.len(),
        });
    }
    let base64: Vec<u8> = body_and_end[..end]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if base64.is_empty() {
        return Err(EncodingProblem::Pem {
            detail: "the PEM block is empty".to_owned(),
        });
    }
    Base64::decode_vec(&String::from_utf8_lossy(&base64)).map_err(|e| EncodingProblem::Pem {
        detail: format!("invalid base64 ({e})"),
    })
}

/// The first complete TLV of `der`.
fn first_tlv(der: &[u8]) -> Result<&[u8], EncodingProblem> {
    let mut reader = SliceReader::new(der).map_err(der_problem)?;
    reader.tlv_bytes().map_err(der_problem)
}

/// How many certificates `der` holds back to back, if it holds nothing else.
fn count_certificates(mut der: &[u8]) -> Option<usize> {
    let mut n = 0;
    while !der.is_empty() {
        let tlv = first_tlv(der).ok()?;
        Certificate::from_der(tlv).ok()?;
        der = &der[tlv.len()..];
        n += 1;
    }
    Some(n)
}

/// The `TBSCertificate` TLV inside a `Certificate` TLV, without re-encoding it.
fn tbs_bytes(cert_der: &[u8]) -> x509_cert::der::Result<&[u8]> {
    let mut reader = SliceReader::new(cert_der)?;
    let header = Header::decode(&mut reader)?;
    header.tag().assert_eq(x509_cert::der::Tag::Sequence)?;
    reader.tlv_bytes()
}

fn der_problem(e: x509_cert::der::Error) -> EncodingProblem {
    EncodingProblem::Der {
        detail: e.to_string(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
