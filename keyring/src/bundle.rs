//! The bundle: the one file that travels beside an artifact.
//!
//! `tool-1.2.0.tar` is accompanied by `tool-1.2.0.tar.hallmark.json`, which holds the signed
//! package statement, the prefix of the signer's key event log that verification needs (so
//! verifying works offline), registry receipts, hardware attestations if any, and `related`
//! key event logs of other identities (a transfer's giver). The bundle
//! itself is not signed — everything in it that matters is — so it is written as readable,
//! indented JSON; its fields are still parsed strictly (unknown fields refused, sizes bounded).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, PayloadType};
use crate::error::FormatError;
use crate::kel::file::{KEL_MEDIA_TYPE, KelFile};
use crate::key::KeyId;
use crate::statement::Statement;

/// The bundle's media type; a reader refuses any other.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.hallmark.bundle.v1+json";

/// The suffix added to an artifact's path to name its bundle.
pub const BUNDLE_SUFFIX: &str = ".hallmark.json";

/// Largest bundle read, in bytes (a key event log of tens of thousands of events fits).
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

/// Largest attestation certificate, in bytes of DER.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// A hardware attestation carried for one key: certificates as issued by the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The attested key.
    pub key: KeyId,
    /// The attestation scheme; `yubikey-piv` is the one defined.
    pub format: String,
    /// DER certificates, base64: for `yubikey-piv`, the per-key attestation certificate
    /// followed by the device's F9 certificate.
    pub certificates: Vec<String>,
}

/// A bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bundle {
    /// Always [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// The signed package statement.
    pub statement: Envelope,
    /// The signer identity's key events, from inception up to the statement's position.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kel: Vec<Envelope>,
    /// Registry receipts countersigning the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<Envelope>,
    /// Hardware attestations of the signing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<Attestation>,
    /// Key event logs of other identities that verification needs, e.g. the log of the
    /// identity that transferred the package to the signer (with its transfer event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<KelFile>,
}

impl Bundle {
    /// A bundle holding a signed statement and nothing else.
    pub fn new(statement: Envelope) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            statement,
            kel: Vec::new(),
            receipts: Vec::new(),
            attestations: Vec::new(),
            related: Vec::new(),
        }
    }

    /// The statement, decoded and validated.
    pub fn statement(&self) -> Result<Statement, FormatError> {
        Statement::from_envelope(&self.statement)
    }

    /// Encodes the bundle as indented JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Decodes a bundle, strictly: size, media type, field names, and the payload type of
    /// every envelope in its place.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(FormatError::TooLarge {
                what: "bundle",
                len: bytes.len(),
                max: MAX_BUNDLE_BYTES,
            });
        }
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| FormatError::json("bundle", &e))?;
        if bundle.media_type != BUNDLE_MEDIA_TYPE {
            return Err(FormatError::MediaType {
                found: bundle.media_type.chars().take(100).collect(),
                expected: BUNDLE_MEDIA_TYPE,
            });
        }
        bundle.statement.expect_type(PayloadType::Statement)?;
        for event in &bundle.kel {
            event.expect_type(PayloadType::KeyEvent)?;
        }
        for receipt in &bundle.receipts {
            receipt.expect_type(PayloadType::Receipt)?;
        }
        for related in &bundle.related {
            if related.media_type != KEL_MEDIA_TYPE {
                return Err(FormatError::MediaType {
                    found: related.media_type.chars().take(100).collect(),
                    expected: KEL_MEDIA_TYPE,
                });
            }
            for event in &related.events {
                event.expect_type(PayloadType::KeyEvent)?;
            }
        }
        for attestation in &bundle.attestations {
            for cert in &attestation.certificates {
                crate::encoding::base64_decode(
                    "attestation certificate",
                    cert,
                    MAX_CERTIFICATE_BYTES,
                )?;
            }
        }
        Ok(bundle)
    }

    /// The path of the bundle for an artifact: the artifact's path with [`BUNDLE_SUFFIX`]
    /// appended (`dist/tool.tar` → `dist/tool.tar.hallmark.json`, `pkg/` → `pkg.hallmark.json`).
    pub fn path_for(artifact: &Path) -> PathBuf {
        // Collecting the components drops trailing separators, which would otherwise put the
        // bundle inside a directory artifact.
        let mut text = artifact.components().collect::<PathBuf>().into_os_string();
        text.push(BUNDLE_SUFFIX);
        PathBuf::from(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_paths() {
        assert_eq!(
            Bundle::path_for(Path::new("dist/tool.tar")),
            PathBuf::from("dist/tool.tar.hallmark.json")
        );
        assert_eq!(
            Bundle::path_for(Path::new("pkg/")),
            PathBuf::from("pkg.hallmark.json")
        );
        assert_eq!(
            Bundle::path_for(Path::new("pkg//")),
            PathBuf::from("pkg.hallmark.json")
        );
    }

    #[test]
    fn refuses_wrong_media_type_and_misplaced_envelopes() {
        let statement = Envelope::new(PayloadType::Statement, b"{}".to_vec()).unwrap();
        let bundle = Bundle::new(statement.clone());
        let json = String::from_utf8(bundle.to_json()).unwrap();
        assert_eq!(Bundle::from_json(json.as_bytes()).unwrap(), bundle);

        let other = json.replace("bundle.v1", "bundle.v2");
        assert!(matches!(
            Bundle::from_json(other.as_bytes()),
            Err(FormatError::MediaType { .. })
        ));

        let mut misplaced =
            Bundle::new(Envelope::new(PayloadType::KeyEvent, b"{}".to_vec()).unwrap());
        assert!(matches!(
            Bundle::from_json(&misplaced.to_json()),
            Err(FormatError::WrongPayloadType {
                expected: PayloadType::Statement,
                found: PayloadType::KeyEvent
            })
        ));
        misplaced.statement = statement;
        misplaced
            .kel
            .push(Envelope::new(PayloadType::Statement, b"{}".to_vec()).unwrap());
        assert!(matches!(
            Bundle::from_json(&misplaced.to_json()),
            Err(FormatError::WrongPayloadType {
                expected: PayloadType::KeyEvent,
                ..
            })
        ));
    }
}
