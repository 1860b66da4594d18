//! Property tests of the guarantees everything else rests on:
//!
//! * the content digest of a tree depends on its content alone — not on the order entries
//!   were created in — and every meaningful change (a byte, a name, an added or removed file
//!   or directory, the executable bit) changes it; built on real temporary directories;
//! * the key event log walk refuses any single-byte change to a signed event and any
//!   reordering of the events;
//! * the trust store replaces a stored log only by one that extends it: a fork is refused and
//!   recorded, and offering the prefixes and extensions of a log in any order ends with the
//!   longest;
//! * any single-byte change to a signed object — an envelope, a bundle, a receipt — is refused
//!   by verification (or parses to the very same object).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod digest_support;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use digest_support::{Spec, build};
use ed25519_dalek::SigningKey;
use hallmark_keyring::digest::{DigestOptions, digest_path};
use hallmark_keyring::kel::{EventKind, Reason};
use hallmark_keyring::receipt::{Receipt, SubjectType, verify_receipt};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::trust::{
    AuditRecord, Gate, Imported, NoAttestationVerifier, Pin, PinSource, PinsFile, Policy,
    RegistryPin, TrustError, TrustStore, TrustView, read_audit_log,
};
use hallmark_keyring::{
    Bundle, ContentDigest, Envelope, IdentityId, Kel, KeyEvent, PublicKey, Sha256Digest, Statement,
    Timestamp, Verdict,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Trees and their digests
// ---------------------------------------------------------------------------------------------

/// Names that exercise the byte order of the manifest: uppercase before lowercase, `-` and
/// `.` before `/`, multi-byte UTF-8, spaces.
const FILE_NAMES: &[&str] = &["a", "b", "B", "a-b", "a.txt", "é", "with space", "Z"];
const DIRS: &[&str] = &["", "d", "e", "d/f"];
const EMPTY_DIRS: &[&str] = &["empty", "d/empty"];

/// A tree: files (path → content, executable) and empty directories.
#[derive(Clone, Debug)]
struct Tree {
    files: BTreeMap<String, (Vec<u8>, bool)>,
    empty_dirs: Vec<String>,
}

impl Tree {
    fn specs(&self) -> Vec<Spec> {
        let mut specs: Vec<Spec> = self
            .files
            .iter()
            .map(|(path, (content, exec))| Spec::File {
                path: path.clone(),
                mode: if *exec { 0o755 } else { 0o644 },
                content: content.clone(),
            })
            .collect();
        specs.extend(self.empty_dirs.iter().map(|path| Spec::Dir {
            path: path.clone(),
            mode: 0o755,
        }));
        specs
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let file = (
        prop::sample::select(DIRS),
        prop::sample::select(FILE_NAMES),
        prop::collection::vec(any::<u8>(), 0..48),
        any::<bool>(),
    );
    (
        prop::collection::vec(file, 1..10),
        prop::sample::subsequence(EMPTY_DIRS, 0..=EMPTY_DIRS.len()),
    )
        .prop_map(|(files, empty)| Tree {
            files: files
                .into_iter()
                .map(|(dir, name, content, exec)| {
                    let path = if dir.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{dir}/{name}")
                    };
                    (path, (content, exec))
                })
                .collect(),
            empty_dirs: empty.into_iter().map(str::to_owned).collect(),
        })
}

fn digest(root: &Path) -> ContentDigest {
    digest_path(root, &DigestOptions::new()).unwrap()
}

/// A single meaningful change to a tree on disk.
#[derive(Clone, Copy, Debug)]
enum Change {
    FlipByte(Index, Index, u8),
    Rename(Index),
    AddFile,
    RemoveFile(Index),
    FlipExecutable(Index),
    AddEmptyDir,
    RemoveEmptyDir(Index),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<Index>(), any::<Index>(), 1..=255u8).prop_map(|(f, b, x)| Change::FlipByte(f, b, x)),
        any::<Index>().prop_map(Change::Rename),
        Just(Change::AddFile),
        any::<Index>().prop_map(Change::RemoveFile),
        any::<Index>().prop_map(Change::FlipExecutable),
        Just(Change::AddEmptyDir),
        any::<Index>().prop_map(Change::RemoveEmptyDir),
    ]
}

