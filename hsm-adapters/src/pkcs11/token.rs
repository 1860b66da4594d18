//! Choosing a token by URI, describing it, and logging in without wasting PIN tries.

use cryptoki::error::RvError;
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::error::{Error, PinRetryState, TokenName};
use super::module::Module;
use super::uri::{PathAttr, Pkcs11Uri};
use crate::interact::Interaction;
use crate::secret::{Secret, SecretSource};

/// How to log in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Send the PIN even when the token reports `CKF_USER_PIN_FINAL_TRY` (one wrong PIN away
    /// from locking). Off by default: Hallmark then refuses before sending anything.
    pub allow_final_pin_try: bool,
}

impl LoginOptions {
    /// The defaults: never use the final PIN try.
    pub fn new() -> Self {
        LoginOptions::default()
    }

    /// Allows sending the PIN when only one try is left.
    pub fn allow_final_pin_try(mut self, allow: bool) -> Self {
        self.allow_final_pin_try = allow;
        self
    }
}

/// A token's flags (`CK_TOKEN_INFO.flags`) that matter to an operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenFlags {
    /// `CKF_TOKEN_INITIALIZED`.
    pub initialized: bool,
    /// `CKF_LOGIN_REQUIRED`.
    pub login_required: bool,
    /// `CKF_USER_PIN_INITIALIZED`.
    pub user_pin_initialized: bool,
    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the PIN is entered on the device (PIN pad).
    pub protected_authentication_path: bool,
    /// `CKF_WRITE_PROTECTED`.
    pub write_protected: bool,
    /// `CKF_USER_PIN_COUNT_LOW`.
    pub user_pin_count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`.
    pub user_pin_final_try: bool,
    /// `CKF_USER_PIN_LOCKED`.
    pub user_pin_locked: bool,
    /// `CKF_USER_PIN_TO_BE_CHANGED`.
    pub user_pin_to_be_changed: bool,
}

impl std::fmt::Display for TokenFlags {
    /// The flags that are set, as words: `initialized, login-required, pin-count-low, …`, or
    /// `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.initialized, "initialized"),
            (self.login_required, "login-required"),
            (self.user_pin_initialized, "user-pin-initialized"),
            (self.protected_authentication_path, "pin-pad"),
            (self.write_protected, "write-protected"),
            (self.user_pin_count_low, "pin-count-low"),
            (self.user_pin_final_try, "pin-final-try"),
            (self.user_pin_locked, "pin-locked"),
            (self.user_pin_to_be_changed, "pin-to-be-changed"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        if set.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&set.join(", "))
        }
    }
}

impl TokenFlags {
    pub(crate) fn from_info(info: &cryptoki::slot::TokenInfo) -> Self {
        TokenFlags {
            initialized: info.token_initialized(),
            login_required: info.login_required(),
            user_pin_initialized: info.user_pin_initialized(),
            protected_authentication_path: info.protected_authentication_path(),
            write_protected: info.write_protected(),
            user_pin_count_low: info.user_pin_count_low(),
            user_pin_final_try: info.user_pin_final_try(),
            user_pin_locked: info.user_pin_locked(),
            user_pin_to_be_changed: info.user_pin_to_be_changed(),
        }
    }

    fn retry_state(self) -> PinRetryState {
        PinRetryState {
            count_low: self.user_pin_count_low,
            final_try: self.user_pin_final_try,
            locked: self.user_pin_locked,
        }
    }
}

/// A token chosen by a URI.
#[derive(Clone, Debug)]
pub(crate) struct SelectedToken {
    pub(crate) slot: Slot,
    pub(crate) name: TokenName,
    pub(crate) model: String,
    pub(crate) manufacturer: String,
    /// `ulMaxSessionCount`, when the token states a limit.
    pub(crate) max_sessions: Option<u64>,
}

impl SelectedToken {
    pub(crate) fn new(slot: Slot, info: &cryptoki::slot::TokenInfo) -> SelectedToken {
        SelectedToken {
            slot,
            name: TokenName {
                label: info.label().to_owned(),
                serial: info.serial_number().to_owned(),
                slot_id: slot.id(),
            },
            model: info.model().to_owned(),
            manufacturer: info.manufacturer_id().to_owned(),
            max_sessions: match info.max_session_count() {
                cryptoki::slot::Limit::Max(n) => Some(n),
                _ => None,
            },
        }
    }
}

fn token_attrs_of(uri: &Pkcs11Uri) -> Pkcs11Uri {
    let mut only = Pkcs11Uri::new();
    for attr in [
        PathAttr::Token,
        PathAttr::Manufacturer,
        PathAttr::Serial,
        PathAttr::Model,
        PathAttr::LibraryManufacturer,
        PathAttr::LibraryDescription,
        PathAttr::LibraryVersion,
        PathAttr::SlotDescription,
        PathAttr::SlotManufacturer,
        PathAttr::SlotId,
    ] {
        if let Some(value) = uri.path_attr(attr) {
            // Values came from a valid URI, so setting them again cannot fail.
            let _ = only.set_path_attr(attr, Some(value));
        }
    }
    only
}

pub(crate) fn describe(name: &TokenName) -> String {
    format!(
        "'{}' (serial {}, slot {})",
        name.label, name.serial, name.slot_id
    )
}

