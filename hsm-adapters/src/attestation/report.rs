//! What a verified attestation establishes, for people (`Display`) and programs (`Serialize`).

use std::fmt;

use base64ct::{Base64, Encoding};
use serde::{Serialize, Serializer};

use super::error::{CertId, CertRole};
use super::keys::KeyAlgorithm;
use super::yubico::{FirmwareVersion, FormFactor, PinPolicy, PivSlot, TouchPolicy};

/// The outcome of a successful [`verify`](super::verify): the key in `slot` was generated on a
/// YubiKey whose attestation chain reaches a trusted root, with these properties.
///
/// Serialises (for `--json`) with camelCase field names, as all of Hallmark's JSON output;
/// see the field types for the value formats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AttestationReport {
    /// The PIV slot holding the key (`"9c"`).
    pub slot: PivSlot,
    /// The device's firmware when it made the attestation (`"5.7.4"`).
    pub firmware: FirmwareVersion,
    /// The device's serial number. This, not the device certificate, identifies the device:
    /// from firmware 5.7.4 one device certificate is shared by many YubiKeys. Absent in some
    /// YubiKey 4 attestations.
    pub serial: Option<u32>,
    /// When the device asks for the PIN before using the key.
    pub pin_policy: PinPolicy,
    /// When the device asks for a touch before using the key.
    pub touch_policy: TouchPolicy,
    /// The device's form factor (firmware 5 and later).
    pub form_factor: Option<FormFactor>,
    /// The attested public key.
    pub public_key: AttestedKey,
    /// Whether the attested key was compared with an expected key.
    pub expected_key: KeyCheck,
    /// The certificates from the per-key attestation up to the trusted root, in that order.
    pub chain: Vec<CertId>,
}

/// The attested public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AttestedKey {
    /// Its algorithm (`"ed25519"`, `"rsa-2048"`, `"ecdsa-p256"`…).
    pub algorithm: KeyAlgorithm,
    /// Its DER SubjectPublicKeyInfo, serialised as standard base64.
    #[serde(serialize_with = "base64")]
    pub spki_der: Vec<u8>,
    /// SHA-256 of `spki_der`, lowercase hex.
    pub spki_sha256: String,
}

impl AttestedKey {
    /// The key as an Ed25519 verifying key, when it is one.
    pub fn ed25519(&self) -> Option<ed25519_dalek::VerifyingKey> {
        if self.algorithm != KeyAlgorithm::Ed25519 {
            return None;
        }
        let raw = self.spki_der.get(self.spki_der.len().checked_sub(32)?..)?;
        ed25519_dalek::VerifyingKey::from_bytes(raw.try_into().ok()?).ok()
    }
}

/// Whether the attested key was compared with the key being enrolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyCheck {
    /// An expected key was given and it is the attested key.
    Matches,
    /// No expected key was given: the report says nothing about which key is enrolled.
    NotCompared,
}

fn base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&Base64::encode_string(bytes))
}

impl fmt::Display for AttestationReport {
    /// A block of text for a terminal, e.g.
    ///
    /// ```text
    /// attestation holds: the key in slot 9a was generated on YubiKey serial 32718477
    ///   public key    RSA 2048, SPKI SHA-256 3bd2…
    ///   expected key  matches the attested key
    ///   firmware      5.7.4
    ///   …
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.serial {
            Some(serial) => writeln!(
                f,
                "attestation holds: the key in slot {} was generated on YubiKey serial {serial}",
                self.slot
            )?,
            None => writeln!(
                f,
                "attestation holds: the key in slot {} was generated on a YubiKey",
                self.slot
            )?,
        }
        writeln!(
            f,
            "  public key    {}, SPKI SHA-256 {}",
            self.public_key.algorithm, self.public_key.spki_sha256
        )?;
        match self.expected_key {
            KeyCheck::Matches => writeln!(f, "  expected key  matches the attested key")?,
            KeyCheck::NotCompared => writeln!(
                f,
                "  expected key  not compared (no expected key was given)"
            )?,
        }
        writeln!(f, "  firmware      {}", self.firmware)?;
        match self.serial {
            Some(serial) => writeln!(f, "  serial        {serial}")?,
            None => writeln!(f, "  serial        not recorded in this attestation")?,
        }
        match self.form_factor {
            Some(ff) => writeln!(f, "  form factor   {ff}")?,
            None => writeln!(f, "  form factor   not recorded in this attestation")?,
        }
        writeln!(f, "  PIN policy    {}", self.pin_policy)?;
        writeln!(f, "  touch policy  {}", self.touch_policy)?;
        writeln!(f, "  chain")?;
        for cert in &self.chain {
            let role = match cert.role {
                CertRole::KeyAttestation => "per-key",
                CertRole::Device => "device (F9)",
                CertRole::Intermediate => "intermediate",
                CertRole::Root => "trusted root",
            };
            writeln!(f, "    {role:<13} {}", cert.subject)?;
            writeln!(f, "    {:<13} SHA-256 {}", "", cert.sha256)?;
        }
        Ok(())
    }
}
