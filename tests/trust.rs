//! The consumer side end to end: pinning, the gatekeeper's verdicts with their chains,
//! revocation semantics, trust on first use, `--identity`, `--json`, and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use common::*;
use hallmark_keyring::Timestamp;
use hallmark_keyring::kel::Reason;
use hallmark_tests::{Run, Scratch};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

fn sign(s: &Scratch, key: &str, version: &str, artifact: &str) -> Run {
    s.run([
        "sign",
        "--key",
        &format!("file:{key}"),
        "--identity",
        "org.example.kel",
        "--passphrase-file",
        "pw",
        "--name",
        "org.example.tool",
        "--version",
        version,
        artifact,
    ])
}

fn verify(s: &Scratch, artifact: &str) -> Run {
    s.run(["verify", "--keyring", "trust", artifact])
}

/// The journey of issue 6 item 8 with the real `sign`: keys and the identity's log are made
/// with the keyring API here (the ceremony commands build the same log).
#[test]
fn user_journey_pin_sign_verify_rotate() {
    let s = scratch();
    write_file_key(&s.join("alice.key"), 1);
    write_file_key(&s.join("alice-next.key"), 2);
    let now = Timestamp::now();
    let mut id = Id::incept(1, 2, &["org.example"], now);
    id.write(&s.join("org.example.kel"));
    let run = s
        .run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "org.example.kel",
            "--keyring",
            "trust",
        ])
        .expect(0);
    assert_eq!(
        run.stdout,
        format!("pinned org.example to {} (policy: none)\n", id.identity)
    );

    s.write("tool-1.0.0.tar", b"one\n");
    sign(&s, "alice.key", "1.0.0", "tool-1.0.0.tar").expect(0);
    let run = verify(&s, "tool-1.0.0.tar").expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "tool-1.0.0.tar: trusted: org.example.tool@1.0.0 signed by key {} of identity {}\n",
            short(1),
            id.short()
        )
    );

    // A scheduled rotation to alice-next (the ceremony's `rotate`).
    write_file_key(&s.join("alice-next2.key"), 3);
    let rotated = Timestamp::now();
    id.rotate(3, Reason::Scheduled, rotated);
    std::fs::remove_file(s.join("org.example.kel")).unwrap();
    id.write(&s.join("org.example.kel"));
    s.write("tool-2.0.0.tar", b"two\n");
    sign(&s, "alice-next.key", "2.0.0", "tool-2.0.0.tar").expect(0);
    let run = verify(&s, "tool-2.0.0.tar").expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "tool-2.0.0.tar: trusted-after-rotation: org.example.tool@2.0.0 signed by key {}; {} → {} by rotation #1 (scheduled, {rotated})\n",
            short(2),
            short(1),
            short(2)
        )
    );
    // The release signed before the scheduled rotation stays trusted.
    verify(&s, "tool-1.0.0.tar").expect(0);
    // The bundle carried the longer log: the keyring stored it.
    let show = s
        .run(["--json", "keyring", "show", "--keyring", "trust"])
        .expect(0)
        .json();
    assert_eq!(show["kels"][0]["events"], 2);

    // A new identity claiming org.example: unlinked.
    let other = Id::incept(9, 10, &["org.example"], now);
    write_release(
        &s.join("evil"),
        "tool-3.0.0.tar",
        b"evil\n",
        &other.bundle("org.example.tool", "3.0.0", b"evil\n", now, &[9]),
    );
    let run = verify(&s, "evil/tool-3.0.0.tar").expect(1);
    assert!(
        run.stdout
            .starts_with("evil/tool-3.0.0.tar: rejected: unlinked-signer-change: "),
        "{}",
        run.stdout
    );
}

