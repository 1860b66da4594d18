//! Pins: which identity publishes under which namespace, with what policy.
//!
//! The pins of a trust store live in `pins.json`, indented JSON meant to be read and reviewed
//! in a pull request:
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.hallmark.pins.v1+json",
//!   "pins": [
//!     {
//!       "namespace": "org.example",
//!       "identity": "hid:…",
//!       "pinnedAt": 0,
//!       "policy": { "requireReceipt": ["main"], "requireAttestation": true },
//!       "source": "manual",
//!       "created": "2026-11-23T09:59:59Z"
//!     }
//!   ],
//!   "registries": [ { "name": "main", "identity": "hid:…", "created": "…" } ]
//! }
//! ```
//!
//! The most specific pin covering a package wins (`org.example.tool` over `org.example`). Two
//! pins of one namespace to different identities conflict and are refused when created.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FormatError;
use crate::ids::IdentityId;
use crate::statement::{Namespace, PackageName};
use crate::time::Timestamp;

/// The pins file's media type.
pub const PINS_MEDIA_TYPE: &str = "application/vnd.hallmark.pins.v1+json";

/// Largest pins file read, in bytes.
pub const MAX_PINS_BYTES: usize = 16 * 1024 * 1024;

/// How a pin was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinSource {
    /// By `hallmark keyring pin`.
    Manual,
    /// By `hallmark verify --trust-on-first-use`, on the first artifact seen.
    TrustOnFirstUse,
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinSource::Manual => "manual",
            PinSource::TrustOnFirstUse => "trust-on-first-use",
        })
    }
}

/// What a pin requires beyond a linked signature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Names of pinned registries, each of which must have countersigned the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_receipt: Vec<String>,
    /// Every signing key must carry a hardware attestation that verifies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_attestation: bool,
}

