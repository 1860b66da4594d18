//! Listing a module's slots, tokens and Ed25519 keys.

use std::path::PathBuf;

use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;
use ed25519_dalek::VerifyingKey;

use super::error::Error;
use super::generate::PENDING_LABEL_PREFIX;
use super::keys;
use super::module::Module;
use super::token::{self, LoginOptions, SelectedToken, TokenFlags};
use super::uri::{PathAttr, Pkcs11Uri};
use crate::hex;
use crate::interact::Interaction;

/// One slot of a module, with its token if one is present.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotReport {
    /// The module file.
    pub module: PathBuf,
    /// The slot id.
    pub slot_id: u64,
    /// The slot description.
    pub description: String,
    /// The slot manufacturer.
    pub manufacturer: String,
    /// The token in the slot, if any.
    pub token: Option<TokenReport>,
}

/// A token and the Ed25519 keys on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenReport {
    /// The token label.
    pub label: String,
    /// The token manufacturer.
    pub manufacturer: String,
    /// The token model.
    pub model: String,
    /// The token serial number.
    pub serial: String,
    /// The token's flags (initialised, login required, PIN retry state...).
    pub flags: TokenFlags,
    /// Whether the token offers Ed25519 (`CKM_EC_EDWARDS_KEY_PAIR_GEN` and `CKM_EDDSA`).
    pub ed25519: bool,
    /// Whether Hallmark logged in to list the keys (it does when the URI gives a PIN source);
    /// without a login, keys whose public half is a private object are not visible.
    pub logged_in: bool,
    /// The Ed25519 keys found.
    pub keys: Vec<KeyReport>,
    /// Why keys could not be listed, if they could not.
    pub keys_error: Option<String>,
}

/// An Ed25519 key on a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyReport {
    /// The key's label (`CKA_LABEL`).
    pub label: Option<String>,
    /// The key's `CKA_ID`.
    pub id: Vec<u8>,
    /// The public key, if it could be read and decoded.
    pub verifying_key: Option<VerifyingKey>,
    /// Why the public key could not be read, if it could not.
    pub problem: Option<String>,
    /// Whether a matching private key was seen (`None` when not logged in: private keys are
    /// then invisible).
    pub has_private_key: Option<bool>,
    /// The URI naming the key, ready to copy (never with a PIN).
    pub uri: String,
    /// Why this is not a usable key but the remains of an interrupted `key generate`, if it
    /// is: objects under the pending label, or (seen when logged in) a public key without its
    /// private key. [`remove_orphans`] removes (or finishes) them.
    pub orphan: Option<String>,
}

impl KeyReport {
    /// The `CKA_ID` in lowercase hex.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }
}

/// Lists every slot of the module the URI names, the token in each, and the Ed25519 keys on
/// it. Token path attributes in the URI (`token=`, `serial=`...) narrow the list. Hallmark logs
/// in (to see private keys too) only when the URI gives `pin-source` or `pin-value`.
pub fn list(uri: &Pkcs11Uri, ui: &dyn Interaction) -> Result<Vec<SlotReport>, Error> {
    let module = Module::for_uri(uri)?;
    let ctx = module.context();
    let slots = ctx
        .get_all_slots()
        .map_err(|e| Error::device("C_GetSlotList", None, e))?;
    let login = uri.pin_source_text().is_some() || uri.pin_value().is_some();
    let mut reports = Vec::new();
    for slot in slots {
        let info = ctx
            .get_slot_info(slot)
            .map_err(|e| Error::device("C_GetSlotInfo", None, e))?;
        let mut report = SlotReport {
            module: module.path().to_owned(),
            slot_id: slot.id(),
            description: info.slot_description().to_owned(),
            manufacturer: info.manufacturer_id().to_owned(),
            token: None,
        };
        let token_info = if info.token_present() {
            ctx.get_token_info(slot).ok()
        } else {
            None
        };
        if let Some(ti) = token_info {
            let wanted = |attr, value: &str| uri.path_attr(attr).is_none_or(|w| w == value);
            if !(wanted(PathAttr::Token, ti.label())
                && wanted(PathAttr::Serial, ti.serial_number())
                && wanted(PathAttr::Model, ti.model())
                && wanted(PathAttr::Manufacturer, ti.manufacturer_id())
                && uri.slot_id().is_none_or(|id| id == slot.id()))
            {
                continue;
            }
            let selected = SelectedToken::new(slot, &ti);
            let mechanisms = ctx.get_mechanism_list(slot).unwrap_or_default();
            let mut token = TokenReport {
                label: selected.name.label.clone(),
                manufacturer: selected.manufacturer.clone(),
                model: selected.model.clone(),
                serial: selected.name.serial.clone(),
                flags: TokenFlags::from_info(&ti),
                ed25519: mechanisms.contains(&MechanismType::ECC_EDWARDS_KEY_PAIR_GEN)
                    && mechanisms.contains(&MechanismType::EDDSA),
                logged_in: false,
                keys: Vec::new(),
                keys_error: None,
            };
            if token.flags.initialized {
                match list_keys(&module, &selected, uri, login, ui) {
                    Ok((keys, logged_in)) => {
                        token.keys = keys;
                        token.logged_in = logged_in;
                    }
                    // A login the user asked for and that failed is an error, not a footnote.
                    Err(
                        err @ (Error::WrongPin { .. }
                        | Error::PinLocked { .. }
                        | Error::PinFinalTry { .. }
                        | Error::PinShape { .. }
                        | Error::Pin(_)),
                    ) => {
                        return Err(err);
                    }
                    Err(err) => token.keys_error = Some(err.to_string()),
                }
            }
            report.token = Some(token);
        } else if uri.token().is_some() || uri.serial().is_some() {
            continue;
        }
        reports.push(report);
    }
    Ok(reports)
}

