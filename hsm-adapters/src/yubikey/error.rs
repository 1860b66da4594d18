//! Errors of the YubiKey backend, each saying what happened and what to do about it.

use std::fmt;

use crate::hex;
use crate::secret::SecretError;

use super::types::{FirmwareVersion, PinPolicy, Slot};

/// Serial numbers as a comma-separated list.
struct Serials<'a>(&'a [u32]);

impl fmt::Display for Serials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, serial) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{serial}")?;
        }
        Ok(())
    }
}

/// Why a YubiKey operation failed.
///
/// Errors never contain a PIN or a management key. [`Error::is_usage`] separates mistakes in
/// what was asked (exit code 2 in the CLI) from device and environment failures (exit code 4).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PC/SC service cannot be reached.
    #[error(
        "cannot reach the PC/SC service: {source} (is pcscd installed and running? On Debian: apt install pcscd)"
    )]
    PcscUnavailable {
        /// The PC/SC error.
        source: pcsc::Error,
    },
    /// No YubiKey is connected.
    #[error("no YubiKey found: plug one in{}", busy_hint(.busy_readers))]
    NoDevice {
        /// Readers holding a card that another program has opened exclusively.
        busy_readers: Vec<String>,
    },
    /// Several YubiKeys are connected and the reference names none.
    #[error(
        "several YubiKeys are connected (serials {}): name one in the key reference, e.g. yubikey:serial={};slot=9c",
        Serials(.serials), .serials.first().copied().unwrap_or_default()
    )]
    SeveralDevices {
        /// Their serial numbers, ascending.
        serials: Vec<u32>,
    },
    /// No connected YubiKey has the serial the reference names.
    #[error(
        "no YubiKey with serial {serial} is connected (connected: {}){}",
        Serials(.connected), busy_hint(.busy_readers)
    )]
    DeviceNotFound {
        /// The serial asked for.
        serial: u32,
        /// The serials of the connected YubiKeys.
        connected: Vec<u32>,
        /// Readers holding a card that another program has opened exclusively.
        busy_readers: Vec<String>,
    },
    /// The firmware predates Ed25519 in PIV.
    #[error(
        "YubiKey {serial} has firmware {found}; Ed25519 keys need firmware {needed} or later (firmware cannot be upgraded: use a newer YubiKey)"
    )]
    FirmwareTooOld {
        /// Serial number.
        serial: u32,
        /// Its firmware.
        found: FirmwareVersion,
        /// The firmware needed.
        needed: FirmwareVersion,
    },
    /// The slot holds no key.
    #[error("slot {slot} of YubiKey {serial} holds no key: create one")]
    SlotEmpty {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
    },
    /// The slot holds a key of another algorithm.
    #[error("slot {slot} of YubiKey {serial} holds a {algorithm} key, not Ed25519")]
    NotEd25519 {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
        /// The algorithm found.
        algorithm: String,
    },
    /// Generation would overwrite a key.
    #[error(
        "slot {slot} of YubiKey {serial} already holds a key; generating would destroy it. Choose another slot, or replace it on purpose (--force) once nothing depends on it"
    )]
    SlotOccupied {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
    },
    /// The slot's key is not the expected one.
    #[error(
        "slot {slot} of YubiKey {serial} holds key {}, not the expected key {}: is this the right YubiKey and slot?",
        hex(.found), hex(.expected)
    )]
    KeyMismatch {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
        /// The key expected.
        expected: [u8; 32],
        /// The key found.
        found: [u8; 32],
    },
    /// The PIN was wrong; some retries are left. Never retried automatically.
    #[error(
        "wrong PIN for YubiKey {serial}: {retries_left} {} left before the PIN is blocked",
        if *.retries_left == 1 { "retry" } else { "retries" }
    )]
    WrongPin {
        /// Serial number.
        serial: u32,
        /// Retries left.
        retries_left: u8,
    },
    /// The PIN is blocked.
    #[error(
        "the PIN of YubiKey {serial} is blocked{}: unblock it with the PUK (`ykman piv access unblock-pin`)",
        if *.by_this_attempt { " (that was the last retry)" } else { "; no PIN was sent" }
    )]
    PinBlocked {
        /// Serial number.
        serial: u32,
        /// Whether the PIN just sent used the last retry (else it was blocked already and no
        /// PIN was sent).
        by_this_attempt: bool,
    },
    /// One PIN retry is left and the caller did not allow spending it; no PIN was sent.
    #[error(
        "the PIN of YubiKey {serial} has only ONE retry left; no PIN was sent, because a wrong \
         one would block it. Make sure the PIN source is right, then allow the final try \
         explicitly"
    )]
    PinFinalTry {
        /// Serial number.
        serial: u32,
    },
    /// The PIN has the wrong length; it was not sent, so no retry was used.
    #[error(
        "the PIN for YubiKey {serial} must be 6 to 8 bytes long, got {len}; it was not sent, so no retry was used"
    )]
    PinFormat {
        /// Serial number.
        serial: u32,
        /// The length given.
        len: usize,
    },
    /// A PIN or management key could not be read from its source.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The management key text is not a key for this YubiKey.
    #[error("management key for YubiKey {serial}: {reason}; nothing was sent to the device")]
    ManagementKeyFormat {
        /// Serial number.
        serial: u32,
        /// What is wrong.
        reason: String,
    },
    /// The YubiKey's management key is not the default, and none was given.
    #[error(
        "YubiKey {serial} does not use the default management key: give yours with management-key-source=file:PATH, env:NAME or prompt in the key reference"
    )]
    ManagementKeyRequired {
        /// Serial number.
        serial: u32,
    },
    /// The YubiKey rejected the management key.
    #[error(
        "YubiKey {serial} rejected the management key from {origin}: it is not the management key set on this YubiKey"
    )]
    ManagementKeyRejected {
        /// Serial number.
        serial: u32,
        /// Where the key came from ("the default management key", "file /run/mgm", …).
        origin: String,
    },
    /// A touch was needed and did not come in time.
    #[error(
        "YubiKey {serial} was not touched in time (slot {slot} needs a touch to sign): run again and touch the YubiKey when it blinks"
    )]
    TouchTimeout {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
    },
    /// The YubiKey forgot the PIN between signatures.
    #[error(
        "YubiKey {serial} no longer holds the PIN verification for slot {slot}: another program probably used or reset it; run again"
    )]
    PinVerificationLost {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
    },
    /// The YubiKey refused an operation for a reason it does not name.
    #[error("YubiKey {serial} refused to {operation} (security status not satisfied)")]
    Refused {
        /// Serial number.
        serial: u32,
        /// What was refused.
        operation: &'static str,
    },
    /// The YubiKey was pulled out.
    #[error("YubiKey {serial} was removed while {operation}")]
    DeviceRemoved {
        /// Serial number.
        serial: u32,
        /// What was going on.
        operation: &'static str,
    },
    /// Another program reset the YubiKey.
    #[error(
        "YubiKey {serial} was reset by another program while {operation}; close other programs using it and run again"
    )]
    DeviceReset {
        /// Serial number.
        serial: u32,
        /// What was going on.
        operation: &'static str,
    },
    /// A message above the size a YubiKey signs.
    #[error(
        "message is {len} bytes; a YubiKey signs at most {max} (sign a digest of the payload, as Hallmark's formats do)"
    )]
    MessageTooLong {
        /// The message's length.
        len: usize,
        /// The largest message accepted.
        max: usize,
    },
    /// The certificate subject is not an RFC 4514 name.
    #[error(
        "certificate subject {subject:?} is not a distinguished name such as \"CN=Release signing key\""
    )]
    BadSubject {
        /// The subject given.
        subject: String,
    },
    /// A key generation asked for a YubiKey Bio PIN policy, which only attestations report.
    #[error("PIN policy {policy} cannot be set when generating a key: use never, once or always")]
    PinPolicyNotGenerated {
        /// The policy asked for.
        policy: PinPolicy,
    },
    /// A key was generated but its certificate could not be made or stored.
    #[error(
        "slot {slot} of YubiKey {serial} now holds a new key ({}) but its certificate was not written: {source}. Run the generation again with --force to replace the key",
        hex(.public_key)
    )]
    CertificateNotWritten {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
        /// The new key.
        public_key: [u8; 32],
        /// Why the certificate was not written.
        source: Box<Error>,
    },
    /// Attestation is not possible for this key or device.
    #[error("cannot attest slot {slot} of YubiKey {serial}: {reason}")]
    AttestationUnavailable {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
        /// Why.
        reason: String,
    },
    /// The YubiKey answered with something that makes no sense.
    #[error("YubiKey {serial} gave an invalid answer while {operation}: {detail}")]
    InvalidResponse {
        /// Serial number.
        serial: u32,
        /// What was going on.
        operation: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Building the slot's certificate failed.
    #[error("building the certificate for slot {slot} of YubiKey {serial}: {detail}")]
    Certificate {
        /// Serial number.
        serial: u32,
        /// The slot.
        slot: Slot,
        /// What failed.
        detail: String,
    },
    /// Another device error, with the operation that failed.
    #[error("YubiKey {}: {operation} failed: {source}", .serial.map_or_else(|| "(unknown serial)".to_owned(), |s| s.to_string()))]
    Device {
        /// Serial number, when known.
        serial: Option<u32>,
        /// What was going on.
        operation: &'static str,
        /// The `yubikey` crate's error.
        source: yubikey::Error,
    },
}

