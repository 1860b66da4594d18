//! Signature checks link by link, and the walk from the device certificate to a trusted root.

use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::cert::ParsedCert;
use super::error::{AttestationError, CertId, CertRole};
use super::keys::{PublicKey, SignatureAlgorithm, VerifyFailure, verify_signature};
use super::trust::{TrustRoots, TrustedCert};
use super::yubico;

/// How many certificates may stand above the device certificate, root included. Yubico's
/// longest path (5.7.4+) has three: PIV Attestation A/B 1, Attestation Intermediate A/B 1, and
/// Attestation Root 1.
pub(crate) const MAX_ISSUERS: usize = 4;

/// Why one certificate's signature does not verify with its issuer's key.
pub(crate) enum LinkFailure {
    Unsupported {
        oid: String,
        name: &'static str,
    },
    AlgorithmMismatch {
        outer: String,
        inner: String,
    },
    KeyMismatch {
        algorithm: &'static str,
        key: String,
    },
    Invalid,
}

/// Checks that `issuer_key` signed `cert`.
pub(crate) fn check_link(cert: &ParsedCert, issuer_key: &PublicKey) -> Result<(), LinkFailure> {
    let outer = cert.cert.signature_algorithm();
    let inner = cert.cert.tbs_certificate().signature();
    if outer != inner {
        return Err(LinkFailure::AlgorithmMismatch {
            outer: outer.oid.to_string(),
            inner: inner.oid.to_string(),
        });
    }
    let algorithm =
        SignatureAlgorithm::identify(outer).map_err(|name| LinkFailure::Unsupported {
            oid: outer.oid.to_string(),
            name,
        })?;
    let signature = cert
        .cert
        .signature()
        .as_bytes()
        .ok_or(LinkFailure::Invalid)?;
    verify_signature(issuer_key, algorithm, cert.tbs(), signature).map_err(|f| match f {
        VerifyFailure::KeyMismatch => LinkFailure::KeyMismatch {
            algorithm: algorithm.name(),
            key: issuer_key.algorithm().to_string(),
        },
        VerifyFailure::Invalid => LinkFailure::Invalid,
    })
}

/// Turns a failed link into the error that names both certificates. `invalid` builds the error
/// for a signature that does not verify, which differs between the device link and the chain.
pub(crate) fn link_error(
    failure: LinkFailure,
    cert: CertId,
    issuer: CertId,
    invalid: impl FnOnce(CertId, CertId) -> AttestationError,
) -> AttestationError {
    match failure {
        LinkFailure::Unsupported { oid, name } => {
            AttestationError::UnsupportedSignatureAlgorithm { cert, oid, name }
        }
        LinkFailure::AlgorithmMismatch { outer, inner } => {
            AttestationError::SignatureAlgorithmMismatch { cert, outer, inner }
        }
        LinkFailure::KeyMismatch { algorithm, key } => AttestationError::IssuerKeyMismatch {
            cert,
            algorithm,
            issuer,
            key,
        },
        LinkFailure::Invalid => invalid(cert, issuer),
    }
}

/// Whether a certificate's own extensions let it issue certificates: basicConstraints CA:TRUE,
/// and keyUsage (when present) with keyCertSign.
pub(crate) fn may_issue(cert: &Certificate) -> Result<(), String> {
    match cert.tbs_certificate().get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {}
        Ok(Some(_)) => return Err("its basicConstraints say CA:FALSE".to_owned()),
        Ok(None) => return Err("it has no basicConstraints CA:TRUE".to_owned()),
        Err(e) => return Err(format!("its basicConstraints are malformed ({e})")),
    }
    key_usage_allows_signing(cert)
}

/// The device certificate's rule: absent basicConstraints are tolerated (YubiKey 4.3 F9
/// certificates carry none, and piv-go and ykman accept them), but a certificate that says
/// CA:FALSE, or whose keyUsage lacks keyCertSign, is refused.
pub(crate) fn device_may_issue(cert: &Certificate) -> Result<(), String> {
    match cert.tbs_certificate().get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if !bc.ca => return Err("its basicConstraints say CA:FALSE".to_owned()),
        Ok(_) => {}
        Err(e) => return Err(format!("its basicConstraints are malformed ({e})")),
    }
    key_usage_allows_signing(cert)
}

fn key_usage_allows_signing(cert: &Certificate) -> Result<(), String> {
    match cert.tbs_certificate().get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => {
            Err("its keyUsage does not include keyCertSign".to_owned())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("its keyUsage is malformed ({e})")),
    }
}

/// Refuses critical extensions other than those processed here: basicConstraints, keyUsage and
/// Yubico's own.
pub(crate) fn check_critical_extensions(
    cert: &ParsedCert,
    role: CertRole,
) -> Result<(), AttestationError> {
    use x509_cert::der::oid::AssociatedOid;
    let exts = cert
        .cert
        .tbs_certificate()
        .extensions()
        .map_or(&[][..], |v| v.as_slice());
    for ext in exts.iter().filter(|e| e.critical) {
        let known = ext.extn_id == BasicConstraints::OID
            || ext.extn_id == KeyUsage::OID
            || ext.extn_id.to_string().starts_with(yubico::oid::ARC);
        if !known {
            return Err(AttestationError::UnknownCriticalExtension {
                cert: cert.id(role),
                oid: ext.extn_id.to_string(),
            });
        }
    }
    Ok(())
}

/// Finds a path from the device certificate to a trusted root, checking every signature on the
/// way. Returns the certificates above the device certificate, root last.
pub(crate) fn chain_to_root<'t>(
    device: &ParsedCert,
    trust: &'t TrustRoots,
) -> Result<Vec<&'t TrustedCert>, AttestationError> {
    let mut path = Vec::new();
    walk(device, CertRole::Device, trust, &mut path)?;
    Ok(path)
}

fn walk<'t>(
    cert: &ParsedCert,
    role: CertRole,
    trust: &'t TrustRoots,
    path: &mut Vec<&'t TrustedCert>,
) -> Result<(), AttestationError> {
    if path.len() >= MAX_ISSUERS {
        return Err(AttestationError::ChainTooLong {
            cert: cert.id(role),
            limit: MAX_ISSUERS,
        });
    }
    let issuer_name = cert.cert.tbs_certificate().issuer();
    let mut first_error = None;
    for candidate in trust.issuers_named(issuer_name) {
        if path.iter().any(|p| std::ptr::eq(*p, candidate)) {
            continue;
        }
        let step = check_link(cert, &candidate.key)
            .map_err(|failure| {
                link_error(failure, cert.id(role), candidate.id(), |cert, issuer| {
                    AttestationError::ChainSignatureInvalid { cert, issuer }
                })
            })
            .and_then(|()| {
                if candidate.role == CertRole::Root {
                    return Ok(());
                }
                candidate
                    .may_issue
                    .clone()
                    .map_err(|detail| AttestationError::NotACa {
                        cert: candidate.id(),
                        detail,
                    })?;
                check_critical_extensions(&candidate.cert, candidate.role)
            });
        if let Err(e) = step {
            first_error.get_or_insert(e);
            continue;
        }
        path.push(candidate);
        if candidate.role == CertRole::Root {
            return Ok(());
        }
        match walk(&candidate.cert, candidate.role, trust, path) {
            Ok(()) => return Ok(()),
            Err(e) => {
                path.pop();
                first_error.get_or_insert(e);
            }
        }
    }
    Err(
        first_error.unwrap_or_else(|| AttestationError::UnknownIssuer {
            cert: cert.id(role),
            issuer: issuer_name.to_string(),
        }),
    )
}
