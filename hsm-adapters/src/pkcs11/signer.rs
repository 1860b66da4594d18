//! [`Pkcs11Signer`]: an Ed25519 key inside a PKCS#11 token, behind the RustCrypto traits.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use ed25519_dalek::{Signature, VerifyingKey};

use super::error::{BatchError, Error, TokenName};
use super::keys::{self, hex};
use super::module::{LibraryInfo, Module};
use super::token::{self, LoginOptions, SelectedToken};
use super::uri::Pkcs11Uri;
use crate::interact::{Headless, Interaction};
use crate::secret::Secret;

/// The largest message Hallmark hands to a token, in bytes. Hallmark signs domain-separated
/// digests, never artifacts, and tokens cap what they accept (AWS CloudHSM at 16,000 bytes).
pub const MAX_MESSAGE_LEN: usize = 16_000;

/// The text signed, and verified, when a signer opens: it proves the private key matches the
/// public key the signer reports. Domain-separated so it can never be taken for a Hallmark
/// statement.
const KEY_CHECK_MESSAGE: &[u8] = b"hallmark pkcs11 key-pair check v1\0";

/// Facts about the device and key, for ceremony transcripts and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// The module file.
    pub module: PathBuf,
    /// What the module says about itself.
    pub library: LibraryInfo,
    /// The slot id.
    pub slot_id: u64,
    /// The token label.
    pub token_label: String,
    /// The token model.
    pub model: String,
    /// The token manufacturer.
    pub manufacturer: String,
    /// The token serial number.
    pub serial: String,
    /// The key's label (`CKA_LABEL`), if it has one.
    pub key_label: Option<String>,
    /// The key's `CKA_ID`, lowercase hex.
    pub key_id_hex: String,
    /// The URI naming the key (never with a PIN).
    pub key_uri: String,
}

struct State {
    session: Session,
    key: ObjectHandle,
}

/// An Ed25519 private key that stays inside a PKCS#11 token.
///
/// Opening logs in once; every signature then goes through the same session (`CKM_EDDSA`,
/// pure Ed25519). The signer is `Send + Sync`: signatures from several threads are serialised
/// on the one session, which is as fast as the tokens measured so far allow (see
/// `docs/hardware/pkcs11.md`).
///
/// The PIN is kept, zeroized on drop, so that a session the token closes can be re-opened
/// once without asking again. It never appears in `Debug` or in errors.
pub struct Pkcs11Signer {
    module: Arc<Module>,
    token: SelectedToken,
    key_uri: Pkcs11Uri,
    key_label: Option<String>,
    key_id: Vec<u8>,
    verifying_key: VerifyingKey,
    pin: Option<Secret>,
    options: LoginOptions,
    state: Mutex<State>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.module.path())
            .field("token", &self.token.name)
            .field("key", &self.key_uri.to_string())
            .field("verifying_key", &hex(self.verifying_key.as_bytes()))
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Failures after which the session is re-opened, logged in again and the key found again,
/// once: the session is gone (closed, device removed, library reset), or the login is (someone
/// logged the token out: tokens then report the private key's handle as invalid, or the user
/// as not logged in).
fn session_lost(err: &cryptoki::error::Error) -> Option<RvError> {
    match err {
        cryptoki::error::Error::Pkcs11(
            rv @ (RvError::SessionClosed
            | RvError::SessionHandleInvalid
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::UserNotLoggedIn
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid),
            _,
        ) => Some(*rv),
        _ => None,
    }
}

/// Whether the session handle itself is dead. Such a handle must not be closed: the module may
/// already have given the same number to a new session.
fn handle_dead(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionClosed
            | RvError::SessionHandleInvalid
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
    )
}

fn eddsa() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

impl Pkcs11Signer {
    /// Opens the key a URI names, with default [`LoginOptions`].
    ///
    /// When `expected` is given, the token's public key must equal it; in any case a test
    /// signature checks that the private key matches the public key read from the token.
    pub fn open(
        uri: &Pkcs11Uri,
        expected: Option<&VerifyingKey>,
        ui: &dyn Interaction,
    ) -> Result<Pkcs11Signer, Error> {
        Pkcs11Signer::open_with(uri, expected, &LoginOptions::default(), ui)
    }