fn busy_hint(busy: &[String]) -> String {
    if busy.is_empty() {
        String::new()
    } else {
        format!(
            " (the card in {} is held by another program: close it, e.g. gpg-agent or scdaemon)",
            busy.join(", ")
        )
    }
}

impl Error {
    /// Whether the error is a mistake in the request rather than a device or environment
    /// failure: a bad PIN format, a message too long, a bad subject, a secret that could not be
    /// read, and — as for PKCS#11 tokens and keys — a reference that names no single YubiKey
    /// (several connected, none named), an empty slot, a slot holding another key or another
    /// algorithm than expected, a slot that is already taken, or a management key that was
    /// needed and not given.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::PinFormat { .. }
                | Error::Secret(_)
                | Error::ManagementKeyFormat { .. }
                | Error::ManagementKeyRequired { .. }
                | Error::MessageTooLong { .. }
                | Error::BadSubject { .. }
                | Error::PinPolicyNotGenerated { .. }
                | Error::SeveralDevices { .. }
                | Error::SlotEmpty { .. }
                | Error::SlotOccupied { .. }
                | Error::KeyMismatch { .. }
                | Error::NotEd25519 { .. }
        )
    }

    /// A stable name for the error, for scripts (`--json` output) and the error table in
    /// `docs/hardware/yubikey.md`; the message may change wording, this does not.
    pub fn code(&self) -> &'static str {
        match self {
            Error::PcscUnavailable { .. } => "yubikey-pcsc-unavailable",
            Error::NoDevice { .. } => "yubikey-no-device",
            Error::SeveralDevices { .. } => "yubikey-several-devices",
            Error::DeviceNotFound { .. } => "yubikey-not-connected",
            Error::FirmwareTooOld { .. } => "yubikey-firmware-too-old",
            Error::SlotEmpty { .. } => "yubikey-slot-empty",
            Error::NotEd25519 { .. } => "yubikey-not-ed25519",
            Error::SlotOccupied { .. } => "yubikey-slot-occupied",
            Error::KeyMismatch { .. } => "yubikey-key-mismatch",
            Error::WrongPin { .. } => "yubikey-wrong-pin",
            Error::PinBlocked { .. } => "yubikey-pin-blocked",
            Error::PinFinalTry { .. } => "yubikey-pin-final-try",
            Error::PinFormat { .. } => "yubikey-pin-format",
            Error::Secret(_) => "secret-unavailable",
            Error::ManagementKeyFormat { .. } => "yubikey-management-key-format",
            Error::ManagementKeyRequired { .. } => "yubikey-management-key-required",
            Error::ManagementKeyRejected { .. } => "yubikey-management-key-rejected",
            Error::TouchTimeout { .. } => "yubikey-touch-timeout",
            Error::PinVerificationLost { .. } => "yubikey-pin-verification-lost",
            Error::Refused { .. } => "yubikey-refused",
            Error::DeviceRemoved { .. } => "yubikey-removed",
            Error::DeviceReset { .. } => "yubikey-reset",
            Error::MessageTooLong { .. } => "yubikey-message-too-long",
            Error::BadSubject { .. } => "yubikey-bad-subject",
            Error::PinPolicyNotGenerated { .. } => "yubikey-pin-policy-not-generated",
            Error::CertificateNotWritten { .. } => "yubikey-certificate-not-written",
            Error::AttestationUnavailable { .. } => "yubikey-attestation-unavailable",
            Error::InvalidResponse { .. } => "yubikey-invalid-response",
            Error::Certificate { .. } => "yubikey-certificate",
            Error::Device { .. } => "yubikey-device",
        }
    }
}

