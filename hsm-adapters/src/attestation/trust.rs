//! The trust configuration: Yubico's published roots and PIV intermediates, plus extra roots.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::cert::ParsedCert;
use super::error::{AttestationError, CertId, CertRole};
use super::keys::PublicKey;

/// Yubico's roots, as published at developers.yubico.com/PKI/ (provenance in
/// `data/yubico/SOURCE.md`).
const YUBICO_ROOTS: [&[u8]; 3] = [
    // "Yubico PIV Root CA Serial 263751": issues the F9 certificates of firmware 4.3 to 5.7.3.
    include_bytes!("../../data/yubico/roots/yubico-piv-ca-1.pem"),
    // "Yubico U2F Root CA Serial 457200631": issued the F9 certificates of a 2017/2018 batch of
    // YubiKey 4 devices.
    include_bytes!("../../data/yubico/roots/yubico-fido-ca-1.pem"),
    // "Yubico Attestation Root 1": firmware 5.7.4 and later, through the intermediates below.
    include_bytes!("../../data/yubico/roots/yubico-ca-1.pem"),
];

/// The intermediates on the PIV path under "Yubico Attestation Root 1". Yubico publishes more
/// (FIDO, OpenPGP and Secure Domain attestation intermediates); they are deliberately not
/// trusted here, so that no attestation from another applet can pass as a PIV one.
const YUBICO_INTERMEDIATES: [&[u8]; 4] = [
    include_bytes!("../../data/yubico/intermediates/yubico-attestation-intermediate-a-1.pem"),
    include_bytes!("../../data/yubico/intermediates/yubico-attestation-intermediate-b-1.pem"),
    include_bytes!("../../data/yubico/intermediates/yubico-piv-attestation-a-1.pem"),
    include_bytes!("../../data/yubico/intermediates/yubico-piv-attestation-b-1.pem"),
];

/// One trusted certificate with its decoded key.
#[derive(Debug)]
pub(crate) struct TrustedCert {
    pub(crate) cert: ParsedCert,
    pub(crate) key: PublicKey,
    pub(crate) role: CertRole,
    /// Whether the certificate may issue others (checked for intermediates only: a root is
    /// trusted because it is configured, whatever it says of itself).
    pub(crate) may_issue: Result<(), String>,
}

impl TrustedCert {
    fn new(input: &[u8], role: CertRole) -> Result<Self, AttestationError> {
        let cert = ParsedCert::parse(input, role)?;
        let key = PublicKey::from_spki(cert.cert.tbs_certificate().subject_public_key_info())
            .map_err(|detail| AttestationError::UnsupportedIssuerKey {
                cert: cert.id(role),
                detail,
            })?;
        let may_issue = super::chain::may_issue(&cert.cert);
        Ok(TrustedCert {
            cert,
            key,
            role,
            may_issue,
        })
    }

    pub(crate) fn id(&self) -> CertId {
        self.cert.id(self.role)
    }
}

/// The certificates an attestation may chain up to.
///
/// [`TrustRoots::yubico`] holds Yubico's three PIV attestation roots and the four intermediates
/// of the 5.7.4+ PIV path; [`TrustRoots::with_extra_root`] adds a root, such as the test root of
/// a virtual card. Intermediates are only ever taken from here, never from the certificates
/// being verified. Validity dates are not checked: Yubico's certificates start in 2014–2024 and
/// end in 2050–9999, and an attestation is evidence about how a key was made, which does not
/// expire.
#[derive(Clone)]
pub struct TrustRoots {
    certs: Vec<Arc<TrustedCert>>,
}

impl TrustRoots {
    /// Yubico's published PIV attestation roots and intermediates, shipped with Hallmark.
    pub fn yubico() -> Self {
        static YUBICO: OnceLock<TrustRoots> = OnceLock::new();
        YUBICO
            .get_or_init(|| {
                let roots = YUBICO_ROOTS.iter().map(|pem| (pem, CertRole::Root));
                let intermediates = YUBICO_INTERMEDIATES
                    .iter()
                    .map(|pem| (pem, CertRole::Intermediate));
                let certs = roots
                    .chain(intermediates)
                    .map(|(pem, role)| {
                        // The embedded certificates are constant data; the test
                        // `yubico_trust_store_loads` proves each one parses.
                        #[allow(clippy::expect_used)]
                        let cert = TrustedCert::new(pem, role)
                            .expect("embedded Yubico certificate must parse");
                        Arc::new(cert)
                    })
                    .collect();
                TrustRoots { certs }
            })
            .clone()
    }

    /// A configuration that trusts nothing until roots are added.
    pub fn empty() -> Self {
        TrustRoots { certs: Vec::new() }
    }

    /// Adds a root certificate (PEM or DER), trusted as configured: its own signature, dates and
    /// extensions are not examined. Its key must be RSA, ECDSA P-256/P-384 or Ed25519.
    pub fn with_extra_root(mut self, certificate: &[u8]) -> Result<Self, AttestationError> {
        let cert = TrustedCert::new(certificate, CertRole::Root)?;
        self.certs.push(Arc::new(cert));
        Ok(self)
    }

    /// Adds an intermediate certificate (PEM or DER) that chains may pass through. Unlike a
    /// root it is not trusted by itself: its own signature must chain to a root, it must say
    /// basicConstraints CA:TRUE, and its keyUsage, if any, must include keyCertSign.
    pub fn with_extra_intermediate(mut self, certificate: &[u8]) -> Result<Self, AttestationError> {
        let cert = TrustedCert::new(certificate, CertRole::Intermediate)?;
        self.certs.push(Arc::new(cert));
        Ok(self)
    }

    /// The trusted certificates in the order added (Yubico's roots, then its intermediates).
    pub fn certificates(&self) -> impl Iterator<Item = CertId> + '_ {
        self.certs.iter().map(|c| c.id())
    }

    /// Trusted certificates whose subject is `issuer`.
    pub(crate) fn issuers_named<'a, 'n>(
        &'a self,
        issuer: &'n x509_cert::name::Name,
    ) -> impl Iterator<Item = &'a TrustedCert> + use<'a, 'n> {
        self.certs
            .iter()
            .map(|c| c.as_ref())
            .filter(move |c| c.cert.cert.tbs_certificate().subject() == issuer)
    }
}

impl fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for c in &self.certs {
            list.entry(&format_args!(
                "{} {} {}",
                c.role,
                c.cert.subject,
                c.cert.fingerprint()
            ));
        }
        list.finish()
    }
}
