//! Attack scenarios against the gatekeeper (`hallmark verify --keyring`) and the registry: one
//! named test per attack, each asserting the exact verdict, message and exit code.
//!
//! Every scenario is generated deterministically (fixed seeds, fixed times; see
//! `common/mod.rs`) into a fixture directory named after the attack — `account-takeover/`,
//! `fork-equivocation/`, … — holding the trust store (`trust/`), the publisher's key event
//! log, and the artifact with the bundle the attacker serves. `docs/threat-model.md` maps each
//! one to the threat it answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use common::*;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::kel::{KelFile, Reason};
use hallmark_keyring::receipt::{Receipt, SubjectType};
use hallmark_keyring::{Sha256Digest, Statement};
use hallmark_tests::{Run, Scratch};

const NAME: &str = "org.example.tool";
const ORIGINAL: &[u8] = b"tool release contents\n";

/// A fixture named after an attack: publisher P (key 1, next key 2, claims org.example) pinned
/// in `<attack>/trust`.
struct Fixture {
    s: Scratch,
    attack: &'static str,
    p: Id,
}

impl Fixture {
    fn new(attack: &'static str) -> Self {
        let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
        std::fs::create_dir_all(s.join(attack)).unwrap();
        let p = Id::incept(1, 2, &["org.example"], t(0));
        let f = Fixture { s, attack, p };
        f.write_kel(&f.p, "org.example.kel");
        f.run(&[
            "keyring",
            "pin",
            "org.example",
            "--identity",
            &f.path("org.example.kel"),
            "--keyring",
            &f.path("trust"),
        ])
        .expect(0);
        f
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.attack)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.s.run(args)
    }

    fn write_kel(&self, id: &Id, name: &str) {
        id.write(&self.s.join(&self.path(name)));
    }

    /// Updates the stored log of P (what `hallmark keyring import` does after a ceremony).
    fn import(&self, id: &Id, name: &str) {
        self.write_kel(id, name);
        self.run(&[
            "keyring",
            "import",
            &self.path(name),
            "--keyring",
            &self.path("trust"),
        ])
        .expect(0);
    }

    fn serve(&self, file: &str, bytes: &[u8], bundle: &Bundle) {
        write_release(&self.s.join(self.attack), file, bytes, bundle);
    }

    /// Runs the gatekeeper on one artifact and checks exit code and the exact verdict line.
    fn expect_verdict(&self, file: &str, code: i32, verdict: &str) -> Run {
        let run = self
            .run(&["verify", "--keyring", &self.path("trust"), &self.path(file)])
            .expect(code);
        assert_eq!(run.stdout, format!("{}: {verdict}\n", self.path(file)));
        run
    }

    /// A registry in `<attack>/<dir>` with file keys, returning its identity's short form.
    fn registry(&self, dir: &str) -> String {
        let key = self.path(&format!("{dir}.key"));
        let next = self.path(&format!("{dir}-next.key"));
        self.s.file_key(&key);
        self.s.file_key(&next);
        self.run(&[
            "registry",
            "init",
            "--registry",
            &self.path(dir),
            "--key",
            &format!("file:{key}"),
            "--next-key",
            &format!("file:{next}"),
            "--passphrase-file",
            "pw",
        ])
        .expect(0);
        let kel = KelFile::read_verified(&self.s.join(&self.path(&format!("{dir}/registry.kel"))))
            .unwrap();
        kel.identity().short()
    }

    fn accept(&self, dir: &str, file: &str) -> Run {
        self.run(&[
            "registry",
            "accept",
            "--registry",
            &self.path(dir),
            "--passphrase-file",
            "pw",
            &self.path(file),
        ])
    }
}

#[test]
fn account_takeover_new_key_without_rotation() {
    // The attacker controls the publishing account and signs with a key of their own, in P's
    // name, at P's current position: no rotation links the new key.
    let f = Fixture::new("account-takeover");
    f.serve(
        "tool.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "2.0.0", ORIGINAL, t(50), &[9]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@2.0.0 is signed by key {}, not by the keys of identity {} at event #0 ({}), and no rotation links them",
            short(9),
            f.p.short(),
            short(1)
        ),
    );
}

#[test]
fn maintainer_transfer_without_transfer_statement() {
    // A new maintainer (their own identity) takes over the package; P never transferred it.
    let f = Fixture::new("maintainer-transfer-without-statement");
    let q = Id::incept(5, 6, &[NAME], t(10));
    f.serve(
        "tool.tar",
        ORIGINAL,
        &q.bundle(NAME, "2.0.0", ORIGINAL, t(50), &[5]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@2.0.0 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            q.short(),
            f.p.short()
        ),
    );
}

