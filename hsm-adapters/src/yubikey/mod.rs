//! Ed25519 keys in YubiKey PIV slots (firmware 5.7 and later), through the `yubikey` crate and
//! PC/SC.
//!
//! A key is named by a [`YubiKeyRef`] (`yubikey:serial=12345678;slot=9c`). The operations:
//!
//! * [`generate`] — make a key on the device (PIN and touch policies chosen at birth, never
//!   changeable) and write a self-signed certificate for it to the slot;
//! * [`YubiKeySigner::open`] — a [`signature::Signer`] and [`signature::Keypair`] for the key,
//!   checked against the expected public key before it signs, with
//!   [`YubiKeySigner::sign_batch`] for many small messages in one session;
//! * [`attest`] — export the per-key attestation certificate and the device's F9 certificate
//!   (also through an open signer: [`YubiKeySigner::attestation`]);
//! * [`list`] — the connected YubiKeys and the Ed25519 keys they hold.
//!
//! Every failure is an [`Error`] that names the device (by serial), the slot, and what to do:
//! plug a YubiKey in, name one of several, use newer firmware, enter the PIN again (with the
//! retries left), unblock a blocked PIN, touch the key in time.
//!
//! # PINs and retries
//!
//! A PIN is read from the reference's `pin-source` (default: a prompt through the
//! [`Interaction`](crate::interact::Interaction)) only when the slot's PIN policy needs it.
//! Before a PIN is sent, the retry counter is read (from the PIN's metadata, which costs
//! nothing) and a blocked PIN is reported without sending anything; when one retry is left the
//! PIN is not sent either unless [`SignerOptions`] (or [`GenerateOptions`]) allow the final
//! try, because a wrong one would block it; a PIN
//! that is not 6 to 8 bytes long is refused without sending it. A wrong PIN is reported with the
//! retries left and is never retried automatically.
//!
//! # Known limits of the `yubikey` crate (0.9.0-rc.0)
//!
//! * It keeps a copy of the last verified PIN in a plain `Vec<u8>` for the life of the open
//!   device (to re-verify after a reconnect), which is not zeroized when freed. This module
//!   drops the device as soon as the signer or operation ends.
//! * At `trace` log level it logs every APDU, PIN included: never enable `yubikey=trace`
//!   logging outside a throwaway test.
//! * It signs at most about 1,010 bytes ([`MAX_MESSAGE_LEN`] is enforced before that).
//! * Its own self-signed certificate helper pre-hashes Ed25519 input; [`generate`] builds the
//!   certificate with `x509-cert` and signs the exact to-be-signed bytes instead.
//! * An empty reply to ATTEST, or a reply to GENERATE too short to hold a key, would panic
//!   inside it; [`attest`] and [`generate`] catch that (not possible with `panic = "abort"`).
//! * It does not expose the device's form factor except through attestation.

mod attest;
mod device;
mod error;
mod generate;
mod reference;
mod signer;
mod types;

pub use attest::{Attestation, attest};
pub use error::{BatchError, Error};
pub use generate::{GenerateOptions, GeneratedKey, generate, import};
pub use reference::{RefError, YubiKeyRef};
pub use signer::{MAX_MESSAGE_LEN, SignerOptions, YubiKeySigner};
pub use types::{
    DeviceInfo, DeviceReport, ED25519_MIN_FIRMWARE, FirmwareVersion, FormFactor, KeyOrigin,
    PinPolicy, PinPolicyParseError, Slot, SlotKey, SlotParseError, TouchPolicy,
    TouchPolicyParseError,
};

use device::Device;

/// The connected YubiKeys, by ascending serial, with the Ed25519 keys each holds.
///
/// Needs no PIN. Opening each YubiKey selects its PIV application, which clears a PIN
/// verification another program may hold on it.
pub fn list() -> Result<Vec<DeviceReport>, Error> {
    let mut reports = Vec::new();
    for mut device in Device::open_all()? {
        let supports_ed25519 = device.require_ed25519().is_ok();
        let mut keys = Vec::new();
        if supports_ed25519 {
            for slot in Slot::all() {
                match device.slot_key(slot) {
                    Ok(Some(key)) => keys.push(key),
                    Ok(None) | Err(Error::NotEd25519 { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        reports.push(DeviceReport {
            serial: device.serial,
            firmware: device.firmware,
            reader: device.reader.clone(),
            supports_ed25519,
            keys,
        });
        device.leave();
    }
    Ok(reports)
}