fn list_keys(
    module: &Module,
    token: &SelectedToken,
    uri: &Pkcs11Uri,
    login: bool,
    ui: &dyn Interaction,
) -> Result<(Vec<KeyReport>, bool), Error> {
    let session = module
        .context()
        .open_ro_session(token.slot)
        .map_err(|e| Error::device("C_OpenSession", Some(&token.name), e))?;
    if login {
        let mut pin = None;
        token::login(
            module,
            &session,
            token,
            uri,
            &LoginOptions::default(),
            ui,
            &mut pin,
        )?;
    }
    let mut keys: Vec<KeyReport> = Vec::new();
    for handle in objects(&session, ObjectClass::PUBLIC_KEY, token)? {
        let facts = keys::read_facts(&session, handle, &token.name)?;
        let (verifying_key, problem) = match (facts.ec_params.as_deref(), facts.ec_point.as_deref())
        {
            (Some(params), Some(point)) => match keys::decode_public_key(params, point) {
                Ok(key) => (Some(key), None),
                Err(keys::KeyDecodeError::Ed448) => continue,
                Err(reason) => (None, Some(reason.to_string())),
            },
            _ => (None, Some("CKA_EC_POINT is not readable".to_owned())),
        };
        keys.push(KeyReport {
            uri: keys::key_uri(uri, &token.name, facts.label.as_deref(), &facts.id).to_string(),
            orphan: pending(facts.label.as_deref()),
            label: facts.label,
            id: facts.id,
            verifying_key,
            problem,
            has_private_key: login.then_some(false),
        });
    }
    if login {
        for handle in objects(&session, ObjectClass::PRIVATE_KEY, token)? {
            let facts = keys::read_facts(&session, handle, &token.name)?;
            if facts
                .ec_params
                .as_deref()
                .is_some_and(|p| keys::decode_ec_params(p).is_err())
            {
                continue;
            }
            match keys
                .iter_mut()
                .find(|k| k.id == facts.id && k.label == facts.label)
            {
                Some(known) => known.has_private_key = Some(true),
                None => {
                    // A generation killed between labelling the private key and the public
                    // key leaves the public key under the pending label: the pair is whole.
                    let pending_public = keys
                        .iter()
                        .find(|k| {
                            k.id == facts.id
                                && pending(k.label.as_deref()).is_some()
                                && pending(facts.label.as_deref()).is_none()
                        })
                        .and_then(|k| k.verifying_key);
                    keys.push(KeyReport {
                        uri: keys::key_uri(uri, &token.name, facts.label.as_deref(), &facts.id)
                            .to_string(),
                        orphan: pending(facts.label.as_deref()),
                        label: facts.label,
                        id: facts.id,
                        verifying_key: pending_public,
                        problem: pending_public
                            .is_none()
                            .then(|| "no public key object beside the private key".to_owned()),
                        has_private_key: Some(true),
                    });
                }
            }
        }
    }
    if login {
        for key in &mut keys {
            if key.orphan.is_none() && key.has_private_key == Some(false) {
                key.orphan = Some(
                    "a public key without its private key (an interrupted key generation)"
                        .to_owned(),
                );
            }
        }
    }
    Ok((keys, login))
}

/// Why an object under this label is an orphan, if the label is a pending one.
fn pending(label: Option<&str>) -> Option<String> {
    label
        .is_some_and(|l| l.starts_with(PENDING_LABEL_PREFIX))
        .then(|| "left under its pending label by an interrupted key generation".to_owned())
}

