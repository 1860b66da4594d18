//! Generating Ed25519 key pairs inside a token.

use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use ed25519_dalek::VerifyingKey;

use super::error::Error;
use super::keys::{self, EC_PARAMS_ED25519_NAME, EC_PARAMS_ED25519_OID};
use super::module::Module;
use super::token::{self, LoginOptions, SelectedToken};
use super::uri::{ObjectType, Pkcs11Uri};
use crate::interact::Interaction;

/// Length of the random `CKA_ID` given to new keys, in bytes.
pub const KEY_ID_LEN: usize = 16;

/// The label prefix of a key pair being generated: both objects carry
/// `hallmark-pending-<id hex>` until the pair is checked, then the private key and then the
/// public key get the label asked for. A pair (or a public key) still so labelled was left by
/// an interrupted generation; `hallmark key list` reports it and `--remove-orphans` removes it.
pub const PENDING_LABEL_PREFIX: &str = "hallmark-pending-";

/// A key pair made by [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedKey {
    /// The new public key.
    pub verifying_key: VerifyingKey,
    /// The URI naming the new key (token label and serial, object label, id, and the module
    /// and PIN source of the request); never carries a PIN.
    pub uri: Pkcs11Uri,
}

/// Checks that a token offers the mechanisms Ed25519 needs.
pub(crate) fn require_mechanisms(
    module: &Module,
    token: &SelectedToken,
    wanted: &[(MechanismType, &'static str)],
) -> Result<(), Error> {
    let available = module
        .context()
        .get_mechanism_list(token.slot)
        .map_err(|e| Error::device("C_GetMechanismList", Some(&token.name), e))?;
    for (mechanism, name) in wanted {
        if !available.contains(mechanism) {
            return Err(Error::MechanismNotSupported {
                token: token.name.clone(),
                model: token.model.clone(),
                mechanism: name,
            });
        }
    }
    Ok(())
}

/// Generates an Ed25519 key pair in the token a URI names, with default [`LoginOptions`].
///
/// The URI must give the new key's label (`object=`); `id=` is used when given, otherwise a
/// random 16-byte `CKA_ID` is shared by both objects. Both objects are token objects; the
/// private key is `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, and may only sign. Generation is
/// refused when any object with that label (or that id) already exists.
pub fn generate(uri: &Pkcs11Uri, ui: &dyn Interaction) -> Result<GeneratedKey, Error> {
    generate_with(uri, &LoginOptions::default(), ui)
}

/// [`generate`] with explicit [`LoginOptions`].
pub fn generate_with(
    uri: &Pkcs11Uri,
    options: &LoginOptions,
    ui: &dyn Interaction,
) -> Result<GeneratedKey, Error> {
    make_key(uri, options, ui, None)
}

/// Imports an existing Ed25519 key (its 32-byte seed, RFC 8032) into the token a URI names,
/// as [`generate_with`] generates one: the URI gives the label; the private key is a token
/// object created `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, sign-only, so that its value can
/// never be read back; the public key object beside it shares its `CKA_ID`; one signature
/// checks the pair before it gets its label. The seed's copy in the template is zeroized.
pub fn import_with(
    uri: &Pkcs11Uri,
    seed: &zeroize::Zeroizing<[u8; 32]>,
    options: &LoginOptions,
    ui: &dyn Interaction,
) -> Result<GeneratedKey, Error> {
    make_key(uri, options, ui, Some(seed))
}

fn make_key(
    uri: &Pkcs11Uri,
    options: &LoginOptions,
    ui: &dyn Interaction,
    seed: Option<&zeroize::Zeroizing<[u8; 32]>>,
) -> Result<GeneratedKey, Error> {
    let unusable = |reason: &str| Error::UnusableUri {
        uri: uri.without_pin_value().to_string(),
        reason: reason.to_owned(),
    };
    let label = match uri.object() {
        Some(label) if !label.is_empty() => label,
        _ => return Err(unusable("add object=LABEL to name the new key")),
    };
    if !matches!(uri.object_type(), None | Some(ObjectType::Private)) {
        return Err(unusable(
            "a new key pair is named by its private key: use type=private or leave type out",
        ));
    }
    if uri.id().is_some_and(<[u8]>::is_empty) {
        return Err(unusable("id= is empty; leave it out to get a random id"));
    }
    let module = Module::for_uri(uri)?;
    let token = token::select_token(&module, uri)?;
    let mechanisms: &[(MechanismType, &'static str)] = match seed {
        None => &[
            (
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            ),
            (MechanismType::EDDSA, "CKM_EDDSA"),
        ],
        Some(_) => &[(MechanismType::EDDSA, "CKM_EDDSA")],
    };
    require_mechanisms(&module, &token, mechanisms)?;
    let session = module
        .context()
        .open_rw_session(token.slot)
        .map_err(|e| Error::device("C_OpenSession", Some(&token.name), e))?;
    let mut pin = None;
    token::login(&module, &session, &token, uri, options, ui, &mut pin)?;
    drop(pin);

    let find = |template: &[Attribute]| {
        session
            .find_objects(template)
            .map_err(|e| Error::device("C_FindObjects", Some(&token.name), e))
    };
    if let Some(&existing) = find(&[Attribute::Label(label.as_bytes().to_vec())])?.first() {
        let facts = keys::read_facts(&session, existing, &token.name)?;
        return Err(Error::LabelTaken {
            token: token.name.clone(),
            label: label.to_owned(),
            existing: keys::key_uri(uri, &token.name, Some(label), &facts.id).to_string(),
        });
    }
    let id = match uri.id() {
        Some(id) => {
            if !find(&[Attribute::Id(id.to_vec())])?.is_empty() {
                return Err(unusable(
                    "objects with this id= already exist on the token; leave id= out to get a random one",
                ));
            }
            id.to_vec()
        }
        None => {
            let mut id = vec![0u8; KEY_ID_LEN];
            getrandom::fill(&mut id).map_err(|e| Error::Random {
                reason: e.to_string(),
            })?;
            id
        }
    };

    // Generated under a pending label, so that a process killed meanwhile leaves no object
    // under the label asked for; named once the pair is known to work.
    let pending = format!("{PENDING_LABEL_PREFIX}{}", crate::hex(&id));
    let (public, private) = match seed {
        None => generate_pair(&session, &token, &pending, &id)?,
        Some(seed) => create_pair(&session, &token, &pending, &id, seed)?,
    };
    let key_uri = keys::key_uri(uri, &token.name, Some(label), &id);
    let finished = finish(&session, &token, public, private, &key_uri)
        .and_then(|key| name_pair(&session, &token, public, private, label).map(|()| key));
    match finished {
        Ok(verifying_key) => Ok(GeneratedKey {
            verifying_key,
            uri: key_uri,
        }),
        Err(err) => {
            // Leave no half-made key behind.
            let _ = session.destroy_object(private);
            let _ = session.destroy_object(public);
            Err(err)
        }
    }
}

/// Gives a checked pair its label. SoftHSM2 rewrites an object's file in place when an
/// attribute changes (truncate, then write), so a kill during `C_SetAttributeValue` can lose
/// the object: only the private key is relabelled; the public key is copied to a new object
/// under the label, and the pending one destroyed. A kill at any point leaves either nothing
/// under the label, or the private key under it (with its public key under the pending label or
/// the final one): never a public key without its private key. `key list --remove-orphans`
/// finishes or removes what is left.
fn name_pair(
    session: &Session,
    token: &SelectedToken,
    public: ObjectHandle,
    private: ObjectHandle,
    label: &str,
) -> Result<(), Error> {
    session
        .update_attributes(private, &[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| Error::device("C_SetAttributeValue", Some(&token.name), e))?;
    relabel_public(session, &token.name, public, label)
}

/// Replaces a public key object by a copy under `label` (see [`name_pair`] for why not
/// `C_SetAttributeValue`).
pub(crate) fn relabel_public(
    session: &Session,
    token: &super::error::TokenName,
    public: ObjectHandle,
    label: &str,
) -> Result<(), Error> {
    let facts = keys::read_facts(session, public, token)?;
    let (Some(params), Some(point)) = (facts.ec_params, facts.ec_point) else {
        return Err(Error::device(
            "C_GetAttributeValue",
            Some(token),
            cryptoki::error::Error::NotSupported,
        ));
    };
    create_public(session, params, point, label, facts.id)
        .map_err(|e| Error::device("C_CreateObject", Some(token), e))?;
    session
        .destroy_object(public)
        .map_err(|e| Error::device("C_DestroyObject", Some(token), e))
}

/// Creates a token public key object for an Ed25519 key.
fn create_public(
    session: &Session,
    params: Vec<u8>,
    point: Vec<u8>,
    label: &str,
    id: Vec<u8>,
) -> cryptoki::error::Result<ObjectHandle> {
    session.create_object(&[
        Attribute::Class(cryptoki::object::ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::EC_EDWARDS),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(params),
        Attribute::EcPoint(point),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id),
    ])
}

/// What every private key Hallmark puts in a token is: a token object, private, sensitive,
/// never extractable, for signing only.
fn private_attributes(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

fn generate_pair(
    session: &Session,
    token: &SelectedToken,
    label: &str,
    id: &[u8],
) -> Result<(ObjectHandle, ObjectHandle), Error> {
    let private_template = private_attributes(label, id);
    let mut last = None;
    // PKCS#11 3.1 prefers the OID; older tokens know only the curve name.
    for params in [EC_PARAMS_ED25519_OID, EC_PARAMS_ED25519_NAME] {
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        match session.generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &public_template,
            &private_template,
        ) {
            Ok(pair) => return Ok(pair),
            Err(cryptoki::error::Error::Pkcs11(
                rv @ (RvError::CurveNotSupported
                | RvError::DomainParamsInvalid
                | RvError::AttributeValueInvalid
                | RvError::TemplateInconsistent),
                f,
            )) => last = Some(cryptoki::error::Error::Pkcs11(rv, f)),
            Err(cryptoki::error::Error::Pkcs11(RvError::MechanismInvalid, _)) => {
                return Err(Error::MechanismNotSupported {
                    token: token.name.clone(),
                    model: token.model.clone(),
                    mechanism: "CKM_EC_EDWARDS_KEY_PAIR_GEN",
                });
            }
            Err(other) => return Err(Error::device("C_GenerateKeyPair", Some(&token.name), other)),
        }
    }
    Err(Error::device(
        "C_GenerateKeyPair",
        Some(&token.name),
        last.unwrap_or(cryptoki::error::Error::NotSupported),
    ))
}

/// Creates the two objects of an imported key. The private key's template holds the seed;
/// it is zeroized once the token has its copy.
fn create_pair(
    session: &Session,
    token: &SelectedToken,
    label: &str,
    id: &[u8],
    seed: &zeroize::Zeroizing<[u8; 32]>,
) -> Result<(ObjectHandle, ObjectHandle), Error> {
    use cryptoki::object::{KeyType, ObjectClass};
    use zeroize::Zeroize as _;
    let verifying_key = ed25519_dalek::SigningKey::from_bytes(seed).verifying_key();
    let mut last = None;
    for params in [EC_PARAMS_ED25519_OID, EC_PARAMS_ED25519_NAME] {
        let mut private_template = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::EcParams(params.to_vec()),
        ];
        private_template.extend(private_attributes(label, id));
        private_template.push(Attribute::Value(seed.to_vec()));
        let created = session.create_object(&private_template);
        for attribute in &mut private_template {
            if let Attribute::Value(value) = attribute {
                value.zeroize();
            }
        }
        let private = match created {
            Ok(handle) => handle,
            Err(cryptoki::error::Error::Pkcs11(
                rv @ (RvError::CurveNotSupported
                | RvError::DomainParamsInvalid
                | RvError::AttributeValueInvalid
                | RvError::TemplateInconsistent),
                f,
            )) => {
                last = Some(cryptoki::error::Error::Pkcs11(rv, f));
                continue;
            }
            Err(other) => return Err(Error::device("C_CreateObject", Some(&token.name), other)),
        };
        // CKA_EC_POINT as DER OCTET STRING, as tokens return it.
        let mut point = vec![0x04, 0x20];
        point.extend_from_slice(verifying_key.as_bytes());
        let public = create_public(session, params.to_vec(), point, label, id.to_vec());
        return match public {
            Ok(public) => Ok((public, private)),
            Err(e) => {
                let _ = session.destroy_object(private);
                Err(Error::device("C_CreateObject", Some(&token.name), e))
            }
        };
    }
    Err(Error::device(
        "C_CreateObject",
        Some(&token.name),
        last.unwrap_or(cryptoki::error::Error::NotSupported),
    ))
}

/// Reads the new public key and checks with one signature that the pair works.
fn finish(
    session: &Session,
    token: &SelectedToken,
    public: ObjectHandle,
    private: ObjectHandle,
    key_uri: &Pkcs11Uri,
) -> Result<VerifyingKey, Error> {
    let facts = keys::read_facts(session, public, &token.name)?;
    let bad = |reason: String| Error::BadPublicKey {
        uri: key_uri.to_string(),
        token: token.name.clone(),
        reason,
    };
    let (Some(params), Some(point)) = (facts.ec_params.as_deref(), facts.ec_point.as_deref())
    else {
        return Err(bad(
            "the new public key has no readable CKA_EC_POINT".to_owned()
        ));
    };
    let verifying_key = keys::decode_public_key(params, point).map_err(|e| bad(e.to_string()))?;
    let message = b"hallmark pkcs11 key-generation check v1\0";
    let mechanism = Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
        cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
    ));
    let signature = session
        .sign(&mechanism, private, message)
        .map_err(|e| Error::device("C_Sign", Some(&token.name), e))?;
    let ok = <[u8; 64]>::try_from(signature.as_slice()).is_ok_and(|bytes| {
        verifying_key
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
            .is_ok()
    });
    if !ok {
        return Err(Error::KeyPairMismatch {
            uri: key_uri.to_string(),
            token: token.name.clone(),
        });
    }
    // Hallmark asked for a sensitive, non-extractable key; make sure the token agrees.
    let attrs = session
        .get_attributes(
            private,
            &[
                cryptoki::object::AttributeType::Sensitive,
                cryptoki::object::AttributeType::Extractable,
            ],
        )
        .map_err(|e| Error::device("C_GetAttributeValue", Some(&token.name), e))?;
    for attr in attrs {
        let refused = match attr {
            Attribute::Sensitive(false) => Some("CKA_SENSITIVE is false"),
            Attribute::Extractable(true) => Some("CKA_EXTRACTABLE is true"),
            _ => None,
        };
        if let Some(what) = refused {
            return Err(bad(format!("the token ignored the key template: {what}")));
        }
    }
    Ok(verifying_key)
}
