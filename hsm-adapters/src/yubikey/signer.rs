//! Signing with a key in a YubiKey slot.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use yubikey::piv::{self, AlgorithmId};

use crate::interact::Interaction;
use crate::secret::SecretSource;

use super::attest::{self, Attestation};
use super::device::Device;
use super::error::{BatchError, Error};
use super::reference::YubiKeyRef;
use super::types::{DeviceInfo, PinPolicy, Slot, SlotKey, TouchPolicy};

/// The longest message [`YubiKeySigner`] signs, in bytes.
///
/// The `yubikey` crate builds the signing command in a 1,024-byte buffer, so messages above
/// about 1,010 bytes fail inside it; Hallmark signs domain-separated digests of about 120
/// bytes, so anything near this limit is a caller's mistake and is refused before any device
/// traffic.
pub const MAX_MESSAGE_LEN: usize = 1000;

/// How long a YubiKey remembers a touch under the "cached" touch policy.
const TOUCH_CACHE: Duration = Duration::from_secs(15);

/// How a [`YubiKeySigner`] may use the PIN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignerOptions {
    /// Send the PIN even when only one retry is left, so that a wrong PIN blocks it. Default:
    /// refuse ([`Error::PinFinalTry`]) without sending anything.
    pub allow_final_pin_try: bool,
}

impl SignerOptions {
    /// The defaults: never spend the last PIN retry.
    pub fn new() -> Self {
        SignerOptions::default()
    }

    /// Whether the last PIN retry may be spent.
    pub fn allow_final_pin_try(mut self, allow: bool) -> Self {
        self.allow_final_pin_try = allow;
        self
    }
}

/// An open YubiKey slot, its policies, and what this session has done with it.
pub(crate) struct Session<'ui> {
    pub(crate) device: Device,
    pub(crate) key: SlotKey,
    pin_source: SecretSource,
    allow_final_pin_try: bool,
    ui: &'ui dyn Interaction,
    pin_verified: bool,
    default_pin_warned: bool,
    last_touch: Option<Instant>,
}

impl<'ui> Session<'ui> {
    pub(crate) fn new(
        device: Device,
        key: SlotKey,
        pin_source: SecretSource,
        options: SignerOptions,
        ui: &'ui dyn Interaction,
    ) -> Self {
        Session {
            device,
            key,
            pin_source,
            allow_final_pin_try: options.allow_final_pin_try,
            ui,
            pin_verified: false,
            default_pin_warned: false,
            last_touch: None,
        }
    }

    pub(crate) fn info(&self) -> DeviceInfo {
        self.device.info(&self.key)
    }

    /// Verifies the PIN: checks the retry counter first (a blocked PIN is never sent, nor —
    /// unless allowed — a PIN when one retry is left), reads the PIN from its source, checks its
    /// length (a malformed PIN is never sent), and sends it once. A wrong PIN is an error, never
    /// retried.
    fn verify_pin(&mut self) -> Result<(), Error> {
        let serial = self.device.serial;
        let (retries, is_default) = self.device.pin_status()?;
        if retries == 0 {
            return Err(Error::PinBlocked {
                serial,
                by_this_attempt: false,
            });
        }
        if retries == 1 && !self.allow_final_pin_try {
            return Err(Error::PinFinalTry { serial });
        }
        if is_default && !self.default_pin_warned {
            self.default_pin_warned = true;
            self.ui.warn(&format!(
                "YubiKey {serial} still has the default PIN: change it with `ykman piv access change-pin`"
            ));
        }
        let pin = self
            .pin_source
            .read(&format!("PIN for YubiKey {serial}"), self.ui)?;
        if !(6..=8).contains(&pin.len()) {
            return Err(Error::PinFormat {
                serial,
                len: pin.len(),
            });
        }
        match self.device.yk.verify_pin(pin.expose().as_bytes()) {
            Ok(()) => Ok(()),
            Err(yubikey::Error::WrongPin { tries: 0 }) => Err(Error::PinBlocked {
                serial,
                by_this_attempt: true,
            }),
            Err(yubikey::Error::WrongPin { tries }) => Err(Error::WrongPin {
                serial,
                retries_left: tries,
            }),
            Err(e) => Err(self.device.error("verifying the PIN", e)),
        }
    }

