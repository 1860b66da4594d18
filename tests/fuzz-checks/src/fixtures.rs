//! Fixed objects the checks verify against, and from which the seed corpus is made: keys from
//! fixed seeds, a publisher's key event log (inception, then a rotation to the pre-committed
//! key), a registry's log, a statement signed by the publisher, the registry's receipt for it,
//! a bundle carrying all of it, and pins naming both identities.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use ed25519_dalek::SigningKey;
use hallmark_keyring::kel::{EventKind, Reason};
use hallmark_keyring::receipt::{Receipt, SubjectType};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::tlog::{KeyType, VerifierKey};
use hallmark_keyring::trust::{Pin, PinSource, PinsFile, Policy, RegistryPin, TrustView};
use hallmark_keyring::{
    Bundle, ContentDigest, Envelope, IdentityId, Kel, KeyEvent, Namespace, PublicKey, Sha256Digest,
    Statement, Timestamp,
};

/// The publisher's first key.
pub const PUBLISHER_KEY: u8 = 1;
/// The publisher's pre-committed next key, current after the rotation.
pub const PUBLISHER_NEXT: u8 = 2;
/// The key the rotation commits to next.
pub const PUBLISHER_AFTER: u8 = 3;
/// The registry's key.
pub const REGISTRY_KEY: u8 = 0x52;
/// The registry's pre-committed next key.
pub const REGISTRY_NEXT: u8 = 0x53;

/// A signing key from a fixed seed.
pub fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Its public key.
pub fn public_key(seed: u8) -> PublicKey {
    PublicKey::new(signing_key(seed).verifying_key())
}

/// A fixed time, `secs` after 2027-01-15.
pub fn time(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).expect("a time in range")
}

fn namespace(text: &str) -> Namespace {
    text.parse().expect("a valid namespace")
}

/// Signs `event` with the keys of `seeds`.
pub fn sign_event(event: &KeyEvent, seeds: &[u8]) -> Envelope {
    let mut envelope = event.to_envelope().expect("an event fits an envelope");
    for &seed in seeds {
        envelope
            .sign(&signing_key(seed))
            .expect("signing in memory");
    }
    envelope
}

/// An inception event for one key, pre-committing to one next key.
pub fn inception(key: u8, next: u8, namespaces: &[&str], at: u64) -> KeyEvent {
    let mut event = KeyEvent::new(EventKind::Inception, 0, time(at));
    event.keys = Some(vec![public_key(key)]);
    event.threshold = Some(1);
    event.next = Some(vec![public_key(next).key_id()]);
    event.next_threshold = Some(1);
    event.namespaces = Some(namespaces.iter().map(|n| namespace(n)).collect());
    event
}

/// A rotation extending `log` to the pre-committed key `key`, committing to `next`.
pub fn rotation(log: &[Envelope], key: u8, next: u8, reason: Reason, at: u64) -> KeyEvent {
    let mut event = KeyEvent::new(EventKind::Rotation, log.len() as u64, time(at));
    event.identity = Some(IdentityId::from_inception(&log[0].payload_digest()));
    event.previous = log.last().map(Envelope::payload_digest);
    event.keys = Some(vec![public_key(key)]);
    event.threshold = Some(1);
    event.next = Some(vec![public_key(next).key_id()]);
    event.next_threshold = Some(1);
    event.reason = Some(reason);
    event
}

/// Everything, built once.
pub struct Fixtures {
    /// The publisher's log: inception by key 1, rotation to key 2.
    pub publisher: Kel,
    /// The registry's log: inception by key 0x52.
    pub registry: Kel,
    /// The content the statement signs.
    pub artifact: &'static [u8],
    /// The statement, signed by the publisher's current key.
    pub statement: Envelope,
    /// The registry's receipt for the statement.
    pub receipt: Envelope,
    /// A bundle: statement, the publisher's log, the receipt.
    pub bundle: Bundle,
    /// Pins: `org.example` to the publisher, requiring a receipt from registry `main`.
    pub pins: PinsFile,
    /// A trust view of the pins and both logs.
    pub view: TrustView,
    /// A trust view with nothing in it (for trust on first use).
    pub empty_view: TrustView,
    /// Keys a bundle is checked against with `verify_with_keys`.
    pub statement_keys: Vec<PublicKey>,
    /// The time decisions are made at.
    pub now: Timestamp,
    /// The transparency-log key of `docs/formats.md` (seed `00 01 … 1f`,
    /// `example.org/hallmark-log`).
    pub tlog_log_key: VerifierKey,
    /// The witness key of `docs/formats.md` (seed 32 bytes `42`, `witness.example/w1`).
    pub tlog_witness_key: VerifierKey,
}

