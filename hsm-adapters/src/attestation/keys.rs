//! Public keys from SubjectPublicKeyInfo, and the signature algorithms that certificates use.

use std::fmt;

use ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Any, Tag, Tagged};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// OIDs this module knows.
pub(crate) mod oid {
    use x509_cert::der::asn1::ObjectIdentifier as Oid;

    pub(crate) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub(crate) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub(crate) const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub(crate) const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub(crate) const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub(crate) const X25519: Oid = Oid::new_unwrap("1.3.101.110");

    pub(crate) const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub(crate) const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub(crate) const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub(crate) const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub(crate) const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub(crate) const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");

    // Known, and refused.
    pub(crate) const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
    pub(crate) const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub(crate) const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub(crate) const SHA224_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");
    pub(crate) const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub(crate) const ECDSA_WITH_SHA224: Oid = Oid::new_unwrap("1.2.840.10045.4.3.1");
    pub(crate) const ED448: Oid = Oid::new_unwrap("1.3.101.113");
}

/// The algorithm of an attested public key, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519 (YubiKey firmware 5.7+, algorithm 0xE0).
    Ed25519,
    /// X25519 key agreement (YubiKey firmware 5.7+, algorithm 0xE1).
    X25519,
    /// Another algorithm, named by its SubjectPublicKeyInfo OID.
    Other {
        /// The algorithm OID, dotted.
        oid: String,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::X25519 => f.write_str("X25519"),
            KeyAlgorithm::Other { oid } => write!(f, "algorithm {oid}"),
        }
    }
}

impl Serialize for KeyAlgorithm {
    /// `rsa-2048`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `x25519`, `other:<oid>`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = match self {
            KeyAlgorithm::Rsa { bits } => format!("rsa-{bits}"),
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256".to_owned(),
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384".to_owned(),
            KeyAlgorithm::Ed25519 => "ed25519".to_owned(),
            KeyAlgorithm::X25519 => "x25519".to_owned(),
            KeyAlgorithm::Other { oid } => format!("other:{oid}"),
        };
        serializer.serialize_str(&text)
    }
}

/// A decoded public key. Keys of algorithms that cannot sign certificates here (X25519, others)
/// are kept only as their algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    X25519([u8; 32]),
    Other(ObjectIdentifier),
}

impl PublicKey {
    /// Decodes a SubjectPublicKeyInfo. Unknown algorithms become [`PublicKey::Other`]; a known
    /// algorithm with malformed contents is an error.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, String> {
        let alg = &spki.algorithm;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| "the public key BIT STRING has unused bits".to_owned())?;
        match alg.oid {
            oid::RSA_ENCRYPTION => {
                if !params_absent_or_null(alg) {
                    return Err("rsaEncryption parameters must be NULL".to_owned());
                }
                RsaPublicKey::from_pkcs1_der(bits)
                    .map(PublicKey::Rsa)
                    .map_err(|e| format!("invalid RSA public key: {e}"))
            }
            oid::EC_PUBLIC_KEY => {
                let curve = alg
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .ok_or_else(|| "EC public key without a named curve".to_owned())?;
                match curve {
                    oid::SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P256)
                        .map_err(|_| "invalid P-256 point".to_owned()),
                    oid::SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P384)
                        .map_err(|_| "invalid P-384 point".to_owned()),
                    other => Ok(PublicKey::Other(other)),
                }
            }
            oid::ED25519 | oid::X25519 => {
                if alg.parameters.is_some() {
                    return Err("Ed25519/X25519 keys take no algorithm parameters".to_owned());
                }
                let raw: [u8; 32] = bits
                    .try_into()
                    .map_err(|_| format!("{} bytes, not 32", bits.len()))?;
                if alg.oid == oid::X25519 {
                    return Ok(PublicKey::X25519(raw));
                }
                ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| "not a valid Ed25519 point".to_owned())
            }
            other => Ok(PublicKey::Other(other)),
        }
    }

    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::Rsa(key) => KeyAlgorithm::Rsa {
                bits: key.n().bits() as usize,
            },
            PublicKey::P256(_) => KeyAlgorithm::EcdsaP256,
            PublicKey::P384(_) => KeyAlgorithm::EcdsaP384,
            PublicKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicKey::X25519(_) => KeyAlgorithm::X25519,
            PublicKey::Other(oid) => KeyAlgorithm::Other {
                oid: oid.to_string(),
            },
        }
    }
}

fn params_absent_or_null(alg: &AlgorithmIdentifierOwned) -> bool {
    match &alg.parameters {
        None => true,
        Some(any) => is_null(any),
    }
}

