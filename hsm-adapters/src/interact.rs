//! The seam between backends and the person (or pipeline) running them.
//!
//! Backends never read the terminal or print on their own: they ask an [`Interaction`] for a
//! PIN, tell it that the device wants a touch, or warn through it. The command-line tool
//! implements it on the terminal; [`Headless`] serves CI, where every prompt is an error that
//! says which non-interactive source to use instead.

use std::io::Write as _;

use crate::secret::{Secret, SecretError};

/// Prompts and notices, in the spirit of age's `Callbacks`.
pub trait Interaction: Send + Sync {
    /// Asks for an existing secret (a PIN, a passphrase). `what` names it.
    fn request_secret(&self, what: &str) -> Result<Secret, SecretError>;

    /// Asks for a new secret, twice, and returns it when both entries match.
    ///
    /// An empty first entry is refused at once, before the second prompt: a secret read from a
    /// file or an environment variable may not be empty either (see
    /// [`SecretSource::read`](crate::secret::SecretSource::read)), and a key protected by an
    /// empty passphrase could never be unlocked again (age refuses an empty passphrase when
    /// decrypting).
    fn request_new_secret(&self, what: &str) -> Result<Secret, SecretError> {
        let first = self.request_secret(what)?;
        if first.is_empty() {
            return Err(SecretError::Empty {
                what: what.to_owned(),
                origin: "the terminal prompt".to_owned(),
            });
        }
        let second = self.request_secret(&format!("{what} (again)"))?;
        if first != second {
            return Err(SecretError::Mismatch {
                what: what.to_owned(),
            });
        }
        Ok(first)
    }

    /// Tells the user something they must act on now, e.g. "touch your YubiKey".
    fn notify(&self, message: &str);

    /// Warns about something risky that is going ahead anyway.
    fn warn(&self, message: &str);
}

/// An [`Interaction`] with nobody at the other end: prompts fail, notices go to standard error.
#[derive(Clone, Copy, Debug, Default)]
pub struct Headless;

impl Interaction for Headless {
    fn request_secret(&self, what: &str) -> Result<Secret, SecretError> {
        Err(SecretError::NoTerminal {
            what: what.to_owned(),
        })
    }

    // A standard error that cannot be written to is not a reason to stop (eprintln! would
    // panic).
    fn notify(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "{message}");
    }

    fn warn(&self, message: &str) {
        let _ = writeln!(std::io::stderr(), "warning: {message}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers prompts from a list, and records what was asked.
    struct Scripted {
        answers: Mutex<Vec<&'static str>>,
        asked: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(answers: &[&'static str]) -> Self {
            Scripted {
                answers: Mutex::new(answers.iter().rev().copied().collect()),
                asked: Mutex::new(Vec::new()),
            }
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().map(|a| a.clone()).unwrap_or_default()
        }
    }

    impl Interaction for Scripted {
        fn request_secret(&self, what: &str) -> Result<Secret, SecretError> {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(what.to_owned());
            }
            let answer = self.answers.lock().ok().and_then(|mut a| a.pop());
            answer
                .map(|text| Secret::new(text.to_owned()))
                .ok_or_else(|| SecretError::Cancelled {
                    what: what.to_owned(),
                })
        }

        fn notify(&self, _message: &str) {}

        fn warn(&self, _message: &str) {}
    }

    #[test]
    fn an_empty_new_secret_is_refused_before_the_second_prompt() {
        let ui = Scripted::new(&["", ""]);
        let err = ui
            .request_new_secret("new passphrase for k.key")
            .unwrap_err();
        assert!(matches!(err, SecretError::Empty { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "new passphrase for k.key from the terminal prompt is empty"
        );
        assert_eq!(ui.asked(), ["new passphrase for k.key"]);
    }

    #[test]
    fn a_new_secret_needs_two_matching_entries() {
        let ui = Scripted::new(&["correct horse", "correct horse"]);
        let secret = ui.request_new_secret("new passphrase").unwrap();
        assert_eq!(secret.expose(), "correct horse");
        assert_eq!(ui.asked(), ["new passphrase", "new passphrase (again)"]);

        let ui = Scripted::new(&["correct horse", "correct hors"]);
        let err = ui.request_new_secret("new passphrase").unwrap_err();
        assert!(matches!(err, SecretError::Mismatch { .. }), "{err:?}");
    }
}