#[test]
fn releases_before_a_scheduled_rotation_stay_trusted_and_after_a_compromise_are_revoked() {
    let s = scratch();
    let mut p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let old = p.bundle("org.example.tool", "1.0.0", b"1\n", t(10), &[1]);
    write_release(s.path(), "old.tar", b"1\n", &old);

    let mut scheduled = p.clone();
    scheduled.rotate(3, Reason::Scheduled, t(100));
    let mut lost = p.clone();
    lost.rotate(3, Reason::Lost, t(100));
    let mut compromised = p.clone();
    compromised.rotate(3, Reason::Compromised, t(100));

    for (id, code, verdict) in [
        (
            &scheduled,
            0,
            format!(
                "trusted: org.example.tool@1.0.0 signed by key {} of identity {}",
                short(1),
                p.short()
            ),
        ),
        (
            &lost,
            0,
            format!(
                "trusted: org.example.tool@1.0.0 signed by key {} of identity {}",
                short(1),
                p.short()
            ),
        ),
        (
            &compromised,
            1,
            format!(
                "rejected: revoked: org.example.tool@1.0.0 is signed by key {}, which rotation #1 ({}) retired as compromised; no receipt from a pinned registry shows it was signed before then",
                short(1),
                t(100)
            ),
        ),
    ] {
        let s2 = scratch();
        p.write(&s2.join("p.kel"));
        s2.run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "p.kel",
            "--keyring",
            "trust",
        ])
        .expect(0);
        id.write(&s2.join("p2.kel"));
        s2.run(["keyring", "import", "p2.kel", "--keyring", "trust"])
            .expect(0);
        write_release(s2.path(), "old.tar", b"1\n", &old);
        let run = s2
            .run(["verify", "--keyring", "trust", "old.tar"])
            .expect(code);
        assert_eq!(run.stdout, format!("old.tar: {verdict}\n"));
    }
    let _ = p.rotate(3, Reason::Scheduled, t(100));
}

#[test]
fn an_earlier_recorded_verification_is_not_proof_of_time() {
    // The audit log is an unsigned file in the trust store: a verdict recorded there before a
    // compromise proves nothing (anyone who can write the store can write it), so without a
    // pinned registry's receipt the release is refused: fail closed.
    let s = scratch();
    let past = |secs: u64| Timestamp::from_unix(Timestamp::now().unix() - 1000 + secs).unwrap();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    write_release(
        s.path(),
        "old.tar",
        b"1\n",
        &p.bundle("org.example.tool", "1.0.0", b"1\n", past(10), &[1]),
    );
    // Verified (and recorded) before the compromise is announced.
    s.run(["verify", "--keyring", "trust", "old.tar"]).expect(0);
    // The rotation is dated after that verification.
    let mut compromised = p.clone();
    let when = Timestamp::from_unix(Timestamp::now().unix() + 10).unwrap();
    compromised.rotate(3, Reason::Compromised, when);
    compromised.write(&s.join("p2.kel"));
    s.run(["keyring", "import", "p2.kel", "--keyring", "trust"])
        .expect(0);
    let run = s.run(["verify", "--keyring", "trust", "old.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "old.tar: rejected: revoked: org.example.tool@1.0.0 is signed by key {}, which rotation #1 ({when}) retired as compromised; no receipt from a pinned registry shows it was signed before then\n",
            short(1)
        )
    );
}