#[test]
fn typosquat_is_flagged_and_never_pinned_on_first_use() {
    let f = Fixture::new("typosquat");
    let squatter = Id::incept(7, 8, &["org.examp1e"], t(10));
    let name = "org.examp1e.tool";
    f.serve(
        "tool.tar",
        ORIGINAL,
        &squatter.bundle(name, "1.0.0", ORIGINAL, t(50), &[7]),
    );
    let expected = format!(
        "unknown-publisher: no pin covers {name} (signed by identity {}); {name} is 1 edit away from the pinned namespace org.example: possible typosquat",
        squatter.short()
    );
    f.expect_verdict("tool.tar", 3, &expected);
    let pins_before = f.s.read(&f.path("trust/pins.json"));
    let run = f
        .run(&[
            "verify",
            "--trust-on-first-use",
            "--keyring",
            &f.path("trust"),
            &f.path("tool.tar"),
        ])
        .expect(3);
    assert_eq!(run.stdout, format!("{}: {expected}\n", f.path("tool.tar")));
    assert_eq!(f.s.read(&f.path("trust/pins.json")), pins_before);
}

#[test]
fn dependency_confusion_same_name_other_identity() {
    // Another identity claims the very namespace and publishes the same package name.
    let f = Fixture::new("dependency-confusion");
    let other = Id::incept(5, 6, &["org.example"], t(10));
    f.serve(
        "tool.tar",
        ORIGINAL,
        &other.bundle(NAME, "99.0.0", ORIGINAL, t(50), &[5]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@99.0.0 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            other.short(),
            f.p.short()
        ),
    );
}

#[test]
fn abandoned_name_re_registration_is_refused_by_the_registry() {
    let f = Fixture::new("abandoned-name-re-registration");
    f.registry("registry");
    f.serve(
        "tool-1.0.0.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.accept("registry", "tool-1.0.0.tar").expect(0);
    // Years later P is gone; a newcomer registers an identity claiming the same namespace.
    let newcomer = Id::incept(5, 6, &["org.example"], t(5000));
    f.serve(
        "tool-2.0.0.tar",
        b"new owner\n",
        &newcomer.bundle(NAME, "2.0.0", b"new owner\n", t(5001), &[5]),
    );
    let run = f.accept("registry", "tool-2.0.0.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: refused (namespace): identity {} claims org.example, but org.example is registered to identity {}: names change hands only by a transfer from that identity, accepted by the receiver\n",
            f.path("tool-2.0.0.tar"),
            newcomer.short(),
            f.p.short()
        )
    );
    // And a consumer who pinned the original publisher refuses it as well.
    f.expect_verdict(
        "tool-2.0.0.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@2.0.0 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            newcomer.short(),
            f.p.short()
        ),
    );
}

#[test]
fn binary_substitution_changed_artifact_old_bundle() {
    let f = Fixture::new("binary-substitution");
    let evil = b"tool release contents, with a backdoor\n";
    f.serve(
        "tool.tar",
        evil,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: digest-mismatch: digest mismatch for {NAME}@1.0.0: expected {}, got {}; this artifact may have been tampered with",
            content(ORIGINAL),
            content(evil)
        ),
    );
}

#[test]
fn registry_compromise_tampered_bundle() {
    // The registry serves a bundle whose statement it edited (another version), keeping P's
    // signature.
    let f = Fixture::new("registry-compromise-tampered-bundle");
    let genuine = f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]);
    let mut statement = Statement::from_envelope(&genuine.statement).unwrap();
    statement.version = "1.0.1".parse().unwrap();
    let mut forged = statement.to_envelope().unwrap();
    forged
        .add_signature(genuine.statement.signatures()[0].clone())
        .unwrap();
    let mut bundle = genuine.clone();
    bundle.statement = forged;
    f.serve("tool.tar", ORIGINAL, &bundle);
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: bad-signature: the signature by key {} on {NAME}@1.0.1 does not verify; the bundle was altered or is corrupt",
            short(1)
        ),
    );
}