    /// Verifies the PIN if the policy is "once" and it is not verified yet.
    pub(crate) fn unlock(&mut self) -> Result<(), Error> {
        if self.key.pin_policy == PinPolicy::Once && !self.pin_verified {
            self.verify_pin()?;
            self.pin_verified = true;
        }
        Ok(())
    }

    /// Signs `message`, verifying the PIN and announcing a touch as the slot's policies need.
    /// `what` completes "touch your YubiKey (serial …) to …".
    pub(crate) fn sign(&mut self, message: &[u8], what: &str) -> Result<Signature, Error> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(Error::MessageTooLong {
                len: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        match self.key.pin_policy {
            PinPolicy::Never => {}
            // A Bio policy accepts the PIN in place of a fingerprint.
            PinPolicy::Once | PinPolicy::MatchOnce => self.unlock()?,
            PinPolicy::Always | PinPolicy::MatchAlways => self.verify_pin()?,
        }
        let touch = match self.key.touch_policy {
            TouchPolicy::Never => false,
            TouchPolicy::Always => true,
            TouchPolicy::Cached => self.last_touch.is_none_or(|t| t.elapsed() >= TOUCH_CACHE),
        };
        if touch {
            self.ui.notify(&format!(
                "touch your YubiKey (serial {}) to {what}",
                self.device.serial
            ));
        }
        let serial = self.device.serial;
        let slot = self.key.slot;
        let output = match piv::sign_data(
            &mut self.device.yk,
            message,
            AlgorithmId::Ed25519,
            slot.piv(),
        ) {
            Ok(output) => output,
            Err(yubikey::Error::AuthenticationError) => return Err(self.explain_refusal()),
            Err(e) => return Err(self.device.error("signing", e)),
        };
        if touch {
            self.last_touch = Some(Instant::now());
        }
        let invalid = |detail: &str| Error::InvalidResponse {
            serial,
            operation: "signing",
            detail: detail.to_owned(),
        };
        let signature =
            Signature::from_slice(&output).map_err(|_| invalid("the signature is not 64 bytes"))?;
        // A device fault must not produce a signature that fails later, far from its cause.
        self.key
            .verifying_key
            .verify_strict(message, &signature)
            .map_err(|_| invalid("the signature does not verify with the slot's public key"))?;
        Ok(signature)
    }

    /// Names the reason behind a "security status not satisfied" answer to a signing command.
    fn explain_refusal(&mut self) -> Error {
        let serial = self.device.serial;
        let slot = self.key.slot;
        let pin_held = match self.key.pin_policy {
            PinPolicy::Never => true,
            // An empty VERIFY answers 9000 while the PIN is verified, and costs no retry.
            _ => self.device.yk.verify_pin(&[]).is_ok(),
        };
        if !pin_held {
            self.pin_verified = false;
            Error::PinVerificationLost { serial, slot }
        } else if self.key.touch_policy.needs_touch() {
            // A YubiKey answers 6982 once its touch window (about 15 s) has passed untouched.
            Error::TouchTimeout { serial, slot }
        } else {
            Error::Refused {
                serial,
                operation: "sign",
            }
        }
    }
}

/// A signer for the Ed25519 key in a YubiKey slot.
///
/// Opening checks the firmware, reads the slot's public key and policies from its metadata,
/// and compares the key with the expected one before anything is signed. Signing verifies the
/// PIN only when the slot's policy needs it — once per signer for "once", before each
/// signature for "always" (the PIN is read from its source each time, so a prompt asks each
/// time) — and tells the user through [`Interaction::notify`] when a touch is needed. Each
/// signature is checked against the slot's public key before it is returned.
///
/// The device stays open (and its PIN verified) until the signer is dropped; dropping it
/// resets the card, which clears the verification. The signer is `Send + Sync`; signatures are
/// made one at a time.
pub struct YubiKeySigner<'ui> {
    session: Mutex<Session<'ui>>,
    verifying_key: VerifyingKey,
    info: DeviceInfo,
}

impl std::fmt::Debug for YubiKeySigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiKeySigner")
            .field("device", &self.info)
            .field("verifying_key", &self.verifying_key)
            .finish_non_exhaustive()
    }
}

