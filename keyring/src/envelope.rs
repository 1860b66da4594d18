//! The signature envelope: payload bytes plus signatures over exactly those bytes.
//!
//! In the spirit of DSSE, an envelope carries a payload type, the payload (base64) and a list
//! of signatures. A signature never covers the payload directly: it covers the small,
//! domain-separated **signing input**
//!
//! ```text
//! "hallmark-sig-v1\n" || payloadType || "\n" || SHA-256(payload)
//! ```
//!
//! (at most 92 bytes: the longest media type is 43 bytes), so every message that reaches a
//! signer is bounded whatever the payload's size — YubiKey PIV caps messages near 1,000 bytes —
//! and a payload of one type can never be replayed as another (a package statement can never
//! pass for a key event).
//!
//! Payloads are canonical JSON ([`crate::canonical`]): they are checked on read by parsing into
//! the payload's type (unknown fields refused) and re-encoding; any other byte sequence is
//! refused, so there is exactly one encoding of every payload.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{base64_decode, base64_decode_array, base64_encode};
use crate::error::FormatError;
use crate::ids::Sha256Digest;
use crate::key::{KeyId, PublicKey, verify_signature};

/// Prefix of every signing input.
pub const SIGNING_DOMAIN: &[u8] = b"hallmark-sig-v1\n";

/// Largest payload accepted, in bytes (a key event with hundreds of keys fits easily).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 64;

/// Anything that can sign with an Ed25519 key it holds: a file key, a PKCS#11 object, a
/// YubiKey slot. Implemented for every type with the RustCrypto [`signature::Signer`] and
/// [`signature::Keypair`] traits, so `&dyn Ed25519Signer` names any backend.
pub trait Ed25519Signer:
    signature::Signer<Signature> + signature::Keypair<VerifyingKey = VerifyingKey>
{
}

impl<T> Ed25519Signer for T where
    T: signature::Signer<Signature> + signature::Keypair<VerifyingKey = VerifyingKey> + ?Sized
{
}

/// The kinds of signed payload. Each has its own media type, which enters the signing input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadType {
    /// A package statement: a release's name, version and content digest.
    Statement,
    /// A key event in an identity's key event log.
    KeyEvent,
    /// A registry's countersignature over a statement or event.
    Receipt,
    /// A ceremony transcript.
    Transcript,
    /// An entry of a registry's or keyring's hash-chained log.
    LogEntry,
}

impl PayloadType {
    /// Every payload type.
    pub const ALL: [PayloadType; 5] = [
        PayloadType::Statement,
        PayloadType::KeyEvent,
        PayloadType::Receipt,
        PayloadType::Transcript,
        PayloadType::LogEntry,
    ];

    /// The media type written in envelopes.
    pub fn media_type(self) -> &'static str {
        match self {
            PayloadType::Statement => "application/vnd.hallmark.statement.v1+json",
            PayloadType::KeyEvent => "application/vnd.hallmark.key-event.v1+json",
            PayloadType::Receipt => "application/vnd.hallmark.receipt.v1+json",
            PayloadType::Transcript => "application/vnd.hallmark.transcript.v1+json",
            PayloadType::LogEntry => "application/vnd.hallmark.log-entry.v1+json",
        }
    }

    /// A short name for messages ("statement", "key event").
    pub fn noun(self) -> &'static str {
        match self {
            PayloadType::Statement => "package statement",
            PayloadType::KeyEvent => "key event",
            PayloadType::Receipt => "registry receipt",
            PayloadType::Transcript => "ceremony transcript",
            PayloadType::LogEntry => "log entry",
        }
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

impl FromStr for PayloadType {
    type Err = FormatError;

    fn from_str(text: &str) -> Result<Self, FormatError> {
        PayloadType::ALL
            .into_iter()
            .find(|t| t.media_type() == text)
            .ok_or_else(|| FormatError::UnknownPayloadType(text.chars().take(100).collect()))
    }
}

/// The exact bytes a signer signs for a payload of type `payload_type`.
pub fn signing_input(payload_type: PayloadType, payload: &[u8]) -> Vec<u8> {
    let media_type = payload_type.media_type().as_bytes();
    let mut input = Vec::with_capacity(SIGNING_DOMAIN.len() + media_type.len() + 1 + 32);
    input.extend_from_slice(SIGNING_DOMAIN);
    input.extend_from_slice(media_type);
    input.push(b'\n');
    input.extend_from_slice(&Sha256::digest(payload));
    input
}

/// One signature in an envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// Id of the key that made it (a hint for finding the key; the key itself comes from the
    /// context — a key event log, a pin, the user — never from the envelope).
    pub keyid: KeyId,
    /// The Ed25519 signature over the signing input.
    pub sig: [u8; 64],
}

impl fmt::Debug for EnvelopeSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeSignature")
            .field("keyid", &self.keyid)
            .finish_non_exhaustive()
    }
}

