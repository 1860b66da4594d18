//! Hallmark's PKCS#11 adapter against a real PKCS#11 module.
//!
//! `conformance` runs against the module named by `HALLMARK_TEST_PKCS11_MODULE` (SoftHSM2 by
//! default), so another module (kryoptic, a real HSM's test partition) can run the same suite;
//! `softhsm` holds tests that need SoftHSM2's own configuration or token files. Each test runs
//! in its own process with its own tokens: see `harness.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod harness;

mod conformance;
mod softhsm;

use std::sync::Mutex;

use hallmark_hsm::interact::Interaction;
use hallmark_hsm::secret::{Secret, SecretError};

/// An [`Interaction`] that records what it was asked and told, and answers prompts with a
/// fixed secret (or refuses, like a pipeline).
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) answer: Option<String>,
    pub(crate) asked: Mutex<Vec<String>>,
    pub(crate) warnings: Mutex<Vec<String>>,
    pub(crate) notices: Mutex<Vec<String>>,
}

impl Recorder {
    pub(crate) fn answering(secret: &str) -> Recorder {
        Recorder {
            answer: Some(secret.to_owned()),
            ..Recorder::default()
        }
    }

    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }
}

impl Interaction for Recorder {
    fn request_secret(&self, what: &str) -> Result<Secret, SecretError> {
        self.asked.lock().unwrap().push(what.to_owned());
        match &self.answer {
            Some(answer) => Ok(Secret::new(answer.clone())),
            None => Err(SecretError::NoTerminal {
                what: what.to_owned(),
            }),
        }
    }

    fn notify(&self, message: &str) {
        self.notices.lock().unwrap().push(message.to_owned());
    }

    fn warn(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_owned());
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex.
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
