//! `yubikey:` key references.
//!
//! ```text
//! yubikey:slot=9c
//! yubikey:serial=12345678;slot=9c
//! yubikey:serial=12345678;slot=9c?pin-source=file:/run/hallmark/pin&management-key-source=prompt
//! ```
//!
//! Path attributes, separated by `;`, name the key: `slot` (required: `9a`, `9c`, `9d`, `9e`
//! or `82`–`95`, any case) and `serial` (decimal; optional when exactly one YubiKey is
//! connected). Query attributes after `?`, separated by `&`, say where secrets come from, in
//! [`SecretSource`] text: `prompt`, `file:PATH` or `env:NAME`. `pin-source` defaults to
//! `prompt`; without `management-key-source` the well-known default management key is tried
//! (with a warning), which is only right for a YubiKey still in its factory state. A value
//! may percent-encode any byte (`%26` for `&`); the printed form encodes everything outside
//! `A–Z a–z 0–9 - . _ ~ / : , + @ =`, so parsing what [`YubiKeyRef`] prints gives it back.
//!
//! Secrets are never values in a reference: `pin-value=` and `management-key=` are refused,
//! because a reference travels through argv, shell history and logs.

use std::fmt;
use std::str::FromStr;

use crate::secret::SecretSource;

use super::types::Slot;

/// Where a key lives on a YubiKey, and where its secrets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YubiKeyRef {
    serial: Option<u32>,
    slot: Slot,
    pin_source: Option<SecretSource>,
    management_key_source: Option<SecretSource>,
}

impl YubiKeyRef {
    /// A reference to `slot` on the only connected YubiKey.
    pub fn new(slot: Slot) -> Self {
        YubiKeyRef {
            serial: None,
            slot,
            pin_source: None,
            management_key_source: None,
        }
    }

    /// The same reference, naming the YubiKey with this serial number.
    pub fn with_serial(mut self, serial: u32) -> Self {
        self.serial = Some(serial);
        self
    }

    /// The same reference, reading the PIN from `source`.
    pub fn with_pin_source(mut self, source: SecretSource) -> Self {
        self.pin_source = Some(source);
        self
    }

    /// The same reference, reading the management key (hex) from `source`.
    pub fn with_management_key_source(mut self, source: SecretSource) -> Self {
        self.management_key_source = Some(source);
        self
    }

    /// The serial number, if the reference names one.
    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    /// The slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Where the PIN comes from, if the reference says.
    pub fn pin_source(&self) -> Option<&SecretSource> {
        self.pin_source.as_ref()
    }

    /// Where the PIN comes from: the reference's `pin-source`, or a prompt.
    pub fn pin_source_or_prompt(&self) -> SecretSource {
        self.pin_source.clone().unwrap_or(SecretSource::Prompt)
    }

    /// Where the management key comes from, if the reference says.
    pub fn management_key_source(&self) -> Option<&SecretSource> {
        self.management_key_source.as_ref()
    }
}

/// Why a `yubikey:` reference does not parse. These are usage errors: nothing was sent to a
/// device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The text is not a `yubikey:` reference.
    #[error("key reference {0:?} does not start with `yubikey:`")]
    NotYubiKey(String),
    /// No slot.
    #[error(
        "YubiKey reference {0:?} names no slot: add one, e.g. `yubikey:slot=9c` (slots: 9a, 9c, 9d, 9e, 82 to 95)"
    )]
    MissingSlot(String),
    /// The slot is not a key slot.
    #[error(transparent)]
    BadSlot(#[from] super::types::SlotParseError),
    /// The serial is not a decimal `u32`.
    #[error(
        "YubiKey serial {0:?} is not a decimal number (it is printed on the YubiKey and shown by `ykman list --serials`)"
    )]
    BadSerial(String),
    /// An attribute has no `=`.
    #[error("attribute {0:?} in YubiKey reference has no `=`")]
    NoValue(String),
    /// An attribute appears twice.
    #[error("attribute {0:?} appears twice in YubiKey reference")]
    Duplicate(String),
    /// An attribute is not known in its part of the reference.
    #[error(
        "unknown attribute {name:?} in YubiKey reference: use serial and slot before `?`, pin-source and management-key-source after it"
    )]
    Unknown {
        /// The attribute's name.
        name: String,
    },
    /// A secret given as a value.
    #[error(
        "{name} is not accepted: a secret in a key reference ends up in argv, shell history and logs; use {source_attribute}=file:PATH, env:NAME or prompt"
    )]
    SecretValue {
        /// The refused attribute.
        name: String,
        /// The attribute to use instead.
        source_attribute: &'static str,
    },
    /// A `…-source` value is not `prompt`, `file:PATH` or `env:NAME`.
    #[error("invalid {name} {value:?}: use prompt, file:PATH or env:NAME")]
    BadSource {
        /// The attribute.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A bad percent-encoding.
    #[error(
        "bad percent-encoding in YubiKey reference value {0:?}: use %XX with two hex digits, as UTF-8"
    )]
    BadEncoding(String),
}

