//! Secrets — PINs, passphrases, management keys — and where they come from.
//!
//! A [`Secret`] is a zeroizing string with no way to print it: its `Debug` is redacted and it
//! implements neither `Display` nor `Serialize`. A [`SecretSource`] names where a secret is read
//! from: a terminal prompt, a file, or an environment variable. A secret is never taken from a
//! command-line value, because argv is visible to every user of the machine (`ps`,
//! `/proc/*/cmdline`) and lands in shell history.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

use crate::interact::Interaction;

/// Largest secret file read, in bytes. PINs are at most a few dozen bytes and passphrases a few
/// hundred; anything larger is almost certainly the wrong file.
pub const MAX_SECRET_FILE_LEN: u64 = 4096;

/// A PIN, passphrase or key that must not leak: zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a string read from a trusted source. The string is moved, not copied.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret's text, for handing to a device or a KDF. Do not log, format or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret's length in bytes (safe to report, e.g. "PIN must be 6 to 8 bytes").
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    /// Constant-time in the length of the shorter input is not needed here: secrets are only
    /// compared when a user confirms a new passphrase, where timing reveals nothing.
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

/// Where a secret comes from.
///
/// The text forms, used by `pin-source=` in key references and in configuration, are
/// `prompt`, `file:PATH` (or a bare path, as RFC 7512's `pin-source` allows) and `env:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Ask on the terminal (through an [`Interaction`]).
    Prompt,
    /// Read from a file; one trailing newline (`\n` or `\r\n`) is removed.
    File(PathBuf),
    /// Read from an environment variable.
    Env(String),
}

