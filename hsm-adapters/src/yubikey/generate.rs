//! Generating an Ed25519 key in a slot, with a self-signed certificate beside it.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::time::SystemTime;

use ed25519_dalek::{Signature, VerifyingKey};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::asn1::OctetString;
use x509_cert::der::{DateTime, Encode};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifier, EncodePublicKey, SignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned,
};
use x509_cert::time::{Time, Validity};
use yubikey::certificate::CertInfo;
use yubikey::piv::{self, AlgorithmId};

use crate::interact::Interaction;

use super::device::Device;
use super::error::Error;
use super::reference::YubiKeyRef;
use super::signer::{Session, SignerOptions};
use super::types::{DeviceInfo, KeyOrigin, PinPolicy, SlotKey, TouchPolicy};

/// How to generate a key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerateOptions {
    /// When the PIN is needed. Default: once per session.
    pub pin_policy: PinPolicy,
    /// When a touch is needed. Default: for every signature.
    pub touch_policy: TouchPolicy,
    /// The certificate's subject as an RFC 4514 name; default
    /// `CN=Hallmark signing key (YubiKey SERIAL slot SLOT)`.
    pub subject: Option<String>,
    /// Replace a key already in the slot (it is destroyed). Default: refuse.
    pub replace_existing: bool,
    /// Send the PIN (to sign the certificate) even when only one retry is left. Default:
    /// refuse without sending it.
    pub allow_final_pin_try: bool,
}

impl Default for GenerateOptions {
    /// The policies suited to release signing: PIN once, touch always.
    fn default() -> Self {
        GenerateOptions {
            pin_policy: PinPolicy::Once,
            touch_policy: TouchPolicy::Always,
            subject: None,
            replace_existing: false,
            allow_final_pin_try: false,
        }
    }
}

impl GenerateOptions {
    /// Options with these policies, no subject, and no replacing.
    pub fn new(pin_policy: PinPolicy, touch_policy: TouchPolicy) -> Self {
        GenerateOptions {
            pin_policy,
            touch_policy,
            ..GenerateOptions::default()
        }
    }

    /// The same options with this certificate subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The same options, replacing a key already in the slot.
    pub fn replacing_existing(mut self) -> Self {
        self.replace_existing = true;
        self
    }

    /// The same options, allowing (or not) the last PIN retry to be spent.
    pub fn allowing_final_pin_try(mut self, allow: bool) -> Self {
        self.allow_final_pin_try = allow;
        self
    }
}

/// A key generated on a YubiKey.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedKey {
    /// The public key.
    pub verifying_key: VerifyingKey,
    /// The self-signed certificate written to the slot (DER).
    pub certificate_der: Vec<u8>,
    /// The device and slot.
    pub device: DeviceInfo,
}

/// Generates an Ed25519 key in the slot `reference` names and writes a self-signed certificate
/// for it to the slot, so that other PIV tools (ykman, OpenSC, PKCS#11 modules) see the key.
///
/// In order: the subject is checked; the device is opened and its firmware checked (5.7.0 or
/// later, before any key command); an existing key in the slot is refused unless
/// [`GenerateOptions::replace_existing`]; the management key authenticates; the device
/// generates the key with the requested policies; the device signs the certificate's
/// to-be-signed bytes (asking for the PIN and a touch as the new key's policies say); the
/// certificate is written.
pub fn generate(
    reference: &YubiKeyRef,
    options: &GenerateOptions,
    ui: &dyn Interaction,
) -> Result<GeneratedKey, Error> {
    make_key(reference, options, ui, None)
}

/// Imports an existing Ed25519 key (its 32-byte seed, RFC 8032) into the slot `reference`
/// names — PIV IMPORT ASYMMETRIC KEY (`INS FE`, algorithm `E0`; firmware 5.7.0 or later) —
/// with the policies `options` give, then checks the slot's metadata names the key's public
/// key and writes the self-signed certificate, as [`generate`] does. The key's origin stays
/// "imported": the YubiKey never attests it.
pub fn import(
    reference: &YubiKeyRef,
    seed: &zeroize::Zeroizing<[u8; 32]>,
    options: &GenerateOptions,
    ui: &dyn Interaction,
) -> Result<GeneratedKey, Error> {
    make_key(reference, options, ui, Some(seed))
}

