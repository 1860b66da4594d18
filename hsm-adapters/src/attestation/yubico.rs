//! What Yubico writes into a PIV attestation: the slot in the subject, and firmware, serial,
//! policies and form factor in private extensions under `1.3.6.1.4.1.41482.3`.
//!
//! Encodings, as Yubico documents them and as the published attestations carry them (the
//! `extnValue` OCTET STRING holds):
//!
//! | OID | what | content of `extnValue` |
//! | --- | --- | --- |
//! | `.3.3` | firmware version | 3 raw bytes: major, minor, patch |
//! | `.3.7` | device serial (firmware 5+, some 4.3) | a DER INTEGER |
//! | `.3.8` | PIN policy, touch policy | 2 raw bytes |
//! | `.3.9` | form factor (firmware 5+) | 1 raw byte |

use std::fmt;

use serde::{Serialize, Serializer};

/// A PIV key slot, as named in the attestation's subject (`YubiKey PIV Attestation 9c`): the
/// same slot type the YubiKey backend uses.
pub use crate::yubikey::Slot as PivSlot;
pub use crate::yubikey::{FirmwareVersion, PinPolicy, TouchPolicy};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

/// Yubico's PIV attestation extensions.
pub(crate) mod oid {
    use x509_cert::der::asn1::ObjectIdentifier as Oid;

    pub(crate) const FIRMWARE: Oid = Oid::new_unwrap("1.3.6.1.4.1.41482.3.3");
    pub(crate) const SERIAL: Oid = Oid::new_unwrap("1.3.6.1.4.1.41482.3.7");
    pub(crate) const POLICY: Oid = Oid::new_unwrap("1.3.6.1.4.1.41482.3.8");
    pub(crate) const FORM_FACTOR: Oid = Oid::new_unwrap("1.3.6.1.4.1.41482.3.9");
    /// The arc all of Yubico's attestation extensions live under.
    pub(crate) const ARC: &str = "1.3.6.1.4.1.41482.";

    pub(crate) const FIRMWARE_STR: &str = "1.3.6.1.4.1.41482.3.3";
    pub(crate) const SERIAL_STR: &str = "1.3.6.1.4.1.41482.3.7";
    pub(crate) const POLICY_STR: &str = "1.3.6.1.4.1.41482.3.8";
    pub(crate) const FORM_FACTOR_STR: &str = "1.3.6.1.4.1.41482.3.9";
}

/// Reads the slot from a per-key attestation subject: exactly one attribute, a common name
/// `YubiKey PIV Attestation <slot>` with the slot in hex.
pub(crate) fn slot_from_subject(subject: &Name) -> Option<PivSlot> {
    let mut attributes = subject.iter();
    let (only, none) = (attributes.next()?, attributes.next());
    if none.is_some() || only.oid != x509_cert::der::oid::db::rfc4519::COMMON_NAME {
        return None;
    }
    let cn = x509_cert::ext::pkix::name::DirectoryString::try_from(&only.value).ok()?;
    let cn = cn.value();
    let hex = cn.strip_prefix("YubiKey PIV Attestation ")?;
    if hex.len() != 2 {
        return None;
    }
    PivSlot::new(u8::from_str_radix(hex, 16).ok()?)
}

/// The device's form factor byte: the low nibble is the shape, bit 7 marks FIPS series and
/// bit 6 CSPN series devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FormFactor(u8);

impl FormFactor {
    /// Wraps the raw byte.
    pub fn from_code(code: u8) -> Self {
        FormFactor(code)
    }

    /// The raw byte.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The shape, in Yubico's words, or `None` for a value Yubico has not documented.
    pub fn shape(self) -> Option<&'static str> {
        Some(match self.0 & 0x0f {
            0x01 => "USB-A Keychain",
            0x02 => "USB-A Nano",
            0x03 => "USB-C Keychain",
            0x04 => "USB-C Nano",
            0x05 => "USB-C and Lightning",
            0x06 => "USB-A Bio Keychain",
            0x07 => "USB-C Bio Keychain",
            _ => return None,
        })
    }

    /// A FIPS series device.
    pub fn is_fips(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// A CSPN series device.
    pub fn is_cspn(self) -> bool {
        self.0 & 0x40 != 0
    }
}

impl fmt::Display for FormFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape() {
            Some(shape) => f.write_str(shape)?,
            None => f.write_str("unknown shape")?,
        }
        if self.is_fips() {
            f.write_str(", FIPS")?;
        }
        if self.is_cspn() {
            f.write_str(", CSPN")?;
        }
        write!(f, " (0x{:02x})", self.0)
    }
}

impl Serialize for FormFactor {
    /// `{"code": 4, "shape": "USB-C Nano", "fips": false, "cspn": false}`; `shape` is null for
    /// an undocumented value.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("FormFactor", 4)?;
        s.serialize_field("code", &self.0)?;
        s.serialize_field("shape", &self.shape())?;
        s.serialize_field("fips", &self.is_fips())?;
        s.serialize_field("cspn", &self.is_cspn())?;
        s.end()
    }
}

/// The Yubico extensions of a per-key attestation, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YubicoExtensions {
    pub(crate) firmware: FirmwareVersion,
    pub(crate) serial: Option<u32>,
    pub(crate) pin_policy: PinPolicy,
    pub(crate) touch_policy: TouchPolicy,
    pub(crate) form_factor: Option<FormFactor>,
}

/// An extension problem: which extension, and what is wrong (`None`: it is missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExtensionProblem {
    pub(crate) name: &'static str,
    pub(crate) oid: &'static str,
    pub(crate) detail: Option<String>,
}