/// A payload with its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    payload_type: PayloadType,
    payload: Vec<u8>,
    signatures: Vec<EnvelopeSignature>,
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signer (device, token, key file) failed; the source says why.
    #[error("the signer failed: {0}")]
    Signer(#[source] signature::Error),
    /// The signer returned a signature that does not verify under its own public key: a faulty
    /// device, or a key that is not the one it claims.
    #[error("the signer returned a signature that does not verify under its key {}", .0.short())]
    SignatureDoesNotVerify(KeyId),
    /// This key already signed the envelope.
    #[error("key {} has already signed this envelope", .0.short())]
    AlreadySigned(KeyId),
    /// The envelope already holds the most signatures allowed.
    #[error("an envelope holds at most {MAX_SIGNATURES} signatures")]
    TooManySignatures,
}

impl Envelope {
    /// An unsigned envelope. Fails if the payload is larger than [`MAX_PAYLOAD_BYTES`].
    pub fn new(payload_type: PayloadType, payload: Vec<u8>) -> Result<Self, FormatError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(FormatError::TooLarge {
                what: "envelope payload",
                len: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        Ok(Envelope {
            payload_type,
            payload,
            signatures: Vec::new(),
        })
    }

    /// The payload's type.
    pub fn payload_type(&self) -> PayloadType {
        self.payload_type
    }

    /// The payload bytes, exactly as signed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signatures, in the order they were added.
    pub fn signatures(&self) -> &[EnvelopeSignature] {
        &self.signatures
    }

    /// SHA-256 of the payload: the name of a key event, the subject of a receipt.
    pub fn payload_digest(&self) -> Sha256Digest {
        Sha256Digest::of(&self.payload)
    }

    /// The bytes a signer signs for this envelope.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(self.payload_type, &self.payload)
    }

    /// Refuses the envelope unless it has the expected payload type.
    pub fn expect_type(&self, expected: PayloadType) -> Result<(), FormatError> {
        if self.payload_type == expected {
            Ok(())
        } else {
            Err(FormatError::WrongPayloadType {
                expected,
                found: self.payload_type,
            })
        }
    }

    /// Signs the envelope with `signer` and adds the signature.
    ///
    /// The signature is verified under the signer's own public key before it is added, so a
    /// faulty device or a mismatched key is caught here rather than by every verifier.
    pub fn sign(&mut self, signer: &(impl Ed25519Signer + ?Sized)) -> Result<KeyId, SignError> {
        let key = PublicKey::new(signer.verifying_key());
        let keyid = key.key_id();
        if self.signatures.iter().any(|s| s.keyid == keyid) {
            return Err(SignError::AlreadySigned(keyid));
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(SignError::TooManySignatures);
        }
        let input = self.signing_input();
        let signature = signer.try_sign(&input).map_err(SignError::Signer)?;
        let sig = signature.to_bytes();
        verify_signature(&key, &input, &sig)
            .map_err(|_| SignError::SignatureDoesNotVerify(keyid))?;
        self.signatures.push(EnvelopeSignature { keyid, sig });
        Ok(keyid)
    }

    /// Adds a signature made elsewhere (e.g. by a co-signer). It is not checked here; it is
    /// checked, like every signature, when the envelope is verified against a key set.
    pub fn add_signature(&mut self, signature: EnvelopeSignature) -> Result<(), SignError> {
        if self.signatures.iter().any(|s| s.keyid == signature.keyid) {
            return Err(SignError::AlreadySigned(signature.keyid));
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(SignError::TooManySignatures);
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// The signature made by `key`, if the envelope carries one that verifies.
    ///
    /// `Ok(None)`: the key did not sign. `Err`: a signature claims to be from the key but does
    /// not verify.
    pub fn signature_by(&self, key: &PublicKey) -> Result<Option<&EnvelopeSignature>, KeyId> {
        let keyid = key.key_id();
        let Some(entry) = self.signatures.iter().find(|s| s.keyid == keyid) else {
            return Ok(None);
        };
        verify_signature(key, &self.signing_input(), &entry.sig).map_err(|_| keyid)?;
        Ok(Some(entry))
    }

    /// Encodes the envelope as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        crate::canonical::to_vec(&EnvelopeJson::from(self))
    }

    /// Decodes an envelope from JSON, strictly.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        // base64 of the largest payload plus signatures and field names.
        const MAX_ENVELOPE_JSON: usize =
            MAX_PAYLOAD_BYTES / 3 * 4 + 8 + MAX_SIGNATURES * 200 + 1024;
        if bytes.len() > MAX_ENVELOPE_JSON {
            return Err(FormatError::TooLarge {
                what: "envelope",
                len: bytes.len(),
                max: MAX_ENVELOPE_JSON,
            });
        }
        let json: EnvelopeJson =
            serde_json::from_slice(bytes).map_err(|e| FormatError::json("envelope", &e))?;
        Envelope::try_from(json)
    }
}