#[test]
fn registry_compromise_forged_receipt() {
    // A compromised registry front-end forges a receipt in the pinned registry's name with a
    // key that is not the registry's.
    let f = Fixture::new("registry-compromise-forged-receipt");
    f.registry("registry");
    let main = KelFile::read_verified(&f.s.join(&f.path("registry/registry.kel"))).unwrap();
    f.run(&[
        "keyring",
        "pin-registry",
        "main",
        "--identity",
        &f.path("registry/registry.kel"),
        "--keyring",
        &f.path("trust"),
    ])
    .expect(0);
    f.run(&[
        "keyring",
        "pin",
        "org.example",
        "--identity",
        &f.path("org.example.kel"),
        "--require-receipt",
        "main",
        "--keyring",
        &f.path("trust"),
    ])
    .expect(0);
    let mut bundle = f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]);
    let receipt = Receipt {
        registry: main.identity(),
        registry_sequence: 0,
        subject: bundle.statement.payload_digest(),
        subject_type: SubjectType::Statement,
        identity: f.p.identity,
        log_index: 1,
        log_entry: Sha256Digest::of(b"no such entry"),
        time: t(60),
        tlog: None,
    };
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&sk(77)).unwrap();
    bundle.receipts.push(envelope);
    f.serve("tool.tar", ORIGINAL, &bundle);
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: bad-signature: the receipt from registry `main` in the bundle for {NAME}@1.0.0 does not verify: the receipt's signature does not verify under the registry's keys: signed by 0 of the 1 authorised keys required; signatures by keys outside the authorised set ({}) do not count",
            short(77)
        ),
    );
}

#[test]
fn rollback_to_an_older_key_event_log() {
    // P rotated (scheduled) to key 2. The attacker holds the retired key 1 and serves a new
    // release with the log as it was before the rotation.
    let f = Fixture::new("rollback-to-older-kel");
    let mut p = f.p.clone();
    p.rotate(3, Reason::Scheduled, t(100));
    f.import(&p, "org.example-2.kel");
    let old = p.prefix(1);
    f.serve(
        "tool.tar",
        b"3.0.0\n",
        &old.bundle(NAME, "3.0.0", b"3.0.0\n", t(200), &[1]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: rollback: {NAME}@3.0.0 was signed on {} at event #0 by key {}, but rotation #1 replaced that key on {}: a release made after a rotation names the newer event, so this bundle presents an outdated key state",
            t(200),
            short(1),
            t(100)
        ),
    );
    // Importing the older log is refused and recorded.
    f.write_kel(&old, "org.example-old.kel");
    let run = f
        .run(&[
            "keyring",
            "import",
            &f.path("org.example-old.kel"),
            "--keyring",
            &f.path("trust"),
        ])
        .expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: {}: rejected: rollback: the offered log has 1 event, the stored one 2: it lacks the 1 newest (a rollback would hide them)\n",
            f.path("org.example-old.kel"),
            p.identity
        )
    );
    let log = f
        .run(&["--json", "keyring", "log", "--keyring", &f.path("trust")])
        .expect(0)
        .json();
    let refused = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["record"]["kind"] == "kel-refused")
        .unwrap();
    assert_eq!(refused["record"]["reason"], "rollback");
    f.run(&["keyring", "log", "--verify", "--keyring", &f.path("trust")])
        .expect(0);
}

