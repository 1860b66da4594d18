//! Attacks at the edges the project exists for — key theft and maintainer hand-over — against
//! the gatekeeper (`hallmark verify --keyring`) and the registry, one named test per attack,
//! each asserting the exact verdict, message and exit code:
//!
//! * a thief holding only the current key transfers the namespace to an identity of their
//!   own: the owner's recovery (a rotation by the pre-committed next key) supersedes the
//!   transfer, in every keyring and registry that sees it;
//! * after a hand-over, the giver signs a new release naming a position from before the
//!   transfer: refused by the gatekeeper and the registry;
//! * after a recovery, the owner's releases are trusted and the thief's are not, and the
//!   superseded events are kept as evidence;
//! * a rewritten audit log with a forged earlier verdict proves nothing: only a pinned
//!   registry's receipt dates a statement.
//!
//! Times are relative to now (a registry dates its receipts with the clock), everything else
//! is generated from fixed seeds (see `common/mod.rs`). `docs/threat-model.md` maps each test
//! to the threat it answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use common::*;
use hallmark_keyring::Timestamp;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::hashlog::{self, LogLine};
use hallmark_keyring::kel::{KelFile, Reason};
use hallmark_keyring::trust::{AuditRecord, read_audit_log};
use hallmark_tests::{Run, Scratch};

const NAME: &str = "org.example.tool";
const GENUINE: &[u8] = b"tool release contents\n";
const EVIL: &[u8] = b"tool release contents, with a backdoor\n";

/// A time `secs` after a base a little more than a day before now, so that the registry's
/// receipts (dated now) fall after the events a test dates early and before those it dates
/// late (`at(200_000)` is a day from now).
fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix(Timestamp::now().unix() - 100_000 + secs).unwrap()
}

/// Publisher P (key 1, next key 2, claims org.example) pinned in `trust`, a registry in
/// `registry`, and a base time.
struct Fixture {
    s: Scratch,
    p: Id,
    base: Timestamp,
}

impl Fixture {
    fn new() -> Self {
        let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
        let base = at(0);
        let p = Id::incept(1, 2, &["org.example"], base);
        p.write(&s.join("org.example.kel"));
        s.run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "org.example.kel",
            "--keyring",
            "trust",
        ])
        .expect(0);
        s.file_key("registry.key");
        s.file_key("registry-next.key");
        s.run([
            "registry",
            "init",
            "--registry",
            "registry",
            "--key",
            "file:registry.key",
            "--next-key",
            "file:registry-next.key",
            "--passphrase-file",
            "pw",
        ])
        .expect(0);
        Fixture { s, p, base }
    }

    /// `base` plus `secs`.
    fn t(&self, secs: u64) -> Timestamp {
        Timestamp::from_unix(self.base.unix() + secs).unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.s.run(args)
    }

    fn serve(&self, file: &str, bytes: &[u8], bundle: &Bundle) {
        write_release(self.s.path(), file, bytes, bundle);
    }

    /// The gatekeeper on one artifact: exit code and the exact verdict line.
    fn expect_verdict(&self, file: &str, code: i32, verdict: &str) -> Run {
        let run = self
            .run(&["verify", "--keyring", "trust", file])
            .expect(code);
        assert_eq!(run.stdout, format!("{file}: {verdict}\n"));
        run
    }

    /// Submits a bundle or a `.kel` file to the registry.
    fn accept(&self, file: &str) -> Run {
        self.run(&[
            "registry",
            "accept",
            "--registry",
            "registry",
            "--passphrase-file",
            "pw",
            file,
        ])
    }

    /// Pins the registry as `main`.
    fn pin_registry(&self) {
        self.run(&[
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "registry/registry.kel",
            "--keyring",
            "trust",
        ])
        .expect(0);
    }

    /// The audit log's records.
    fn audit(&self) -> Vec<AuditRecord> {
        read_audit_log(&self.s.join("trust"))
            .unwrap()
            .entries
            .into_iter()
            .map(|c| c.entry.record)
            .collect()
    }
}

/// A bundle carrying `related` logs besides the signer's.
fn with_related(mut bundle: Bundle, related: &[&Id]) -> Bundle {
    for id in related {
        bundle.related.push(KelFile {
            media_type: hallmark_keyring::kel::file::KEL_MEDIA_TYPE.to_owned(),
            events: id.events.clone(),
        });
    }
    bundle
}

