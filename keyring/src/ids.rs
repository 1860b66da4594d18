//! Self-certifying names: payload digests and identities.
//!
//! * [`Sha256Digest`] — SHA-256 of some bytes, written `sha256:<64 lowercase hex>`. Key events
//!   are named by the digest of their payload; the chain links events through these names.
//! * [`IdentityId`] — a publisher's name: the digest of its inception event's payload, written
//!   `hid:<64 lowercase hex>` so it cannot be mistaken for a content digest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::encoding::{EncodingError, hex_decode_array, hex_encode};

/// SHA-256 of a byte string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Wraps a raw digest.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `sha256:` and the first 16 hex digits, for messages meant for people.
    pub fn short(&self) -> String {
        format!("sha256:{}", hex_encode(&self.0[..8]))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex_encode(&self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.short())
    }
}

/// A digest or identity string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Wrong or missing prefix.
    #[error("{what} must start with `{prefix}`")]
    Prefix {
        /// What was being parsed.
        what: &'static str,
        /// The prefix required.
        prefix: &'static str,
    },
    /// Bad hex.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

impl FromStr for Sha256Digest {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        let hex = text.strip_prefix("sha256:").ok_or(IdError::Prefix {
            what: "a digest",
            prefix: "sha256:",
        })?;
        Ok(Sha256Digest(hex_decode_array::<32>("digest", hex)?))
    }
}

/// A publisher identity: the digest of its inception event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId([u8; 32]);

impl IdentityId {
    /// The identity named by an inception event's payload digest.
    pub fn from_inception(digest: &Sha256Digest) -> Self {
        IdentityId(digest.0)
    }

    /// The inception event's digest.
    pub fn inception_digest(&self) -> Sha256Digest {
        Sha256Digest(self.0)
    }

    /// `hid:` and the first 16 hex digits, for messages meant for people.
    pub fn short(&self) -> String {
        format!("hid:{}", hex_encode(&self.0[..8]))
    }
}

impl fmt::Display for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hid:{}", hex_encode(&self.0))
    }
}

impl fmt::Debug for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityId({})", self.short())
    }
}

impl FromStr for IdentityId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        let hex = text.strip_prefix("hid:").ok_or(IdError::Prefix {
            what: "an identity",
            prefix: "hid:",
        })?;
        Ok(IdentityId(hex_decode_array::<32>("identity", hex)?))
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
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

string_serde!(Sha256Digest);
string_serde!(IdentityId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_text() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
        assert_eq!(d.short(), "sha256:ba7816bf8f01cfea");
        assert!(matches!(
            "sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                .parse::<Sha256Digest>(),
            Err(IdError::Encoding(_))
        ));
    }

    #[test]
    fn identity_text() {
        let id = IdentityId::from_inception(&Sha256Digest::of(b"abc"));
        assert_eq!(
            id.to_string(),
            "hid:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.to_string().parse::<IdentityId>().unwrap(), id);
        assert!(matches!(
            Sha256Digest::of(b"abc").to_string().parse::<IdentityId>(),
            Err(IdError::Prefix { .. })
        ));
    }
}