#[test]
fn fork_equivocation_is_refused_and_kept_as_evidence() {
    let f = Fixture::new("fork-equivocation");
    let mut p = f.p.clone();
    p.rotate(3, Reason::Scheduled, t(100));
    f.import(&p, "org.example-2.kel");
    // The same pre-committed key signs a second, different rotation at #1.
    let mut fork = f.p.clone();
    let other = fork.rotation(2, 4, Reason::Scheduled, t(100));
    fork.push(&other, &[2]);
    f.serve(
        "tool.tar",
        ORIGINAL,
        &fork.bundle(NAME, "2.0.0", ORIGINAL, t(150), &[2]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: equivocation: identity {} has two different events at #1 (the keyring: {}, the bundle: {}): its keys signed conflicting histories, which only a compromise explains; both events are kept as evidence",
            p.short(),
            p.event_digest(1).short(),
            fork.event_digest(1).short()
        ),
    );
    let log = f
        .run(&["--json", "keyring", "log", "--keyring", &f.path("trust")])
        .expect(0)
        .json();
    let last = log["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["record"]["verdict"], "rejected: equivocation");
    assert_eq!(
        last["record"]["evidence"],
        serde_json::json!([
            p.event_digest(1).to_string(),
            fork.event_digest(1).to_string()
        ])
    );
    // A rewritten log (an event edited after signing) is refused and recorded as well.
    let mut rewritten = p.clone();
    let edited = p.prefix(1).rotation(2, 5, Reason::Scheduled, t(100));
    let mut envelope = edited.to_envelope().unwrap();
    envelope
        .add_signature(p.events[1].signatures()[0].clone())
        .unwrap();
    rewritten.events[1] = envelope;
    f.write_kel(&rewritten, "org.example-rewritten.kel");
    let run = f
        .run(&[
            "keyring",
            "import",
            &f.path("org.example-rewritten.kel"),
            "--keyring",
            &f.path("trust"),
        ])
        .expect(1);
    assert!(
        run.stdout.starts_with(&format!(
            "{}: {}: rejected: bad-signature: the log does not verify: key event log {}: event #1 (rotation): the signature by key {} does not verify",
            f.path("org.example-rewritten.kel"),
            p.identity,
            p.short(),
            short(2)
        )),
        "{}",
        run.stdout
    );
    // Importing the forked log is refused too.
    f.write_kel(&fork, "org.example-fork.kel");
    f.run(&[
        "keyring",
        "import",
        &f.path("org.example-fork.kel"),
        "--keyring",
        &f.path("trust"),
    ])
    .expect(1);
}

#[test]
fn rotation_by_a_thief_holding_only_the_current_key() {
    let f = Fixture::new("thief-rotation");
    let mut thief = f.p.clone();
    let rotation = thief.rotation(66, 67, Reason::Scheduled, t(100));
    thief.push(&rotation, &[1]);
    f.serve(
        "tool.tar",
        ORIGINAL,
        &thief.bundle(NAME, "2.0.0", ORIGINAL, t(150), &[66]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: bad-signature: the key event log in the bundle for {NAME}@2.0.0 does not verify: key event log {}: event #1 (rotation): rotation to key {} which was not pre-committed: only the keys committed in `next` of event #0 can become current",
            f.p.short(),
            short(66)
        ),
    );
}

#[test]
fn revoked_key_after_a_compromised_rotation() {
    let f = Fixture::new("revoked-key");
    let mut p = f.p.clone();
    p.rotate(3, Reason::Compromised, t(100));
    f.import(&p, "org.example-2.kel");
    // The thief signs with the stolen key 1 at its old position, back-dating the statement.
    f.serve(
        "tool.tar",
        ORIGINAL,
        &p.bundle_at(0, NAME, "1.5.0", ORIGINAL, t(50), &[1]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: revoked: {NAME}@1.5.0 is signed by key {}, which rotation #1 ({}) retired as compromised; no receipt from a pinned registry shows it was signed before then",
            short(1),
            t(100)
        ),
    );
}

#[test]
fn transfer_not_accepted() {
    let f = Fixture::new("transfer-not-accepted");
    let q = Id::incept(5, 6, &["org.q"], t(10));
    let mut p = f.p.clone();
    p.transfer(q.identity, &[NAME], t(100));
    f.import(&p, "org.example-2.kel");
    f.serve(
        "tool.tar",
        ORIGINAL,
        &q.bundle(NAME, "2.0.0", ORIGINAL, t(150), &[5]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@2.0.0 is signed by identity {}, not by identity {} which is pinned for org.example: {} transferred {NAME} to {} in event #1, but the transfer was never accepted",
            q.short(),
            p.short(),
            p.short(),
            q.short()
        ),
    );
}

#[test]
fn receipt_from_an_unpinned_registry_does_not_count() {
    let f = Fixture::new("unpinned-registry-receipt");
    let main = f.registry("main");
    f.registry("other");
    f.run(&[
        "keyring",
        "pin-registry",
        "main",
        "--identity",
        &f.path("main/registry.kel"),
        "--keyring",
        &f.path("trust"),
    ])
    .expect(0);
    f.run(&[
        "keyring",
        "pin",
        "org.example",
        "--identity",
        &f.path("org.example.kel"),
        "--require-receipt",
        "main",
        "--keyring",
        &f.path("trust"),
    ])
    .expect(0);
    f.serve(
        "tool.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.accept("other", "tool.tar").expect(0);
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: bad-signature: the policy for org.example requires a receipt from registry `main` ({main}); the bundle for {NAME}@1.0.0 carries none that verifies (1 receipt from registries that are not pinned, which do not count)"
        ),
    );
    // The pinned registry's receipt satisfies the policy.
    f.accept("main", "tool.tar").expect(0);
    f.expect_verdict(
        "tool.tar",
        0,
        &format!(
            "trusted: {NAME}@1.0.0 signed by key {} of identity {}",
            short(1),
            f.p.short()
        ),
    );
}