fn make_key(
    reference: &YubiKeyRef,
    options: &GenerateOptions,
    ui: &dyn Interaction,
    seed: Option<&zeroize::Zeroizing<[u8; 32]>>,
) -> Result<GeneratedKey, Error> {
    let subject_text = options.subject.clone();
    let parsed_subject = match &subject_text {
        Some(text) => Some(
            Name::from_str(text)
                .ok()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| Error::BadSubject {
                    subject: text.clone(),
                })?,
        ),
        None => None,
    };

    let pin_policy = options
        .pin_policy
        .to_piv()
        .ok_or(Error::PinPolicyNotGenerated {
            policy: options.pin_policy,
        })?;
    let mut device = Device::open(reference.serial())?;
    device.require_ed25519()?;
    let serial = device.serial;
    let slot = reference.slot();
    let occupied = match device.slot_key(slot) {
        Ok(key) => key.is_some(),
        Err(Error::NotEd25519 { .. }) => true,
        Err(e) => return Err(e),
    };
    if occupied && !options.replace_existing {
        return Err(Error::SlotOccupied { serial, slot });
    }
    device.authenticate_management(reference.management_key_source(), ui)?;
    let (verifying_key, origin) = match seed {
        None => (
            generate_in_slot(&mut device, slot, pin_policy, options)?,
            KeyOrigin::Generated,
        ),
        Some(seed) => (
            import_to_slot(&mut device, slot, seed, pin_policy, options)?,
            KeyOrigin::Imported,
        ),
    };

    let key = SlotKey {
        slot,
        verifying_key,
        pin_policy: options.pin_policy,
        touch_policy: options.touch_policy,
        origin: Some(origin),
    };
    let subject = match parsed_subject {
        Some(subject) => subject,
        None => Name::from_str(&format!(
            "CN=Hallmark signing key (YubiKey {serial} slot {slot})"
        ))
        .map_err(|e| Error::Certificate {
            serial,
            slot,
            detail: e.to_string(),
        })?,
    };
    let signer_options = SignerOptions::new().allow_final_pin_try(options.allow_final_pin_try);
    let mut session = Session::new(
        device,
        key,
        reference.pin_source_or_prompt(),
        signer_options,
        ui,
    );
    let certificate_der = write_certificate(&mut session, subject).map_err(|source| {
        Error::CertificateNotWritten {
            serial,
            slot,
            public_key: verifying_key.to_bytes(),
            source: Box::new(source),
        }
    })?;
    Ok(GeneratedKey {
        verifying_key,
        certificate_der,
        device: session.info(),
    })
}

/// Generates the key on the device; returns its public key.
fn generate_in_slot(
    device: &mut Device,
    slot: super::types::Slot,
    pin_policy: yubikey::PinPolicy,
    options: &GenerateOptions,
) -> Result<VerifyingKey, Error> {
    let serial = device.serial;
    // The crate slices the reply without checking its length; a short reply from a faulty
    // device would panic inside it.
    let reply = catch_unwind(AssertUnwindSafe(|| {
        piv::generate(
            &mut device.yk,
            slot.piv(),
            AlgorithmId::Ed25519,
            pin_policy,
            options.touch_policy.to_piv(),
        )
    }))
    .map_err(|_| Error::InvalidResponse {
        serial,
        operation: "generating an Ed25519 key",
        detail: "the reply is too short to hold a public key".to_owned(),
    })?;
    let spki = reply.map_err(|e| match e {
        yubikey::Error::AlgorithmError => Error::InvalidResponse {
            serial,
            operation: "generating an Ed25519 key",
            detail: "the device refused the algorithm or a policy (6A80)".to_owned(),
        },
        yubikey::Error::AuthenticationError => Error::Refused {
            serial,
            operation: "generate a key (management key not accepted)",
        },
        e => device.error("generating an Ed25519 key", e),
    })?;
    let public: [u8; 32] = spki
        .subject_public_key
        .as_bytes()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::InvalidResponse {
            serial,
            operation: "generating an Ed25519 key",
            detail: "the public key is not 32 bytes".to_owned(),
        })?;
    VerifyingKey::from_bytes(&public).map_err(|_| Error::InvalidResponse {
        serial,
        operation: "generating an Ed25519 key",
        detail: "the public key is not an Ed25519 point".to_owned(),
    })
}

/// Puts an existing key into the slot and checks, from the slot's metadata, that the slot now
/// holds it.
fn import_to_slot(
    device: &mut Device,
    slot: super::types::Slot,
    seed: &zeroize::Zeroizing<[u8; 32]>,
    pin_policy: yubikey::PinPolicy,
    options: &GenerateOptions,
) -> Result<VerifyingKey, Error> {
    let serial = device.serial;
    let operation = "importing an Ed25519 key";
    piv::import_cv_key(
        &mut device.yk,
        slot.piv(),
        AlgorithmId::Ed25519,
        seed.as_ref(),
        options.touch_policy.to_piv(),
        pin_policy,
    )
    .map_err(|e| match e {
        yubikey::Error::AuthenticationError => Error::Refused {
            serial,
            operation: "import a key (management key not accepted)",
        },
        yubikey::Error::GenericError => Error::InvalidResponse {
            serial,
            operation,
            detail: "the device refused the key or a policy".to_owned(),
        },
        e => device.error(operation, e),
    })?;
    let expected = ed25519_dalek::SigningKey::from_bytes(seed).verifying_key();
    match device.slot_key(slot)? {
        Some(found) if found.verifying_key == expected => Ok(expected),
        _ => Err(Error::InvalidResponse {
            serial,
            operation,
            detail: "after the import the slot does not hold the imported key".to_owned(),
        }),
    }
}

