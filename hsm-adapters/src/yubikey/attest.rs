//! Exporting a slot's attestation: the per-key certificate the device signs with its F9 key,
//! and the F9 certificate itself. Checking them against Yubico's roots is the attestation
//! verifier's job (`hallmark key verify-attestation`); this module only reads them.

use std::panic::{AssertUnwindSafe, catch_unwind};

use x509_cert::der::Decode;
use yubikey::piv;

use super::device::Device;
use super::error::Error;
use super::reference::YubiKeyRef;
use super::types::{DeviceInfo, FormFactor, KeyOrigin, SlotKey};

/// The attestation certificate object (slot F9's certificate).
const F9_CERTIFICATE_OBJECT: u32 = 0x005f_ff01;
/// Yubico's form-factor extension in per-key attestation certificates.
const OID_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";

/// A slot's attestation, as the device gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attestation {
    /// The per-key attestation certificate ("CN=YubiKey PIV Attestation 9c"), DER.
    pub key_certificate_der: Vec<u8>,
    /// The device's F9 attestation certificate, which issued it, DER.
    pub device_certificate_der: Vec<u8>,
    /// The slot's public key, as the slot's metadata reports it: the key the attestation must
    /// name (the attestation verifier compares them).
    pub public_key: ed25519_dalek::VerifyingKey,
    /// The device and slot; the form factor is read (unverified) from the per-key certificate.
    pub device: DeviceInfo,
}

/// Reads the attestation of the key in the slot `reference` names. Needs neither PIN nor
/// management key.
///
/// The `yubikey` crate indexes the reply to ATTEST without checking its length, so an empty
/// success reply would panic inside it; that panic is caught here and reported as an error
/// (with `panic = "abort"` it cannot be, and the process stops).
pub fn attest(reference: &YubiKeyRef) -> Result<Attestation, Error> {
    let mut device = Device::open(reference.serial())?;
    device.require_ed25519()?;
    let serial = device.serial;
    let slot = reference.slot();
    let key = device
        .slot_key(slot)?
        .ok_or(Error::SlotEmpty { serial, slot })?;
    attest_device(&mut device, &key)
}

/// Reads the attestation of `key` from an open device.
pub(crate) fn attest_device(device: &mut Device, key: &SlotKey) -> Result<Attestation, Error> {
    let serial = device.serial;
    let slot = key.slot;
    let unavailable = |reason: &str| Error::AttestationUnavailable {
        serial,
        slot,
        reason: reason.to_owned(),
    };
    if key.origin == Some(KeyOrigin::Imported) {
        return Err(unavailable(
            "its key was imported, and a YubiKey attests only keys it generated",
        ));
    }

    let reply = catch_unwind(AssertUnwindSafe(|| piv::attest(&mut device.yk, slot.piv())));
    let key_certificate_der = match reply {
        Ok(Ok(der)) => der.to_vec(),
        Ok(Err(yubikey::Error::NotSupported)) => {
            return Err(unavailable("the firmware does not support attestation"));
        }
        Ok(Err(e)) => return Err(device.error("attesting the key", e)),
        Err(_) => {
            return Err(unavailable(
                "the device answered ATTEST with no certificate",
            ));
        }
    };
    let key_certificate = x509_cert::Certificate::from_der(&key_certificate_der).map_err(|e| {
        Error::InvalidResponse {
            serial,
            operation: "attesting the key",
            detail: format!("the attestation is not a DER certificate: {e}"),
        }
    })?;

    let object = match device.yk.fetch_object(F9_CERTIFICATE_OBJECT) {
        Ok(object) => object,
        Err(yubikey::Error::NotFound) => {
            return Err(unavailable(
                "the device has no attestation (F9) certificate",
            ));
        }
        Err(e) => return Err(device.error("reading the F9 certificate", e)),
    };
    let device_certificate_der =
        certificate_from_object(&object).ok_or_else(|| Error::InvalidResponse {
            serial,
            operation: "reading the F9 certificate",
            detail: "object 5FFF01 does not hold a DER certificate".to_owned(),
        })?;

    let form_factor = key_certificate
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == OID_FORM_FACTOR)
        .and_then(|e| match e.extn_value.as_bytes() {
            [byte] => Some(FormFactor::from_byte(*byte)),
            _ => None,
        });
    let mut info = device.info(key);
    info.form_factor = form_factor;
    Ok(Attestation {
        key_certificate_der,
        device_certificate_der,
        public_key: key.verifying_key,
        device: info,
    })
}

/// The DER certificate in a PIV certificate object (`70 L <DER> 71 01 00 FE 00`).
fn certificate_from_object(object: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = object.split_first()?;
    if tag != 0x70 {
        return None;
    }
    let (len, rest) = match rest.split_first()? {
        (&n, rest) if n < 0x80 => (usize::from(n), rest),
        (0x81, rest) => (usize::from(*rest.first()?), rest.get(1..)?),
        (0x82, rest) => {
            let l = rest.get(..2)?;
            (
                usize::from(u16::from_be_bytes([l[0], l[1]])),
                rest.get(2..)?,
            )
        }
        _ => return None,
    };
    let der = rest.get(..len)?;
    x509_cert::Certificate::from_der(der).ok()?;
    Some(der.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_parsing_refuses_garbage() {
        assert_eq!(certificate_from_object(&[]), None);
        assert_eq!(
            certificate_from_object(&[0x70, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]),
            None
        );
        assert_eq!(certificate_from_object(&[0x53, 0x00]), None);
        assert_eq!(certificate_from_object(&[0x70, 0x82, 0x01]), None);
    }
}