/// The JSON form: `{"payloadType": …, "payload": base64, "signatures": [{"keyid", "sig"}]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvelopeJson {
    payload_type: String,
    payload: String,
    signatures: Vec<SignatureJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    keyid: KeyId,
    sig: String,
}

impl From<&Envelope> for EnvelopeJson {
    fn from(env: &Envelope) -> Self {
        EnvelopeJson {
            payload_type: env.payload_type.media_type().to_owned(),
            payload: base64_encode(&env.payload),
            signatures: env
                .signatures
                .iter()
                .map(|s| SignatureJson {
                    keyid: s.keyid,
                    sig: base64_encode(&s.sig),
                })
                .collect(),
        }
    }
}

impl TryFrom<EnvelopeJson> for Envelope {
    type Error = FormatError;

    fn try_from(json: EnvelopeJson) -> Result<Self, FormatError> {
        let payload_type: PayloadType = json.payload_type.parse()?;
        let payload = base64_decode("envelope payload", &json.payload, MAX_PAYLOAD_BYTES)?;
        if json.signatures.len() > MAX_SIGNATURES {
            return Err(FormatError::TooMany {
                what: "an envelope",
                unit: "signatures",
                count: json.signatures.len(),
                max: MAX_SIGNATURES,
            });
        }
        let mut envelope = Envelope::new(payload_type, payload)?;
        for s in json.signatures {
            let sig = base64_decode_array::<64>("signature", &s.sig)?;
            envelope
                .add_signature(EnvelopeSignature {
                    keyid: s.keyid,
                    sig,
                })
                .map_err(|_| FormatError::DuplicateSignature(s.keyid))?;
        }
        Ok(envelope)
    }
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EnvelopeJson::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = EnvelopeJson::deserialize(deserializer)?;
        Envelope::try_from(json).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signing_input_layout() {
        let input = signing_input(PayloadType::Statement, b"{}");
        let mut expected =
            b"hallmark-sig-v1\napplication/vnd.hallmark.statement.v1+json\n".to_vec();
        expected.extend_from_slice(&Sha256::digest(b"{}"));
        assert_eq!(input, expected);
        for t in PayloadType::ALL {
            assert!(signing_input(t, &[0; MAX_PAYLOAD_BYTES]).len() <= 92, "{t}");
            assert_eq!(t.media_type().parse::<PayloadType>().unwrap(), t);
        }
    }

    #[test]
    fn payload_types_separate_domains() {
        assert_ne!(
            signing_input(PayloadType::Statement, b"x"),
            signing_input(PayloadType::KeyEvent, b"x")
        );
    }

    #[test]
    fn sign_round_trip_and_refusals() {
        let a = key(1);
        let mut env = Envelope::new(PayloadType::Statement, b"{\"x\":1}".to_vec()).unwrap();
        let id = env.sign(&a).unwrap();
        assert!(matches!(env.sign(&a), Err(SignError::AlreadySigned(k)) if k == id));
        let json = env.to_json();
        let back = Envelope::from_json(&json).unwrap();
        assert_eq!(back, env);
        let pk = PublicKey::new(a.verifying_key());
        assert!(back.signature_by(&pk).unwrap().is_some());
        assert!(
            back.signature_by(&PublicKey::new(key(2).verifying_key()))
                .unwrap()
                .is_none()
        );

        // The same bytes under another payload type do not verify.
        let mut other = back.clone();
        other.payload_type = PayloadType::KeyEvent;
        assert_eq!(other.signature_by(&pk), Err(id));
    }

    #[test]
    fn strict_json() {
        let a = key(1);
        let mut env = Envelope::new(PayloadType::Statement, b"{}".to_vec()).unwrap();
        env.sign(&a).unwrap();
        let text = String::from_utf8(env.to_json()).unwrap();

        let extra = text.replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(
            Envelope::from_json(extra.as_bytes()),
            Err(FormatError::Json { .. })
        ));

        let unknown = text.replace("statement.v1", "statement.v9");
        assert!(matches!(
            Envelope::from_json(unknown.as_bytes()),
            Err(FormatError::UnknownPayloadType(_))
        ));

        let sig_start = text.find("\"sig\":\"").unwrap() + 7;
        let mut dup = text.clone();
        let entry_start = text.find("{\"keyid\"").unwrap();
        let entry_end = text[entry_start..].find('}').unwrap() + entry_start + 1;
        dup.insert_str(entry_end, &format!(",{}", &text[entry_start..entry_end]));
        assert!(matches!(
            Envelope::from_json(dup.as_bytes()),
            Err(FormatError::DuplicateSignature(_))
        ));

        let mut short = text.clone();
        short.replace_range(sig_start..sig_start + 4, "");
        assert!(matches!(
            Envelope::from_json(short.as_bytes()),
            Err(FormatError::Encoding(_))
        ));

        let trailing = format!("{text}x");
        assert!(matches!(
            Envelope::from_json(trailing.as_bytes()),
            Err(FormatError::Json { .. })
        ));
    }
}