/// Makes the slot's certificate on the device and stores it in the slot; returns its DER.
fn write_certificate(session: &mut Session<'_>, subject: Name) -> Result<Vec<u8>, Error> {
    let serial = session.device.serial;
    let slot = session.key.slot;
    let certificate = self_signed_certificate(session, subject)?;
    let certificate_der = certificate.to_der().map_err(|e| Error::Certificate {
        serial,
        slot,
        detail: e.to_string(),
    })?;
    yubikey::Certificate { cert: certificate }
        .write(&mut session.device.yk, slot.piv(), CertInfo::Uncompressed)
        .map_err(|e| match e {
            yubikey::Error::AuthenticationError => Error::Refused {
                serial,
                operation: "store the certificate",
            },
            e => session.device.error("writing the certificate", e),
        })?;
    Ok(certificate_der)
}

/// The slot certificate's profile: self-issued, an end-entity signing key.
struct SlotCertificate {
    subject: Name,
}

impl BuilderProfile for SlotCertificate {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
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
        use x509_cert::der::oid::AssociatedOid;
        let constraints = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        };
        let usage = KeyUsage(KeyUsages::DigitalSignature.into());
        Ok(vec![
            Extension {
                extn_id: BasicConstraints::OID,
                critical: true,
                extn_value: OctetString::new(constraints.to_der()?)?,
            },
            Extension {
                extn_id: KeyUsage::OID,
                critical: true,
                extn_value: OctetString::new(usage.to_der()?)?,
            },
        ])
    }
}

/// Signs the certificate's to-be-signed bytes on the device, as they are: RFC 8410 Ed25519
/// certificates sign the TBS itself. (The `yubikey` crate's `generate_self_signed` hashes it
/// with SHA-512 first, which yields certificates that do not verify.)
struct DeviceCertSigner<'s, 'ui> {
    session: RefCell<&'s mut Session<'ui>>,
    verifying_key: VerifyingKey,
    failure: RefCell<Option<Error>>,
}

impl signature::Signer<Signature> for DeviceCertSigner<'_, '_> {
    fn try_sign(&self, tbs: &[u8]) -> Result<Signature, signature::Error> {
        self.session
            .borrow_mut()
            .sign(tbs, "sign its certificate")
            .map_err(|e| {
                *self.failure.borrow_mut() = Some(e);
                signature::Error::new()
            })
    }
}

impl signature::Keypair for DeviceCertSigner<'_, '_> {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

impl SignatureAlgorithmIdentifier for DeviceCertSigner<'_, '_> {
    type Params = <VerifyingKey as SignatureAlgorithmIdentifier>::Params;

    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<Self::Params> =
        VerifyingKey::SIGNATURE_ALGORITHM_IDENTIFIER;
}

fn self_signed_certificate(
    session: &mut Session<'_>,
    subject: Name,
) -> Result<x509_cert::Certificate, Error> {
    let serial = session.device.serial;
    let slot = session.key.slot;
    let verifying_key = session.key.verifying_key;
    let fail = |detail: String| Error::Certificate {
        serial,
        slot,
        detail,
    };

    let spki_der = verifying_key
        .to_public_key_der()
        .map_err(|e| fail(e.to_string()))?;
    let spki = <SubjectPublicKeyInfoOwned as x509_cert::der::Decode>::from_der(spki_der.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut serial_bytes = [0u8; 16];
    getrandom::fill(&mut serial_bytes).map_err(|e| fail(format!("no randomness: {e}")))?;
    serial_bytes[0] = (serial_bytes[0] & 0x7f) | 0x01;
    let serial_number = SerialNumber::new(&serial_bytes).map_err(|e| fail(e.to_string()))?;
    // RFC 5280 §4.1.2.5: 99991231235959Z means "no well-defined expiration date". A release
    // key's validity is decided by Hallmark's key events, not by this certificate.
    let validity = Validity::new(
        Time::try_from(SystemTime::now()).map_err(|e| fail(e.to_string()))?,
        Time::from(DateTime::new(9999, 12, 31, 23, 59, 59).map_err(|e| fail(e.to_string()))?),
    );
    let builder =
        CertificateBuilder::new(SlotCertificate { subject }, serial_number, validity, spki)
            .map_err(|e| fail(e.to_string()))?;
    let signer = DeviceCertSigner {
        session: RefCell::new(session),
        verifying_key,
        failure: RefCell::new(None),
    };
    builder
        .build::<_, Signature>(&signer)
        .map_err(|e| match signer.failure.take() {
            Some(device_error) => device_error,
            None => fail(e.to_string()),
        })
}
