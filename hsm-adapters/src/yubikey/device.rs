//! Finding and opening YubiKeys, and turning the `yubikey` crate's errors into [`Error`]s.

use std::ffi::CString;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use yubikey::piv::{self, AlgorithmId, ManagementSlotId, SlotAlgorithmId, SlotId};
use yubikey::{MgmAlgorithmId, MgmKey, YubiKey};
use zeroize::Zeroizing;

use crate::interact::Interaction;
use crate::secret::SecretSource;

use super::error::Error;
use super::types::{
    DeviceInfo, ED25519_MIN_FIRMWARE, FirmwareVersion, KeyOrigin, PinPolicy, Slot, SlotKey,
    TouchPolicy,
};

/// How long an unexplained failure waits for pcscd to report the card removed (pcscd polls
/// some readers only every few hundred milliseconds).
const REMOVAL_GRACE: Duration = Duration::from_secs(2);

/// An open YubiKey with its identity.
pub(crate) struct Device {
    pub(crate) yk: YubiKey,
    pub(crate) serial: u32,
    pub(crate) firmware: FirmwareVersion,
    pub(crate) reader: String,
}

/// Every YubiKey that could be opened, by ascending serial, and the readers whose card another
/// program holds exclusively.
fn open_every() -> Result<(Vec<Device>, Vec<String>), Error> {
    let mut ctx = yubikey::reader::Context::open().map_err(|e| match e {
        yubikey::Error::PcscError {
            inner: Some(source),
        } => Error::PcscUnavailable { source },
        source => Error::Device {
            serial: None,
            operation: "opening PC/SC",
            source,
        },
    })?;
    let readers = match ctx.iter() {
        Ok(readers) => readers,
        Err(yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoReadersAvailable),
        }) => {
            return Ok((Vec::new(), Vec::new()));
        }
        Err(yubikey::Error::PcscError {
            inner: Some(source),
        }) => {
            return Err(Error::PcscUnavailable { source });
        }
        Err(source) => {
            return Err(Error::Device {
                serial: None,
                operation: "listing readers",
                source,
            });
        }
    };
    let mut devices = Vec::new();
    let mut busy = Vec::new();
    for reader in readers {
        match reader.open() {
            Ok(yk) => {
                let serial = yk.serial().0;
                let firmware = FirmwareVersion::from(yk.version());
                devices.push(Device {
                    yk,
                    serial,
                    firmware,
                    reader: reader.name().into_owned(),
                });
            }
            Err(yubikey::Error::PcscError {
                inner: Some(pcsc::Error::SharingViolation),
            }) => {
                busy.push(reader.name().into_owned());
            }
            // An empty reader, or a card that is not a YubiKey with PIV.
            Err(_) => {}
        }
    }
    devices.sort_by_key(|d| d.serial);
    Ok((devices, busy))
}

impl Device {
    /// Opens the YubiKey with `serial`, or the only one connected.
    ///
    /// Every connected card is selected to learn its serial (the PIV application has no other
    /// way to say it), which clears any PIN verification those cards held; the cards not
    /// chosen are otherwise left as they were.
    pub(crate) fn open(serial: Option<u32>) -> Result<Device, Error> {
        let (devices, busy_readers) = open_every()?;
        let connected: Vec<u32> = devices.iter().map(|d| d.serial).collect();
        let chosen = match serial {
            Some(serial) => connected.iter().position(|s| *s == serial),
            None if devices.len() == 1 => Some(0),
            None => None,
        };
        let mut chosen_device = None;
        for (i, device) in devices.into_iter().enumerate() {
            if Some(i) == chosen {
                chosen_device = Some(device);
            } else {
                device.leave();
            }
        }
        match (chosen_device, serial) {
            (Some(device), _) => Ok(device),
            (None, Some(serial)) => Err(Error::DeviceNotFound {
                serial,
                connected,
                busy_readers,
            }),
            (None, None) if connected.is_empty() => Err(Error::NoDevice { busy_readers }),
            (None, None) => Err(Error::SeveralDevices { serials: connected }),
        }
    }

    /// Opens every connected YubiKey.
    pub(crate) fn open_all() -> Result<Vec<Device>, Error> {
        open_every().map(|(devices, _)| devices)
    }

    /// Disconnects without resetting the card.
    pub(crate) fn leave(self) {
        // Nothing to do if it fails: the card is dropped (and reset) instead.
        let _ = self.yk.disconnect(pcsc::Disposition::LeaveCard);
    }

    /// What a caller may record about this device and the key in `key`'s slot.
    pub(crate) fn info(&self, key: &SlotKey) -> DeviceInfo {
        DeviceInfo {
            serial: self.serial,
            firmware: self.firmware,
            reader: self.reader.clone(),
            slot: key.slot,
            pin_policy: key.pin_policy,
            touch_policy: key.touch_policy,
            origin: key.origin,
            form_factor: None,
        }
    }