    /// Opens the key a URI names.
    pub fn open_with(
        uri: &Pkcs11Uri,
        expected: Option<&VerifyingKey>,
        options: &LoginOptions,
        ui: &dyn Interaction,
    ) -> Result<Pkcs11Signer, Error> {
        let module = Module::for_uri(uri)?;
        let token = token::select_token(&module, uri)?;
        let session = module
            .context()
            .open_ro_session(token.slot)
            .map_err(|e| Error::device("C_OpenSession", Some(&token.name), e))?;
        let mut pin = None;
        token::login(&module, &session, &token, uri, options, ui, &mut pin)?;
        let found = keys::find_signing_key(&session, uri, &token)?;
        if let Some(expected) = expected
            && *expected != found.verifying_key
        {
            return Err(Error::KeyMismatch {
                uri: found.uri.to_string(),
                expected: hex(expected.as_bytes()),
                found: hex(found.verifying_key.as_bytes()),
            });
        }
        let signer = Pkcs11Signer {
            module,
            key_uri: found.uri,
            key_label: found.label,
            key_id: found.id,
            verifying_key: found.verifying_key,
            pin,
            options: options.clone(),
            state: Mutex::new(State {
                session,
                key: found.handle,
            }),
            token,
        };
        signer.check_key_pair()?;
        Ok(signer)
    }

    fn check_key_pair(&self) -> Result<(), Error> {
        let signature = self.sign_message(KEY_CHECK_MESSAGE)?;
        self.verifying_key
            .verify_strict(KEY_CHECK_MESSAGE, &signature)
            .map_err(|_| Error::KeyPairMismatch {
                uri: self.key_uri.to_string(),
                token: self.token.name.clone(),
            })
    }

    /// The URI naming this key: token label and serial, object label, id, and the module and
    /// PIN source of the URI it was opened with. Never carries a PIN.
    pub fn key_uri(&self) -> &Pkcs11Uri {
        &self.key_uri
    }

    /// The token holding the key.
    pub fn token(&self) -> &TokenName {
        &self.token.name
    }

    /// Module, token and key facts for ceremony transcripts.
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            module: self.module.path().to_owned(),
            library: self.module.info().clone(),
            slot_id: self.token.name.slot_id,
            token_label: self.token.name.label.clone(),
            model: self.token.model.clone(),
            manufacturer: self.token.manufacturer.clone(),
            serial: self.token.name.serial.clone(),
            key_label: self.key_label.clone(),
            key_id_hex: hex(&self.key_id),
            key_uri: self.key_uri.to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while signing leaves the session usable or closed; either way the next call
        // finds out, so a poisoned lock is not a reason to refuse.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Signs one message (at most [`MAX_MESSAGE_LEN`] bytes).
    pub fn sign_message(&self, message: &[u8]) -> Result<Signature, Error> {
        let mut state = self.lock();
        let mut reopened = false;
        self.sign_locked(&mut state, message, &mut reopened)
    }

