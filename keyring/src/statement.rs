//! Package statements: what a release signature says.
//!
//! A statement names a package (reverse-domain, e.g. `org.acme.database-tool`), a version,
//! the artifact's [`ContentDigest`], who signed it, and when the signer says it did. It is the
//! payload of an envelope of type [`PayloadType::Statement`](crate::envelope::PayloadType).
//!
//! The signer is either a bare key (`{"key": "ed25519:…"}`, for use without an identity) or an
//! identity at a position of its key event log (`{"identity": "hid:…", "sequence": 3,
//! "event": "sha256:…"}`): the keys that may sign are then the ones that log establishes at that
//! position, and a verifier holding a longer log can tell whether the statement was made before
//! a rotation or a revocation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::canonical;
use crate::digest::ContentDigest;
use crate::envelope::{Envelope, PayloadType};
use crate::error::FormatError;
use crate::ids::{IdentityId, Sha256Digest};
use crate::key::PublicKey;
use crate::time::Timestamp;

/// Largest statement payload, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 4096;

/// Longest package name or namespace.
pub const MAX_NAME_LEN: usize = 200;

/// Longest label (between dots) of a name.
pub const MAX_LABEL_LEN: usize = 63;

/// Longest version string.
pub const MAX_VERSION_LEN: usize = 64;

/// Why a name or version was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Wrong shape, with the reason.
    #[error("invalid {what} {text:?}: {reason}")]
    Invalid {
        /// "package name", "namespace" or "version".
        what: &'static str,
        /// The text (truncated).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
}

fn invalid(what: &'static str, text: &str, reason: &'static str) -> NameError {
    NameError::Invalid {
        what,
        text: text.chars().take(80).collect(),
        reason,
    }
}

fn check_reverse_domain(what: &'static str, text: &str) -> Result<(), NameError> {
    if text.len() > MAX_NAME_LEN {
        return Err(invalid(what, text, "longer than 200 characters"));
    }
    let labels: Vec<&str> = text.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            what,
            text,
            "use reverse-domain form with at least two labels, e.g. org.acme",
        ));
    }
    for label in labels {
        if label.is_empty() {
            return Err(invalid(
                what,
                text,
                "empty label (leading, trailing or doubled dot)",
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(invalid(what, text, "a label is longer than 63 characters"));
        }
        if label.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(what, text, "names are lowercase"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid(what, text, "labels use only a-z, 0-9, '-' and '_'"));
        }
        let first = label.as_bytes()[0];
        let last = label.as_bytes()[label.len() - 1];
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            return Err(invalid(
                what,
                text,
                "labels start and end with a letter or digit",
            ));
        }
    }
    Ok(())
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $ty:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(text: &str) -> Result<Self, NameError> {
                let check: fn(&str) -> Result<(), NameError> = $check;
                check(text)?;
                Ok($ty(text.to_owned()))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_string!(
    /// A package name in reverse-domain form, e.g. `org.acme.database-tool`: at least two
    /// dot-separated labels of `a-z`, `0-9`, `-`, `_`, each starting and ending with a letter
    /// or digit; lowercase only, so names differing only in case cannot coexist.
    PackageName,
    |t| check_reverse_domain("package name", t)
);

validated_string!(
    /// A namespace: a reverse-domain prefix such as `org.acme`, covering `org.acme` itself and
    /// every name below it (`org.acme.tool`, `org.acme.db.client`) but not `org.acmecorp`.
    Namespace,
    |t| check_reverse_domain("namespace", t)
);

validated_string!(
    /// A version string: 1 to 64 characters of `A-Z a-z 0-9 . + ~ : _ -`, starting with a
    /// letter or digit. Semantic versions, PEP 440 and Debian versions all fit.
    Version,
    |text| {
        if text.is_empty() || text.len() > MAX_VERSION_LEN {
            return Err(invalid("version", text, "must be 1 to 64 characters"));
        }
        if !text.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(invalid("version", text, "must start with a letter or digit"));
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~:_-".contains(&b)) {
            return Err(invalid("version", text, "use only letters, digits and . + ~ : _ -"));
        }
        Ok(())
    }
);

impl Namespace {
    /// Whether `name` is this namespace or lies below it.
    pub fn covers(&self, name: &PackageName) -> bool {
        let (ns, name) = (self.as_str(), name.as_str());
        name == ns
            || (name.len() > ns.len() && name.starts_with(ns) && name.as_bytes()[ns.len()] == b'.')
    }

    /// Whether `other` is this namespace or lies below it.
    pub fn contains(&self, other: &Namespace) -> bool {
        let (ns, o) = (self.as_str(), other.as_str());
        o == ns || (o.len() > ns.len() && o.starts_with(ns) && o.as_bytes()[ns.len()] == b'.')
    }

    /// Number of labels; a longer namespace is more specific.
    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }
}

