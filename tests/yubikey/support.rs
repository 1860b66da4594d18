//! Helpers shared by the YubiKey tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hallmark_hsm::interact::Interaction;
use hallmark_hsm::secret::{Secret, SecretError, SecretSource};
use hallmark_hsm::yubikey::{
    GenerateOptions, GeneratedKey, PinPolicy, Slot, TouchPolicy, YubiKeyRef, generate,
};
use virtual_yubikey::{CardConfig, Reader, VirtualYubiKey};

pub(crate) const SERIAL: u32 = 12345678;

/// Tests share pcscd's readers: under nextest they run one at a time (test group `pcscd`);
/// under `cargo test` this lock keeps the threads of one process apart.
pub(crate) fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fails, saying how to set pcscd up, unless both vpcd readers are there and empty.
pub(crate) fn require_empty_readers() {
    for reader in [Reader::First, Reader::Second] {
        virtual_yubikey::vpcd::wait_for_reader(reader, false).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A fresh YubiKey 5.7.4 in the first reader.
pub(crate) fn insert(config: CardConfig) -> VirtualYubiKey {
    VirtualYubiKey::insert(config, Reader::First).unwrap_or_else(|e| panic!("{e}"))
}

/// An [`Interaction`] that records what it was told and answers prompts from a script.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) answer: Option<String>,
    pub(crate) prompts: Mutex<Vec<String>>,
    pub(crate) notices: Mutex<Vec<String>>,
    pub(crate) warnings: Mutex<Vec<String>>,
}

impl Recorder {
    pub(crate) fn answering(answer: &str) -> Self {
        Recorder {
            answer: Some(answer.to_owned()),
            ..Recorder::default()
        }
    }

    pub(crate) fn notices(&self) -> Vec<String> {
        self.notices.lock().unwrap().clone()
    }

    pub(crate) fn prompts(&self) -> Vec<String> {
        self.prompts.lock().unwrap().clone()
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }
}

impl Interaction for Recorder {
    fn request_secret(&self, what: &str) -> Result<Secret, SecretError> {
        self.prompts.lock().unwrap().push(what.to_owned());
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

/// A directory holding secret files.
pub(crate) struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    pub(crate) fn new() -> Self {
        Secrets {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn file(&self, name: &str, content: &str) -> SecretSource {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        SecretSource::File(path)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `yubikey:serial=SERIAL;slot=SLOT?pin-source=file:…` with the given PIN in a file.
pub(crate) fn reference(secrets: &Secrets, slot: Slot, pin: &str) -> YubiKeyRef {
    YubiKeyRef::new(slot)
        .with_serial(SERIAL)
        .with_pin_source(secrets.file("pin", pin))
}

/// Generates a key with these policies (PIN 123456, default management key).
pub(crate) fn generate_key(slot: Slot, pin: PinPolicy, touch: TouchPolicy) -> GeneratedKey {
    let secrets = Secrets::new();
    let ui = Recorder::default();
    generate(
        &reference(&secrets, slot, "123456"),
        &GenerateOptions::new(pin, touch),
        &ui,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a command and returns its standard output, failing the test with its standard error.
pub(crate) fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run ({e}): run bash scripts/test.sh"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The DER certificate inside a PIV certificate object (`70 L <DER> 71 01 00 FE 00`).
pub(crate) fn object_certificate(object: &[u8]) -> Vec<u8> {
    let (tlv, rest) = virtual_yubikey::tlv::parse(object).unwrap();
    assert_eq!(tlv.tag, 0x70);
    assert_eq!(rest, [0x71, 0x01, 0x00, 0xfe, 0x00]);
    tlv.value.to_vec()
}

/// The error inside a [`signature::Error`] from `try_sign`.
pub(crate) fn device_error(err: &signature::Error) -> &hallmark_hsm::yubikey::Error {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<hallmark_hsm::yubikey::Error>())
        .expect("try_sign's error carries a hallmark_hsm::yubikey::Error")
}

/// The virtual card's slot 9c object id.
pub(crate) const CERT_9C: u32 = 0x5f_c10a;