/// The thief's branch of P: P's log plus a transfer of org.example to the thief's identity T
/// (key 7), signed with the stolen current key 1; T accepts; T's release of `EVIL`.
fn thief_takes_the_namespace(f: &Fixture) -> (Id, Id, Bundle) {
    let mut stolen = f.p.clone();
    let mut thief = Id::incept(7, 8, &["org.thief"], f.t(10));
    stolen.transfer(thief.identity, &["org.example"], f.t(100));
    thief.accept(&stolen, &["org.example"], f.t(101));
    let bundle = with_related(
        thief.bundle(NAME, "6.6.6", EVIL, f.t(110), &[7]),
        &[&stolen],
    );
    (stolen, thief, bundle)
}

#[test]
fn stolen_current_key_cannot_take_a_namespace() {
    let f = Fixture::new();
    let (stolen, thief, bundle) = thief_takes_the_namespace(&f);
    f.serve("evil.tar", EVIL, &bundle);
    // A consumer and the registry that see the thief's branch first take it: the transfer is
    // signed by P's current key, which is all a non-establishment event needs.
    f.expect_verdict(
        "evil.tar",
        0,
        &format!(
            "trusted-after-transfer: {NAME}@6.6.6 signed by key {} of identity {}; org.example transferred from identity {} to identity {} by transfer #1 ({}), accepted in #1",
            short(7),
            thief.short(),
            f.p.short(),
            thief.short(),
            f.t(100)
        ),
    );
    f.accept("evil.tar").expect(0);

    // P recovers: a rotation by the pre-committed next key 2, reason `compromised`, which
    // supersedes everything the current key signed since the last establishment event.
    let mut p = f.p.clone();
    p.rotate(3, Reason::Compromised, f.t(200));
    p.write(&f.s.join("org.example-recovered.kel"));
    let run = f
        .run(&[
            "keyring",
            "import",
            "org.example-recovered.kel",
            "--keyring",
            "trust",
        ])
        .expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "org.example-recovered.kel: {}: recovered by rotation #1: 1 event from #1 superseded (kept in the audit log as evidence)\n",
            p.identity
        )
    );
    // The registry follows the recovery.
    let run = f.accept("org.example-recovered.kel").expect(0);
    assert!(
        run.stdout
            .starts_with("org.example-recovered.kel: accepted 1 new key event(s)"),
        "{}",
        run.stdout
    );

    // From now on the thief's releases are refused everywhere: the transfer is gone.
    f.expect_verdict(
        "evil.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@6.6.6 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            thief.short(),
            p.short()
        ),
    );
    f.serve(
        "evil-2.tar",
        EVIL,
        &with_related(
            thief.bundle(NAME, "6.6.7", EVIL, f.t(300), &[7]),
            &[&stolen],
        ),
    );
    let run = f.accept("evil-2.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "evil-2.tar: refused (equivocation): identity {} recovered its log by rotation #1 with its pre-committed next keys, which supersedes the submitted events from #1 (signed by the current keys only)\n",
            p.short()
        )
    );
    // The registry's log, with the superseded transfer and the recovery, verifies in full.
    let run = f
        .run(&["registry", "verify-log", "--registry", "registry"])
        .expect(0);
    assert!(
        run.stdout.starts_with("registry log verified: "),
        "{}",
        run.stdout
    );
    // Offering the thief's branch to the keyring again is refused and recorded.
    stolen.write(&f.s.join("org.example-stolen.kel"));
    let run = f
        .run(&[
            "keyring",
            "import",
            "org.example-stolen.kel",
            "--keyring",
            "trust",
        ])
        .expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "org.example-stolen.kel: {}: rejected: equivocation: the offered log differs from the stored one from event #1, where it holds only events signed by the current keys, which the stored rotation #1 by the pre-committed next keys superseded (a recovery); the superseded events are kept as evidence\n",
            p.identity
        )
    );
}