    /// Signs many messages through one session and one login, calling `progress(done, total)`
    /// after each signature. `signatures[i]` signs `messages[i]`.
    ///
    /// If the token closes the session part-way (device removed, session closed or logged out
    /// elsewhere), the signer re-opens a session and logs in once, checks it still has the same
    /// key, and goes on; if that fails, or the session is lost again, the [`BatchError`] holds
    /// the signatures made so far and says which messages were not signed.
    pub fn sign_batch(
        &self,
        messages: &[&[u8]],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Signature>, BatchError> {
        let total = messages.len();
        let mut signatures = Vec::with_capacity(total);
        if let Some(len) = messages
            .iter()
            .map(|m| m.len())
            .find(|&len| len > MAX_MESSAGE_LEN)
        {
            let cause = Error::MessageTooLarge {
                len,
                max: MAX_MESSAGE_LEN,
            };
            return Err(BatchError {
                signatures,
                total,
                cause: Box::new(cause),
            });
        }
        let mut state = self.lock();
        let mut reopened = false;
        for message in messages {
            match self.sign_locked(&mut state, message, &mut reopened) {
                Ok(signature) => signatures.push(signature),
                Err(cause) => {
                    return Err(BatchError {
                        signatures,
                        total,
                        cause: Box::new(cause),
                    });
                }
            }
            progress(signatures.len(), total);
        }
        Ok(signatures)
    }

    fn sign_locked(
        &self,
        state: &mut State,
        message: &[u8],
        reopened: &mut bool,
    ) -> Result<Signature, Error> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(Error::MessageTooLarge {
                len: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let bytes = match state.session.sign(&eddsa(), state.key, message) {
            Ok(bytes) => bytes,
            Err(err) => match session_lost(&err) {
                Some(rv) if !*reopened => {
                    *reopened = true;
                    self.reopen(state, rv)?;
                    state
                        .session
                        .sign(&eddsa(), state.key, message)
                        .map_err(|err| match session_lost(&err) {
                            Some(rv) => Error::SessionLost {
                                token: self.token.name.clone(),
                                rv,
                            },
                            None => self.sign_error(err),
                        })?
                }
                Some(rv) => {
                    return Err(Error::SessionLost {
                        token: self.token.name.clone(),
                        rv,
                    });
                }
                None => return Err(self.sign_error(err)),
            },
        };
        let bytes: [u8; 64] = bytes.as_slice().try_into().map_err(|_| Error::Device {
            operation: "C_Sign",
            token: Some(self.token.name.clone()),
            source: cryptoki::error::Error::InvalidValue,
        })?;
        Ok(Signature::from_bytes(&bytes))
    }

    fn sign_error(&self, err: cryptoki::error::Error) -> Error {
        match err {
            cryptoki::error::Error::Pkcs11(RvError::MechanismInvalid, _) => {
                Error::MechanismNotSupported {
                    token: self.token.name.clone(),
                    model: self.token.model.clone(),
                    mechanism: "CKM_EDDSA",
                }
            }
            other => Error::device("C_Sign", Some(&self.token.name), other),
        }
    }

    /// Opens a new session, logs in again with the PIN read at open, and finds the key again
    /// (handles do not survive a lost session), checking that it is still the same key.
    fn reopen(&self, state: &mut State, rv: RvError) -> Result<(), Error> {
        let lost = |_| Error::SessionLost {
            token: self.token.name.clone(),
            rv,
        };
        let token = token::select_token(&self.module, &self.key_uri).map_err(lost)?;
        let session = self
            .module
            .context()
            .open_ro_session(token.slot)
            .map_err(|_| Error::SessionLost {
                token: self.token.name.clone(),
                rv,
            })?;
        // The PIN read at open is reused; an interactive prompt is never repeated here.
        let mut pin = self.pin.clone();
        token::login(
            &self.module,
            &session,
            &token,
            &self.key_uri,
            &self.options,
            &Headless,
            &mut pin,
        )?;
        let found = keys::find_signing_key(&session, &self.key_uri, &token)?;
        if found.verifying_key != self.verifying_key {
            return Err(Error::KeyMismatch {
                uri: self.key_uri.to_string(),
                expected: hex(self.verifying_key.as_bytes()),
                found: hex(found.verifying_key.as_bytes()),
            });
        }
        let stale = std::mem::replace(
            state,
            State {
                session,
                key: found.handle,
            },
        );
        if handle_dead(rv) {
            // Dropping would call C_CloseSession on a number that may now be someone else's.
            std::mem::forget(stale.session);
        }
        Ok(())
    }
}

impl signature::Signer<Signature> for Pkcs11Signer {
    /// Signs with the token. Device failures are a [`signature::Error`] whose source is this
    /// module's [`Error`]: downcast it to see what happened.
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        self.sign_message(msg)
            .map_err(signature::Error::from_source)
    }
}

impl signature::Keypair for Pkcs11Signer {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Pkcs11Signer>();
        shareable::<Error>();
        shareable::<BatchError>();
    }

    #[test]
    fn lost_sessions_are_recognised_and_dead_handles_not_closed() {
        use cryptoki::context::Function;
        let rv = |rv| cryptoki::error::Error::Pkcs11(rv, Function::Sign);
        for lost in [
            RvError::SessionClosed,
            RvError::SessionHandleInvalid,
            RvError::DeviceRemoved,
            RvError::TokenNotPresent,
            RvError::UserNotLoggedIn,
            RvError::ObjectHandleInvalid,
            RvError::KeyHandleInvalid,
        ] {
            assert_eq!(session_lost(&rv(lost)), Some(lost));
        }
        for other in [
            RvError::GeneralError,
            RvError::MechanismInvalid,
            RvError::DataLenRange,
        ] {
            assert_eq!(session_lost(&rv(other)), None);
        }
        assert!(handle_dead(RvError::SessionHandleInvalid));
        assert!(!handle_dead(RvError::UserNotLoggedIn));
        assert!(!handle_dead(RvError::ObjectHandleInvalid));
    }
}