/// What [`remove_orphans`] did to one orphan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrphanAction {
    /// The object was destroyed.
    Removed {
        /// The object's URI (before removal).
        uri: String,
        /// Why it was an orphan.
        reason: String,
    },
    /// A public key left under the pending label beside its labelled private key got the
    /// private key's label: the generation is finished.
    Finished {
        /// The key's URI.
        uri: String,
    },
}

/// Removes the remains of interrupted key generations on the tokens the URI names (which must
/// give a PIN source: private keys are only visible, and objects only removable, when logged
/// in): a pair under the pending label is destroyed; a public key under the pending label whose
/// private key already has its label gets that label (the generation had finished everything
/// but that); a public Ed25519 key without any private key of its `CKA_ID` is destroyed.
pub fn remove_orphans(uri: &Pkcs11Uri, ui: &dyn Interaction) -> Result<Vec<OrphanAction>, Error> {
    let module = Module::for_uri(uri)?;
    let token = token::select_token(&module, uri)?;
    let session = module
        .context()
        .open_rw_session(token.slot)
        .map_err(|e| Error::device("C_OpenSession", Some(&token.name), e))?;
    let mut pin = None;
    token::login(
        &module,
        &session,
        &token,
        uri,
        &LoginOptions::default(),
        ui,
        &mut pin,
    )?;
    drop(pin);
    let device = |f, e| Error::device(f, Some(&token.name), e);
    let privates: Vec<(cryptoki::object::ObjectHandle, keys::ObjectFacts)> =
        objects(&session, ObjectClass::PRIVATE_KEY, &token)?
            .into_iter()
            .map(|h| keys::read_facts(&session, h, &token.name).map(|f| (h, f)))
            .collect::<Result<_, _>>()?;
    let mut actions = Vec::new();
    for (handle, facts) in &privates {
        if pending(facts.label.as_deref()).is_some() {
            let uri = keys::key_uri(uri, &token.name, facts.label.as_deref(), &facts.id);
            session
                .destroy_object(*handle)
                .map_err(|e| device("C_DestroyObject", e))?;
            actions.push(OrphanAction::Removed {
                uri: uri.to_string(),
                reason: "a private key under its pending label".to_owned(),
            });
        }
    }
    let publics: Vec<(cryptoki::object::ObjectHandle, keys::ObjectFacts)> =
        objects(&session, ObjectClass::PUBLIC_KEY, &token)?
            .into_iter()
            .map(|h| keys::read_facts(&session, h, &token.name).map(|f| (h, f)))
            .collect::<Result<_, _>>()?;
    for (handle, facts) in publics.iter().map(|(h, f)| (*h, f)) {
        let labelled_private = privates.iter().find(|(_, p)| {
            p.id == facts.id && pending(p.label.as_deref()).is_none() && p.label.is_some()
        });
        let object_uri = keys::key_uri(uri, &token.name, facts.label.as_deref(), &facts.id);
        match (pending(facts.label.as_deref()), labelled_private) {
            (Some(_), Some((_, private))) => {
                let label = private.label.clone().unwrap_or_default();
                // Killed after copying the public key under its label: only the pending copy
                // is left to remove.
                let copied = publics
                    .iter()
                    .any(|(_, p)| p.id == facts.id && p.label.as_deref() == Some(label.as_str()));
                if copied {
                    session
                        .destroy_object(handle)
                        .map_err(|e| device("C_DestroyObject", e))?;
                } else {
                    super::generate::relabel_public(&session, &token.name, handle, &label)?;
                }
                actions.push(OrphanAction::Finished {
                    uri: keys::key_uri(uri, &token.name, Some(&label), &facts.id).to_string(),
                });
            }
            (Some(reason), None) => {
                session
                    .destroy_object(handle)
                    .map_err(|e| device("C_DestroyObject", e))?;
                actions.push(OrphanAction::Removed {
                    uri: object_uri.to_string(),
                    reason,
                });
            }
            (None, _) if !privates.iter().any(|(_, p)| p.id == facts.id) => {
                session
                    .destroy_object(handle)
                    .map_err(|e| device("C_DestroyObject", e))?;
                actions.push(OrphanAction::Removed {
                    uri: object_uri.to_string(),
                    reason: "a public key without its private key".to_owned(),
                });
            }
            (None, _) => {}
        }
    }
    Ok(actions)
}

fn objects(
    session: &Session,
    class: ObjectClass,
    token: &SelectedToken,
) -> Result<Vec<cryptoki::object::ObjectHandle>, Error> {
    session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
        ])
        .map_err(|e| Error::device("C_FindObjects", Some(&token.name), e))
}