fn problem(name: &'static str, oid: &'static str, detail: impl Into<String>) -> ExtensionProblem {
    ExtensionProblem {
        name,
        oid,
        detail: Some(detail.into()),
    }
}

/// The extension with this OID, refusing duplicates.
fn find<'a>(
    extensions: &'a [Extension],
    wanted: ObjectIdentifier,
    name: &'static str,
    oid_str: &'static str,
) -> Result<Option<&'a [u8]>, ExtensionProblem> {
    let mut found = extensions.iter().filter(|e| e.extn_id == wanted);
    let first = found.next();
    if found.next().is_some() {
        return Err(problem(name, oid_str, "it appears more than once"));
    }
    Ok(first.map(|e| e.extn_value.as_bytes()))
}

/// Whether the certificate carries the PIN/touch policy extension, which only per-key
/// attestations do.
pub(crate) fn has_policy_extension(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .extensions()
        .is_some_and(|exts| exts.iter().any(|e| e.extn_id == oid::POLICY))
}

/// Decodes the Yubico extensions of a per-key attestation. Firmware and policies are required;
/// serial and form factor are optional (YubiKey 4 attestations may lack them).
pub(crate) fn read_extensions(cert: &Certificate) -> Result<YubicoExtensions, ExtensionProblem> {
    let exts: &[Extension] = cert
        .tbs_certificate()
        .extensions()
        .map_or(&[], |v| v.as_slice());

    let missing = |name, oid| ExtensionProblem {
        name,
        oid,
        detail: None,
    };

    const FW: &str = "firmware version";
    let firmware = match find(exts, oid::FIRMWARE, FW, oid::FIRMWARE_STR)? {
        None => return Err(missing(FW, oid::FIRMWARE_STR)),
        Some(&[major, minor, patch]) => FirmwareVersion {
            major,
            minor,
            patch,
        },
        Some(other) => {
            return Err(problem(
                FW,
                oid::FIRMWARE_STR,
                format!("{} bytes, not 3", other.len()),
            ));
        }
    };

    const SN: &str = "serial number";
    let serial = match find(exts, oid::SERIAL, SN, oid::SERIAL_STR)? {
        None => None,
        Some(value) => Some(u32::from_der(value).map_err(|e| {
            problem(
                SN,
                oid::SERIAL_STR,
                format!("not a DER INTEGER from 0 to 2^32-1 ({e})"),
            )
        })?),
    };

    const POL: &str = "PIN and touch policy";
    let (pin_policy, touch_policy) = match find(exts, oid::POLICY, POL, oid::POLICY_STR)? {
        None => return Err(missing(POL, oid::POLICY_STR)),
        Some(&[pin, touch]) => (
            PinPolicy::from_attestation_byte(pin).ok_or_else(|| {
                problem(
                    POL,
                    oid::POLICY_STR,
                    format!("unknown PIN policy value {pin}"),
                )
            })?,
            TouchPolicy::from_attestation_byte(touch).ok_or_else(|| {
                problem(
                    POL,
                    oid::POLICY_STR,
                    format!("unknown touch policy value {touch}"),
                )
            })?,
        ),
        Some(other) => {
            return Err(problem(
                POL,
                oid::POLICY_STR,
                format!("{} bytes, not 2", other.len()),
            ));
        }
    };

    const FF: &str = "form factor";
    let form_factor = match find(exts, oid::FORM_FACTOR, FF, oid::FORM_FACTOR_STR)? {
        None => None,
        Some(&[code]) => Some(FormFactor(code)),
        Some(other) => {
            return Err(problem(
                FF,
                oid::FORM_FACTOR_STR,
                format!("{} bytes, not 1", other.len()),
            ));
        }
    };

    Ok(YubicoExtensions {
        firmware,
        serial,
        pin_policy,
        touch_policy,
        form_factor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_are_the_piv_ones() {
        let slots: Vec<u8> = (0..=255u8).filter(|b| PivSlot::new(*b).is_some()).collect();
        let mut expected: Vec<u8> = (0x82..=0x95).collect();
        expected.extend([0x9a, 0x9c, 0x9d, 0x9e]);
        assert_eq!(slots, expected);
        assert_eq!(
            PivSlot::new(0x82).map(|s| s.to_string()),
            Some("82".to_owned())
        );
    }

    #[test]
    fn form_factors_render_in_yubico_terms() {
        let shown: Vec<String> = [0x01, 0x02, 0x05, 0x06, 0x47, 0x00, 0x0f]
            .into_iter()
            .map(|c| FormFactor::from_code(c).to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "USB-A Keychain (0x01)",
                "USB-A Nano (0x02)",
                "USB-C and Lightning (0x05)",
                "USB-A Bio Keychain (0x06)",
                "USB-C Bio Keychain, CSPN (0x47)",
                "unknown shape (0x00)",
                "unknown shape (0x0f)",
            ]
        );
    }

    #[test]
    fn policies_decode_from_yubico_bytes() {
        let pins: Vec<Option<PinPolicy>> = (0..=6).map(PinPolicy::from_attestation_byte).collect();
        assert_eq!(
            pins,
            [
                None,
                Some(PinPolicy::Never),
                Some(PinPolicy::Once),
                Some(PinPolicy::Always),
                Some(PinPolicy::MatchOnce),
                Some(PinPolicy::MatchAlways),
                None
            ]
        );
        let touches: Vec<Option<TouchPolicy>> =
            (0..=4).map(TouchPolicy::from_attestation_byte).collect();
        assert_eq!(
            touches,
            [
                None,
                Some(TouchPolicy::Never),
                Some(TouchPolicy::Always),
                Some(TouchPolicy::Cached),
                None
            ]
        );
    }
}
