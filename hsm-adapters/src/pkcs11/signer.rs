//! [`Pkcs11Signer`]: an Ed25519 key inside a PKCS#11 token, behind the RustCrypto traits.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use ed25519_dalek::{Signature, VerifyingKey};

use super::error::{BatchError, Error, TokenName};
use super::keys;
use super::module::{LibraryInfo, Module};
use super::token::{self, LoginOptions, SelectedToken};
use super::uri::Pkcs11Uri;
use crate::hex;
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

/// The environment variable that sets how many sessions a batch signs through at once: a whole
/// number from 1 to [`MAX_SESSIONS`]. Unset, Hallmark uses one session per CPU core, at most 4,
/// and never more than the token allows.
pub const SESSIONS_ENV: &str = "HALLMARK_PKCS11_SESSIONS";

/// The most sessions a batch signs through.
pub const MAX_SESSIONS: usize = 16;

const MAX_SESSIONS_NZ: NonZeroUsize = NonZeroUsize::new(MAX_SESSIONS).unwrap();

/// The most sessions used when [`SESSIONS_ENV`] is unset.
const DEFAULT_MAX_SESSIONS: NonZeroUsize = NonZeroUsize::new(4).unwrap();

/// Batches shorter than this sign through one session: starting threads would cost more than
/// they save.
const POOL_MIN_BATCH: usize = 8;

struct State {
    session: Session,
    key: ObjectHandle,
}

/// The sessions a batch signs through besides the first. Opened at the first batch long enough
/// to use them; every session of an application shares its login, so none logs in again.
#[derive(Default)]
struct Pool {
    sessions: Vec<Session>,
    /// The token refused another session, or one failed: none is opened until the first
    /// session is re-opened.
    full: bool,
}

/// What one signing thread of a batch did.
#[derive(Default)]
struct Share {
    signed: Vec<(usize, Signature)>,
    /// Why the thread stopped before the messages ran out.
    failed: Option<cryptoki::error::Error>,
}

/// An Ed25519 private key that stays inside a PKCS#11 token.
///
/// Opening logs in once; signatures then go through that session (`CKM_EDDSA`, pure Ed25519).
/// A batch ([`Pkcs11Signer::sign_batch`]) also opens a few more sessions, which share the login,
/// and signs through them on as many threads, since most tokens sign in parallel (see
/// [`SESSIONS_ENV`] and `docs/hardware/pkcs11.md`). The signer is `Send + Sync`; single
/// signatures from several threads are serialised on the first session.
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
    /// How many sessions a batch may sign through.
    sessions: NonZeroUsize,
    state: Mutex<State>,
    pool: Mutex<Pool>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.module.path())
            .field("token", &self.token.name)
            .field("key", &self.key_uri.to_string())
            .field("verifying_key", &hex(self.verifying_key.as_bytes()))
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .field("sessions", &self.sessions)
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

/// One `C_Sign` with `CKM_EDDSA`; a result that is not 64 bytes is `InvalidValue`.
fn raw_sign(
    session: &Session,
    key: ObjectHandle,
    message: &[u8],
) -> Result<Signature, cryptoki::error::Error> {
    let bytes = session.sign(&eddsa(), key, message)?;
    let bytes: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| cryptoki::error::Error::InvalidValue)?;
    Ok(Signature::from_bytes(&bytes))
}

/// Files a thread's signatures by message.
fn file(share: Share, slots: &mut [Option<Signature>]) {
    for (index, signature) in share.signed {
        slots[index] = Some(signature);
    }
}

/// Reads [`SESSIONS_ENV`].
fn sessions_from_env() -> Result<Option<NonZeroUsize>, Error> {
    std::env::var_os(SESSIONS_ENV)
        .map(|value| parse_sessions(&value.to_string_lossy()))
        .transpose()
}

fn parse_sessions(value: &str) -> Result<NonZeroUsize, Error> {
    match value.trim().parse::<NonZeroUsize>() {
        Ok(n) if n.get() <= MAX_SESSIONS => Ok(n),
        _ => Err(Error::BadSessionCount {
            env: SESSIONS_ENV,
            value: value.to_owned(),
            max: MAX_SESSIONS,
        }),
    }
}