fn is_null(any: &Any) -> bool {
    any.tag() == Tag::Null && any.value().is_empty()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// A certificate signature algorithm this verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    RsaPkcs1(Hash),
    Ecdsa(Hash),
    Ed25519,
}

impl SignatureAlgorithm {
    /// Recognises an AlgorithmIdentifier; on refusal returns the algorithm's name.
    pub(crate) fn identify(alg: &AlgorithmIdentifierOwned) -> Result<Self, &'static str> {
        let found = match alg.oid {
            oid::SHA256_WITH_RSA => Self::RsaPkcs1(Hash::Sha256),
            oid::SHA384_WITH_RSA => Self::RsaPkcs1(Hash::Sha384),
            oid::SHA512_WITH_RSA => Self::RsaPkcs1(Hash::Sha512),
            oid::ECDSA_WITH_SHA256 => Self::Ecdsa(Hash::Sha256),
            oid::ECDSA_WITH_SHA384 => Self::Ecdsa(Hash::Sha384),
            oid::ECDSA_WITH_SHA512 => Self::Ecdsa(Hash::Sha512),
            oid::ED25519 => Self::Ed25519,
            oid::SHA1_WITH_RSA => return Err("sha1WithRSAEncryption (SHA-1 is broken)"),
            oid::ECDSA_WITH_SHA1 => return Err("ecdsa-with-SHA1 (SHA-1 is broken)"),
            oid::MD5_WITH_RSA => return Err("md5WithRSAEncryption (MD5 is broken)"),
            oid::SHA224_WITH_RSA => return Err("sha224WithRSAEncryption"),
            oid::ECDSA_WITH_SHA224 => return Err("ecdsa-with-SHA224"),
            oid::RSASSA_PSS => return Err("RSASSA-PSS"),
            oid::ED448 => return Err("Ed448"),
            _ => return Err("an unknown algorithm"),
        };
        // RFC 4055: the RSA PKCS#1 v1.5 identifiers carry NULL (or, tolerated, nothing);
        // RFC 5758 and RFC 8410: ECDSA and Ed25519 identifiers carry no parameters.
        let params_ok = match found {
            Self::RsaPkcs1(_) => params_absent_or_null(alg),
            Self::Ecdsa(_) | Self::Ed25519 => alg.parameters.is_none(),
        };
        if params_ok {
            Ok(found)
        } else {
            Err(match found {
                Self::RsaPkcs1(_) => "an RSA PKCS#1 v1.5 identifier with non-NULL parameters",
                Self::Ecdsa(_) => "an ECDSA identifier with parameters",
                Self::Ed25519 => "an Ed25519 identifier with parameters",
            })
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1(Hash::Sha256) => "sha256WithRSAEncryption",
            Self::RsaPkcs1(Hash::Sha384) => "sha384WithRSAEncryption",
            Self::RsaPkcs1(Hash::Sha512) => "sha512WithRSAEncryption",
            Self::Ecdsa(Hash::Sha256) => "ecdsa-with-SHA256",
            Self::Ecdsa(Hash::Sha384) => "ecdsa-with-SHA384",
            Self::Ecdsa(Hash::Sha512) => "ecdsa-with-SHA512",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerifyFailure {
    /// The algorithm does not fit the key (an RSA signature and an EC key).
    KeyMismatch,
    /// The signature is wrong (or malformed).
    Invalid,
}

/// Verifies `signature` over `message` with `key`, as `algorithm` prescribes.
pub(crate) fn verify_signature(
    key: &PublicKey,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyFailure> {
    use SignatureAlgorithm as A;
    fn invalid<E>(_: E) -> VerifyFailure {
        VerifyFailure::Invalid
    }
    match (algorithm, key) {
        (A::RsaPkcs1(hash), PublicKey::Rsa(key)) => {
            let scheme = match hash {
                Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(scheme, &hash.digest(message), signature)
                .map_err(invalid)
        }
        (A::Ecdsa(hash), PublicKey::P256(key)) => {
            let sig = ecdsa::Signature::<p256::NistP256>::from_der(signature).map_err(invalid)?;
            key.verify_prehash(&hash.digest(message), &sig)
                .map_err(invalid)
        }
        (A::Ecdsa(hash), PublicKey::P384(key)) => {
            let sig = ecdsa::Signature::<p384::NistP384>::from_der(signature).map_err(invalid)?;
            key.verify_prehash(&hash.digest(message), &sig)
                .map_err(invalid)
        }
        (A::Ed25519, PublicKey::Ed25519(key)) => {
            let sig = ed25519_dalek::Signature::from_slice(signature).map_err(invalid)?;
            key.verify_strict(message, &sig).map_err(invalid)
        }
        _ => Err(VerifyFailure::KeyMismatch),
    }
}