#[test]
fn a_registry_receipt_proves_a_release_predates_the_compromise() {
    let s = scratch();
    let past = |secs: u64| Timestamp::from_unix(Timestamp::now().unix() - 1000 + secs).unwrap();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    p.write(&s.join("p.kel"));
    init_registry(&s, None, None).expect(0);
    s.run([
        "keyring",
        "pin-registry",
        "main",
        "--identity",
        "reg/registry.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    write_release(
        s.path(),
        "old.tar",
        b"1\n",
        &p.bundle("org.example.tool", "1.0.0", b"1\n", past(10), &[1]),
    );
    s.run([
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "old.tar",
    ])
    .expect(0);
    let mut compromised = p.clone();
    compromised.rotate(
        3,
        Reason::Compromised,
        Timestamp::from_unix(Timestamp::now().unix() + 10).unwrap(),
    );
    compromised.write(&s.join("p2.kel"));
    s.run(["keyring", "import", "p2.kel", "--keyring", "trust"])
        .expect(0);
    let run = s
        .run(["verify", "--no-record", "--keyring", "trust", "old.tar"])
        .expect(0);
    assert!(
        run.stdout
            .contains("; signed before the compromise: receipt from registry `main` on "),
        "{}",
        run.stdout
    );
}

#[test]
fn transfer_accepted_is_trusted_after_transfer() {
    let s = scratch();
    let mut p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let mut q = Id::incept(5, 6, &["org.q"], t(10));
    p.transfer(q.identity, &["org.example.tool"], t(100));
    q.accept(&p, &["org.example.tool"], t(110));
    // The bundle carries the giver's newer log as a related log.
    let mut bundle = q.bundle("org.example.tool", "2.0.0", b"2\n", t(120), &[5]);
    bundle
        .related
        .push(hallmark_keyring::KelFile::from_kel(&p.kel()));
    write_release(s.path(), "tool.tar", b"2\n", &bundle);
    let run = s
        .run(["verify", "--keyring", "trust", "tool.tar"])
        .expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "tool.tar: trusted-after-transfer: org.example.tool@2.0.0 signed by key {} of identity {}; org.example.tool transferred from identity {} to identity {} by transfer #1 ({}), accepted in #1\n",
            short(5),
            q.short(),
            p.short(),
            q.short(),
            t(100)
        )
    );
    // After the transfer, P itself no longer holds the package.
    write_release(
        s.path(),
        "p.tar",
        b"3\n",
        &p.bundle("org.example.tool", "3.0.0", b"3\n", t(130), &[1]),
    );
    let run = s.run(["verify", "--keyring", "trust", "p.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "p.tar: rejected: unlinked-signer-change: org.example.tool@3.0.0 is signed by identity {}, which did not hold org.example.tool at event #1; it transferred org.example.tool to identity {} in event #1\n",
            p.short(),
            q.short()
        )
    );
}

#[test]
fn unknown_publisher_exits_3_and_trust_on_first_use_pins_and_records() {
    let s = scratch();
    let p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let n = Id::incept(5, 6, &["net.other"], t(0));
    write_release(
        s.path(),
        "other.tar",
        b"x\n",
        &n.bundle("net.other.lib", "1.0.0", b"x\n", t(10), &[5]),
    );
    let run = s
        .run(["verify", "--keyring", "trust", "other.tar"])
        .expect(3);
    assert_eq!(
        run.stdout,
        format!(
            "other.tar: unknown-publisher: no pin covers net.other.lib (signed by identity {}); pin its publisher with `hallmark keyring pin NAMESPACE --identity KEL`\n",
            n.short()
        )
    );
    let run = s
        .run([
            "verify",
            "--trust-on-first-use",
            "--keyring",
            "trust",
            "other.tar",
        ])
        .expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "other.tar: trusted: net.other.lib@1.0.0 signed by key {} of identity {}; pinned net.other to it on first use\n",
            short(5),
            n.short()
        )
    );
    let show = s
        .run(["--json", "keyring", "show", "--keyring", "trust"])
        .expect(0)
        .json();
    assert_eq!(show["pins"][1]["namespace"], "net.other");
    assert_eq!(show["pins"][1]["source"], "trust-on-first-use");
    // From now on it is an ordinary pin.
    let run = s
        .run(["verify", "--keyring", "trust", "other.tar"])
        .expect(0);
    assert!(run.stdout.starts_with("other.tar: trusted: "));
}