/// Applies `change` to the tree built at `root`.
fn apply(root: &Path, tree: &Tree, change: Change) {
    let files: Vec<(&String, &(Vec<u8>, bool))> = tree.files.iter().collect();
    match change {
        Change::FlipByte(f, b, x) => {
            let (path, (content, _)) = f.get(&files);
            let mut content = content.clone();
            if content.is_empty() {
                content.push(x);
            } else {
                let at = b.index(content.len());
                content[at] ^= x;
            }
            fs::write(root.join(path), content).unwrap();
        }
        Change::Rename(f) => {
            let (path, _) = f.get(&files);
            fs::rename(root.join(path), root.join(format!("{path}~"))).unwrap();
        }
        Change::AddFile => fs::write(root.join("new file"), b"").unwrap(),
        Change::RemoveFile(f) => fs::remove_file(root.join(f.get(&files).0)).unwrap(),
        Change::FlipExecutable(f) => {
            let (path, (_, exec)) = f.get(&files);
            let mode = if *exec { 0o644 } else { 0o755 };
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).unwrap();
        }
        Change::AddEmptyDir => fs::create_dir(root.join("another")).unwrap(),
        Change::RemoveEmptyDir(d) => {
            if tree.empty_dirs.is_empty() {
                fs::create_dir(root.join("another")).unwrap();
            } else {
                fs::remove_dir(root.join(d.get(&tree.empty_dirs))).unwrap();
            }
        }
    }
}

/// Where a single byte of a signed envelope is changed: in its JSON text (which may no longer
/// parse, or parse to the same envelope), or in the decoded payload or signature bytes.
#[derive(Clone, Copy, Debug)]
enum Flip {
    Json(Index, u8),
    Payload(Index, u8),
    Signature(Index, Index, u8),
}

fn flip_strategy() -> impl Strategy<Value = Flip> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(at, x)| Flip::Json(at, x)),
        (any::<Index>(), 1..=255u8).prop_map(|(at, x)| Flip::Payload(at, x)),
        (any::<Index>(), any::<Index>(), 1..=255u8)
            .prop_map(|(s, at, x)| Flip::Signature(s, at, x)),
    ]
}

/// The envelope with one byte changed; `None` when the change leaves no envelope (the JSON no
/// longer parses) or the very same one.
fn flipped(envelope: &Envelope, flip: Flip) -> Option<Envelope> {
    let changed = match flip {
        Flip::Json(at, x) => Envelope::from_json(&self::flip(&envelope.to_json(), at, x)).ok()?,
        Flip::Payload(at, x) => {
            let payload = self::flip(envelope.payload(), at, x);
            let mut changed = Envelope::new(envelope.payload_type(), payload).unwrap();
            for signature in envelope.signatures() {
                changed.add_signature(signature.clone()).unwrap();
            }
            changed
        }
        Flip::Signature(which, at, x) => {
            let mut changed =
                Envelope::new(envelope.payload_type(), envelope.payload().to_vec()).unwrap();
            let k = which.index(envelope.signatures().len());
            for (i, signature) in envelope.signatures().iter().enumerate() {
                let mut signature = signature.clone();
                if i == k {
                    signature.sig[at.index(64)] ^= x;
                }
                changed.add_signature(signature).unwrap();
            }
            changed
        }
    };
    (changed != *envelope).then_some(changed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The digest of a tree does not depend on the order its entries were created in.
    #[test]
    fn tree_digest_ignores_creation_order(
        (tree, shuffled) in tree().prop_flat_map(|t| {
            let specs = t.specs();
            (Just(t), Just(specs).prop_shuffle())
        })
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
        let mut reversed = tree.specs();
        reversed.reverse();
        build(&first, &reversed);
        build(&second, &shuffled);
        prop_assert_eq!(digest(&first), digest(&second));
    }

    /// Every single meaningful change to a tree changes its digest.
    #[test]
    fn every_change_to_a_tree_changes_its_digest(tree in tree(), change in change()) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("tree");
        build(&root, &tree.specs());
        let before = digest(&root);
        apply(&root, &tree, change);
        prop_assert_ne!(before, digest(&root), "{:?} left the digest unchanged", change);
    }
}