/// A batch stopped part-way: what was signed, and why the rest was not.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", self.summary())]
pub struct BatchError {
    /// Signatures of the first `signatures.len()` messages, in order.
    pub signatures: Vec<ed25519_dalek::Signature>,
    /// How many messages the batch had.
    pub total: usize,
    /// Why it stopped.
    #[source]
    pub source: Error,
}

impl BatchError {
    fn summary(&self) -> String {
        let done = self.signatures.len();
        let first_missing = done + 1;
        let not_signed = if first_missing == self.total {
            format!("message {first_missing} was not signed")
        } else {
            format!("messages {first_missing} to {} were not signed", self.total)
        };
        match done {
            0 => format!("no message of {} was signed", self.total),
            1 => format!("signed message 1 of {}; {not_signed}", self.total),
            _ => format!(
                "signed messages 1 to {done} of {}; {not_signed}",
                self.total
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_to_do() {
        assert_eq!(
            Error::SeveralDevices {
                serials: vec![111, 222]
            }
            .to_string(),
            "several YubiKeys are connected (serials 111, 222): name one in the key reference, e.g. yubikey:serial=111;slot=9c"
        );
        assert_eq!(
            Error::WrongPin {
                serial: 5,
                retries_left: 1
            }
            .to_string(),
            "wrong PIN for YubiKey 5: 1 retry left before the PIN is blocked"
        );
        assert_eq!(
            Error::DeviceNotFound {
                serial: 9,
                connected: vec![],
                busy_readers: vec![]
            }
            .to_string(),
            "no YubiKey with serial 9 is connected (connected: none)"
        );
        assert_eq!(
            Error::NoDevice {
                busy_readers: vec!["Yubico YubiKey OTP+FIDO+CCID 00 00".into()]
            }
            .to_string(),
            "no YubiKey found: plug one in (the card in Yubico YubiKey OTP+FIDO+CCID 00 00 is \
             held by another program: close it, e.g. gpg-agent or scdaemon)"
        );
        assert!(
            Error::MessageTooLong {
                len: 2000,
                max: 1000
            }
            .is_usage()
        );
        assert!(
            !Error::NoDevice {
                busy_readers: vec![]
            }
            .is_usage()
        );
    }

    #[test]
    fn batch_errors_say_what_was_and_was_not_signed() {
        let sig = ed25519_dalek::Signature::from_bytes(&[0; 64]);
        let removed = || Error::DeviceRemoved {
            serial: 7,
            operation: "signing",
        };
        let cases = [
            (
                0,
                10,
                "no message of 10 was signed: YubiKey 7 was removed while signing",
            ),
            (
                1,
                10,
                "signed message 1 of 10; messages 2 to 10 were not signed: YubiKey 7 was removed while signing",
            ),
            (
                3,
                10,
                "signed messages 1 to 3 of 10; messages 4 to 10 were not signed: YubiKey 7 was removed while signing",
            ),
            (
                9,
                10,
                "signed messages 1 to 9 of 10; message 10 was not signed: YubiKey 7 was removed while signing",
            ),
        ];
        for (done, total, message) in cases {
            let err = BatchError {
                signatures: vec![sig; done],
                total,
                source: removed(),
            };
            assert_eq!(err.to_string(), message);
        }
    }
}