fn percent_decode(text: &str) -> Result<String, RefError> {
    let bad = || RefError::BadEncoding(text.to_owned());
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn percent_encode(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:,+@=".contains(&b) {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

fn parse_source(name: &'static str, value: &str) -> Result<SecretSource, RefError> {
    let bad = || RefError::BadSource {
        name,
        value: value.to_owned(),
    };
    // In a reference a source is always explicit: a bare path would make `pin-source=123456`
    // look like a PIN and read a file named 123456.
    if value != "prompt" && !value.starts_with("file:") && !value.starts_with("env:") {
        return Err(bad());
    }
    SecretSource::parse(value).map_err(|_| bad())
}

fn source_text(source: &SecretSource) -> String {
    match source {
        SecretSource::Prompt => "prompt".to_owned(),
        SecretSource::File(path) => format!("file:{}", path.to_string_lossy()),
        SecretSource::Env(name) => format!("env:{name}"),
    }
}

fn split_attribute(part: &str) -> Result<(&str, &str), RefError> {
    part.split_once('=')
        .ok_or_else(|| RefError::NoValue(part.to_owned()))
}

impl FromStr for YubiKeyRef {
    type Err = RefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let body = text
            .strip_prefix("yubikey:")
            .ok_or_else(|| RefError::NotYubiKey(text.to_owned()))?;
        let (path, query) = match body.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (body, None),
        };

        let mut serial = None;
        let mut slot = None;
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = split_attribute(part)?;
            let value = percent_decode(value)?;
            match name {
                "serial" => {
                    if serial.is_some() {
                        return Err(RefError::Duplicate(name.to_owned()));
                    }
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(RefError::BadSerial(value));
                    }
                    serial = Some(
                        value
                            .parse::<u32>()
                            .map_err(|_| RefError::BadSerial(value))?,
                    );
                }
                "slot" => {
                    if slot.is_some() {
                        return Err(RefError::Duplicate(name.to_owned()));
                    }
                    slot = Some(value.parse::<Slot>()?);
                }
                "pin-value" | "pin" => {
                    return Err(RefError::SecretValue {
                        name: name.to_owned(),
                        source_attribute: "pin-source",
                    });
                }
                "management-key" => {
                    return Err(RefError::SecretValue {
                        name: name.to_owned(),
                        source_attribute: "management-key-source",
                    });
                }
                _ => {
                    return Err(RefError::Unknown {
                        name: name.to_owned(),
                    });
                }
            }
        }

        let mut pin_source = None;
        let mut management_key_source = None;
        for part in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (name, value) = split_attribute(part)?;
            let value = percent_decode(value)?;
            let (target, name) = match name {
                "pin-source" => (&mut pin_source, "pin-source"),
                "management-key-source" => (&mut management_key_source, "management-key-source"),
                "pin-value" | "pin" => {
                    return Err(RefError::SecretValue {
                        name: name.to_owned(),
                        source_attribute: "pin-source",
                    });
                }
                "management-key" => {
                    return Err(RefError::SecretValue {
                        name: name.to_owned(),
                        source_attribute: "management-key-source",
                    });
                }
                _ => {
                    return Err(RefError::Unknown {
                        name: name.to_owned(),
                    });
                }
            };
            if target.is_some() {
                return Err(RefError::Duplicate(name.to_owned()));
            }
            *target = Some(parse_source(name, &value)?);
        }

        let slot = slot.ok_or_else(|| RefError::MissingSlot(text.to_owned()))?;
        Ok(YubiKeyRef {
            serial,
            slot,
            pin_source,
            management_key_source,
        })
    }
}