impl SecretSource {
    /// Parses `prompt`, `env:NAME`, `file:PATH` or a bare path.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text == "prompt" {
            Ok(SecretSource::Prompt)
        } else if let Some(name) = text.strip_prefix("env:") {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(SecretError::BadSource {
                    source_text: text.to_owned(),
                });
            }
            Ok(SecretSource::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(SecretError::BadSource {
                    source_text: text.to_owned(),
                });
            }
            Ok(SecretSource::File(PathBuf::from(path)))
        } else if text.is_empty() {
            Err(SecretError::BadSource {
                source_text: text.to_owned(),
            })
        } else {
            Ok(SecretSource::File(PathBuf::from(text)))
        }
    }

    /// Reads the secret. `what` names it in prompts and errors ("PIN for token 'ci'").
    pub fn read(&self, what: &str, ui: &dyn Interaction) -> Result<Secret, SecretError> {
        let secret = match self {
            SecretSource::Prompt => ui.request_secret(what)?,
            SecretSource::File(path) => read_secret_file(path, what)?,
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) => Secret::new(value),
                Err(std::env::VarError::NotPresent) => {
                    return Err(SecretError::EnvMissing {
                        what: what.to_owned(),
                        name: name.clone(),
                    });
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(SecretError::NotUtf8 {
                        what: what.to_owned(),
                        origin: format!("environment variable {name}"),
                    });
                }
            },
        };
        if secret.is_empty() {
            return Err(SecretError::Empty {
                what: what.to_owned(),
                origin: self.to_string(),
            });
        }
        Ok(secret)
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Prompt => f.write_str("terminal prompt"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<Secret, SecretError> {
    let io_err = |source: std::io::Error| SecretError::File {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > MAX_SECRET_FILE_LEN {
        return Err(SecretError::FileTooLarge {
            what: what.to_owned(),
            path: path.to_owned(),
            len,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize));
    file.take(MAX_SECRET_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    let strip = if bytes.ends_with(b"\r\n") {
        2
    } else {
        usize::from(bytes.ends_with(b"\n"))
    };
    let keep = bytes.len() - strip;
    bytes.truncate(keep);
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Secret::new(text)),
        Err(err) => {
            err.into_bytes().zeroize();
            Err(SecretError::NotUtf8 {
                what: what.to_owned(),
                origin: format!("file {}", path.display()),
            })
        }
    }
}

/// Why a secret could not be obtained. Never carries the secret itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The source text is not `prompt`, `env:NAME`, `file:PATH` or a path.
    #[error("invalid secret source {source_text:?}: use `prompt`, `file:PATH` or `env:NAME`")]
    BadSource {
        /// The text that did not parse.
        source_text: String,
    },
    /// The secret file could not be read.
    #[error("cannot read {what} from {}: {source}", path.display())]
    File {
        /// What was being read ("passphrase", "PIN for token 'ci'").
        what: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The secret file is implausibly large.
    #[error("{} is {len} bytes, too large to hold a {what} (at most {MAX_SECRET_FILE_LEN}); is it the right file?", path.display())]
    FileTooLarge {
        /// What was being read.
        what: String,
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The environment variable is not set.
    #[error("{what}: environment variable {name} is not set")]
    EnvMissing {
        /// What was being read.
        what: String,
        /// The variable's name.
        name: String,
    },
    /// The secret is not UTF-8.
    #[error("{what} from {origin} is not valid UTF-8")]
    NotUtf8 {
        /// What was being read.
        what: String,
        /// Where it was read from.
        origin: String,
    },
    /// The secret is empty.
    #[error("{what} from {origin} is empty")]
    Empty {
        /// What was being read.
        what: String,
        /// Where it was read from.
        origin: String,
    },
    /// A prompt was needed but there is no terminal (CI, a pipe).
    #[error(
        "{what} is needed but there is no terminal to ask on; give it in a file or an environment variable instead"
    )]
    NoTerminal {
        /// What was needed.
        what: String,
    },
    /// Two entries of a new secret did not match.
    #[error("the two entries of the {what} do not match")]
    Mismatch {
        /// What was being entered.
        what: String,
    },
    /// The user cancelled the prompt.
    #[error("{what}: cancelled")]
    Cancelled {
        /// What was being asked for.
        what: String,
    },
    /// Reading from the terminal failed.
    #[error("cannot read {what} from the terminal: {source}")]
    Terminal {
        /// What was being read.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interact::Headless;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("123456".to_owned());
        let shown = format!("{secret:?} {:?}", Some(secret.clone()));
        assert!(!shown.contains("123456"), "{shown}");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn parses_sources() {
        assert_eq!(SecretSource::parse("prompt").unwrap(), SecretSource::Prompt);
        assert_eq!(
            SecretSource::parse("env:PIN").unwrap(),
            SecretSource::Env("PIN".into())
        );
        assert_eq!(
            SecretSource::parse("file:/run/pin").unwrap(),
            SecretSource::File("/run/pin".into())
        );
        assert_eq!(
            SecretSource::parse("/run/pin").unwrap(),
            SecretSource::File("/run/pin".into())
        );
        for bad in ["", "env:", "file:", "env:A=B"] {
            assert!(
                matches!(SecretSource::parse(bad), Err(SecretError::BadSource { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_strips_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "1234\n\n").unwrap();
        let got = SecretSource::File(path.clone())
            .read("PIN", &Headless)
            .unwrap();
        assert_eq!(got.expose(), "1234\n");
        std::fs::write(&path, "1234\r\n").unwrap();
        assert_eq!(
            SecretSource::File(path.clone())
                .read("PIN", &Headless)
                .unwrap()
                .expose(),
            "1234"
        );
        std::fs::write(&path, "\n").unwrap();
        let err = SecretSource::File(path.clone())
            .read("PIN", &Headless)
            .unwrap_err();
        assert!(matches!(err, SecretError::Empty { .. }), "{err}");
        std::fs::write(&path, vec![b'a'; 5000]).unwrap();
        let err = SecretSource::File(path).read("PIN", &Headless).unwrap_err();
        assert!(
            matches!(err, SecretError::FileTooLarge { len: 5000, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_env_names_the_variable_not_a_value() {
        let err = SecretSource::Env("HALLMARK_TEST_SURELY_UNSET_VARIABLE".into())
            .read("passphrase", &Headless)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "passphrase: environment variable HALLMARK_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }

    #[test]
    fn headless_prompt_refuses() {
        let err = SecretSource::Prompt
            .read("PIN for token 'ci'", &Headless)
            .unwrap_err();
        assert!(matches!(err, SecretError::NoTerminal { .. }));
    }
}