/// The fixtures.
pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn build() -> Fixtures {
    let incept = sign_event(
        &inception(PUBLISHER_KEY, PUBLISHER_NEXT, &["org.example"], 0),
        &[PUBLISHER_KEY],
    );
    let rotate = sign_event(
        &rotation(
            std::slice::from_ref(&incept),
            PUBLISHER_NEXT,
            PUBLISHER_AFTER,
            Reason::Scheduled,
            60,
        ),
        &[PUBLISHER_NEXT],
    );
    let publisher = Kel::verify(&[incept, rotate]).expect("the publisher's log verifies");
    let registry_incept = sign_event(
        &inception(REGISTRY_KEY, REGISTRY_NEXT, &["org.registry"], 0),
        &[REGISTRY_KEY],
    );
    let registry = Kel::verify(&[registry_incept]).expect("the registry's log verifies");

    let artifact: &'static [u8] = b"hello, world\n";
    let head = publisher.head();
    let statement = Statement {
        name: "org.example.hello".parse().expect("a package name"),
        version: "1.0.0".parse().expect("a version"),
        digest: ContentDigest::of_bytes(artifact),
        signer: SignerRef::identity(publisher.identity(), head.event.sequence, head.digest),
        created: time(120),
    };
    let mut statement_env = statement.to_envelope().expect("a statement envelope");
    statement_env
        .sign(&signing_key(PUBLISHER_NEXT))
        .expect("signing in memory");

    let receipt = Receipt {
        registry: registry.identity(),
        registry_sequence: 0,
        subject: statement_env.payload_digest(),
        subject_type: SubjectType::Statement,
        identity: publisher.identity(),
        log_index: 0,
        log_entry: Sha256Digest::of(b"log entry"),
        time: time(180),
        tlog: None,
    };
    let mut receipt_env = receipt.to_envelope().expect("a receipt envelope");
    receipt_env
        .sign(&signing_key(REGISTRY_KEY))
        .expect("signing in memory");

    let mut bundle = Bundle::new(statement_env.clone());
    bundle.kel = publisher.envelopes();
    bundle.receipts = vec![receipt_env.clone()];

    let mut pins = PinsFile::default();
    pins.add_registry(RegistryPin {
        name: "main".to_owned(),
        identity: registry.identity(),
        created: time(30),
        location: None,
        max_age: None,
        witnesses: Vec::new(),
        witness_threshold: None,
    })
    .expect("a new registry");
    pins.add(Pin {
        namespace: namespace("org.example"),
        identity: publisher.identity(),
        pinned_at: 0,
        policy: Policy {
            require_receipt: vec!["main".to_owned()],
            require_attestation: false,
        },
        source: PinSource::Manual,
        created: time(30),
    })
    .expect("a new pin");

    let mut kels = HashMap::new();
    kels.insert(publisher.identity(), Arc::new(publisher.clone()));
    kels.insert(registry.identity(), Arc::new(registry.clone()));
    let view = TrustView {
        checkpoints: HashMap::new(),
        pins: pins.clone(),
        kels,
        releases: Default::default(),
    };
    let tlog_key = |seed: [u8; 32]| PublicKey::new(SigningKey::from_bytes(&seed).verifying_key());
    let tlog_log_key = VerifierKey::new(
        "example.org/hallmark-log",
        KeyType::Ed25519,
        tlog_key(std::array::from_fn(|i| i as u8)),
    )
    .unwrap();
    let tlog_witness_key = VerifierKey::new(
        "witness.example/w1",
        KeyType::Cosignature,
        tlog_key([0x42; 32]),
    )
    .unwrap();
    Fixtures {
        tlog_log_key,
        tlog_witness_key,
        publisher,
        registry,
        artifact,
        statement: statement_env,
        receipt: receipt_env,
        bundle,
        pins,
        view,
        empty_view: TrustView::default(),
        statement_keys: vec![public_key(PUBLISHER_NEXT), public_key(PUBLISHER_KEY)],
        now: time(3600),
    }
}
