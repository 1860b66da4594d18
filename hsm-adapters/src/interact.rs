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
    fn request_new_secret(&self, what: &str) -> Result<Secret, SecretError> {
        let first = self.request_secret(what)?;
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