#[test]
fn frozen_store_misses_a_compromise_rotation() {
    // P's key 1 is stolen. P rotates it away as compromised and the registry logs the
    // rotation; a consumer whose trust store stopped refreshing before that (a frozen store:
    // offline, or its refresh blocked) still holds P's old log, under which the thief's
    // release is valid. A registry pinned with a maximum age makes such a store fail closed;
    // a refresh then learns the rotation from the registry's log, and the release is revoked.
    let mut f = Fixture::new("frozen-store");
    f.registry("registry");
    f.write_kel(&f.p, "p0.kel");
    f.accept("registry", "p0.kel").expect(0);
    f.run(&[
        "keyring",
        "pin-registry",
        "main",
        "--identity",
        &f.path("registry/registry.kel"),
        "--keyring",
        &f.path("trust"),
        "--location",
        &f.path("registry"),
        "--max-age",
        "24h",
    ])
    .expect(0);
    f.run(&["keyring", "refresh", "--keyring", &f.path("trust")])
        .expect(0);
    let thief = f.p.clone();
    f.p.rotate(3, Reason::Compromised, t(100));
    f.write_kel(&f.p, "p1.kel");
    f.accept("registry", "p1.kel").expect(0);
    f.serve(
        "tool.tar",
        b"backdoored\n",
        &thief.bundle(NAME, "6.6.6", b"backdoored\n", t(200), &[1]),
    );
    // The store last verified the registry two days ago and never saw the rotation.
    let held = f.s.join(&f.path("trust/registries/main.json"));
    let mut known: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&held).unwrap()).unwrap();
    let frozen = hallmark_keyring::Timestamp::from_unix(
        hallmark_keyring::Timestamp::now().unix() - 2 * 86_400,
    )
    .unwrap();
    known["verified"] = serde_json::Value::String(frozen.to_string());
    std::fs::write(&held, serde_json::to_vec_pretty(&known).unwrap()).unwrap();
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: stale: the trust store verified registry `main`'s checkpoint last on {frozen}, and its pin requires one no older than 24h: run `hallmark keyring refresh main` and verify again"
        ),
    );
    let records = |f: &Fixture| -> Vec<serde_json::Value> {
        f.run(&["keyring", "log", "--verify", "--keyring", &f.path("trust")])
            .expect(0);
        let log = f
            .run(&["--json", "keyring", "log", "--keyring", &f.path("trust")])
            .expect(0)
            .json();
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["record"].clone())
            .collect()
    };
    let before = records(&f).len();
    f.run(&["keyring", "refresh", "--keyring", &f.path("trust")])
        .expect(0);
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: revoked: {NAME}@6.6.6 is signed by key {}, which rotation #1 ({}) retired as compromised; no receipt from a pinned registry shows it was signed before then",
            short(1),
            t(100)
        ),
    );
    // The audit log says why the verdict changed: the refresh extended P's log with the
    // compromise rotation from the registry's newer checkpoint, then the verdict.
    let note = std::fs::read(f.s.join(&f.path("registry/checkpoint"))).unwrap();
    let checkpoint = hallmark_keyring::tlog::Checkpoint::parse_body(
        hallmark_keyring::tlog::Note::parse(&note).unwrap().text(),
    )
    .unwrap();
    let tree = checkpoint.tree;
    let head = f.p.events.last().unwrap().payload_digest();
    let now = records(&f).split_off(before);
    assert_eq!(
        now[..2],
        [
            serde_json::json!({
                "kind": "kel-extended",
                "identity": f.p.identity.to_string(),
                "from": 1,
                "to": 2,
                "head": head.to_string(),
                "via": "refresh",
            }),
            serde_json::json!({
                "kind": "checkpoint",
                "registry": "main",
                "origin": checkpoint.origin,
                "from": tree.size - 1,
                "to": tree.size,
                "root": hallmark_keyring::encoding::base64_encode(&tree.root),
                "consistent": true,
            }),
        ]
    );
    assert_eq!(
        (now.len(), &now[2]["kind"], &now[2]["verdict"]),
        (3, &"verdict".into(), &"rejected: revoked".into())
    );
    let log = f
        .run(&["keyring", "log", "--keyring", &f.path("trust")])
        .expect(0)
        .stdout;
    assert!(
        log.contains(&format!(
            "key event log of {} extended from 1 to 2 events (head {}) by refresh\n",
            f.p.identity,
            head.short()
        )),
        "{log}"
    );
}