#[test]
fn conflicting_pins_are_refused_and_the_most_specific_pin_wins() {
    let s = scratch();
    let p = Id::incept(1, 2, &["org.example"], t(0));
    let q = Id::incept(5, 6, &["org.example.tool"], t(0));
    p.write(&s.join("p.kel"));
    q.write(&s.join("q.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let run = s
        .run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "q.kel",
            "--keyring",
            "trust",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("does not hold org.example"),
        "{}",
        run.stderr
    );
    let q2 = Id::incept(7, 8, &["org.example"], t(0));
    q2.write(&s.join("q2.kel"));
    let run = s
        .run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "q2.kel",
            "--keyring",
            "trust",
        ])
        .expect(1);
    assert_eq!(
        run.stderr,
        format!(
            "error: org.example is already pinned to identity {}; pins do not change silently: remove the old pin with `hallmark keyring unpin org.example` first if the publisher really changed\n",
            p.identity
        )
    );
    // A more specific pin to another identity is a delegation, and it wins.
    s.run([
        "keyring",
        "pin",
        "org.example.tool",
        "--identity",
        "q.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    write_release(
        s.path(),
        "tool.tar",
        b"t\n",
        &q.bundle("org.example.tool", "1.0.0", b"t\n", t(10), &[5]),
    );
    write_release(
        s.path(),
        "lib.tar",
        b"l\n",
        &p.bundle("org.example.lib", "1.0.0", b"l\n", t(10), &[1]),
    );
    let run = s
        .run([
            "--json",
            "verify",
            "--keyring",
            "trust",
            "tool.tar",
            "lib.tar",
        ])
        .expect(0);
    let json = run.json();
    assert_eq!(json["results"][0]["verdict"], "trusted");
    assert_eq!(json["results"][0]["pin"], "org.example.tool");
    assert_eq!(json["results"][0]["identity"], q.identity.to_string());
    assert_eq!(json["results"][1]["pin"], "org.example");
    assert_eq!(json["results"][1]["release"], "org.example.lib@1.0.0");
}

#[test]
fn verify_against_an_identity_without_a_keyring() {
    let s = scratch();
    let mut p = Id::incept(1, 2, &["org.example"], t(0));
    p.rotate(3, Reason::Scheduled, t(100));
    p.write(&s.join("p.kel"));
    write_release(
        s.path(),
        "tool.tar",
        b"2\n",
        &p.bundle("org.example.tool", "2.0.0", b"2\n", t(120), &[2]),
    );
    let run = s
        .run(["verify", "--identity", "p.kel", "tool.tar"])
        .expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "tool.tar: trusted-after-rotation: org.example.tool@2.0.0 signed by key {}; {} → {} by rotation #1 (scheduled, {})\n",
            short(2),
            short(1),
            short(2),
            t(100)
        )
    );
    let json = s
        .run(["--json", "verify", "--identity", "p.kel", "tool.tar"])
        .expect(0)
        .json();
    assert_eq!(json["results"][0]["verdict"], "trusted-after-rotation");
    assert_eq!(
        json["results"][0]["chain"],
        serde_json::json!([format!(
            "{} → {} by rotation #1 (scheduled, {})",
            short(1),
            short(2),
            t(100)
        )])
    );
    // Verification never creates a trust store.
    assert!(!s.join("trust").exists());
}

#[test]
fn verification_never_changes_pins() {
    let s = scratch();
    let p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let pins = s.read("trust/pins.json");
    let other = Id::incept(5, 6, &["org.example"], t(0));
    write_release(
        s.path(),
        "a.tar",
        b"a\n",
        &other.bundle("org.example.a", "1.0.0", b"a\n", t(1), &[5]),
    );
    write_release(
        s.path(),
        "b.tar",
        b"b\n",
        &p.bundle("org.example.b", "1.0.0", b"b\n", t(1), &[1]),
    );
    s.run(["verify", "--keyring", "trust", "a.tar", "b.tar"])
        .expect(1);
    s.run([
        "verify",
        "--trust-on-first-use",
        "--keyring",
        "trust",
        "a.tar",
        "b.tar",
    ])
    .expect(1);
    assert_eq!(s.read("trust/pins.json"), pins);
}