    /// Refuses firmware that predates Ed25519.
    pub(crate) fn require_ed25519(&self) -> Result<(), Error> {
        if self.firmware < ED25519_MIN_FIRMWARE {
            return Err(Error::FirmwareTooOld {
                serial: self.serial,
                found: self.firmware,
                needed: ED25519_MIN_FIRMWARE,
            });
        }
        Ok(())
    }

    /// Maps a crate error during `operation` to an [`Error`], telling a removed or reset card
    /// from other failures.
    ///
    /// A card pulled out during a command often surfaces as an empty reply (the crate's
    /// "generic error") or a failed transaction before PC/SC reports it removed; for those,
    /// this waits up to [`REMOVAL_GRACE`] for pcscd to report the reader empty.
    pub(crate) fn error(&self, operation: &'static str, source: yubikey::Error) -> Error {
        let serial = self.serial;
        let removed = Error::DeviceRemoved { serial, operation };
        match source {
            yubikey::Error::PcscError {
                inner:
                    Some(
                        pcsc::Error::RemovedCard
                        | pcsc::Error::NoSmartcard
                        | pcsc::Error::ReaderUnavailable
                        | pcsc::Error::UnknownReader,
                    ),
            } => removed,
            yubikey::Error::PcscError {
                inner: Some(pcsc::Error::ResetCard),
            } => Error::DeviceReset { serial, operation },
            yubikey::Error::PcscError { .. } | yubikey::Error::GenericError
                if self.card_leaves_within(REMOVAL_GRACE) =>
            {
                removed
            }
            source => Error::Device {
                serial: Some(serial),
                operation,
                source,
            },
        }
    }

