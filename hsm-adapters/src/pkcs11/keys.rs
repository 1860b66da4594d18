//! Ed25519 key objects: decoding public keys in the forms tokens use, and finding keys.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use ed25519_dalek::VerifyingKey;

use super::error::{Error, TokenName};
use super::token::SelectedToken;
use super::uri::{ObjectType, PathAttr, Pkcs11Uri};
use crate::hex;

/// `CKA_EC_PARAMS` for Ed25519 as an OID (RFC 8410 id-Ed25519, 1.3.101.112): PKCS#11 3.1's
/// preferred form, and what Hallmark writes.
pub const EC_PARAMS_ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_EC_PARAMS` for Ed25519 as PKCS#11 3.0's curve name, PrintableString "edwards25519".
pub const EC_PARAMS_ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
const EC_PARAMS_ED448_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
const EC_PARAMS_ED448_NAME: &[u8] = b"\x13\x0aedwards448";

/// Why a token's public key attributes are not a usable Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDecodeError {
    /// `CKA_EC_PARAMS` names Ed448.
    #[error("the key is Ed448, not Ed25519")]
    Ed448,
    /// `CKA_EC_PARAMS` names another curve, or nothing known.
    #[error("CKA_EC_PARAMS {params_hex} does not name Ed25519")]
    NotEd25519 {
        /// The attribute, in hex.
        params_hex: String,
    },
    /// `CKA_EC_POINT` has neither form of a 32-byte key.
    #[error(
        "CKA_EC_POINT of {len} bytes is neither 32 raw bytes nor a DER OCTET STRING of 32 bytes"
    )]
    PointLength {
        /// Its length.
        len: usize,
    },
    /// The 32 bytes are not a point on the curve.
    #[error("{key_hex} is not a valid Ed25519 public key")]
    NotOnCurve {
        /// The bytes, in hex.
        key_hex: String,
    },
    /// A small-order point: anyone can forge signatures that verify under it.
    #[error("{key_hex} is a small-order (weak) Ed25519 key")]
    Weak {
        /// The key, in hex.
        key_hex: String,
    },
    /// `CKA_PUBLIC_KEY_INFO` is not an Ed25519 SubjectPublicKeyInfo.
    #[error("CKA_PUBLIC_KEY_INFO is not an Ed25519 SubjectPublicKeyInfo")]
    PublicKeyInfo,
}

/// Checks that `CKA_EC_PARAMS` names Ed25519, in either encoding tokens use.
pub fn decode_ec_params(params: &[u8]) -> Result<(), KeyDecodeError> {
    match params {
        EC_PARAMS_ED25519_OID | EC_PARAMS_ED25519_NAME => Ok(()),
        EC_PARAMS_ED448_OID | EC_PARAMS_ED448_NAME => Err(KeyDecodeError::Ed448),
        other => Err(KeyDecodeError::NotEd25519 {
            params_hex: hex(other),
        }),
    }
}

/// Extracts the 32-byte Ed25519 public key from `CKA_EC_POINT`: either a DER OCTET STRING
/// (`04 20` + 32 bytes, as SoftHSM2 and PKCS#11 3.0 have it) or the raw 32 bytes (as PKCS#11
/// 3.1 allows and kryoptic returns).
pub fn decode_ec_point(point: &[u8]) -> Result<[u8; 32], KeyDecodeError> {
    let raw = match point {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        raw if raw.len() == 32 => raw,
        other => return Err(KeyDecodeError::PointLength { len: other.len() }),
    };
    let mut key = [0u8; 32];
    key.copy_from_slice(raw);
    Ok(key)
}

/// Decodes an Ed25519 public key from `CKA_EC_PARAMS` and `CKA_EC_POINT`, refusing points
/// that are not on the curve and small-order (weak) keys.
pub fn decode_public_key(params: &[u8], point: &[u8]) -> Result<VerifyingKey, KeyDecodeError> {
    decode_ec_params(params)?;
    verifying_key(&decode_ec_point(point)?)
}

fn verifying_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyDecodeError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyDecodeError::NotOnCurve {
        key_hex: hex(bytes),
    })?;
    if key.is_weak() {
        return Err(KeyDecodeError::Weak {
            key_hex: hex(bytes),
        });
    }
    Ok(key)
}

/// Decodes an Ed25519 SubjectPublicKeyInfo (`CKA_PUBLIC_KEY_INFO`, RFC 8410).
fn decode_spki(spki: &[u8]) -> Result<VerifyingKey, KeyDecodeError> {
    use ed25519_dalek::pkcs8::{DecodePublicKey, PublicKeyBytes};
    let key =
        PublicKeyBytes::from_public_key_der(spki).map_err(|_| KeyDecodeError::PublicKeyInfo)?;
    verifying_key(&key.0)
}

/// The URI that names a key: the token by label and serial, the object by label and id, and
/// the module and PIN source of `base`.
pub(crate) fn key_uri(
    base: &Pkcs11Uri,
    token: &TokenName,
    label: Option<&str>,
    id: &[u8],
) -> Pkcs11Uri {
    let mut uri = Pkcs11Uri::new();
    // Every value here is text or bytes a token returned; none can make a URI invalid.
    let _ = uri.set_path_attr(PathAttr::Token, Some(&token.label));
    let _ = uri.set_path_attr(PathAttr::Serial, Some(&token.serial));
    let _ = uri.set_path_attr(PathAttr::Object, label);
    let _ = uri.set_path_attr(PathAttr::Type, Some(ObjectType::Private.as_str()));
    uri.set_id(Some(id.to_vec()));
    let _ = uri.set_module_path(base.module_path().map(Into::into));
    let _ = uri.set_module_name(base.module_name());
    let _ = uri.set_pin_source(base.pin_source_text());
    uri
}

/// What one key object holds.
#[derive(Default)]
pub(crate) struct ObjectFacts {
    pub(crate) key_type: Option<KeyType>,
    pub(crate) label: Option<String>,
    pub(crate) id: Vec<u8>,
    pub(crate) ec_params: Option<Vec<u8>>,
    pub(crate) ec_point: Option<Vec<u8>>,
    pub(crate) public_key_info: Option<Vec<u8>>,
}

pub(crate) fn read_facts(
    session: &Session,
    handle: ObjectHandle,
    token: &TokenName,
) -> Result<ObjectFacts, Error> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::Label,
                AttributeType::Id,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::PublicKeyInfo,
            ],
        )
        .map_err(|e| Error::device("C_GetAttributeValue", Some(token), e))?;
    let mut facts = ObjectFacts::default();
    for attr in attrs {
        match attr {
            Attribute::KeyType(t) => facts.key_type = Some(t),
            Attribute::Label(l) => facts.label = Some(String::from_utf8_lossy(&l).into_owned()),
            Attribute::Id(id) => facts.id = id,
            Attribute::EcParams(p) => facts.ec_params = Some(p),
            Attribute::EcPoint(p) => facts.ec_point = Some(p),
            Attribute::PublicKeyInfo(p) if !p.is_empty() => facts.public_key_info = Some(p),
            _ => {}
        }
    }
    Ok(facts)
}

fn is_ed25519(facts: &ObjectFacts) -> bool {
    facts.key_type == Some(KeyType::EC_EDWARDS)
        && facts
            .ec_params
            .as_deref()
            .is_none_or(|p| decode_ec_params(p).is_ok())
}

/// An Ed25519 private key found on a token, with its public key.
pub(crate) struct FoundKey {
    pub(crate) handle: ObjectHandle,
    pub(crate) label: Option<String>,
    pub(crate) id: Vec<u8>,
    pub(crate) verifying_key: VerifyingKey,
    pub(crate) uri: Pkcs11Uri,
}

fn search_template(class: ObjectClass, uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = uri.object() {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = uri.id() {
        template.push(Attribute::Id(id.to_vec()));
    }
    template
}

fn find(
    session: &Session,
    template: &[Attribute],
    token: &TokenName,
) -> Result<Vec<ObjectHandle>, Error> {
    session
        .find_objects(template)
        .map_err(|e| Error::device("C_FindObjects", Some(token), e))
}

/// URIs of every Ed25519 private key on the token (the session must be logged in).
pub(crate) fn ed25519_key_uris(
    session: &Session,
    base: &Pkcs11Uri,
    token: &TokenName,
) -> Result<Vec<String>, Error> {
    let mut uris = Vec::new();
    for handle in find(
        session,
        &[Attribute::Class(ObjectClass::PRIVATE_KEY)],
        token,
    )? {
        let facts = read_facts(session, handle, token)?;
        if is_ed25519(&facts) {
            uris.push(key_uri(base, token, facts.label.as_deref(), &facts.id).to_string());
        }
    }
    Ok(uris)
}

/// Finds exactly one Ed25519 private key matching the URI's `object`, `id` and `type`.
pub(crate) fn find_signing_key(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &SelectedToken,
) -> Result<FoundKey, Error> {
    let name = &token.name;
    match uri.object_type() {
        None | Some(ObjectType::Private) => {}
        Some(other) => {
            return Err(Error::UnusableUri {
                uri: uri.to_string(),
                reason: format!(
                    "type={other} cannot sign; name the private key (type=private, or leave type out)"
                ),
            });
        }
    }
    if let Some((name, _)) = uri.vendor_path_attributes().first() {
        return Err(Error::UnusableUri {
            uri: uri.to_string(),
            reason: format!(
                "path attribute {name}= is not one Hallmark understands, so it cannot tell which \
                 key it selects; remove it"
            ),
        });
    }
    let mut ed25519 = Vec::new();
    let mut other_type = None;
    for handle in find(
        session,
        &search_template(ObjectClass::PRIVATE_KEY, uri),
        name,
    )? {
        let facts = read_facts(session, handle, name)?;
        if is_ed25519(&facts) {
            ed25519.push((handle, facts));
        } else {
            let key_type = match (&facts.key_type, facts.ec_params.as_deref()) {
                (Some(t), Some(p)) if *t == KeyType::EC_EDWARDS => decode_ec_params(p)
                    .err()
                    .map_or_else(|| t.to_string(), |e| e.to_string()),
                (Some(t), _) => t.to_string(),
                (None, _) => "unknown".to_owned(),
            };
            other_type.get_or_insert(key_type);
        }
    }
    match ed25519.len() {
        0 => match other_type {
            Some(key_type) => Err(Error::NotEd25519 {
                uri: uri.without_pin_value().to_string(),
                token: name.clone(),
                key_type,
            }),
            None => Err(Error::KeyNotFound {
                uri: uri.without_pin_value().to_string(),
                token: name.clone(),
                available: ed25519_key_uris(session, uri, name)?,
            }),
        },
        1 => {
            let (handle, facts) = ed25519.remove(0);
            let key_uri = key_uri(uri, name, facts.label.as_deref(), &facts.id);
            let verifying_key = public_key_of(session, &facts, &key_uri, name)?;
            Ok(FoundKey {
                handle,
                label: facts.label,
                id: facts.id,
                verifying_key,
                uri: key_uri,
            })
        }
        _ => Err(Error::SeveralKeys {
            uri: uri.without_pin_value().to_string(),
            token: name.clone(),
            matching: ed25519
                .iter()
                .map(|(_, f)| key_uri(uri, name, f.label.as_deref(), &f.id).to_string())
                .collect(),
        }),
    }
}

/// The public key of a private key: from the public key object with the same `CKA_ID` (and
/// label), else from the private key's `CKA_PUBLIC_KEY_INFO`.
fn public_key_of(
    session: &Session,
    private: &ObjectFacts,
    key_uri: &Pkcs11Uri,
    token: &TokenName,
) -> Result<VerifyingKey, Error> {
    let bad = |reason: String| Error::BadPublicKey {
        uri: key_uri.to_string(),
        token: token.clone(),
        reason,
    };
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::Id(private.id.clone()),
    ];
    if let Some(label) = &private.label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    let mut handles = find(session, &template, token)?;
    if handles.is_empty() && private.label.is_some() {
        // The public key of a generation killed before it was labelled keeps the pending
        // label; the shared CKA_ID still pairs it.
        template.pop();
        handles = find(session, &template, token)?;
    }
    let mut keys = Vec::new();
    for handle in handles {
        let facts = read_facts(session, handle, token)?;
        let (Some(params), Some(point)) = (facts.ec_params.as_deref(), facts.ec_point.as_deref())
        else {
            return Err(bad(
                "the public key object has no readable CKA_EC_POINT".to_owned()
            ));
        };
        let key = decode_public_key(params, point).map_err(|e| bad(e.to_string()))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => match &private.public_key_info {
            Some(spki) => decode_spki(spki).map_err(|e| bad(e.to_string())),
            None => Err(bad(format!(
                "no Ed25519 public key object with CKA_ID {} beside the private key, and the \
                 private key has no CKA_PUBLIC_KEY_INFO",
                hex(&private.id)
            ))),
        },
        n => Err(bad(format!(
            "{n} different public key objects share CKA_ID {}; the token's objects are \
             inconsistent",
            hex(&private.id)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 section 7.1, TEST 1 public key.
    const PK: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn both_ec_params_encodings_name_ed25519() {
        assert_eq!(EC_PARAMS_ED25519_OID, &unhex("06032b6570")[..]);
        assert_eq!(
            EC_PARAMS_ED25519_NAME,
            &unhex("130c656477617264733235353139")[..]
        );
        decode_ec_params(EC_PARAMS_ED25519_OID).unwrap();
        decode_ec_params(EC_PARAMS_ED25519_NAME).unwrap();
        assert_eq!(
            decode_ec_params(&unhex("06032b6571")).unwrap_err(),
            KeyDecodeError::Ed448
        );
        assert_eq!(
            decode_ec_params(b"\x13\x0aedwards448").unwrap_err(),
            KeyDecodeError::Ed448
        );
        // prime256v1
        assert_eq!(
            decode_ec_params(&unhex("06082a8648ce3d030107"))
                .unwrap_err()
                .to_string(),
            "CKA_EC_PARAMS 06082a8648ce3d030107 does not name Ed25519"
        );
    }

    #[test]
    fn both_ec_point_forms_give_the_same_key() {
        let raw = unhex(PK);
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&raw);
        assert_eq!(decode_ec_point(&raw).unwrap().to_vec(), raw);
        assert_eq!(decode_ec_point(&wrapped).unwrap().to_vec(), raw);
        let from_oid = decode_public_key(EC_PARAMS_ED25519_OID, &wrapped).unwrap();
        let from_name = decode_public_key(EC_PARAMS_ED25519_NAME, &raw).unwrap();
        assert_eq!(from_oid, from_name);
        assert_eq!(from_oid.as_bytes().to_vec(), raw);
    }

    #[test]
    fn malformed_points_are_refused() {
        let raw = unhex(PK);
        for bad in [
            &raw[..31],
            &[&[0x04, 0x21][..], &raw[..]].concat(),
            &[&[0x03, 0x20][..], &raw[..]].concat(),
            &[],
        ] {
            let err = decode_ec_point(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{} bytes", bad.len())), "{err}");
        }
        // A small-order point (the identity) decodes but is refused as weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = decode_public_key(EC_PARAMS_ED25519_OID, &identity)
            .unwrap_err()
            .to_string();
        assert!(err.contains("small-order"), "{err}");
    }

    #[test]
    fn spki_fallback_decodes_rfc8410() {
        let spki = unhex(&format!("302a300506032b6570032100{PK}"));
        assert_eq!(decode_spki(&spki).unwrap().as_bytes().to_vec(), unhex(PK));
        assert!(decode_spki(&spki[..40]).is_err());
    }
}
