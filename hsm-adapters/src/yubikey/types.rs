//! Slots, policies, firmware versions and the device facts reported to callers.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use yubikey::piv::{RetiredSlotId, SlotId};

/// A PIV key slot that can hold an Ed25519 key: `9a`, `9c`, `9d`, `9e` or a retired slot
/// `82`–`95`. Written as two lowercase hex digits; parsed case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u8);

impl Slot {
    /// `9a`, PIV Authentication (default PIN policy: once).
    pub const AUTHENTICATION: Slot = Slot(0x9a);
    /// `9c`, Digital Signature (default PIN policy: always). The usual slot for release keys.
    pub const SIGNATURE: Slot = Slot(0x9c);
    /// `9d`, Key Management (default PIN policy: once).
    pub const KEY_MANAGEMENT: Slot = Slot(0x9d);
    /// `9e`, Card Authentication (default PIN policy: never).
    pub const CARD_AUTHENTICATION: Slot = Slot(0x9e);

    /// The slot with this number, if it is a key slot.
    pub fn new(id: u8) -> Option<Slot> {
        matches!(id, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95).then_some(Slot(id))
    }

    /// The slot number (e.g. `0x9c`).
    pub fn id(self) -> u8 {
        self.0
    }

    /// Every key slot: 9a, 9c, 9d, 9e, then 82 to 95.
    pub fn all() -> impl Iterator<Item = Slot> {
        [0x9a, 0x9c, 0x9d, 0x9e]
            .into_iter()
            .chain(0x82..=0x95)
            .map(Slot)
    }

    /// The PIN policy the YubiKey applies to this slot when a key is generated without one.
    pub fn default_pin_policy(self) -> PinPolicy {
        match self.0 {
            0x9c => PinPolicy::Always,
            0x9e => PinPolicy::Never,
            _ => PinPolicy::Once,
        }
    }

    pub(crate) fn piv(self) -> SlotId {
        match self.0 {
            0x9a => SlotId::Authentication,
            0x9c => SlotId::Signature,
            0x9d => SlotId::KeyManagement,
            0x9e => SlotId::CardAuthentication,
            retired => RetiredSlotId::try_from(retired)
                .map(SlotId::Retired)
                // Unreachable: `Slot` only holds key slots.
                .unwrap_or(SlotId::Signature),
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl Serialize for Slot {
    /// Two lowercase hex digits: `"9c"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The text is not a key slot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown YubiKey PIV slot {0:?}: use 9a, 9c, 9d, 9e or a retired slot 82 to 95")]
pub struct SlotParseError(pub String);

impl FromStr for Slot {
    type Err = SlotParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SlotParseError(text.to_owned());
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        u8::from_str_radix(text, 16)
            .ok()
            .and_then(Slot::new)
            .ok_or_else(bad)
    }
}

/// When the YubiKey asks for the PIN before using a key (serialized in kebab-case:
/// `"match-once"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PinPolicy {
    /// Never: whoever holds the YubiKey can use the key (attestation value 1).
    Never,
    /// Once per session: the PIN unlocks the key until the YubiKey is reset or removed
    /// (value 2).
    Once,
    /// Before every signature (value 3).
    Always,
    /// YubiKey Bio: a fingerprint match, or the PIN, once per session (value 4). Reported by
    /// attestations; Hallmark does not generate keys with it.
    MatchOnce,
    /// YubiKey Bio: a fingerprint match, or the PIN, before every use (value 5). Reported by
    /// attestations; Hallmark does not generate keys with it.
    MatchAlways,
}

impl PinPolicy {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PinPolicy::Never => "never",
            PinPolicy::Once => "once",
            PinPolicy::Always => "always",
            PinPolicy::MatchOnce => "match-once",
            PinPolicy::MatchAlways => "match-always",
        }
    }

    /// The policy byte of Yubico's attestation extension `1.3.6.1.4.1.41482.3.8`.
    pub(crate) fn from_attestation_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => PinPolicy::Never,
            2 => PinPolicy::Once,
            3 => PinPolicy::Always,
            4 => PinPolicy::MatchOnce,
            5 => PinPolicy::MatchAlways,
            _ => return None,
        })
    }

    /// The policy to generate a key with; `None` for the Bio policies, which key generation
    /// does not take.
    pub(crate) fn to_piv(self) -> Option<yubikey::PinPolicy> {
        match self {
            PinPolicy::Never => Some(yubikey::PinPolicy::Never),
            PinPolicy::Once => Some(yubikey::PinPolicy::Once),
            PinPolicy::Always => Some(yubikey::PinPolicy::Always),
            PinPolicy::MatchOnce | PinPolicy::MatchAlways => None,
        }
    }

    pub(crate) fn from_piv(policy: yubikey::PinPolicy, slot: Slot) -> Self {
        match policy {
            yubikey::PinPolicy::Never => PinPolicy::Never,
            yubikey::PinPolicy::Once => PinPolicy::Once,
            yubikey::PinPolicy::Always => PinPolicy::Always,
            yubikey::PinPolicy::Default => slot.default_pin_policy(),
        }
    }
}