    /// Whether pcscd reports this device's reader empty now or within `grace`.
    fn card_leaves_within(&self, grace: Duration) -> bool {
        let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
            return false;
        };
        let Ok(name) = CString::new(self.reader.as_str()) else {
            return false;
        };
        let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
        let gone = |state: pcsc::State| {
            state.intersects(pcsc::State::EMPTY | pcsc::State::UNKNOWN | pcsc::State::UNAVAILABLE)
        };
        if ctx.get_status_change(Duration::ZERO, &mut states).is_err() {
            return false;
        }
        let deadline = std::time::Instant::now() + grace;
        while !gone(states[0].event_state()) {
            states[0].sync_current_state();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || ctx.get_status_change(left, &mut states).is_err() {
                return false;
            }
        }
        true
    }

    /// The key in `slot`, if any, as its metadata describes it. Needs firmware 5.3 or later.
    pub(crate) fn slot_key(&mut self, slot: Slot) -> Result<Option<SlotKey>, Error> {
        let metadata = match piv::metadata(&mut self.yk, slot.piv()) {
            Ok(metadata) => metadata,
            Err(yubikey::Error::NotFound) => return Ok(None),
            Err(e) => return Err(self.error("reading the slot's metadata", e)),
        };
        let invalid = |detail: String| Error::InvalidResponse {
            serial: self.serial,
            operation: "reading the slot's metadata",
            detail,
        };
        match metadata.algorithm {
            SlotAlgorithmId::Asymmetric(AlgorithmId::Ed25519) => {}
            SlotAlgorithmId::Asymmetric(other) => {
                return Err(Error::NotEd25519 {
                    serial: self.serial,
                    slot,
                    algorithm: format!("{other:?}"),
                });
            }
            other => return Err(invalid(format!("a key slot reported algorithm {other:?}"))),
        }
        let public = metadata
            .public
            .ok_or_else(|| invalid("no public key".to_owned()))?;
        let bytes: [u8; 32] = public
            .subject_public_key
            .as_bytes()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| invalid("the public key is not 32 bytes".to_owned()))?;
        let verifying_key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| invalid("the public key is not an Ed25519 point".to_owned()))?;
        let (pin, touch) = metadata
            .policy
            .ok_or_else(|| invalid("no PIN and touch policy".to_owned()))?;
        Ok(Some(SlotKey {
            slot,
            verifying_key,
            pin_policy: PinPolicy::from_piv(pin, slot),
            touch_policy: TouchPolicy::from_piv(touch),
            origin: metadata.origin.map(|o| match o {
                piv::Origin::Generated => KeyOrigin::Generated,
                piv::Origin::Imported => KeyOrigin::Imported,
            }),
        }))
    }

    /// The PIN's retries left and whether it is still the factory default, from the PIN's
    /// metadata; neither costs a retry nor clears a verification.
    pub(crate) fn pin_status(&mut self) -> Result<(u8, bool), Error> {
        match piv::metadata(&mut self.yk, SlotId::Management(ManagementSlotId::Pin)) {
            Ok(metadata) => {
                let retries = metadata.retries.map(|r| r.remaining_count).ok_or_else(|| {
                    Error::InvalidResponse {
                        serial: self.serial,
                        operation: "reading the PIN's metadata",
                        detail: "no retry counter".to_owned(),
                    }
                })?;
                Ok((retries, metadata.default.unwrap_or(false)))
            }
            // Firmware before 5.3: an empty VERIFY reports the retries without using one.
            Err(yubikey::Error::NotSupported) => match self.yk.verify_pin(&[]) {
                Ok(()) => Ok((u8::MAX, false)),
                Err(yubikey::Error::WrongPin { tries }) => Ok((tries, false)),
                Err(e) => Err(self.error("reading the PIN retry counter", e)),
            },
            Err(e) => Err(self.error("reading the PIN's metadata", e)),
        }
    }

    /// Authenticates with the management key from `source`, or with the default key.
    pub(crate) fn authenticate_management(
        &mut self,
        source: Option<&SecretSource>,
        ui: &dyn Interaction,
    ) -> Result<(), Error> {
        let serial = self.serial;
        let (algorithm, is_default) = match piv::metadata(
            &mut self.yk,
            SlotId::Management(ManagementSlotId::Management),
        ) {
            Ok(metadata) => match metadata.algorithm {
                SlotAlgorithmId::Management(algorithm) => (algorithm, metadata.default),
                other => {
                    return Err(Error::InvalidResponse {
                        serial,
                        operation: "reading the management key's metadata",
                        detail: format!("the management key reported algorithm {other:?}"),
                    });
                }
            },
            Err(yubikey::Error::NotSupported) => (MgmAlgorithmId::ThreeDes, None),
            Err(e) => return Err(self.error("reading the management key's metadata", e)),
        };
        let (key, origin) = match source {
            None => {
                if is_default == Some(false) {
                    return Err(Error::ManagementKeyRequired { serial });
                }
                ui.warn(&format!(
                    "YubiKey {serial} uses the default PIV management key, which is public: anyone \
                     holding this YubiKey can replace its keys. Set your own management key \
                     (see docs/hardware/yubikey.md)."
                ));
                let key = MgmKey::from_bytes(DEFAULT_MANAGEMENT_KEY, Some(algorithm))
                    .or_else(|_| MgmKey::get_default(&self.yk))
                    .map_err(|_| Error::ManagementKeyFormat {
                        serial,
                        reason: format!(
                            "the default key does not fit its {} algorithm",
                            algorithm_name(algorithm)
                        ),
                    })?;
                (key, "the default management key".to_owned())
            }
            Some(source) => {
                let secret = source.read(&format!("management key for YubiKey {serial}"), ui)?;
                let bytes =
                    parse_hex(secret.expose()).ok_or_else(|| Error::ManagementKeyFormat {
                        serial,
                        reason: "expected hexadecimal digits only".to_owned(),
                    })?;
                let expected = key_len(algorithm);
                if bytes.len() != expected {
                    return Err(Error::ManagementKeyFormat {
                        serial,
                        reason: format!(
                            "this YubiKey has a {} management key, which is {} hex digits; got {}",
                            algorithm_name(algorithm),
                            expected * 2,
                            bytes.len() * 2
                        ),
                    });
                }
                let key = MgmKey::from_bytes(&*bytes, Some(algorithm)).map_err(|_| {
                    Error::ManagementKeyFormat {
                        serial,
                        reason: format!("not a valid {} key", algorithm_name(algorithm)),
                    }
                })?;
                (key, source.to_string())
            }
        };
        self.yk.authenticate(&key).map_err(|e| match e {
            yubikey::Error::AuthenticationError => Error::ManagementKeyRejected { serial, origin },
            e => self.error("authenticating with the management key", e),
        })
    }
}

/// The PIV default management key: public knowledge, to be changed before real use.
const DEFAULT_MANAGEMENT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

fn algorithm_name(algorithm: MgmAlgorithmId) -> &'static str {
    match algorithm {
        MgmAlgorithmId::ThreeDes => "3DES",
        MgmAlgorithmId::Aes128 => "AES-128",
        MgmAlgorithmId::Aes192 => "AES-192",
        MgmAlgorithmId::Aes256 => "AES-256",
    }
}

fn key_len(algorithm: MgmAlgorithmId) -> usize {
    match algorithm {
        MgmAlgorithmId::ThreeDes | MgmAlgorithmId::Aes192 => 24,
        MgmAlgorithmId::Aes128 => 16,
        MgmAlgorithmId::Aes256 => 32,
    }
}

/// Decodes hex, ignoring surrounding whitespace; `None` for anything else.
fn parse_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Zeroizing::new(vec![0; text.len() / 2]);
    base16ct::mixed::decode(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict() {
        assert_eq!(
            parse_hex(" 0a0B\n").as_deref().map(|v| &v[..]),
            Some(&[0x0a, 0x0b][..])
        );
        for bad in ["0", "0g", "0a 0b", "+1", "éé"] {
            assert!(parse_hex(bad).is_none(), "{bad:?}");
        }
    }
}