impl<'ui> YubiKeySigner<'ui> {
    /// Opens the key `reference` names, with the default [`SignerOptions`]. With `expected`,
    /// refuses a slot holding any other key.
    pub fn open(
        reference: &YubiKeyRef,
        expected: Option<&VerifyingKey>,
        ui: &'ui dyn Interaction,
    ) -> Result<Self, Error> {
        Self::open_with(reference, expected, &SignerOptions::default(), ui)
    }

    /// Opens the key `reference` names. With `expected`, refuses a slot holding any other key.
    pub fn open_with(
        reference: &YubiKeyRef,
        expected: Option<&VerifyingKey>,
        options: &SignerOptions,
        ui: &'ui dyn Interaction,
    ) -> Result<Self, Error> {
        let mut device = Device::open(reference.serial())?;
        device.require_ed25519()?;
        let slot = reference.slot();
        let key = device.slot_key(slot)?.ok_or(Error::SlotEmpty {
            serial: device.serial,
            slot,
        })?;
        if let Some(expected) = expected
            && expected != &key.verifying_key
        {
            return Err(Error::KeyMismatch {
                serial: device.serial,
                slot,
                expected: expected.to_bytes(),
                found: key.verifying_key.to_bytes(),
            });
        }
        let verifying_key = key.verifying_key;
        let session = Session::new(device, key, reference.pin_source_or_prompt(), *options, ui);
        let info = session.info();
        Ok(YubiKeySigner {
            session: Mutex::new(session),
            verifying_key,
            info,
        })
    }

    /// The device and slot, for ceremony transcripts.
    pub fn device_info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The slot.
    pub fn slot(&self) -> Slot {
        self.info.slot
    }

    fn session(&self) -> MutexGuard<'_, Session<'ui>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for and verifies the PIN now, when the slot's PIN policy is "once" and this signer
    /// has not verified it yet, so that a prompt or a wrong PIN comes before long work rather
    /// than at the first signature. Does nothing for "never"; for "always" the PIN is asked
    /// before each signature anyway.
    pub fn unlock(&self) -> Result<(), Error> {
        self.session().unlock()
    }

    /// The slot's attestation — the per-key certificate and the device's F9 certificate — read
    /// through this signer's session, so that a PIN already verified stays verified (opening
    /// the device a second time would clear it). Needs no PIN.
    pub fn attestation(&self) -> Result<Attestation, Error> {
        let mut session = self.session();
        let Session { device, key, .. } = &mut *session;
        attest::attest_device(device, key)
    }

    /// Signs one message, with a typed error (the [`signature::Signer`] impl wraps it).
    pub fn sign_message(&self, message: &[u8]) -> Result<Signature, Error> {
        self.session().sign(message, "sign")
    }

    /// Signs many small messages in one session, calling `progress(done, total)` after each.
    ///
    /// Every message's length is checked before the first signature. If the device fails
    /// part-way (removed, touch not given, …) the error carries the signatures made so far and
    /// says which messages were not signed; nothing is retried.
    pub fn sign_batch<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Signature>, BatchError> {
        let total = messages.len();
        if let Some(long) = messages.iter().find(|m| m.as_ref().len() > MAX_MESSAGE_LEN) {
            return Err(BatchError {
                signatures: Vec::new(),
                total,
                source: Error::MessageTooLong {
                    len: long.as_ref().len(),
                    max: MAX_MESSAGE_LEN,
                },
            });
        }
        let mut session = self.session();
        let mut signatures = Vec::with_capacity(total);
        for (i, message) in messages.iter().enumerate() {
            let what = format!("sign ({} of {total})", i + 1);
            match session.sign(message.as_ref(), &what) {
                Ok(signature) => signatures.push(signature),
                Err(source) => {
                    return Err(BatchError {
                        signatures,
                        total,
                        source,
                    });
                }
            }
            progress(signatures.len(), total);
        }
        Ok(signatures)
    }
}

impl signature::Signer<Signature> for YubiKeySigner<'_> {
    /// Signs; a device failure is a [`signature::Error`] whose source is this module's
    /// [`Error`] (downcast it to act on it).
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        self.sign_message(message)
            .map_err(signature::Error::from_source)
    }
}

impl signature::Keypair for YubiKeySigner<'_> {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}
