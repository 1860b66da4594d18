//! Public keys, key ids, and the one signature-verification function.
//!
//! A [`PublicKey`] is an Ed25519 public key, written `ed25519:<base64 of 32 bytes>`. Its
//! [`KeyId`] is computed from the key bytes — `SHA-256("hallmark-key-id-v1\n" || key)` — and
//! never read from a document without being recomputed.
//!
//! [`verify_signature`] is the only place a signature is checked. It uses ed25519-dalek's
//! `verify_strict`: small-order public keys, non-canonical `R` encodings and `S ≥ L` are
//! refused, so exactly the signatures libsodium accepts are accepted (the policy is tested
//! against the Wycheproof, RFC 8032 and speccheck vectors).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::encoding::{
    EncodingError, base64_decode_array, base64_encode, hex_decode_array, hex_encode,
};

/// Domain separator of key ids.
pub const KEY_ID_DOMAIN: &[u8] = b"hallmark-key-id-v1\n";

/// The text prefix of public keys.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";

/// An Ed25519 public key that decodes to a curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Wraps a verifying key.
    pub fn new(key: VerifyingKey) -> Self {
        PublicKey(key)
    }

    /// Decodes 32 raw bytes. Fails if they are not a valid point encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::NotAPoint)
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The raw 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The key for ed25519-dalek.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// This key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self)
    }

    /// Whether the key is of small order (a "weak" key that `verify_strict` refuses). Such a key
    /// can never produce a signature Hallmark accepts, so documents naming one are refused.
    pub fn is_weak(&self) -> bool {
        self.0.is_weak()
    }
}

impl From<VerifyingKey> for PublicKey {
    fn from(key: VerifyingKey) -> Self {
        PublicKey(key)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", base64_encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let b64 = text
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or(KeyError::Prefix)?;
        let bytes = base64_decode_array::<32>("public key", b64)?;
        let key = PublicKey::from_bytes(&bytes)?;
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(key)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A key's id: `SHA-256("hallmark-key-id-v1\n" || public key)`, written as 64 lowercase hex
/// digits. It doubles as the commitment to a next key in pre-rotation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// Computes the id of a key.
    pub fn of(key: &PublicKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(KEY_ID_DOMAIN);
        hasher.update(key.as_bytes());
        KeyId(hasher.finalize().into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 16 hex digits, for messages meant for people.
    pub fn short(&self) -> String {
        hex_encode(&self.0[..8])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.short())
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Ok(KeyId(hex_decode_array::<32>("key id", text)?))
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a public key or key id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text does not start with `ed25519:`.
    #[error("a public key is written `ed25519:` followed by base64 of its 32 bytes")]
    Prefix,
    /// The encoding is wrong.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The 32 bytes do not encode a curve point.
    #[error("the public key does not encode a point on Ed25519")]
    NotAPoint,
    /// The key has small order: no signature by it can be verified strictly.
    #[error("the public key has small order (a weak key) and is refused")]
    Weak,
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the Ed25519 signature does not verify (strict verification)")]
pub struct BadSignature;

/// Verifies an Ed25519 signature strictly. This is the only signature check in Hallmark.
pub fn verify_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), BadSignature> {
    let signature = Signature::from_bytes(signature);
    key.0
        .verify_strict(message, &signature)
        .map_err(|_| BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8032_TEST1_PK: &str =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn rfc_key() -> PublicKey {
        let bytes = hex_decode_array::<32>("pk", RFC8032_TEST1_PK).unwrap();
        PublicKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn text_form_round_trips() {
        let key = rfc_key();
        let text = key.to_string();
        assert_eq!(text, "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        assert_eq!(text.parse::<PublicKey>().unwrap(), key);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn key_id_is_domain_separated_sha256() {
        let key = rfc_key();
        let mut hasher = Sha256::new();
        hasher.update(b"hallmark-key-id-v1\n");
        hasher.update(key.as_bytes());
        let expected: [u8; 32] = hasher.finalize().into();
        assert_eq!(key.key_id().as_bytes(), &expected);
        let text = key.key_id().to_string();
        assert_eq!(text.parse::<KeyId>().unwrap(), key.key_id());
        assert_eq!(key.key_id().short(), &text[..16]);
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".parse::<PublicKey>(),
            Err(KeyError::Prefix)
        );
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = format!("ed25519:{}", base64_encode(&identity));
        assert_eq!(weak.parse::<PublicKey>(), Err(KeyError::Weak));
        assert!(matches!(
            "ed25519:AAAA".parse::<PublicKey>(),
            Err(KeyError::Encoding(_))
        ));
    }
}
