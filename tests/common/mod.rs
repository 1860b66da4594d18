//! Test-side generator of identities, key event logs, bundles and file keys, built with the
//! keyring API from fixed seeds and fixed times, so every fixture is deterministic: the same
//! seeds give the same identities, digests and messages on every run.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use ed25519_dalek::SigningKey;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent, Reason};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::{IdentityId, KeyId, PublicKey, Sha256Digest, Statement, Timestamp};

/// A signing key from a one-byte seed.
pub fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Its public key.
pub fn pk(seed: u8) -> PublicKey {
    PublicKey::new(sk(seed).verifying_key())
}

/// Its key id.
pub fn kid(seed: u8) -> KeyId {
    pk(seed).key_id()
}

/// The short key id shown in messages.
pub fn short(seed: u8) -> String {
    kid(seed).short()
}

/// A fixed time: 2027-01-15T08:00:00Z plus `secs`.
pub fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

/// The content digest of bytes.
pub fn content(bytes: &[u8]) -> ContentDigest {
    ContentDigest::File(*Sha256Digest::of(bytes).as_bytes())
}

fn sign(event: &KeyEvent, signers: &[u8]) -> Envelope {
    let mut env = event.to_envelope().unwrap();
    for &s in signers {
        env.sign(&sk(s)).unwrap();
    }
    env
}

/// An identity under construction: its events, and the seed of its current key.
#[derive(Clone)]
pub struct Id {
    pub events: Vec<Envelope>,
    pub identity: IdentityId,
    pub current: u8,
    pub next: u8,
}

impl Id {
    /// Inception with key `key`, committing to `next`, claiming `namespaces`, at `time`.
    pub fn incept(key: u8, next: u8, namespaces: &[&str], time: Timestamp) -> Id {
        let mut e = KeyEvent::new(EventKind::Inception, 0, time);
        e.keys = Some(vec![pk(key)]);
        e.threshold = Some(1);
        e.next = Some(vec![kid(next)]);
        e.next_threshold = Some(1);
        e.namespaces = Some(namespaces.iter().map(|n| n.parse().unwrap()).collect());
        let env = sign(&e, &[key]);
        Id {
            identity: IdentityId::from_inception(&env.payload_digest()),
            events: vec![env],
            current: key,
            next,
        }
    }

    /// The next event of `kind`, chained to the last one.
    pub fn next_event(&self, kind: EventKind, time: Timestamp) -> KeyEvent {
        let mut e = KeyEvent::new(kind, self.events.len() as u64, time);
        e.identity = Some(self.identity);
        e.previous = Some(self.events.last().unwrap().payload_digest());
        e
    }

    /// A rotation to `key` (which must be the committed next key to be valid), committing to
    /// `next`, signed by `signers`.
    pub fn rotation(&self, key: u8, next: u8, reason: Reason, time: Timestamp) -> KeyEvent {
        let mut e = self.next_event(EventKind::Rotation, time);
        e.keys = Some(vec![pk(key)]);
        e.threshold = Some(1);
        e.next = Some(vec![kid(next)]);
        e.next_threshold = Some(1);
        e.reason = Some(reason);
        e
    }

    /// Appends a signed event.
    pub fn push(&mut self, event: &KeyEvent, signers: &[u8]) -> &mut Self {
        self.events.push(sign(event, signers));
        self
    }

    /// Rotates to the committed next key, committing to `next`.
    pub fn rotate(&mut self, next: u8, reason: Reason, time: Timestamp) -> &mut Self {
        let key = self.next;
        let e = self.rotation(key, next, reason, time);
        self.push(&e, &[key]);
        self.current = key;
        self.next = next;
        self
    }

    /// Transfers `names` to `to`.
    pub fn transfer(&mut self, to: IdentityId, names: &[&str], time: Timestamp) -> &mut Self {
        let mut e = self.next_event(EventKind::Transfer, time);
        e.to = Some(to);
        e.names = Some(names.iter().map(|n| n.parse().unwrap()).collect());
        let current = self.current;
        self.push(&e, &[current])
    }

    /// Accepts the transfer that is `giver`'s newest event.
    pub fn accept(&mut self, giver: &Id, names: &[&str], time: Timestamp) -> &mut Self {
        let mut e = self.next_event(EventKind::Acceptance, time);
        e.from = Some(giver.identity);
        e.transfer = Some(giver.events.last().unwrap().payload_digest());
        e.names = Some(names.iter().map(|n| n.parse().unwrap()).collect());
        let current = self.current;
        self.push(&e, &[current])
    }