#[test]
fn giver_cannot_publish_after_transfer() {
    let f = Fixture::new();
    f.pin_registry();
    // P publishes 1.0.0 through the registry (receipt dated now), then hands the package to Q,
    // a day from now; Q accepts and publishes 2.0.0.
    let mut p = f.p.clone();
    f.serve(
        "tool-1.tar",
        GENUINE,
        &p.bundle(NAME, "1.0.0", GENUINE, f.t(10), &[1]),
    );
    f.accept("tool-1.tar").expect(0);
    f.serve(
        "tool-1-unregistered.tar",
        GENUINE,
        &p.bundle(NAME, "1.0.1", GENUINE, f.t(11), &[1]),
    );
    let mut q = Id::incept(5, 6, &["org.q"], f.t(20));
    p.transfer(q.identity, &[NAME], f.t(200_000));
    q.accept(&p, &[NAME], f.t(200_001));
    f.serve(
        "tool-2.tar",
        b"2\n",
        &with_related(q.bundle(NAME, "2.0.0", b"2\n", f.t(200_010), &[5]), &[&p]),
    );
    f.accept("tool-2.tar").expect(0);
    f.expect_verdict(
        "tool-2.tar",
        0,
        &format!(
            "trusted-after-transfer: {NAME}@2.0.0 signed by key {} of identity {}; {NAME} transferred from identity {} to identity {} by transfer #1 ({}), accepted in #1",
            short(5),
            q.short(),
            p.short(),
            q.short(),
            f.t(200_000)
        ),
    );

    // The giver's keys sign a new release naming P's position from before the transfer.
    f.serve(
        "tool-3.tar",
        EVIL,
        &p.bundle_at(0, NAME, "3.0.0", EVIL, f.t(10), &[1]),
    );
    f.expect_verdict(
        "tool-3.tar",
        1,
        &format!(
            "rejected: revoked: {NAME}@3.0.0 names event #0 of identity {}, which transferred {NAME} to identity {} in event #1 ({}); no receipt from a pinned registry shows it was signed before the transfer, after which the giver's statements for the name do not count",
            p.short(),
            q.short(),
            f.t(200_000)
        ),
    );
    let run = f.accept("tool-3.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "tool-3.tar: refused (namespace): {NAME}@3.0.0 names event #0 of identity {}, which transferred {NAME} to identity {} in event #1: after a transfer, the giver cannot publish the name\n",
            p.short(),
            q.short()
        )
    );
    // A release signed before the transfer but never dated by the registry: the same.
    let run = f
        .run(&["verify", "--keyring", "trust", "tool-1-unregistered.tar"])
        .expect(1);
    assert!(
        run.stdout.starts_with(&format!(
            "tool-1-unregistered.tar: rejected: revoked: {NAME}@1.0.1 names event #0 of identity {}",
            p.short()
        )),
        "{}",
        run.stdout
    );
    // The release the registry received before the transfer keeps counting.
    let run = f
        .run(&["verify", "--keyring", "trust", "tool-1.tar"])
        .expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "tool-1.tar: trusted: {NAME}@1.0.0 signed by key {} of identity {}; signed before the transfer: receipt from registry `main` on ",
            short(1),
            p.short()
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn recovery_supersedes_thiefs_transfer() {
    let f = Fixture::new();
    let (stolen, thief, bundle) = thief_takes_the_namespace(&f);
    f.serve("evil.tar", EVIL, &bundle);
    // The consumer stores the thief's branch of P's log.
    f.run(&["verify", "--keyring", "trust", "evil.tar"])
        .expect(0);

    // P recovers with the next key and publishes with it; the consumer sees the recovery only
    // through the release's bundle.
    let mut p = f.p.clone();
    p.rotate(3, Reason::Compromised, f.t(200));
    f.serve(
        "tool-2.tar",
        GENUINE,
        &p.bundle(NAME, "2.0.0", GENUINE, f.t(210), &[2]),
    );
    f.expect_verdict(
        "tool-2.tar",
        0,
        &format!(
            "trusted-after-rotation: {NAME}@2.0.0 signed by key {}; {} → {} by rotation #1 (compromised, {})",
            short(2),
            short(1),
            short(2),
            f.t(200)
        ),
    );
    // Nothing signed on the superseded branch counts: the thief's release (no transfer links
    // T any more), and a statement in P's name at the superseded position.
    f.expect_verdict(
        "evil.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@6.6.6 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            thief.short(),
            p.short()
        ),
    );
    f.serve(
        "evil-p.tar",
        EVIL,
        &stolen.bundle(NAME, "6.6.8", EVIL, f.t(120), &[1]),
    );
    f.expect_verdict(
        "evil-p.tar",
        1,
        &format!(
            "rejected: equivocation: {NAME}@6.6.8 names event {} at #1 of identity {}, but its log holds {} there: the signer worked from a different history",
            stolen.event_digest(1).short(),
            p.short(),
            p.event_digest(1).short()
        ),
    );
    // The store holds the recovered log, and the audit log keeps the superseded transfer.
    let stored = KelFile::read_verified(&f.s.join(&format!(
        "trust/kels/{}.kel",
        p.identity.to_string().trim_start_matches("hid:")
    )))
    .unwrap();
    assert_eq!(stored.head().digest, p.event_digest(1));
    let recovered = f
        .audit()
        .into_iter()
        .find_map(|r| match r {
            AuditRecord::KelRecovered {
                identity,
                at,
                rotation,
                superseded,
                via,
                ..
            } => Some((identity, at, rotation, superseded, via)),
            _ => None,
        })
        .expect("a kel-recovered record");
    assert_eq!(
        recovered,
        (
            p.identity,
            1,
            1,
            vec![stolen.event_digest(1)],
            "verify".to_owned()
        )
    );
    f.run(&["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(0);
}

#[test]
fn forged_audit_log_is_not_proof_of_time() {
    let f = Fixture::new();
    // P's release 1.0.0 (key 1); P rotates away from key 1 as compromised, dated a day from
    // now (so that a receipt issued now predates it).
    let release = f.p.bundle(NAME, "1.0.0", GENUINE, f.t(10), &[1]);
    f.serve("tool.tar", GENUINE, &release);
    let mut p = f.p.clone();
    p.rotate(3, Reason::Compromised, f.t(200_000));
    p.write(&f.s.join("org.example-2.kel"));
    f.run(&[
        "keyring",
        "import",
        "org.example-2.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let revoked = format!(
        "rejected: revoked: {NAME}@1.0.0 is signed by key {}, which rotation #1 ({}) retired as compromised; no receipt from a pinned registry shows it was signed before then",
        short(1),
        f.t(200_000)
    );
    f.expect_verdict("tool.tar", 1, &revoked);

    // Whoever can write the trust store rewrites the audit log's chain with a `trusted`
    // verdict for the statement, dated before the compromise (the times of a rewritten chain
    // only need to be non-decreasing). The chain is consistent, so
    // `keyring log --verify` passes it...
    let path = f.s.join("trust/audit.log");
    let original = read_audit_log(&f.s.join("trust")).unwrap();
    let forged = AuditRecord::Verdict {
        release: format!("{NAME}@1.0.0"),
        statement: release.statement.payload_digest(),
        content: content(GENUINE),
        identity: Some(p.identity),
        verdict: "trusted".to_owned(),
        message: "forged".to_owned(),
        evidence: Vec::new(),
        recorded: false,
    };
    let mut records: Vec<(AuditRecord, Timestamp, Vec<_>)> = original
        .entries
        .iter()
        .map(|c| {
            (
                c.entry.record.clone(),
                c.entry.time,
                c.line.attached.clone(),
            )
        })
        .collect();
    records.insert(1, (forged, f.t(20), Vec::new()));
    let mut head = hashlog::Head::default();
    let mut lines = Vec::new();
    for (record, time, attached) in records {
        let entry = head.next_entry(time, record);
        head.advance(&entry);
        lines.push(
            LogLine {
                entry: entry.to_envelope().unwrap(),
                attached,
            }
            .to_json(),
        );
    }
    std::fs::remove_file(&path).unwrap();
    hashlog::append(&path, &lines).unwrap();
    f.run(&["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(0);
    // ...but it proves nothing: the release stays revoked.
    f.expect_verdict("tool.tar", 1, &revoked);

    // A receipt from a pinned registry, dated before the compromise, does date it.
    f.pin_registry();
    f.serve(
        "tool-r.tar",
        GENUINE,
        &f.p.bundle(NAME, "1.1.0", GENUINE, f.t(11), &[1]),
    );
    f.accept("tool-r.tar").expect(0);
    let run = f
        .run(&["verify", "--keyring", "trust", "tool-r.tar"])
        .expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "tool-r.tar: trusted: {NAME}@1.1.0 signed by key {} of identity {}; signed before the compromise: receipt from registry `main` on ",
            short(1),
            p.short()
        )),
        "{}",
        run.stdout
    );
}
