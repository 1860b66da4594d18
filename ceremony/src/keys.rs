//! The keys a ceremony works with, whatever holds them.
//!
//! A ceremony needs four things of a key: its public key without a PIN or passphrase (to check
//! that the key may sign before anything is unlocked), to open it, to describe it for the
//! transcript, and its hardware attestation. [`KeySource`] is that seam; the `hallmark`
//! command's key references (`file:`, `pkcs11:`, `yubikey:`, `awskms:`) implement it, and a
//! service that keeps its keys elsewhere implements it for its own. New private keys (next keys
//! made in a ceremony, a key rebuilt from custodian shares) go to a [`KeySink`].

use ed25519_dalek::SigningKey;
use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::envelope::Ed25519Signer;
use hallmark_keyring::{KeyId, PublicKey};

/// A backend's own error (a key file, token, YubiKey or KMS error), kept whole so that the
/// caller can tell a device failure from a wrong input by its type.
pub type KeyFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A key a ceremony may use: named by the operator, peeked at without a secret, opened to sign.
pub trait KeySource {
    /// The key as the operator named it (a key reference), for messages. Never holds a secret.
    fn name(&self) -> String;

    /// The public key, when the backend can tell without a PIN, passphrase or prompt (a key
    /// file's `.pub`, a YubiKey slot's certificate, a token's public object). `None` when it
    /// cannot: the key is then checked after it is opened.
    fn peek(&self) -> Option<PublicKey>;

    /// The public key, reading the device if need be but unlocking nothing; an error says why
    /// it cannot be read.
    fn public_key(&self) -> Result<PublicKey, KeyFailure>;

    /// Opens the key to sign: unlocks a file, logs in to a token. With `expected`, the backend
    /// refuses a device that now holds another key before it signs anything.
    fn open(&self, expected: Option<&PublicKey>) -> Result<Box<dyn OpenKey + '_>, KeyFailure>;
}

/// An opened key.
pub trait OpenKey: Ed25519Signer {
    /// What the key is, for the transcript.
    fn describe(&self) -> KeyDescription;

    /// The device maker's proof that the key was generated inside it, when the backend gives
    /// one (`Ok(None)` otherwise).
    fn attest(&self) -> Result<Option<Attestation>, KeyFailure>;

    /// The private key itself, for keys that may leave their backend (key files): custodian
    /// backups split it. Hardware keys give `None`.
    fn secret_key(&self) -> Option<&SigningKey> {
        None
    }

    /// Asks for what opening left for later (a YubiKey's PIN), once every key of the ceremony
    /// is open: opening a YubiKey can clear the PIN verification of another YubiKey opened
    /// before it. Nothing to do by default.
    fn unlock(&self) -> Result<(), KeyFailure> {
        Ok(())
    }
}

/// What a key is, for transcripts. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDescription {
    /// The backend: `file`, `pkcs11`, `yubikey`, `awskms`, or a service's own.
    pub backend: String,
    /// The key as the operator named it, without secrets.
    pub reference: String,
    /// The public key.
    pub public_key: PublicKey,
    /// Device facts (a YubiKey's serial, firmware, slot and policies; a token's label).
    pub device: Vec<(String, String)>,
}

/// Where new private keys go: next keys a ceremony creates, or a key rebuilt from shares.
pub trait KeySink {
    /// Gathers what saving needs (a passphrase, recipients). Called once, after every check
    /// that needs no secret and before any key is unlocked, so that a ceremony that would fail
    /// anyway asks for nothing; called even when no key is to be made, so that the sink can
    /// say something about the ceremony's next keys then.
    fn prepare(&mut self) -> Result<(), KeyFailure>;

    /// Saves key number `index` (counting the keys the request asked for, from 0). Called
    /// before the event that commits to it reaches a log: a log never commits to a key that
    /// was not saved.
    fn save(&self, index: usize, key: &SigningKey) -> Result<(), KeyFailure>;
}

/// How a key took part in a ceremony, as its transcript records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// It signs the event, and counts toward its threshold.
    Signer,
    /// A current key co-signing a rotation: recorded, not counted.
    CoSigner,
    /// A key split into custodian shares.
    BackedUp,
    /// A key rebuilt from custodian shares.
    Restored,
}

impl Role {
    /// The transcript's name for the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Signer => "signer",
            Role::CoSigner => "co-signer",
            Role::BackedUp => "backed-up",
            Role::Restored => "restored",
        }
    }
}

/// A key opened for a ceremony, with its role and its attestation, if any.
pub(crate) struct Opened<'k> {
    pub(crate) key: Box<dyn OpenKey + 'k>,
    pub(crate) role: Role,
    pub(crate) attestation: Option<Attestation>,
}

impl Opened<'_> {
    pub(crate) fn key_id(&self) -> KeyId {
        PublicKey::new(self.key.verifying_key()).key_id()
    }

    /// The transcript's record of the key.
    pub(crate) fn participant(&self) -> crate::Participant {
        participant(
            self.key.describe(),
            self.role,
            self.attestation.iter().cloned().collect(),
        )
    }
}

pub(crate) fn participant(
    d: KeyDescription,
    role: Role,
    attestations: Vec<Attestation>,
) -> crate::Participant {
    crate::Participant {
        public_key: d.public_key,
        key_id: d.public_key.key_id(),
        role: role.as_str().to_owned(),
        backend: d.backend,
        reference: d.reference,
        device: d.device,
        attestations,
    }
}
