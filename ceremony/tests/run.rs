//! Ceremonies run through the library, over files in a temporary directory and Ed25519 keys
//! held in memory: what makes them safe — entitlement checked before any key is opened, next
//! keys saved before the log, a log changed mid-ceremony never overwritten.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use hallmark_ceremony::keys::{KeyDescription, KeyFailure, OpenKey};
use hallmark_ceremony::run::{Destination, Init, NextKeys, Notice, Rotate, Signing, Transfer};
use hallmark_ceremony::{CeremonyError, KeySink, KeySource};
use hallmark_keyring::bundle::Attestation;
use hallmark_keyring::kel::{KelFile, Reason};
use hallmark_keyring::{KeyId, PublicKey};

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn kid(seed: u8) -> KeyId {
    PublicKey::new(sk(seed).verifying_key()).key_id()
}

/// A key held in memory, counting how often it is opened; `on_open` runs when it is (to
/// change files while a ceremony runs).
struct MemKey {
    key: SigningKey,
    opened: Cell<usize>,
    on_open: Box<dyn Fn()>,
}

impl MemKey {
    fn new(seed: u8) -> Self {
        MemKey {
            key: sk(seed),
            opened: Cell::new(0),
            on_open: Box::new(|| {}),
        }
    }
}

impl KeySource for MemKey {
    fn name(&self) -> String {
        format!(
            "mem:{}",
            PublicKey::new(self.key.verifying_key()).key_id().short()
        )
    }

    fn peek(&self) -> Option<PublicKey> {
        Some(PublicKey::new(self.key.verifying_key()))
    }

    fn public_key(&self) -> Result<PublicKey, KeyFailure> {
        Ok(PublicKey::new(self.key.verifying_key()))
    }

    fn open(&self, _expected: Option<&PublicKey>) -> Result<Box<dyn OpenKey + '_>, KeyFailure> {
        self.opened.set(self.opened.get() + 1);
        (self.on_open)();
        Ok(Box::new(Opened(self.key.clone())))
    }
}

struct Opened(SigningKey);

impl signature::Keypair for Opened {
    type VerifyingKey = ed25519_dalek::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.0.verifying_key()
    }
}

impl signature::Signer<ed25519_dalek::Signature> for Opened {
    fn try_sign(&self, message: &[u8]) -> Result<ed25519_dalek::Signature, signature::Error> {
        self.0.try_sign(message)
    }
}

impl OpenKey for Opened {
    fn describe(&self) -> KeyDescription {
        KeyDescription {
            backend: "memory".to_owned(),
            reference: "mem".to_owned(),
            public_key: PublicKey::new(self.0.verifying_key()),
            device: Vec::new(),
        }
    }

    fn attest(&self) -> Result<Option<Attestation>, KeyFailure> {
        Ok(None)
    }
}

/// A key sink that records what it saved and, at each save, how many events the log had.
struct Sink {
    log: PathBuf,
    fail: bool,
    prepared: bool,
    saved: RefCell<Vec<(KeyId, usize)>>,
}

impl KeySink for Sink {
    fn prepare(&mut self) -> Result<(), KeyFailure> {
        self.prepared = true;
        Ok(())
    }

    fn save(&self, _index: usize, key: &SigningKey) -> Result<(), KeyFailure> {
        if self.fail {
            return Err("the disk is full".into());
        }
        let events = events(&self.log);
        self.saved
            .borrow_mut()
            .push((PublicKey::new(key.verifying_key()).key_id(), events));
        Ok(())
    }
}

fn events(log: &Path) -> usize {
    std::fs::read(log)
        .map(|b| KelFile::from_json(&b).unwrap().events.len())
        .unwrap_or(0)
}

fn quiet(_: &Notice) {}

fn next<'a>(committed: &[u8]) -> NextKeys<'a> {
    NextKeys {
        committed: committed.iter().map(|&s| kid(s)).collect(),
        create: 0,
        sink: None,
        threshold: None,
    }
}

/// A log with key 1 current and key 2 committed as next.
fn identity(dir: &Path) -> PathBuf {
    identity_with(dir, 1, 2)
}

fn identity_with(dir: &Path, current: u8, committed: u8) -> PathBuf {
    let log = dir.join("org.example.kel");
    let key = MemKey::new(current);
    let outcome = Init {
        signing: Signing {
            keys: vec![&key],
            to: Destination::Log(log.clone()),
            transcript: None,
        },
        cosigners: vec![],
        threshold: None,
        next: next(&[committed]),
        namespaces: vec!["org.example".parse().unwrap()],
    }
    .run(&quiet)
    .unwrap();
    assert!(outcome.committed);
    assert_eq!(outcome.signed, [kid(current)]);
    assert_eq!(
        outcome.transcript,
        dir.join("org.example.kel.0-init.transcript.json")
    );
    assert!(outcome.transcript.exists());
    log
}

