//! The PKCS#11 module's errors: each says what went wrong, on which module, token or key, and
//! what the operator can do about it. None ever carries a PIN.

use std::fmt;
use std::path::PathBuf;

use cryptoki::error::RvError;

use super::uri::UriError;
use crate::secret::SecretError;

/// Where the guide for PKCS#11 tokens lives, for error messages.
pub(crate) const DOCS: &str = "docs/hardware/pkcs11.md";

/// A token as it appears in error messages: label, serial and slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName {
    /// The token label.
    pub label: String,
    /// The token serial number.
    pub serial: String,
    /// The slot the token is in.
    pub slot_id: u64,
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token '{}' (serial {}, slot {})",
            self.label, self.serial, self.slot_id
        )
    }
}

/// What a token reported about its user PIN after a failed login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinRetryState {
    /// `CKF_USER_PIN_COUNT_LOW`: at least one wrong PIN was entered since the last success.
    pub count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks the PIN.
    pub final_try: bool,
    /// `CKF_USER_PIN_LOCKED`: the PIN is locked.
    pub locked: bool,
}

impl fmt::Display for PinRetryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.locked {
            f.write_str("the user PIN is now LOCKED: a security officer must unlock or reset it")
        } else if self.final_try {
            f.write_str("ONE try is left before the PIN locks: check the PIN before trying again")
        } else if self.count_low {
            f.write_str("the token reports that wrong PINs were entered (retry count low)")
        } else {
            f.write_str("the token reports no retry limit reached")
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Everything that can go wrong with a PKCS#11 key.
///
/// [`Error::is_usage`] separates what is wrong with the request (a key reference, a missing
/// module, a PIN source) from what the device reported, so a command line can map them to
/// different exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key reference is not a valid PKCS#11 URI.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The key reference does not fit the operation.
    #[error("{uri}: {reason}")]
    UnusableUri {
        /// The URI (never with a PIN).
        uri: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// No module was named, by the URI or the environment.
    #[error(
        "no PKCS#11 module given: add `module-path=/path/to/module.so` or `module-name=NAME` to the \
         key reference, or set the environment variable {env}"
    )]
    NoModule {
        /// The environment variable that can name the module.
        env: &'static str,
    },
    /// The module named by `module-name` or `module-path` was not found.
    #[error(
        "PKCS#11 module {wanted} not found; looked in: {}. Install it, or give its absolute path \
         with module-path=",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    ModuleNotFound {
        /// The module as asked for.
        wanted: String,
        /// Every place looked at.
        searched: Vec<PathBuf>,
    },
    /// The module exists but could not be loaded.
    #[error(
        "cannot load PKCS#11 module {}: {reason}. Check that it is a PKCS#11 library for this \
         machine's architecture and that its own dependencies are installed",
        .path.display()
    )]
    ModuleNotLoadable {
        /// The module.
        path: PathBuf,
        /// The dynamic loader's message.
        reason: String,
    },
    /// `C_Initialize` failed.
    #[error(
        "PKCS#11 module {} failed to initialise ({rv}). Check the module's own configuration \
         (for SoftHSM2: SOFTHSM2_CONF and its directories.tokendir)",
        .path.display()
    )]
    ModuleInitFailed {
        /// The module.
        path: PathBuf,
        /// What `C_Initialize` returned.
        rv: RvError,
    },
    /// No token matches the URI.
    #[error(
        "no token matching {wanted} in module {}; tokens present: {}",
        .module.display(), list(.present)
    )]
    TokenNotPresent {
        /// The module searched.
        module: PathBuf,
        /// The token attributes asked for.
        wanted: String,
        /// The tokens that are present.
        present: Vec<String>,
    },
    /// Several tokens match the URI.
    #[error(
        "{} tokens match {wanted} in module {}: {}. Add serial= to the key reference to choose one",
        .matching.len(), .module.display(), .matching.join(", ")
    )]
    SeveralTokens {
        /// The module searched.
        module: PathBuf,
        /// The token attributes asked for.
        wanted: String,
        /// The matching tokens.
        matching: Vec<String>,
    },
    /// The PIN could not be obtained from its source.
    #[error("{0}")]
    Pin(#[from] SecretError),
    /// The PIN has a length the token does not accept; it was not sent.
    #[error(
        "the PIN for {token} is {len} bytes, but the token accepts {min} to {max}; it was not \
         sent, so no retry was used. Check the PIN source"
    )]
    PinShape {
        /// The token.
        token: TokenName,
        /// The PIN's length.
        len: usize,
        /// The token's minimum PIN length.
        min: usize,
        /// The token's maximum PIN length.
        max: usize,
    },
    /// The token rejected the PIN.
    #[error("wrong PIN for {token}: {retry}")]
    WrongPin {
        /// The token.
        token: TokenName,
        /// The retry state the token reported after the failure.
        retry: PinRetryState,
    },
    /// The user PIN is locked; no PIN was sent.
    #[error(
        "the user PIN of {token} is locked; no PIN was sent. A security officer must unlock or \
         reset it (see {DOCS})"
    )]
    PinLocked {
        /// The token.
        token: TokenName,
    },
    /// The token is one wrong PIN away from locking and the caller did not allow using it.
    #[error(
        "{token} reports that only ONE PIN try is left; no PIN was sent. Make sure the PIN \
         source is right, then allow the final try explicitly"
    )]
    PinFinalTry {
        /// The token.
        token: TokenName,
    },
    /// No Ed25519 private key matches the URI.
    #[error("no Ed25519 private key matching {uri} on {token}; Ed25519 keys on this token: {}", list(.available))]
    KeyNotFound {
        /// The URI asked for (never with a PIN).
        uri: String,
        /// The token searched.
        token: TokenName,
        /// URIs of the Ed25519 keys that are on the token.
        available: Vec<String>,
    },
    /// The URI matches a key that is not Ed25519.
    #[error(
        "{uri} names a key of type {key_type} on {token}; Hallmark signs only with Ed25519 keys"
    )]
    NotEd25519 {
        /// The URI (never with a PIN).
        uri: String,
        /// The token.
        token: TokenName,
        /// The key type found.
        key_type: String,
    },
    /// The URI matches several keys.
    #[error(
        "{} keys match {uri} on {token}: {}. Use one of these URIs (they differ in id=)",
        .matching.len(), .matching.join(", ")
    )]
    SeveralKeys {
        /// The URI (never with a PIN).
        uri: String,
        /// The token.
        token: TokenName,
        /// URIs of the matching keys.
        matching: Vec<String>,
    },
    /// Generation was refused because an object with the label already exists.
    #[error(
        "{token} already has an object labelled '{label}' ({existing}); choose another object= \
         label, or use the existing key"
    )]
    LabelTaken {
        /// The token.
        token: TokenName,
        /// The label.
        label: String,
        /// The existing object's URI.
        existing: String,
    },
    /// The token lacks an Ed25519 mechanism.
    #[error(
        "{token} (model '{model}') does not offer {mechanism}, so it cannot hold Ed25519 keys for \
         Hallmark; see {DOCS} for tokens that do"
    )]
    MechanismNotSupported {
        /// The token.
        token: TokenName,
        /// The token's model.
        model: String,
        /// The missing mechanism.
        mechanism: &'static str,
    },
    /// The token's public key is not the one expected.
    #[error(
        "the key {uri} is not the expected key: the token holds {found}, the caller expected \
         {expected}. Check that the key reference names the right token and key"
    )]
    KeyMismatch {
        /// The key URI (it names the token by label and serial).
        uri: String,
        /// The expected public key, hex.
        expected: String,
        /// The token's public key, hex.
        found: String,
    },
    /// The public key could not be read or decoded.
    #[error("cannot read the public key of {uri} on {token}: {reason}")]
    BadPublicKey {
        /// The key URI.
        uri: String,
        /// The token.
        token: TokenName,
        /// What was wrong.
        reason: String,
    },
    /// The private key does not sign for the public key stored beside it.
    #[error(
        "the private key {uri} on {token} does not match its public key object (a test signature \
         did not verify); the token's objects are inconsistent"
    )]
    KeyPairMismatch {
        /// The key URI.
        uri: String,
        /// The token.
        token: TokenName,
    },
    /// The session was closed under us (device removed, token reset, logged out elsewhere).
    #[error(
        "the session with {token} was lost ({rv}) and could not be re-established; check the \
         device and its connection"
    )]
    SessionLost {
        /// The token.
        token: TokenName,
        /// What the module reported.
        rv: RvError,
    },
    /// The message is larger than Hallmark sends to a token.
    #[error(
        "message of {len} bytes is larger than the {max} bytes Hallmark sends to a token; sign a \
         digest of the payload instead"
    )]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The environment variable setting the number of sessions holds no usable number.
    #[error(
        "{env}={value:?} is not a number of sessions: give a whole number from 1 to {max} \
         (1 signs through a single session), or unset it to let Hallmark choose"
    )]
    BadSessionCount {
        /// The variable.
        env: &'static str,
        /// Its value.
        value: String,
        /// The largest number accepted.
        max: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {reason}")]
    Random {
        /// What failed.
        reason: String,
    },
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} failed on {}: {source}", .token.as_ref().map_or_else(|| "the module".to_owned(), ToString::to_string))]
    Device {
        /// What Hallmark was doing.
        operation: &'static str,
        /// The token, when one was selected.
        token: Option<TokenName>,
        /// The module's error.
        source: cryptoki::error::Error,
    },
}