/// Finds the one initialised token matching the URI's token, slot and library attributes.
pub(crate) fn select_token(module: &Module, uri: &Pkcs11Uri) -> Result<SelectedToken, Error> {
    let ctx = module.context();
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| Error::device("C_GetSlotList", None, e))?;
    let mut present = Vec::new();
    let mut matching = Vec::new();
    let library_ok = module.matches(uri);
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        let candidate = SelectedToken::new(slot, &info);
        present.push(describe(&candidate.name));
        let slot_info = ctx.get_slot_info(slot).ok();
        let eq = |attr, value: &str| uri.path_attr(attr).is_none_or(|want| want == value);
        let slot_eq = |attr, value: Option<&str>| {
            uri.path_attr(attr)
                .is_none_or(|want| value.is_some_and(|v| v == want))
        };
        let is_match = library_ok
            && eq(PathAttr::Token, info.label())
            && eq(PathAttr::Manufacturer, info.manufacturer_id())
            && eq(PathAttr::Serial, info.serial_number())
            && eq(PathAttr::Model, info.model())
            && slot_eq(
                PathAttr::SlotDescription,
                slot_info.as_ref().map(|s| s.slot_description()),
            )
            && slot_eq(
                PathAttr::SlotManufacturer,
                slot_info.as_ref().map(|s| s.manufacturer_id()),
            )
            && uri.slot_id().is_none_or(|id| id == slot.id());
        if is_match {
            matching.push(candidate);
        }
    }
    let wanted = token_attrs_of(uri).to_string();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(Error::TokenNotPresent {
            module: module.path().to_owned(),
            wanted,
            present,
        }),
        _ => Err(Error::SeveralTokens {
            module: module.path().to_owned(),
            wanted,
            matching: matching.iter().map(|t| describe(&t.name)).collect(),
        }),
    }
}

pub(crate) fn token_flags(module: &Module, token: &SelectedToken) -> Result<TokenFlags, Error> {
    let info = module
        .context()
        .get_token_info(token.slot)
        .map_err(|e| Error::device("C_GetTokenInfo", Some(&token.name), e))?;
    Ok(TokenFlags::from_info(&info))
}

/// Reads the PIN the URI names (`pin-value` with a warning, `pin-source`, or a prompt).
pub(crate) fn obtain_pin(
    uri: &Pkcs11Uri,
    token: &TokenName,
    ui: &dyn Interaction,
) -> Result<Secret, Error> {
    if let Some(pin) = uri.pin_value() {
        ui.warn(&format!(
            "the key reference for {} carries the PIN itself (pin-value=). Anyone who can read \
             the command line, shell history, process list or CI log can read it. Use \
             pin-source=file:PATH or pin-source=env:NAME instead.",
            describe(token)
        ));
        return Ok(pin.clone());
    }
    let source = uri.pin_source().unwrap_or(SecretSource::Prompt);
    let what = format!("PIN for token '{}'", token.label);
    source.read(&what, ui).map_err(Error::Pin)
}

/// Logs the session in as the user, unless the token needs no login.
///
/// Before anything is sent, a locked PIN is refused, a final try is refused unless
/// `options.allow_final_pin_try`, and a PIN whose length the token cannot accept is refused. The
/// PIN is read at most once per signer: `pin` caches it for a later re-login.
pub(crate) fn login(
    module: &Module,
    session: &Session,
    token: &SelectedToken,
    uri: &Pkcs11Uri,
    options: &LoginOptions,
    ui: &dyn Interaction,
    pin: &mut Option<Secret>,
) -> Result<(), Error> {
    let info = module
        .context()
        .get_token_info(token.slot)
        .map_err(|e| Error::device("C_GetTokenInfo", Some(&token.name), e))?;
    if !info.login_required() {
        return Ok(());
    }
    // Login state is per token and process: another session may have logged in already, and
    // then no PIN is needed at all.
    if session.get_session_info().is_ok_and(|s| {
        matches!(
            s.session_state(),
            SessionState::RoUser | SessionState::RwUser
        )
    }) {
        return Ok(());
    }
    let flags = TokenFlags::from_info(&info);
    if flags.user_pin_locked {
        return Err(Error::PinLocked {
            token: token.name.clone(),
        });
    }
    if flags.user_pin_final_try && !options.allow_final_pin_try {
        return Err(Error::PinFinalTry {
            token: token.name.clone(),
        });
    }
    let result = if flags.protected_authentication_path
        && pin.is_none()
        && uri.pin_source().is_none()
        && uri.pin_value().is_none()
    {
        ui.notify(&format!(
            "Enter the PIN for {} on the device's PIN pad.",
            describe(&token.name)
        ));
        session.login(UserType::User, None)
    } else {
        let secret = match pin.take() {
            Some(secret) => secret,
            None => obtain_pin(uri, &token.name, ui)?,
        };
        let (min, max) = (info.min_pin_length(), info.max_pin_length());
        if max >= min && max > 0 && (secret.len() < min || secret.len() > max) {
            return Err(Error::PinShape {
                token: token.name.clone(),
                len: secret.len(),
                min,
                max,
            });
        }
        let auth = AuthPin::from(secret.expose());
        let result = session.login(UserType::User, Some(&auth));
        // Kept for a later re-login once the token has taken it (or was already logged in by
        // another session of this process); a rejected PIN is dropped and zeroized.
        if matches!(
            result,
            Ok(())
                | Err(cryptoki::error::Error::Pkcs11(
                    RvError::UserAlreadyLoggedIn,
                    _
                ))
        ) {
            *pin = Some(secret);
        }
        result
    };
    match result {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(cryptoki::error::Error::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            // Never retried: the PIN is dropped (and zeroized) so nothing sends it again.
            let retry = token_flags(module, token)
                .map(TokenFlags::retry_state)
                .unwrap_or_default();
            Err(Error::WrongPin {
                token: token.name.clone(),
                retry,
            })
        }
        Err(cryptoki::error::Error::Pkcs11(RvError::PinLocked, _)) => Err(Error::PinLocked {
            token: token.name.clone(),
        }),
        Err(other) => Err(Error::device("C_Login", Some(&token.name), other)),
    }
}