impl fmt::Display for YubiKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("yubikey:")?;
        if let Some(serial) = self.serial {
            write!(f, "serial={serial};")?;
        }
        write!(f, "slot={}", self.slot)?;
        let mut sep = '?';
        for (name, source) in [
            ("pin-source", &self.pin_source),
            ("management-key-source", &self.management_key_source),
        ] {
            if let Some(source) = source {
                write!(f, "{sep}{name}=")?;
                percent_encode(&source_text(source), f)?;
                sep = '&';
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<YubiKeyRef, String> {
        text.parse::<YubiKeyRef>().map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_documented_forms() {
        let r = parse("yubikey:slot=9c").unwrap();
        assert_eq!(
            (r.serial(), r.slot(), r.pin_source()),
            (None, Slot::SIGNATURE, None)
        );
        assert_eq!(r.pin_source_or_prompt(), SecretSource::Prompt);

        let r = parse("yubikey:serial=12345678;slot=9C").unwrap();
        assert_eq!((r.serial(), r.slot()), (Some(12345678), Slot::SIGNATURE));
        assert_eq!(r.to_string(), "yubikey:serial=12345678;slot=9c");

        let r = parse(
            "yubikey:slot=82;serial=7?pin-source=file:/run/pin&management-key-source=env:MGM",
        )
        .unwrap();
        assert_eq!(r.serial(), Some(7));
        assert_eq!(r.slot().id(), 0x82);
        assert_eq!(r.pin_source(), Some(&SecretSource::File("/run/pin".into())));
        assert_eq!(
            r.management_key_source(),
            Some(&SecretSource::Env("MGM".into()))
        );
        assert_eq!(
            r.to_string(),
            "yubikey:serial=7;slot=82?pin-source=file:/run/pin&management-key-source=env:MGM"
        );
    }

    #[test]
    fn printing_round_trips() {
        let refs = [
            YubiKeyRef::new(Slot::AUTHENTICATION),
            YubiKeyRef::new(Slot::SIGNATURE).with_serial(u32::MAX),
            YubiKeyRef::new(Slot::CARD_AUTHENTICATION)
                .with_management_key_source(SecretSource::Prompt),
            YubiKeyRef::new(Slot::new(0x95).unwrap())
                .with_serial(0)
                .with_pin_source(SecretSource::File("/tmp/a b&c;d?e%f#g=h/ü.pin".into()))
                .with_management_key_source(SecretSource::Env("HALLMARK_MGM".into())),
        ];
        for r in refs {
            let text = r.to_string();
            assert_eq!(text.parse::<YubiKeyRef>().unwrap(), r, "{text}");
        }
        let odd =
            YubiKeyRef::new(Slot::SIGNATURE).with_pin_source(SecretSource::File("/a b&c".into()));
        assert_eq!(
            odd.to_string(),
            "yubikey:slot=9c?pin-source=file:/a%20b%26c"
        );
    }

    #[test]
    fn exact_errors() {
        let cases = [
            (
                "pkcs11:token=x",
                "key reference \"pkcs11:token=x\" does not start with `yubikey:`",
            ),
            (
                "yubikey:serial=1",
                "YubiKey reference \"yubikey:serial=1\" names no slot: add one, e.g. `yubikey:slot=9c` (slots: 9a, 9c, 9d, 9e, 82 to 95)",
            ),
            (
                "yubikey:slot=9b",
                "unknown YubiKey PIV slot \"9b\": use 9a, 9c, 9d, 9e or a retired slot 82 to 95",
            ),
            (
                "yubikey:serial=12x;slot=9c",
                "YubiKey serial \"12x\" is not a decimal number (it is printed on the YubiKey and shown by `ykman list --serials`)",
            ),
            (
                "yubikey:serial=4294967296;slot=9c",
                "YubiKey serial \"4294967296\" is not a decimal number (it is printed on the YubiKey and shown by `ykman list --serials`)",
            ),
            (
                "yubikey:serial=-1;slot=9c",
                "YubiKey serial \"-1\" is not a decimal number (it is printed on the YubiKey and shown by `ykman list --serials`)",
            ),
            (
                "yubikey:slot",
                "attribute \"slot\" in YubiKey reference has no `=`",
            ),
            (
                "yubikey:slot=9c;slot=9a",
                "attribute \"slot\" appears twice in YubiKey reference",
            ),
            (
                "yubikey:slot=9c?pin-source=prompt&pin-source=prompt",
                "attribute \"pin-source\" appears twice in YubiKey reference",
            ),
            (
                "yubikey:slot=9c;token=x",
                "unknown attribute \"token\" in YubiKey reference: use serial and slot before `?`, pin-source and management-key-source after it",
            ),
            (
                "yubikey:slot=9c?serial=1",
                "unknown attribute \"serial\" in YubiKey reference: use serial and slot before `?`, pin-source and management-key-source after it",
            ),
            (
                "yubikey:slot=9c?pin-value=123456",
                "pin-value is not accepted: a secret in a key reference ends up in argv, shell history and logs; use pin-source=file:PATH, env:NAME or prompt",
            ),
            (
                "yubikey:slot=9c?management-key=010203",
                "management-key is not accepted: a secret in a key reference ends up in argv, shell history and logs; use management-key-source=file:PATH, env:NAME or prompt",
            ),
            (
                "yubikey:slot=9c?pin-source=123456",
                "invalid pin-source \"123456\": use prompt, file:PATH or env:NAME",
            ),
            (
                "yubikey:slot=9c?management-key-source=env:",
                "invalid management-key-source \"env:\": use prompt, file:PATH or env:NAME",
            ),
            (
                "yubikey:slot=9c?pin-source=file:%zz",
                "bad percent-encoding in YubiKey reference value \"file:%zz\": use %XX with two hex digits, as UTF-8",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(parse(text).unwrap_err(), message, "{text}");
        }
    }
}