impl Policy {
    /// Whether the policy asks for nothing beyond a linked signature.
    pub fn is_default(&self) -> bool {
        self == &Policy::default()
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for r in &self.require_receipt {
            parts.push(format!("receipt from `{r}`"));
        }
        if self.require_attestation {
            parts.push("hardware attestation".to_owned());
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A pin: a namespace, the identity that publishes under it, and policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pin {
    /// The namespace (or single package name) pinned.
    pub namespace: Namespace,
    /// The identity pinned.
    pub identity: IdentityId,
    /// The newest position of the identity's key event log when the pin was made: releases
    /// signed by keys established after it are `trusted-after-rotation`, with the chain shown.
    pub pinned_at: u64,
    /// Requirements beyond a linked signature.
    #[serde(default, skip_serializing_if = "Policy::is_default")]
    pub policy: Policy,
    /// How the pin was made.
    pub source: PinSource,
    /// When.
    pub created: Timestamp,
}

/// A pinned registry: a name for policies to refer to, and the registry's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryPin {
    /// The name policies use (`main`, `internal`).
    pub name: String,
    /// The registry's identity.
    pub identity: IdentityId,
    /// When it was pinned.
    pub created: Timestamp,
    /// Where the registry's transparency log is served (a directory or an http(s) URL), for
    /// `hallmark keyring refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The oldest a verified checkpoint of the registry may be for the store to verify
    /// anything (`24h`, `7d`); see [`super::registries`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// The witnesses whose cosignatures the registry's checkpoints must carry (cosignature
    /// verifier keys, `<name>+<key id>+<base64(0x04 || key)>`); see [`RegistryPin::witness_policy`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// How many of [`RegistryPin::witnesses`] must have cosigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_threshold: Option<u64>,
}

/// A witness key of a registry pin that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("witness key {key:?} of registry `{registry}`: {source}")]
pub struct WitnessKeyError {
    /// The pinned registry's name.
    pub registry: String,
    /// The key as pinned.
    pub key: String,
    /// Why it does not parse.
    pub source: crate::tlog::NoteError,
}

impl RegistryPin {
    /// The pin's witness policy (none when it names no witnesses): receipts and refreshed
    /// checkpoints of the registry count only with at least `witness_threshold` valid
    /// cosignatures by these witnesses.
    pub fn witness_policy(
        &self,
    ) -> Result<Option<crate::tlog::witness::WitnessPolicy>, WitnessKeyError> {
        if self.witnesses.is_empty() {
            return Ok(None);
        }
        let witnesses = self
            .witnesses
            .iter()
            .map(|k| {
                k.parse::<crate::tlog::VerifierKey>()
                    .map_err(|source| WitnessKeyError {
                        registry: self.name.clone(),
                        key: k.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let threshold = usize::try_from(self.witness_threshold.unwrap_or(1)).unwrap_or(usize::MAX);
        Ok(Some(crate::tlog::witness::WitnessPolicy {
            threshold,
            witnesses,
        }))
    }
}

/// Checks a registry name: 1 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or
/// digit.
pub fn check_registry_name(name: &str) -> Result<(), FormatError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FormatError::invalid(
            "registry name",
            format!(
                "{:?}: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// The pins file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PinsFile {
    /// Always [`PINS_MEDIA_TYPE`].
    pub media_type: String,
    /// The pins, in the order they were made.
    #[serde(default)]
    pub pins: Vec<Pin>,
    /// The pinned registries.
    #[serde(default)]
    pub registries: Vec<RegistryPin>,
}

impl Default for PinsFile {
    fn default() -> Self {
        PinsFile {
            media_type: PINS_MEDIA_TYPE.to_owned(),
            pins: Vec::new(),
            registries: Vec::new(),
        }
    }
}

/// Why a pin was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The namespace is pinned to another identity.
    #[error("{namespace} is already pinned to identity {existing}; pins do not change silently")]
    Conflict {
        /// The namespace.
        namespace: Namespace,
        /// The identity it is pinned to.
        existing: IdentityId,
    },
    /// The registry name is taken by another identity.
    #[error("registry name `{name}` is already pinned to identity {existing}")]
    RegistryConflict {
        /// The name.
        name: String,
        /// The identity it names.
        existing: IdentityId,
    },
    /// A policy names a registry that is not pinned.
    #[error("the policy requires a receipt from registry `{0}`, which is not pinned")]
    UnknownRegistry(String),
    /// Nothing is pinned at the namespace.
    #[error("{0} is not pinned")]
    NotPinned(Namespace),
}

impl PinsFile {
    /// Encodes as indented JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Decodes strictly, refusing duplicate or conflicting pins.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_PINS_BYTES {
            return Err(FormatError::TooLarge {
                what: "pins file",
                len: bytes.len(),
                max: MAX_PINS_BYTES,
            });
        }
        let file: PinsFile =
            serde_json::from_slice(bytes).map_err(|e| FormatError::json("pins file", &e))?;
        if file.media_type != PINS_MEDIA_TYPE {
            return Err(FormatError::MediaType {
                found: file.media_type.chars().take(100).collect(),
                expected: PINS_MEDIA_TYPE,
            });
        }
        for (i, pin) in file.pins.iter().enumerate() {
            if file.pins[..i].iter().any(|p| p.namespace == pin.namespace) {
                return Err(FormatError::invalid(
                    "pins file",
                    format!("{} is pinned twice", pin.namespace),
                ));
            }
            for name in &pin.policy.require_receipt {
                if !file.registries.iter().any(|r| &r.name == name) {
                    return Err(FormatError::invalid(
                        "pins file",
                        format!(
                            "the pin of {} requires a receipt from `{name}`, which is not a pinned registry",
                            pin.namespace
                        ),
                    ));
                }
            }
        }
        for (i, reg) in file.registries.iter().enumerate() {
            check_registry_name(&reg.name)?;
            if file.registries[..i].iter().any(|r| r.name == reg.name) {
                return Err(FormatError::invalid(
                    "pins file",
                    format!("registry `{}` is pinned twice", reg.name),
                ));
            }
        }
        Ok(file)
    }

    /// The most specific pin covering `name`.
    pub fn lookup(&self, name: &PackageName) -> Option<&Pin> {
        self.pins
            .iter()
            .filter(|p| p.namespace.covers(name))
            .max_by_key(|p| p.namespace.depth())
    }

    /// The pinned registry called `name`.
    pub fn registry(&self, name: &str) -> Option<&RegistryPin> {
        self.registries.iter().find(|r| r.name == name)
    }

    /// The pinned registry with this identity.
    pub fn registry_by_identity(&self, identity: &IdentityId) -> Option<&RegistryPin> {
        self.registries.iter().find(|r| &r.identity == identity)
    }

    /// Adds a pin. Returns `false` if the same pin (namespace, identity and policy) exists
    /// already; replaces the policy of an existing pin to the same identity.
    pub fn add(&mut self, pin: Pin) -> Result<bool, PinError> {
        for name in &pin.policy.require_receipt {
            if self.registry(name).is_none() {
                return Err(PinError::UnknownRegistry(name.clone()));
            }
        }
        if let Some(existing) = self.pins.iter_mut().find(|p| p.namespace == pin.namespace) {
            if existing.identity != pin.identity {
                return Err(PinError::Conflict {
                    namespace: pin.namespace,
                    existing: existing.identity,
                });
            }
            if existing.policy == pin.policy {
                return Ok(false);
            }
            existing.policy = pin.policy;
            return Ok(true);
        }
        self.pins.push(pin);
        Ok(true)
    }

    /// Removes the pin of a namespace, returning it.
    pub fn remove(&mut self, namespace: &Namespace) -> Result<Pin, PinError> {
        let index = self
            .pins
            .iter()
            .position(|p| &p.namespace == namespace)
            .ok_or_else(|| PinError::NotPinned(namespace.clone()))?;
        Ok(self.pins.remove(index))
    }

    /// Pins a registry. Returns `false` if it is pinned already.
    pub fn add_registry(&mut self, registry: RegistryPin) -> Result<bool, PinError> {
        if let Some(existing) = self.registry(&registry.name) {
            if existing.identity != registry.identity {
                return Err(PinError::RegistryConflict {
                    name: registry.name,
                    existing: existing.identity,
                });
            }
            return Ok(false);
        }
        self.registries.push(registry);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Sha256Digest;

    fn id(b: &[u8]) -> IdentityId {
        IdentityId::from_inception(&Sha256Digest::of(b))
    }

    fn pin(ns: &str, who: &[u8]) -> Pin {
        Pin {
            namespace: ns.parse().unwrap(),
            identity: id(who),
            pinned_at: 0,
            policy: Policy::default(),
            source: PinSource::Manual,
            created: Timestamp::from_unix(0).unwrap(),
        }
    }

    #[test]
    fn most_specific_pin_wins() {
        let mut pins = PinsFile::default();
        pins.add(pin("org.example", b"a")).unwrap();
        pins.add(pin("org.example.tool", b"b")).unwrap();
        let name = |s: &str| s.parse::<PackageName>().unwrap();
        assert_eq!(
            pins.lookup(&name("org.example.tool")).unwrap().identity,
            id(b"b")
        );
        assert_eq!(
            pins.lookup(&name("org.example.tool.cli")).unwrap().identity,
            id(b"b")
        );
        assert_eq!(
            pins.lookup(&name("org.example.other")).unwrap().identity,
            id(b"a")
        );
        assert!(pins.lookup(&name("org.examples.tool")).is_none());
    }

    #[test]
    fn conflicting_pins_are_refused() {
        let mut pins = PinsFile::default();
        assert!(pins.add(pin("org.example", b"a")).unwrap());
        assert!(!pins.add(pin("org.example", b"a")).unwrap());
        assert_eq!(
            pins.add(pin("org.example", b"b")),
            Err(PinError::Conflict {
                namespace: "org.example".parse().unwrap(),
                existing: id(b"a")
            })
        );
        let mut with_policy = pin("org.example", b"a");
        with_policy.policy.require_receipt = vec!["main".into()];
        assert_eq!(
            pins.add(with_policy),
            Err(PinError::UnknownRegistry("main".into()))
        );
    }

    #[test]
    fn file_round_trips_and_refuses_duplicates() {
        let mut pins = PinsFile::default();
        pins.add(pin("org.example", b"a")).unwrap();
        let json = pins.to_json();
        assert_eq!(PinsFile::from_json(&json).unwrap(), pins);
        let mut dup = pins.clone();
        dup.pins.push(pin("org.example", b"b"));
        assert!(PinsFile::from_json(&dup.to_json()).is_err());
        assert!(check_registry_name("main").is_ok());
        assert!(check_registry_name("Main").is_err());
        assert!(check_registry_name("").is_err());
    }
}