impl fmt::Display for PinPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a PIN policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown PIN policy {0:?}: use never, once or always")]
pub struct PinPolicyParseError(pub String);

impl FromStr for PinPolicy {
    type Err = PinPolicyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "never" => Ok(PinPolicy::Never),
            "once" => Ok(PinPolicy::Once),
            "always" => Ok(PinPolicy::Always),
            _ => Err(PinPolicyParseError(text.to_owned())),
        }
    }
}

/// When the YubiKey wants its contact touched before using a key (serialized in kebab-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TouchPolicy {
    /// Never (attestation value 1).
    Never,
    /// For every signature (value 2).
    Always,
    /// Once, then not again for 15 seconds (value 3).
    Cached,
}

impl TouchPolicy {
    /// The policy byte of Yubico's attestation extension `1.3.6.1.4.1.41482.3.8`.
    pub(crate) fn from_attestation_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => TouchPolicy::Never,
            2 => TouchPolicy::Always,
            3 => TouchPolicy::Cached,
            _ => return None,
        })
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TouchPolicy::Never => "never",
            TouchPolicy::Always => "always",
            TouchPolicy::Cached => "cached",
        }
    }

    /// Whether a signature may need a touch.
    pub fn needs_touch(self) -> bool {
        self != TouchPolicy::Never
    }

    pub(crate) fn to_piv(self) -> yubikey::TouchPolicy {
        match self {
            TouchPolicy::Never => yubikey::TouchPolicy::Never,
            TouchPolicy::Always => yubikey::TouchPolicy::Always,
            TouchPolicy::Cached => yubikey::TouchPolicy::Cached,
        }
    }

    pub(crate) fn from_piv(policy: yubikey::TouchPolicy) -> Self {
        match policy {
            yubikey::TouchPolicy::Always => TouchPolicy::Always,
            yubikey::TouchPolicy::Cached => TouchPolicy::Cached,
            // Every slot's default touch policy is "never".
            yubikey::TouchPolicy::Never | yubikey::TouchPolicy::Default => TouchPolicy::Never,
        }
    }
}

impl fmt::Display for TouchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a touch policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown touch policy {0:?}: use never, always or cached")]
pub struct TouchPolicyParseError(pub String);

impl FromStr for TouchPolicy {
    type Err = TouchPolicyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "never" => Ok(TouchPolicy::Never),
            "always" => Ok(TouchPolicy::Always),
            "cached" => Ok(TouchPolicy::Cached),
            _ => Err(TouchPolicyParseError(text.to_owned())),
        }
    }
}

/// A YubiKey firmware version, e.g. `5.7.4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch version.
    pub patch: u8,
}

impl FirmwareVersion {
    /// A version from its parts.
    pub const fn new(major: u8, minor: u8, patch: u8) -> Self {
        FirmwareVersion {
            major,
            minor,
            patch,
        }
    }
}

impl From<yubikey::Version> for FirmwareVersion {
    fn from(v: yubikey::Version) -> Self {
        FirmwareVersion::new(v.major, v.minor, v.patch)
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for FirmwareVersion {
    /// `"5.7.4"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The first firmware that holds Ed25519 keys in PIV slots.
pub const ED25519_MIN_FIRMWARE: FirmwareVersion = FirmwareVersion::new(5, 7, 0);

/// The YubiKey's shape, as its attestation certificate reports it (extension
/// `1.3.6.1.4.1.41482.3.9`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormFactor {
    /// USB-A keychain.
    UsbAKeychain,
    /// USB-A nano.
    UsbANano,
    /// USB-C keychain.
    UsbCKeychain,
    /// USB-C nano.
    UsbCNano,
    /// USB-C and Lightning.
    UsbCLightning,
    /// USB-A with a fingerprint reader.
    UsbABio,
    /// USB-C with a fingerprint reader.
    UsbCBio,
    /// A value this version does not know (the low nibble of the byte; the high bits are flags).
    Other(u8),
}

impl FormFactor {
    /// Decodes the form-factor byte (its high bits are flags such as FIPS and are ignored).
    pub fn from_byte(byte: u8) -> Self {
        match byte & 0x0f {
            1 => FormFactor::UsbAKeychain,
            2 => FormFactor::UsbANano,
            3 => FormFactor::UsbCKeychain,
            4 => FormFactor::UsbCNano,
            5 => FormFactor::UsbCLightning,
            6 => FormFactor::UsbABio,
            7 => FormFactor::UsbCBio,
            other => FormFactor::Other(other),
        }
    }
}

impl fmt::Display for FormFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormFactor::UsbAKeychain => f.write_str("USB-A keychain"),
            FormFactor::UsbANano => f.write_str("USB-A nano"),
            FormFactor::UsbCKeychain => f.write_str("USB-C keychain"),
            FormFactor::UsbCNano => f.write_str("USB-C nano"),
            FormFactor::UsbCLightning => f.write_str("USB-C/Lightning"),
            FormFactor::UsbABio => f.write_str("USB-A Bio"),
            FormFactor::UsbCBio => f.write_str("USB-C Bio"),
            FormFactor::Other(b) => write!(f, "unknown form factor {b}"),
        }
    }
}