/// The number of sessions a batch may use: the one asked for, else one per core up to
/// [`DEFAULT_MAX_SESSIONS`]; never more than the token's `ulMaxSessionCount`.
fn pool_size(requested: Option<NonZeroUsize>, token_max: Option<u64>) -> NonZeroUsize {
    let wanted = requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .unwrap_or(NonZeroUsize::MIN)
            .min(DEFAULT_MAX_SESSIONS)
    });
    let token_max =
        token_max.and_then(|max| NonZeroUsize::new(usize::try_from(max).unwrap_or(usize::MAX)));
    match token_max {
        Some(max) => wanted.min(max).min(MAX_SESSIONS_NZ),
        None => wanted.min(MAX_SESSIONS_NZ),
    }
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
        let requested = sessions_from_env()?;
        let module = Module::for_uri(uri)?;
        let token = token::select_token(&module, uri)?;
        let sessions = pool_size(requested, token.max_sessions);
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
            sessions,
            state: Mutex::new(State {
                session,
                key: found.handle,
            }),
            pool: Mutex::new(Pool::default()),
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

    /// How many sessions a batch may sign through: [`SESSIONS_ENV`] or one per CPU core (at
    /// most 4), capped by what the token allows.
    pub fn max_sessions(&self) -> NonZeroUsize {
        self.sessions
    }

    /// How many sessions the signer has open now: the first, and those a batch opened.
    pub fn open_sessions(&self) -> usize {
        1 + self
            .pool
            .lock()
            .map_or_else(|p| p.into_inner().sessions.len(), |p| p.sessions.len())
    }

    /// Sets how many sessions a batch may sign through (1: only the first session), at most
    /// [`MAX_SESSIONS`] and the token's `ulMaxSessionCount`.
    pub fn set_max_sessions(&mut self, sessions: NonZeroUsize) {
        self.sessions = pool_size(Some(sessions), self.token.max_sessions);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.sessions.truncate(self.sessions.get() - 1);
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

    /// Signs many messages with one login, calling `progress(done, total)` as signatures are
    /// made. `signatures[i]` signs `messages[i]`.
    ///
    /// A batch of at least 8 messages is shared out over up to [`Pkcs11Signer::max_sessions`]
    /// sessions, one thread each; the extra sessions are opened at the first such batch and kept
    /// for the next ones. A token that refuses a session just gets fewer.
    ///
    /// If the token closes a session part-way (device removed, session closed or logged out
    /// elsewhere), the signer stops the extra sessions, re-opens its first session and logs in
    /// once, checks it still has the same key, and signs the rest through that one session; if
    /// that fails, or the session is lost again, the [`BatchError`] holds the signatures made so
    /// far (always the first messages, in order) and says which messages were not signed.
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
        if self.sessions.get() > 1 && total >= POOL_MIN_BATCH {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            self.fill(&mut pool);
            if !pool.sessions.is_empty()
                && self.sign_pooled(&state, &mut pool, messages, &mut signatures, &mut progress)
            {
                return Ok(signatures);
            }
            // Unless a session failed: then the rest goes through the first one, which re-opens
            // once if the session was lost, or reports the error again if it is the message's.
        }
        for message in &messages[signatures.len()..] {
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

    /// Opens extra sessions up to the pool size. They need no login of their own, and object
    /// handles are valid in every session of an application, so the key is not searched again.
    fn fill(&self, pool: &mut Pool) {
        while !pool.full && pool.sessions.len() + 1 < self.sessions.get() {
            match self.module.context().open_ro_session(self.token.slot) {
                Ok(session) => pool.sessions.push(session),
                // CKR_SESSION_COUNT and the like: sign with the sessions there are.
                Err(_) => pool.full = true,
            }
        }
    }

    /// Signs `messages` on the first session (this thread) and the pool's (one thread each),
    /// handing out one message at a time. Fills `signatures` with the longest run of messages
    /// signed from the first on, and says whether that is all of them. A failure stops every
    /// thread; sessions that failed leave the pool.
    fn sign_pooled(
        &self,
        state: &State,
        pool: &mut Pool,
        messages: &[&[u8]],
        signatures: &mut Vec<Signature>,
        progress: &mut impl FnMut(usize, usize),
    ) -> bool {
        let total = messages.len();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let key = state.key;
        let work = |session: &Session, on_signed: &mut dyn FnMut()| -> Share {
            let mut share = Share::default();
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(message) = messages.get(index) else {
                    break;
                };
                match raw_sign(session, key, message) {
                    Ok(signature) => {
                        share.signed.push((index, signature));
                        done.fetch_add(1, Ordering::Relaxed);
                        on_signed();
                    }
                    Err(err) => {
                        stop.store(true, Ordering::Relaxed);
                        share.failed = Some(err);
                        break;
                    }
                }
            }
            share
        };
        let (first, others) = std::thread::scope(|scope| {
            let workers: Vec<_> = pool
                .sessions
                .iter_mut()
                .map(|session| {
                    let work = &work;
                    scope.spawn(move || work(session, &mut || {}))
                })
                .collect();
            let first = work(&state.session, &mut || {
                progress(done.load(Ordering::Relaxed), total);
            });
            let others: Vec<Share> = workers
                .into_iter()
                .map(|worker| {
                    worker.join().unwrap_or_else(|_| Share {
                        signed: Vec::new(),
                        failed: Some(cryptoki::error::Error::InvalidValue),
                    })
                })
                .collect();
            (first, others)
        });

        // Sessions that failed leave the pool (and no new ones are opened until the first
        // session is re-opened); one whose handle is dead is not even closed, as the module may
        // already have given its number to another session.
        let mut keep = Vec::with_capacity(pool.sessions.len());
        let mut slots: Vec<Option<Signature>> = vec![None; total];
        for (session, share) in std::mem::take(&mut pool.sessions).into_iter().zip(others) {
            match &share.failed {
                None => keep.push(session),
                Some(err) if session_lost(err).is_some_and(handle_dead) => {
                    std::mem::forget(session)
                }
                Some(_) => drop(session),
            }
            pool.full |= share.failed.is_some();
            file(share, &mut slots);
        }
        pool.sessions = keep;
        file(first, &mut slots);
        // Every message before a failed one was handed out, so was signed or failed itself:
        // the run from the first message ends at the earliest failure.
        signatures.extend(slots.into_iter().map_while(|slot| slot));
        let complete = signatures.len() == total;
        if complete {
            progress(total, total);
        }
        complete
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
        match raw_sign(&state.session, state.key, message) {
            Ok(signature) => Ok(signature),
            Err(err) => match session_lost(&err) {
                Some(rv) if !*reopened => {
                    *reopened = true;
                    self.reopen(state, rv)?;
                    raw_sign(&state.session, state.key, message).map_err(|err| {
                        match session_lost(&err) {
                            Some(rv) => Error::SessionLost {
                                token: self.token.name.clone(),
                                rv,
                            },
                            None => self.sign_error(err),
                        }
                    })
                }
                Some(rv) => Err(Error::SessionLost {
                    token: self.token.name.clone(),
                    rv,
                }),
                None => Err(self.sign_error(err)),
            },
        }
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
        // The pool's sessions shared the old login and key handle: they go, and the next batch
        // opens new ones.
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for session in pool.sessions.drain(..) {
            if handle_dead(rv) {
                std::mem::forget(session);
            }
        }
        pool.full = false;
        drop(pool);
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
        assert!(handle_dead(RvError::DeviceRemoved));
        assert!(!handle_dead(RvError::UserNotLoggedIn));
        assert!(!handle_dead(RvError::ObjectHandleInvalid));
    }

    #[test]
    fn session_counts_are_whole_numbers_up_to_the_maximum() {
        let n = |n| NonZeroUsize::new(n).unwrap();
        assert_eq!(parse_sessions("1").unwrap(), n(1));
        assert_eq!(parse_sessions(" 16\n").unwrap(), n(MAX_SESSIONS));
        for bad in ["0", "17", "-1", "two", "", "1.5"] {
            let err = parse_sessions(bad).unwrap_err();
            assert!(err.is_usage(), "{bad}");
            assert_eq!(
                err.to_string(),
                format!(
                    "HALLMARK_PKCS11_SESSIONS={bad:?} is not a number of sessions: give a whole \
                     number from 1 to 16 (1 signs through a single session), or unset it to let \
                     Hallmark choose"
                )
            );
        }
    }

    #[test]
    fn the_pool_never_exceeds_what_was_asked_or_what_the_token_allows() {
        let n = |n| NonZeroUsize::new(n).unwrap();
        assert_eq!(pool_size(Some(n(8)), None), n(8));
        assert_eq!(pool_size(Some(n(8)), Some(3)), n(3));
        assert_eq!(pool_size(Some(n(2)), Some(1)), n(1));
        // A token stating 0 sessions states nothing usable: what was asked for stands.
        assert_eq!(pool_size(Some(n(2)), Some(0)), n(2));
        let default = pool_size(None, None).get();
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(default, cores.min(DEFAULT_MAX_SESSIONS.get()));
        assert_eq!(pool_size(Some(n(40)), None), n(MAX_SESSIONS));
    }
}