    /// Revokes former keys.
    pub fn revoke(
        &mut self,
        keys: &[u8],
        reason: Reason,
        since: Timestamp,
        time: Timestamp,
    ) -> &mut Self {
        let mut e = self.next_event(EventKind::Revocation, time);
        e.revoked = Some(keys.iter().map(|&k| kid(k)).collect());
        e.reason = Some(reason);
        e.since = Some(since);
        let current = self.current;
        self.push(&e, &[current])
    }

    /// The verified log.
    pub fn kel(&self) -> Kel {
        Kel::verify(&self.events).unwrap()
    }

    /// The first `len` events.
    pub fn prefix(&self, len: usize) -> Id {
        let mut id = self.clone();
        id.events.truncate(len);
        id
    }

    /// Writes the log file.
    pub fn write(&self, path: &Path) {
        let file = KelFile {
            media_type: hallmark_keyring::kel::file::KEL_MEDIA_TYPE.to_owned(),
            events: self.events.clone(),
        };
        std::fs::write(path, file.to_json()).unwrap();
    }

    /// The short identity shown in messages.
    pub fn short(&self) -> String {
        self.identity.short()
    }

    /// A statement for `name@version` of `bytes`, at the log's newest position, created at
    /// `created`, signed by `signers`, in a bundle carrying the whole log.
    pub fn bundle(
        &self,
        name: &str,
        version: &str,
        bytes: &[u8],
        created: Timestamp,
        signers: &[u8],
    ) -> Bundle {
        self.bundle_at(
            self.events.len() - 1,
            name,
            version,
            bytes,
            created,
            signers,
        )
    }

    /// The same, naming position `seq` and carrying the log up to it.
    pub fn bundle_at(
        &self,
        seq: usize,
        name: &str,
        version: &str,
        bytes: &[u8],
        created: Timestamp,
        signers: &[u8],
    ) -> Bundle {
        let statement = Statement {
            name: name.parse().unwrap(),
            version: version.parse().unwrap(),
            digest: content(bytes),
            signer: SignerRef::identity(
                self.identity,
                seq as u64,
                self.events[seq].payload_digest(),
            ),
            created,
        };
        let mut env = statement.to_envelope().unwrap();
        for &s in signers {
            env.sign(&sk(s)).unwrap();
        }
        let mut bundle = Bundle::new(env);
        bundle.kel = self.events[..=seq].to_vec();
        bundle
    }

    /// The digest of event `seq`.
    pub fn event_digest(&self, seq: usize) -> Sha256Digest {
        self.events[seq].payload_digest()
    }
}

/// Writes an artifact and its bundle into `dir`.
pub fn write_release(dir: &Path, file: &str, bytes: &[u8], bundle: &Bundle) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), bytes).unwrap();
    std::fs::write(Bundle::path_for(&dir.join(file)), bundle.to_json()).unwrap();
}

/// Writes a passphrase-protected file key with a fixed seed (work factor 10), so the
/// `hallmark` binary can sign with a key whose identity the test built.
pub fn write_file_key(path: &Path, seed: u8) {
    use hallmark_hsm::secret::Secret;
    use hallmark_signer::filekey::{Protection, write_key};
    write_key(
        path,
        &sk(seed),
        &Protection::Passphrase {
            passphrase: Secret::new(hallmark_tests::PASSPHRASE.to_owned()),
            work_factor: Some(10),
        },
    )
    .unwrap();
}

/// `hallmark registry init` of the registry `reg/` in `s`: its key `reg.key` (from `seed`, for a
/// key whose id the test knows, or a fresh one), its pre-committed next key `reg-next.key`, the
/// passphrase file `pw`, and `origin` when given.
pub fn init_registry(
    s: &hallmark_tests::Scratch,
    seed: Option<u8>,
    origin: Option<&str>,
) -> hallmark_tests::Run {
    match seed {
        Some(seed) => write_file_key(&s.join("reg.key"), seed),
        None => {
            s.file_key("reg.key");
        }
    }
    s.file_key("reg-next.key");
    let mut args = vec![
        "registry",
        "init",
        "--registry",
        "reg",
        "--key",
        "file:reg.key",
        "--next-key",
        "file:reg-next.key",
        "--passphrase-file",
        "pw",
    ];
    if let Some(origin) = origin {
        args.extend(["--origin", origin]);
    }
    s.run(args)
}