/// Whether a key was generated on the device or imported into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// Generated on the YubiKey: the private key never existed anywhere else.
    Generated,
    /// Imported: the private key existed outside the YubiKey, which cannot attest it.
    Imported,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyOrigin::Generated => "generated on the device",
            KeyOrigin::Imported => "imported",
        })
    }
}

/// What a ceremony transcript records about the YubiKey and slot a key lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// Serial number.
    pub serial: u32,
    /// Firmware version.
    pub firmware: FirmwareVersion,
    /// The PC/SC reader name.
    pub reader: String,
    /// The slot.
    pub slot: Slot,
    /// The slot's PIN policy.
    pub pin_policy: PinPolicy,
    /// The slot's touch policy.
    pub touch_policy: TouchPolicy,
    /// Where the key came from, as the device reports it.
    pub origin: Option<KeyOrigin>,
    /// The form factor: known once an attestation has been read ([`super::attest`]), since
    /// the `yubikey` crate does not expose the management application's device information.
    pub form_factor: Option<FormFactor>,
}

/// An Ed25519 key found in a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotKey {
    /// The slot.
    pub slot: Slot,
    /// The public key.
    pub verifying_key: ed25519_dalek::VerifyingKey,
    /// The slot's PIN policy.
    pub pin_policy: PinPolicy,
    /// The slot's touch policy.
    pub touch_policy: TouchPolicy,
    /// Where the key came from.
    pub origin: Option<KeyOrigin>,
}

/// One connected YubiKey, as [`super::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceReport {
    /// Serial number.
    pub serial: u32,
    /// Firmware version.
    pub firmware: FirmwareVersion,
    /// The PC/SC reader name.
    pub reader: String,
    /// Whether the firmware holds Ed25519 keys (5.7.0 or later).
    pub supports_ed25519: bool,
    /// The Ed25519 keys it holds, by slot.
    pub keys: Vec<SlotKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_case_insensitively_and_print_lowercase() {
        for (text, id) in [
            ("9a", 0x9a),
            ("9C", 0x9c),
            ("9d", 0x9d),
            ("9E", 0x9e),
            ("82", 0x82),
        ] {
            let slot: Slot = text.parse().unwrap();
            assert_eq!(slot.id(), id);
            assert_eq!(slot.to_string(), text.to_ascii_lowercase());
        }
        assert_eq!(
            "95".parse::<Slot>().unwrap().piv(),
            SlotId::Retired(RetiredSlotId::R20)
        );
        for bad in [
            "", "9b", "f9", "80", "81", "96", "9", "09c", "+9c", "zz", "9c ",
        ] {
            assert_eq!(
                bad.parse::<Slot>().unwrap_err().to_string(),
                format!(
                    "unknown YubiKey PIV slot {bad:?}: use 9a, 9c, 9d, 9e or a retired slot 82 to 95"
                )
            );
        }
        assert_eq!(Slot::all().count(), 24);
    }

    #[test]
    fn policies_round_trip() {
        for p in [PinPolicy::Never, PinPolicy::Once, PinPolicy::Always] {
            assert_eq!(p.to_string().parse::<PinPolicy>().unwrap(), p);
        }
        for t in [TouchPolicy::Never, TouchPolicy::Always, TouchPolicy::Cached] {
            assert_eq!(t.to_string().parse::<TouchPolicy>().unwrap(), t);
        }
        assert_eq!(
            "Once".parse::<PinPolicy>().unwrap_err().to_string(),
            "unknown PIN policy \"Once\": use never, once or always"
        );
        assert_eq!(
            "sometimes".parse::<TouchPolicy>().unwrap_err().to_string(),
            "unknown touch policy \"sometimes\": use never, always or cached"
        );
    }

    #[test]
    fn firmware_orders_by_parts() {
        assert!(FirmwareVersion::new(5, 4, 3) < ED25519_MIN_FIRMWARE);
        assert!(FirmwareVersion::new(5, 7, 0) >= ED25519_MIN_FIRMWARE);
        assert!(FirmwareVersion::new(6, 0, 0) > ED25519_MIN_FIRMWARE);
        assert_eq!(FirmwareVersion::new(5, 7, 4).to_string(), "5.7.4");
    }
}