impl Error {
    /// Whether the error is about the request (key reference, module name, PIN source or
    /// shape, a key that does not exist or is ambiguous) rather than about the device. A command
    /// line maps usage errors to exit code 2 and device errors to 4.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Uri(_)
                | Error::UnusableUri { .. }
                | Error::NoModule { .. }
                | Error::ModuleNotFound { .. }
                | Error::Pin(_)
                | Error::PinShape { .. }
                | Error::KeyNotFound { .. }
                | Error::SeveralKeys { .. }
                | Error::SeveralTokens { .. }
                | Error::NotEd25519 { .. }
                | Error::LabelTaken { .. }
                | Error::MessageTooLarge { .. }
                | Error::BadSessionCount { .. }
        )
    }

    /// The PKCS#11 return value behind the error, if there is one.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Error::ModuleInitFailed { rv, .. } | Error::SessionLost { rv, .. } => Some(*rv),
            Error::Device {
                source: cryptoki::error::Error::Pkcs11(rv, _),
                ..
            } => Some(*rv),
            _ => None,
        }
    }

    pub(crate) fn device(
        operation: &'static str,
        token: Option<&TokenName>,
        source: cryptoki::error::Error,
    ) -> Error {
        Error::Device {
            operation,
            token: token.cloned(),
            source,
        }
    }
}

/// A batch that stopped part-way: which messages were signed (with their signatures) and which
/// were not, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "signed {} of {total} messages (indices 0..{}), not signed: {} (indices {}..{total}): {cause}",
    .signatures.len(), .signatures.len(), .total - .signatures.len(), .signatures.len()
)]
pub struct BatchError {
    /// Signatures of the messages signed before the failure: `signatures[i]` signs message `i`.
    pub signatures: Vec<ed25519_dalek::Signature>,
    /// How many messages the batch had.
    pub total: usize,
    /// Why the batch stopped.
    #[source]
    pub cause: Box<Error>,
}

impl BatchError {
    /// Indices of the messages that were signed.
    pub fn signed(&self) -> std::ops::Range<usize> {
        0..self.signatures.len()
    }

    /// Indices of the messages that were not signed.
    pub fn not_signed(&self) -> std::ops::Range<usize> {
        self.signatures.len()..self.total
    }
}