/// Rewrites line `n` of a file with `edit`.
fn edit_line(path: &std::path::Path, n: usize, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[n] = edit(&lines[n]);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn audit_log_detects_edited_removed_and_reordered_entries() {
    let s = scratch();
    let p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        let bytes = v.as_bytes();
        write_release(
            s.path(),
            &format!("{v}.tar"),
            bytes,
            &p.bundle("org.example.tool", v, bytes, t(1), &[1]),
        );
        s.run(["verify", "--keyring", "trust", &format!("{v}.tar")])
            .expect(0);
    }
    let run = s
        .run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(0);
    assert!(
        run.stdout
            .starts_with("audit log verified: 5 entries, head sha256:"),
        "{}",
        run.stdout
    );
    let head = run.stdout.trim().rsplit(' ').next().unwrap().to_owned();
    let log_path = s.join("trust/audit.log");
    let pristine = std::fs::read(&log_path).unwrap();

    // Edited: a rejected verdict turned into a trusted one (the payload is re-encoded, so the
    // entry itself still decodes; the next entry's link breaks).
    edit_line(&log_path, 2, |line| {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let payload = v["entry"]["payload"].as_str().unwrap().to_owned();
        let decoded = base64_decode(&payload);
        let text = String::from_utf8(decoded)
            .unwrap()
            .replace("1.0.0", "6.6.6");
        v["entry"]["payload"] = serde_json::Value::String(base64_encode(text.as_bytes()));
        serde_json::to_string(&v).unwrap()
    });
    let run = s
        .run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(1);
    assert!(
        run.stdout
            .starts_with("audit log broken at entry #3: `previous` is sha256:"),
        "{}",
        run.stdout
    );

    // Removed.
    std::fs::write(&log_path, &pristine).unwrap();
    let text = String::from_utf8(pristine.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&log_path, lines.join("\n") + "\n").unwrap();
    let run = s
        .run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(1);
    assert_eq!(
        run.stdout,
        "audit log broken at entry #1: the entry says it is #2: entries were removed, inserted or reordered before it\n"
    );

    // Reordered.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(3, 4);
    std::fs::write(&log_path, lines.join("\n") + "\n").unwrap();
    let run = s
        .run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(1);
    assert_eq!(
        run.stdout,
        "audit log broken at entry #3: the entry says it is #4: entries were removed, inserted or reordered before it\n"
    );

    // Removed from the end: the chain is intact, the kept head is not.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log_path, lines[..4].join("\n") + "\n").unwrap();
    s.run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(0);
    let run = s
        .run([
            "keyring",
            "log",
            "--verify",
            "--expect-head",
            &head,
            "--keyring",
            "trust",
        ])
        .expect(1);
    assert!(
        run.stdout.contains("entries were removed from the end"),
        "{}",
        run.stdout
    );

    // A verification reads only the log's last entry (its cost must not grow with the log), so
    // a break further back does not stop the gate; the full check still finds it, before and
    // after the gate appends to the log.
    edit_line(&log_path, 1, |_| "{}".to_owned());
    s.run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(1);
    s.run(["verify", "--keyring", "trust", "1.0.0.tar"])
        .expect(0);
    let run = s
        .run(["keyring", "log", "--verify", "--keyring", "trust"])
        .expect(1);
    assert!(run.stdout.contains("entry #1"), "{}", run.stdout);
}

fn base64_decode(text: &str) -> Vec<u8> {
    hallmark_keyring::encoding::base64_decode("payload", text, 1 << 20).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    hallmark_keyring::encoding::base64_encode(bytes)
}

#[test]
fn sign_related_carries_the_givers_log_for_a_transfer() {
    let s = scratch();
    let mut p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    // The consumer pinned P before the transfer.
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let mut q = Id::incept(5, 6, &["org.q"], t(10));
    p.transfer(q.identity, &["org.example.tool"], t(100));
    q.accept(&p, &["org.example.tool"], t(110));
    std::fs::remove_file(s.join("p.kel")).unwrap();
    p.write(&s.join("p.kel"));
    q.write(&s.join("q.kel"));
    write_file_key(&s.join("q.key"), 5);
    s.write("tool.tar", b"q\n");
    s.run([
        "sign",
        "--key",
        "file:q.key",
        "--identity",
        "q.kel",
        "--related",
        "p.kel",
        "--passphrase-file",
        "pw",
        "--name",
        "org.example.tool",
        "--version",
        "2.0.0",
        "tool.tar",
    ])
    .expect(0);
    let run = s
        .run(["verify", "--keyring", "trust", "tool.tar"])
        .expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "tool.tar: trusted-after-transfer: org.example.tool@2.0.0 signed by key {} of identity {}; org.example.tool transferred from identity {} to identity {} by transfer #1",
            short(5),
            q.short(),
            p.short(),
            q.short()
        )),
        "{}",
        run.stdout
    );
}