// ---------------------------------------------------------------------------------------------
// Key event logs
// ---------------------------------------------------------------------------------------------

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pk(seed: u8) -> PublicKey {
    PublicKey::new(sk(seed).verifying_key())
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

fn signed(event: &KeyEvent, seed: u8) -> Envelope {
    let mut envelope = event.to_envelope().unwrap();
    envelope.sign(&sk(seed)).unwrap();
    envelope
}

/// A log's inception: key 1, committing to key 2, claiming `org.example`.
fn inception() -> Envelope {
    let mut e = KeyEvent::new(EventKind::Inception, 0, t(0));
    e.keys = Some(vec![pk(1)]);
    e.threshold = Some(1);
    e.next = Some(vec![pk(2).key_id()]);
    e.next_threshold = Some(1);
    e.namespaces = Some(vec!["org.example".parse().unwrap()]);
    signed(&e, 1)
}

/// Extends `log` by a rotation to `key` (which the previous event committed to), committing to
/// `next`, signed by `key`.
fn rotate(log: &[Envelope], key: u8, next: u8, time: u64) -> Envelope {
    let mut e = KeyEvent::new(EventKind::Rotation, log.len() as u64, t(time));
    e.identity = Some(IdentityId::from_inception(&log[0].payload_digest()));
    e.previous = Some(log.last().unwrap().payload_digest());
    e.keys = Some(vec![pk(key)]);
    e.threshold = Some(1);
    e.next = Some(vec![pk(next).key_id()]);
    e.next_threshold = Some(1);
    e.reason = Some(Reason::Scheduled);
    signed(&e, key)
}

/// A log of `len` (at most 6) events: inception by key 1, then rotations to keys 2, 3, ….
/// Built once: signing in a debug build is slow.
fn main_log(len: usize) -> Vec<Envelope> {
    static LOG: std::sync::OnceLock<Vec<Envelope>> = std::sync::OnceLock::new();
    let log = LOG.get_or_init(|| {
        let mut log = vec![inception()];
        while log.len() < 6 {
            let key = log.len() as u8 + 1;
            log.push(rotate(&log, key, key + 1, 60 * log.len() as u64));
        }
        log
    });
    log[..len].to_vec()
}

/// A fork of `main` at position `at` (≥ 1), `len` events long: at `at` the committed key
/// rotates to keys of its own (100, 101, …) instead, so both histories are validly signed.
fn fork(main: &[Envelope], at: usize, len: usize) -> Vec<Envelope> {
    let mut log = main[..at].to_vec();
    let key = at as u8 + 1;
    log.push(rotate(&log, key, 100, 60 * at as u64 + 1));
    while log.len() < len {
        let key = 100 + (log.len() - at - 1) as u8;
        log.push(rotate(&log, key, key + 1, 60 * log.len() as u64 + 1));
    }
    log
}

/// Replaces byte `at` of `bytes` by `bytes[at] ^ x` (x ≠ 0).
fn flip(bytes: &[u8], at: Index, x: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = at.index(out.len());
    out[i] ^= x;
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A single changed byte anywhere in a signed event — its envelope's text, payload or
    /// signature — is refused by the walk, unless it leaves the very same envelope.
    #[test]
    fn the_walk_refuses_any_single_byte_change_to_an_event(
        len in 1..6usize,
        which in any::<Index>(),
        flip in flip_strategy(),
    ) {
        let log = main_log(len);
        let k = which.index(len);
        let Some(envelope) = flipped(&log[k], flip) else {
            return Ok(());
        };
        let mut events = log.clone();
        events[k] = envelope;
        prop_assert!(Kel::verify(&events).is_err(), "a changed event #{} verified", k);
    }

    /// Any reordering of a log's events is refused.
    #[test]
    fn the_walk_refuses_any_reordering(
        (len, order) in (2..6usize).prop_flat_map(|len| {
            (Just(len), Just((0..len).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let log = main_log(len);
        let reordered: Vec<Envelope> = order.iter().map(|&i| log[i].clone()).collect();
        if order.iter().enumerate().all(|(i, &j)| i == j) {
            prop_assert!(Kel::verify(&reordered).is_ok());
        } else {
            prop_assert!(Kel::verify(&reordered).is_err(), "order {:?} verified", order);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The trust store: merge and import
// ---------------------------------------------------------------------------------------------

fn kel(events: &[Envelope]) -> Kel {
    Kel::verify(events).unwrap()
}

fn stored_len(dir: &Path, identity: &IdentityId) -> Option<usize> {
    let store = TrustStore::open(dir, false, false).unwrap();
    store.view().kels.get(identity).map(|k| k.events().len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// A log that forks from the stored one is refused, recorded in the audit log with both
    /// events as evidence, and leaves the stored log as it was.
    #[test]
    fn an_import_that_does_not_extend_the_stored_log_is_refused_and_recorded(
        (main_len, at, stored, fork_len) in (2..5usize)
            .prop_flat_map(|n| (Just(n), 1..n))
            .prop_flat_map(|(n, at)| (Just(n), Just(at), (at + 1)..=n, (at + 1)..(at + 3)))
    ) {
        let main = main_log(main_len);
        let forked = fork(&main, at, fork_len);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("trust");
        let identity = kel(&main).identity();
        {
            let mut store = TrustStore::open(&dir, true, true).unwrap();
            store.import(kel(&main[..stored]), "import", t(1000)).unwrap();
            let refused = store.import(kel(&forked), "import", t(2000));
            prop_assert!(
                matches!(
                    &refused,
                    Err(TrustError::Refused { verdict: Verdict::Rejected(r), .. })
                        if r.as_str() == "equivocation"
                ),
                "{:?}", refused.map_err(|e| e.to_string())
            );
        }
        prop_assert_eq!(stored_len(&dir, &identity), Some(stored));
        let audit = read_audit_log(&dir).unwrap();
        let last = &audit.entries.last().unwrap().entry.record;
        match last {
            AuditRecord::KelRefused { identity: id, reason, evidence, .. } => {
                prop_assert_eq!(id, &identity);
                prop_assert_eq!(reason.as_str(), "equivocation");
                prop_assert_eq!(
                    evidence,
                    &vec![main[at].payload_digest(), forked[at].payload_digest()]
                );
            }
            other => prop_assert!(false, "last audit record is {:?}", other),
        }
    }

    /// Offering the prefixes of a log in any order (each possibly more than once) ends with
    /// the longest stored: each offer extends the store, leaves it unchanged, or is refused as
    /// a rollback and recorded.
    #[test]
    fn importing_prefixes_in_any_order_ends_with_the_longest(
        (len, offers) in (1..5usize).prop_flat_map(|len| {
            (Just(len), prop::collection::vec(1..=len, 1..6).prop_map(move |mut v| {
                v.push(len);
                v
            }).prop_shuffle())
        })
    ) {
        let main = main_log(len);
        let identity = kel(&main).identity();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("trust");
        let mut store = TrustStore::open(&dir, true, true).unwrap();
        let mut longest = 0usize;
        let mut refusals = 0usize;
        for (i, &n) in offers.iter().enumerate() {
            let result = store.import(kel(&main[..n]), "import", t(1000 + i as u64));
            match result {
                Ok(Imported::New { events }) => {
                    prop_assert_eq!(longest, 0);
                    prop_assert_eq!(events as usize, n);
                }
                Ok(Imported::Extended { from, to }) => {
                    prop_assert_eq!((from as usize, to as usize), (longest, n));
                }
                Ok(Imported::Unchanged) => prop_assert_eq!(n, longest),
                Ok(Imported::Recovered { .. }) => prop_assert!(false, "a prefix never recovers"),
                Err(TrustError::Refused { verdict: Verdict::Rejected(r), .. }) => {
                    prop_assert!(n < longest);
                    prop_assert_eq!(r.as_str(), "rollback");
                    refusals += 1;
                }
                Err(e) => prop_assert!(false, "offer of {} events: {}", n, e),
            }
            longest = longest.max(n);
        }
        drop(store);
        prop_assert_eq!(stored_len(&dir, &identity), Some(len));
        let audit = read_audit_log(&dir).unwrap();
        let recorded = audit
            .entries
            .iter()
            .filter(|e| matches!(e.entry.record, AuditRecord::KelRefused { .. }))
            .count();
        prop_assert_eq!(recorded, refusals);
    }
}

// ---------------------------------------------------------------------------------------------
// Signed objects
// ---------------------------------------------------------------------------------------------

const ARTIFACT: &[u8] = b"hello, world\n";
const REGISTRY_KEY: u8 = 0x52;

/// A publisher (a two-event log), a registry, a statement signed by the publisher's current
/// key, the registry's receipt for it, the bundle carrying them, and a trust view that pins
/// the publisher and requires the receipt but stores only the registry's log, so everything
/// the verdict rests on comes from the bundle.
struct World {
    registry: Kel,
    statement: Envelope,
    receipt: Envelope,
    bundle: Bundle,
    view: TrustView,
}

fn world() -> &'static World {
    static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        let publisher = kel(&main_log(2));
        let mut registry_inception = KeyEvent::new(EventKind::Inception, 0, t(0));
        registry_inception.keys = Some(vec![pk(REGISTRY_KEY)]);
        registry_inception.threshold = Some(1);
        registry_inception.next = Some(vec![pk(REGISTRY_KEY + 1).key_id()]);
        registry_inception.next_threshold = Some(1);
        registry_inception.namespaces = Some(vec!["org.registry".parse().unwrap()]);
        let registry = kel(&[signed(&registry_inception, REGISTRY_KEY)]);
        let head = publisher.head();
        let statement = Statement {
            name: "org.example.hello".parse().unwrap(),
            version: "1.0.0".parse().unwrap(),
            digest: ContentDigest::of_bytes(ARTIFACT),
            signer: SignerRef::identity(publisher.identity(), head.event.sequence, head.digest),
            created: t(120),
        };
        let mut statement_env = statement.to_envelope().unwrap();
        statement_env.sign(&sk(2)).unwrap();
        let receipt = Receipt {
            registry: registry.identity(),
            registry_sequence: 0,
            subject: statement_env.payload_digest(),
            subject_type: SubjectType::Statement,
            identity: publisher.identity(),
            log_index: 0,
            log_entry: Sha256Digest::of(b"log entry"),
            time: t(180),
            tlog: None,
        };
        let mut receipt_env = receipt.to_envelope().unwrap();
        receipt_env.sign(&sk(REGISTRY_KEY)).unwrap();
        let mut bundle = Bundle::new(statement_env.clone());
        bundle.kel = publisher.envelopes();
        bundle.receipts = vec![receipt_env.clone()];
        let mut pins = PinsFile::default();
        pins.add_registry(RegistryPin {
            name: "main".into(),
            identity: registry.identity(),
            created: t(30),
            location: None,
            max_age: None,
            witnesses: Vec::new(),
            witness_threshold: None,
        })
        .unwrap();
        pins.add(Pin {
            namespace: "org.example".parse().unwrap(),
            identity: publisher.identity(),
            pinned_at: 1,
            policy: Policy {
                require_receipt: vec!["main".into()],
                require_attestation: false,
            },
            source: PinSource::Manual,
            created: t(30),
        })
        .unwrap();
        let mut kels = HashMap::new();
        kels.insert(registry.identity(), Arc::new(registry.clone()));
        World {
            registry,
            statement: statement_env,
            receipt: receipt_env,
            bundle,
            view: TrustView {
                checkpoints: HashMap::new(),
                pins,
                kels,
                releases: Default::default(),
            },
        }
    })
}

/// The gate's verdict; `None` when the statement cannot be read at all (also a refusal).
fn decide(bundle: &Bundle) -> Option<Verdict> {
    let w = world();
    let gate = Gate::new(&w.view, &NoAttestationVerifier, false, t(3600));
    gate.decide(bundle, &ContentDigest::of_bytes(ARTIFACT))
        .ok()
        .map(|o| o.decision.verdict)
}

/// What the properties below change verifies unchanged.
#[test]
fn the_unchanged_signed_objects_verify() {
    let w = world();
    assert!(matches!(w.statement.signature_by(&pk(2)), Ok(Some(_))));
    assert_eq!(decide(&w.bundle), Some(Verdict::Trusted));
    let subject = w.statement.payload_digest();
    assert!(verify_receipt(&w.receipt, &w.registry, &subject).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// An envelope with a changed byte no longer carries a valid signature by its key.
    #[test]
    fn a_changed_envelope_is_refused(flip in flip_strategy()) {
        let w = world();
        let Some(changed) = flipped(&w.statement, flip) else {
            return Ok(());
        };
        prop_assert!(!matches!(changed.signature_by(&pk(2)), Ok(Some(_))));
    }

    /// A bundle with a changed byte — in its text, or in the statement, a key event or the
    /// receipt it carries — is not trusted.
    #[test]
    fn a_changed_bundle_is_refused(
        which in any::<Index>(),
        flip in flip_strategy(),
        at in any::<Index>(),
        x in 1..=255u8,
    ) {
        let w = world();
        let mut changed = w.bundle.clone();
        // 0: the bundle's text; 1: the statement; 2, 3: the key events; 4: the receipt.
        let ok = match which.index(5) {
            0 => match Bundle::from_json(&self::flip(&w.bundle.to_json(), at, x)) {
                Ok(parsed) if parsed != w.bundle => {
                    changed = parsed;
                    true
                }
                _ => false,
            },
            1 => flipped(&w.bundle.statement, flip).map(|e| changed.statement = e).is_some(),
            k @ 2..=3 => flipped(&w.bundle.kel[k - 2], flip)
                .map(|e| changed.kel[k - 2] = e)
                .is_some(),
            _ => flipped(&w.bundle.receipts[0], flip)
                .map(|e| changed.receipts[0] = e)
                .is_some(),
        };
        if !ok {
            return Ok(());
        }
        let verdict = decide(&changed);
        prop_assert!(
            !verdict.is_some_and(Verdict::is_trusted),
            "a changed bundle is {:?}",
            verdict
        );
    }

    /// A receipt with a changed byte does not verify.
    #[test]
    fn a_changed_receipt_is_refused(flip in flip_strategy()) {
        let w = world();
        let Some(changed) = flipped(&w.receipt, flip) else {
            return Ok(());
        };
        let subject = w.statement.payload_digest();
        prop_assert!(verify_receipt(&changed, &w.registry, &subject).is_err());
    }
}