impl From<&PackageName> for Namespace {
    fn from(name: &PackageName) -> Self {
        Namespace(name.0.clone())
    }
}

/// Who signed a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerRef {
    /// A bare signing key, when the statement is not made in an identity's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PublicKey>,
    /// The identity in whose name the statement is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    /// The sequence number of the newest key event the signer knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The digest of that event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Sha256Digest>,
}

/// A [`SignerRef`] in its two valid shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer<'a> {
    /// A bare key.
    Key(&'a PublicKey),
    /// An identity at a position of its key event log.
    Identity {
        /// The identity.
        identity: &'a IdentityId,
        /// The sequence number of the newest event the signer knew.
        sequence: u64,
        /// That event's digest.
        event: &'a Sha256Digest,
    },
}

impl SignerRef {
    /// A bare-key signer.
    pub fn key(key: PublicKey) -> Self {
        SignerRef {
            key: Some(key),
            identity: None,
            sequence: None,
            event: None,
        }
    }

    /// An identity signer at the given log position.
    pub fn identity(identity: IdentityId, sequence: u64, event: Sha256Digest) -> Self {
        SignerRef {
            key: None,
            identity: Some(identity),
            sequence: Some(sequence),
            event: Some(event),
        }
    }

    /// The signer in one of its two valid shapes.
    pub fn kind(&self) -> Result<Signer<'_>, FormatError> {
        match (&self.key, &self.identity, self.sequence, &self.event) {
            (Some(key), None, None, None) => Ok(Signer::Key(key)),
            (None, Some(identity), Some(sequence), Some(event)) => Ok(Signer::Identity {
                identity,
                sequence,
                event,
            }),
            _ => Err(FormatError::invalid(
                "statement signer",
                "give either `key`, or `identity` with `sequence` and `event`",
            )),
        }
    }
}

/// A package statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The package.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// The artifact's content digest.
    pub digest: ContentDigest,
    /// Who signs.
    pub signer: SignerRef,
    /// When the signer says it signed. Not proof of time: only a registry receipt is.
    pub created: Timestamp,
}

impl Statement {
    /// The canonical payload bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// Decodes and validates a canonical statement payload.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, FormatError> {
        let statement: Statement = canonical::from_slice("statement", bytes, MAX_STATEMENT_BYTES)?;
        statement.signer.kind()?;
        Ok(statement)
    }

    /// Decodes the statement an envelope carries, checking the envelope's type first.
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, FormatError> {
        envelope.expect_type(PayloadType::Statement)?;
        Statement::from_payload(envelope.payload())
    }

    /// An unsigned envelope carrying this statement.
    pub fn to_envelope(&self) -> Result<Envelope, FormatError> {
        Envelope::new(PayloadType::Statement, self.to_payload())
    }

    /// `name@version`, as shown to people.
    pub fn release(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for ok in [
            "org.acme",
            "org.acme.database-tool",
            "io.github.user_1.x",
            "com.0x1.a",
        ] {
            assert!(ok.parse::<PackageName>().is_ok(), "{ok}");
        }
        for (bad, reason) in [
            (
                "acme",
                "use reverse-domain form with at least two labels, e.g. org.acme",
            ),
            (
                "org..acme",
                "empty label (leading, trailing or doubled dot)",
            ),
            (
                "org.acme.",
                "empty label (leading, trailing or doubled dot)",
            ),
            ("Org.acme", "names are lowercase"),
            ("org.ac me", "labels use only a-z, 0-9, '-' and '_'"),
            (
                "org.acme.-tool",
                "labels start and end with a letter or digit",
            ),
            ("org.acmé", "labels use only a-z, 0-9, '-' and '_'"),
        ] {
            assert_eq!(
                bad.parse::<PackageName>().unwrap_err(),
                NameError::Invalid {
                    what: "package name",
                    text: bad.into(),
                    reason
                },
            );
        }
    }

    #[test]
    fn namespace_coverage_is_label_aligned() {
        let ns: Namespace = "org.acme".parse().unwrap();
        let name = |s: &str| s.parse::<PackageName>().unwrap();
        assert!(ns.covers(&name("org.acme")));
        assert!(ns.covers(&name("org.acme.tool")));
        assert!(ns.covers(&name("org.acme.db.client")));
        assert!(!ns.covers(&name("org.acmecorp.tool")));
        assert!(!ns.covers(&name("org.acm")));
        assert_eq!(ns.depth(), 2);
    }

    #[test]
    fn versions() {
        for ok in ["1.2.0", "1.0.0-rc.1+build.5", "1:2.3-4~bpo1", "2024_01"] {
            assert!(ok.parse::<Version>().is_ok(), "{ok}");
        }
        for bad in ["", "-1", "1.0 beta", "v1/2", &"1".repeat(65)] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }
}