#[test]
fn keys_are_checked_before_any_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let log = identity(dir.path());
    let before = std::fs::read(&log).unwrap();

    // A rotation to key 3, which was not committed: refused from its public key alone.
    let stranger = MemKey::new(3);
    let err = Rotate {
        identity: log.clone(),
        signing: Signing {
            keys: vec![&stranger],
            to: Destination::Log(log.clone()),
            transcript: None,
        },
        cosigners: vec![],
        current: vec![],
        threshold: None,
        next: next(&[4]),
        reason: Reason::Scheduled,
    }
    .run(&quiet)
    .unwrap_err();
    assert!(
        matches!(&err, CeremonyError::NotCommitted { key, sequence: 0, committed, .. }
            if *key == kid(3) && committed == &[kid(2)]),
        "{err:?}"
    );
    assert_eq!(stranger.opened.get(), 0);

    // A transfer signed by the committed next key, which is not a current key.
    let other = tempfile::tempdir().unwrap();
    let to = KelFile::read_verified(&identity_with(other.path(), 5, 6))
        .unwrap()
        .identity();
    let next_key = MemKey::new(2);
    let err = Transfer {
        identity: log.clone(),
        to,
        names: vec!["org.example".parse().unwrap()],
        signing: Signing {
            keys: vec![&next_key],
            to: Destination::Log(log.clone()),
            transcript: None,
        },
    }
    .run(&quiet)
    .unwrap_err();
    assert!(
        matches!(&err, CeremonyError::KeyNotEntitled { key, kind: "transfer", entitled, .. }
            if *key == kid(2) && entitled == &[kid(1)]),
        "{err:?}"
    );
    assert!(err.to_string().ends_with("nothing was unlocked"), "{err}");
    assert_eq!(next_key.opened.get(), 0);
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn a_log_changed_while_the_ceremony_ran_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let log = identity(dir.path());
    let changed = b"changed by someone else\n".to_vec();
    let mut key = MemKey::new(2);
    let (path, bytes) = (log.clone(), changed.clone());
    key.on_open = Box::new(move || std::fs::write(&path, &bytes).unwrap());
    let err = Rotate {
        identity: log.clone(),
        signing: Signing {
            keys: vec![&key],
            to: Destination::Log(log.clone()),
            transcript: None,
        },
        cosigners: vec![],
        current: vec![],
        threshold: None,
        next: next(&[4]),
        reason: Reason::Scheduled,
    }
    .run(&quiet)
    .unwrap_err();
    assert!(
        matches!(&err, CeremonyError::LogChanged { path } if *path == log),
        "{err:?}"
    );
    assert_eq!(key.opened.get(), 1);
    assert_eq!(std::fs::read(&log).unwrap(), changed);
    assert!(
        !dir.path()
            .join("org.example.kel.1-rotate.transcript.json")
            .exists()
    );
}

#[test]
fn next_keys_are_saved_before_the_log_and_a_failed_save_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = identity(dir.path());
    let before = std::fs::read(&log).unwrap();
    let key = MemKey::new(2);
    let rotate = |sink: &mut Sink| {
        Rotate {
            identity: log.clone(),
            signing: Signing {
                keys: vec![&key],
                to: Destination::Log(log.clone()),
                transcript: None,
            },
            cosigners: vec![],
            current: vec![],
            threshold: None,
            next: NextKeys {
                committed: vec![],
                create: 1,
                sink: Some(sink),
                threshold: None,
            },
            reason: Reason::Scheduled,
        }
        .run(&quiet)
    };

    let mut failing = Sink {
        log: log.clone(),
        fail: true,
        prepared: false,
        saved: RefCell::new(Vec::new()),
    };
    let err = rotate(&mut failing).unwrap_err();
    assert!(
        matches!(&err, CeremonyError::Sink { .. }) && err.to_string() == "the disk is full",
        "{err:?}"
    );
    assert!(failing.prepared);
    assert_eq!(std::fs::read(&log).unwrap(), before);
    let transcript = dir.path().join("org.example.kel.1-rotate.transcript.json");
    assert!(!transcript.exists());

    let mut sink = Sink {
        log: log.clone(),
        fail: false,
        prepared: false,
        saved: RefCell::new(Vec::new()),
    };
    let outcome = rotate(&mut sink).unwrap();
    assert!(outcome.committed);
    assert_eq!(outcome.transcript, transcript);
    // The new key was saved while the log still had one event, and the rotation commits to it.
    let saved = sink.saved.borrow();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1, 1);
    assert_eq!(events(&log), 2);
    assert_eq!(outcome.event.next.as_deref(), Some(&[saved[0].0][..]));
}
