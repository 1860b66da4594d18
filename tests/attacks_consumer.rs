//! Attacks at the edges of the consumer's and the registry's trust decisions: a release
//! re-signed with other content, an old release served as a new one, trust on first use raced
//! by two claimants, a refused bundle leaving its logs behind, a registry countersigning
//! swapped bytes or a yanked release, look-alike namespaces, and forgeries of a bundle's key
//! event log. One named test per attack, asserting the exact verdict, message and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use common::*;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::envelope::{Envelope, PayloadType};
use hallmark_keyring::kel::{KelFile, Reason};
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
        let f = Fixture::unpinned(attack);
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

    fn unpinned(attack: &'static str) -> Self {
        let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
        std::fs::create_dir_all(s.join(attack)).unwrap();
        let p = Id::incept(1, 2, &["org.example"], t(0));
        Fixture { s, attack, p }
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

    fn serve(&self, file: &str, bytes: &[u8], bundle: &Bundle) {
        write_release(&self.s.join(self.attack), file, bytes, bundle);
    }

    fn verify(&self, files: &[&str]) -> Run {
        let mut args = vec![
            "verify".to_owned(),
            "--keyring".to_owned(),
            self.path("trust"),
        ];
        args.extend(files.iter().map(|f| self.path(f)));
        self.s.run(&args)
    }

    /// Runs the gatekeeper on one artifact and checks exit code and the exact verdict line.
    fn expect_verdict(&self, file: &str, code: i32, verdict: &str) -> Run {
        let run = self.verify(&[file]).expect(code);
        assert_eq!(run.stdout, format!("{}: {verdict}\n", self.path(file)));
        run
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        self.run(&["--json", "keyring", "log", "--keyring", &self.path("trust")])
            .expect(0)
            .json()["entries"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn stored_kels(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.s.join(&self.path("trust/kels")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn kel_file_name(id: &Id) -> String {
        format!("{}.kel", id.identity.to_string().trim_start_matches("hid:"))
    }

    /// A registry in `<attack>/<dir>` with file keys.
    fn registry(&self, dir: &str) {
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
    }

    fn accept(&self, dir: &str, files: &[&str], extra: &[&str]) -> Run {
        let mut args: Vec<String> = [
            "registry",
            "accept",
            "--registry",
            &self.path(dir),
            "--passphrase-file",
            "pw",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.extend(files.iter().map(|f| self.path(f)));
        self.s.run(&args)
    }

    fn registry_entries(&self, dir: &str) -> usize {
        self.s
            .read(&self.path(&format!("{dir}/log.jsonl")))
            .lines()
            .count()
    }
}

fn trusted(p: &Id, version: &str) -> String {
    format!(
        "trusted: {NAME}@{version} signed by key {} of identity {}",
        short(p.current),
        p.short()
    )
}

// ---- The consumer remembers what a name@version was. ----

#[test]
fn re_signed_version_with_other_content_is_refused() {
    // P's key (or whoever holds it) signs org.example.tool@1.0.0 a second time, over other
    // bytes. Each bundle verifies on its own; the trust store remembers the first.
    let f = Fixture::new("re-signed-version");
    f.serve(
        "tool-1.0.0.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.expect_verdict("tool-1.0.0.tar", 0, &trusted(&f.p, "1.0.0"));
    let index: serde_json::Value =
        serde_json::from_str(&f.s.read(&f.path("trust/releases/org.example.tool.json"))).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.hallmark.releases.v1+json"
    );
    let recorded = &index["versions"]["1.0.0"];
    assert_eq!(recorded["content"], content(ORIGINAL).to_string());
    let first = recorded["firstTrusted"].as_str().unwrap().to_owned();
    let audit = f.audit();
    let last = audit.last().unwrap();
    assert_eq!(last["record"]["verdict"], "trusted");
    assert_eq!(last["record"]["recorded"], true);

    let evil = b"tool release contents, re-signed\n";
    f.serve(
        "tool-1.0.0-again.tar",
        evil,
        &f.p.bundle(NAME, "1.0.0", evil, t(500), &[1]),
    );
    let refusal = format!(
        "rejected: digest-mismatch: {NAME}@1.0.0 has content {}, but this trust store recorded {} for it when it was first trusted on {first}: a version's content never changes, so this is a re-signed or substituted release",
        content(evil),
        content(ORIGINAL)
    );
    f.expect_verdict("tool-1.0.0-again.tar", 1, &refusal);
    // Read-only verification remembers as well, and the first release stays trusted.
    let run = f
        .run(&[
            "verify",
            "--no-record",
            "--keyring",
            &f.path("trust"),
            &f.path("tool-1.0.0-again.tar"),
            &f.path("tool-1.0.0.tar"),
        ])
        .expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: {refusal}\n{}: {}\n",
            f.path("tool-1.0.0-again.tar"),
            f.path("tool-1.0.0.tar"),
            trusted(&f.p, "1.0.0")
        )
    );
    // The refusal did not change the record.
    let after: serde_json::Value =
        serde_json::from_str(&f.s.read(&f.path("trust/releases/org.example.tool.json"))).unwrap();
    assert_eq!(after, index);
    let audit = f.audit();
    let refused = audit.last().unwrap();
    assert_eq!(refused["record"]["verdict"], "rejected: digest-mismatch");
    assert!(refused["record"].get("recorded").is_none());
    // A damaged index is an input error that names the file, never a silent forgetting.
    f.s.write(
        &f.path("trust/releases/org.example.tool.json"),
        "{\"versions\": 1}\n",
    );
    let run = f.verify(&["tool-1.0.0-again.tar"]).expect(2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: trust store release file: {}/trust/releases/org.example.tool.json: release file is malformed: ",
            f.attack
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn two_contents_for_one_version_in_one_run_are_both_refused() {
    // Both bundles are new to the trust store: neither may become "the" 1.0.0 by coming first.
    let f = Fixture::new("two-contents-one-run");
    let other = b"other bytes\n";
    f.serve(
        "a.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.serve(
        "b.tar",
        other,
        &f.p.bundle(NAME, "1.0.0", other, t(51), &[1]),
    );
    for order in [["a.tar", "b.tar"], ["b.tar", "a.tar"]] {
        let run = f.verify(&order).expect(1);
        let line = |file: &str, mine: &[u8], theirs: &[u8]| {
            format!(
                "{}: rejected: digest-mismatch: {NAME}@1.0.0 has content {} here, but another artifact of this run has {} for the same release: a version has one content, so neither is trusted\n",
                f.path(file),
                content(mine),
                content(theirs)
            )
        };
        let expected: String = order
            .iter()
            .map(|file| match *file {
                "a.tar" => line("a.tar", ORIGINAL, other),
                _ => line("b.tar", other, ORIGINAL),
            })
            .collect();
        assert_eq!(run.stdout, expected);
    }
    assert!(
        !f.s.join(&f.path("trust/releases/org.example.tool.json"))
            .exists()
    );
}

#[test]
fn concurrent_verifications_keep_every_release() {
    // Verifications running at once each record their releases; none is lost to another's
    // write of the same release file.
    let f = Fixture::new("concurrent-verify");
    let versions: Vec<String> = (0..6).map(|i| format!("1.0.{i}")).collect();
    for v in &versions {
        let bytes = v.as_bytes();
        f.serve(
            &format!("tool-{v}.tar"),
            bytes,
            &f.p.bundle(NAME, v, bytes, t(50), &[1]),
        );
    }
    let children: Vec<std::process::Child> = versions
        .iter()
        .map(|v| {
            std::process::Command::new(env!("CARGO_BIN_EXE_hallmark"))
                .args([
                    "verify",
                    "--keyring",
                    &f.path("trust"),
                    &f.path(&format!("tool-{v}.tar")),
                ])
                .current_dir(f.s.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    let index: serde_json::Value =
        serde_json::from_str(&f.s.read(&f.path("trust/releases/org.example.tool.json"))).unwrap();
    let recorded: Vec<&String> = index["versions"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, versions.iter().collect::<Vec<_>>());
    f.run(&["keyring", "log", "--verify", "--keyring", &f.path("trust")])
        .expect(0);
}

#[test]
fn old_release_served_under_a_newer_name_is_refused_when_expected() {
    // The attacker serves the genuine, signed 1.0.0 (with a known flaw) as tool-2.0.0.tar.
    let f = Fixture::new("old-release-renamed");
    let old = b"1.0.0 with a known flaw\n";
    let bundle = f.p.bundle(NAME, "1.0.0", old, t(50), &[1]);
    f.serve("tool-2.0.0.tar", old, &bundle);
    // Without an expectation the bundle is all there is to go by.
    f.expect_verdict("tool-2.0.0.tar", 0, &trusted(&f.p, "1.0.0"));
    let refusal = format!(
        "rejected: digest-mismatch: expected {NAME}@2.0.0, but the bundle is for {NAME}@1.0.0: another release was served in its place"
    );
    let run = f
        .run(&[
            "verify",
            "--expect",
            &format!("{NAME}@2.0.0"),
            "--keyring",
            &f.path("trust"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(1);
    assert_eq!(
        run.stdout,
        format!("{}: {refusal}\n", f.path("tool-2.0.0.tar"))
    );
    // In JSON, with the verdict and reason.
    let run = f
        .run(&[
            "--json",
            "verify",
            "--no-record",
            "--expect",
            &format!("{NAME}@2.0.0"),
            "--keyring",
            &f.path("trust"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(1);
    let v = &run.json()["results"][0];
    assert_eq!(
        (&v["verdict"], &v["reason"], &v["exitCode"]),
        (&"rejected".into(), &"digest-mismatch".into(), &1.into())
    );
    assert_eq!(
        v["message"],
        refusal.trim_start_matches("rejected: digest-mismatch: ")
    );
    assert_eq!(v["release"], format!("{NAME}@1.0.0"));
    // Another package of the same publisher is refused the same way.
    let run = f
        .run(&[
            "verify",
            "--expect",
            "org.example.other@1.0.0",
            "--keyring",
            &f.path("trust"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(1);
    assert!(
        run.stdout.contains(": rejected: digest-mismatch: expected org.example.other@1.0.0, but the bundle is for org.example.tool@1.0.0"),
        "{}",
        run.stdout
    );
    // The expected release is trusted.
    f.run(&[
        "verify",
        "--expect",
        &format!("{NAME}@1.0.0"),
        "--keyring",
        &f.path("trust"),
        &f.path("tool-2.0.0.tar"),
    ])
    .expect(0);
    // Against an identity without a trust store, the same.
    let run = f
        .run(&[
            "verify",
            "--expect",
            &format!("{NAME}@2.0.0"),
            "--identity",
            &f.path("org.example.kel"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(1);
    assert_eq!(
        run.stdout,
        format!("{}: {refusal}\n", f.path("tool-2.0.0.tar"))
    );
    // Against a bare key, and with hallmark-verify, the same.
    let key = pk(1).to_string();
    for exe in [
        env!("CARGO_BIN_EXE_hallmark"),
        env!("CARGO_BIN_EXE_hallmark-verify"),
    ] {
        let mut args = vec![];
        if exe.ends_with("hallmark") {
            args.push("verify");
        }
        args.extend(["--public-key", &key, "--expect"]);
        let expect = format!("{NAME}@2.0.0");
        args.push(&expect);
        let artifact = f.path("tool-2.0.0.tar");
        args.push(&artifact);
        let run = f.s.run_program(exe, &args, &[]).expect(1);
        assert_eq!(
            run.stdout,
            format!("{}: {refusal}\n", f.path("tool-2.0.0.tar")),
            "{exe}"
        );
    }
    // --expect once per artifact, or once for all; anything else is a usage error.
    let run = f
        .run(&[
            "verify",
            "--expect",
            &format!("{NAME}@1.0.0"),
            "--expect",
            &format!("{NAME}@2.0.0"),
            "--keyring",
            &f.path("trust"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(2);
    assert!(
        run.stderr
            .contains("--expect is given 2 times for 1 artifacts"),
        "{}",
        run.stderr
    );
    let run = f
        .run(&[
            "verify",
            "--expect",
            "org.example.tool",
            "--keyring",
            &f.path("trust"),
            &f.path("tool-2.0.0.tar"),
        ])
        .expect(2);
    assert!(run.stderr.contains("is not NAME@VERSION"), "{}", run.stderr);
}

// ---- Trust on first use is never decided by argument order. ----

#[test]
fn trust_on_first_use_refuses_both_claimants_in_either_order() {
    let f = Fixture::unpinned("tofu-two-claimants");
    let a = Id::incept(5, 6, &["net.other"], t(10));
    let b = Id::incept(7, 8, &["net.other"], t(10));
    f.serve(
        "a.tar",
        b"a\n",
        &a.bundle("net.other.lib", "1.0.0", b"a\n", t(20), &[5]),
    );
    f.serve(
        "b.tar",
        b"b\n",
        &b.bundle("net.other.lib", "1.0.1", b"b\n", t(20), &[7]),
    );
    let line = |file: &str, release: &str, mine: &Id, theirs: &Id| {
        format!(
            "{}: rejected: unlinked-signer-change: {release} is signed by identity {}, which claims net.other, but identity {} claims net.other in the same run: trust on first use cannot tell which publisher is real, so neither is pinned; pin the right one with `hallmark keyring pin`\n",
            f.path(file),
            mine.short(),
            theirs.short()
        )
    };
    for (order, extra) in [
        (["a.tar", "b.tar"], None),
        (["b.tar", "a.tar"], None),
        (["a.tar", "b.tar"], Some("--no-record")),
    ] {
        let mut args = vec!["verify", "--trust-on-first-use"];
        args.extend(extra);
        let trust = f.path("trust");
        args.extend(["--keyring", &trust]);
        let paths: Vec<String> = order.iter().map(|p| f.path(p)).collect();
        args.extend(paths.iter().map(String::as_str));
        let run = f.run(&args).expect(1);
        let expected: String = order
            .iter()
            .map(|file| match *file {
                "a.tar" => line("a.tar", "net.other.lib@1.0.0", &a, &b),
                _ => line("b.tar", "net.other.lib@1.0.1", &b, &a),
            })
            .collect();
        assert_eq!(run.stdout, expected);
        let show = f
            .run(&["--json", "keyring", "show", "--keyring", &trust])
            .expect(0)
            .json();
        assert_eq!(show["pins"], serde_json::json!([]), "{show}");
    }
    // Nothing from either claimant was stored.
    assert_eq!(f.stored_kels(), Vec::<String>::new());
    // One claimant alone is pinned on first use, as before.
    f.run(&[
        "verify",
        "--trust-on-first-use",
        "--keyring",
        &f.path("trust"),
        &f.path("a.tar"),
    ])
    .expect(0);
    assert_eq!(f.stored_kels(), vec![Fixture::kel_file_name(&a)]);
}

// ---- A refused verification stores nothing from the attacker. ----

#[test]
fn refused_verification_stores_no_key_event_log_of_the_attacker() {
    // An account takeover: the attacker's own identity claims org.example and signs the
    // package. The refusal must not leave the attacker's log in trust/kels/.
    let f = Fixture::new("refusal-stores-nothing");
    let attacker = Id::incept(66, 67, &["org.example"], t(10));
    f.serve(
        "tool.tar",
        ORIGINAL,
        &attacker.bundle(NAME, "2.0.0", ORIGINAL, t(50), &[66]),
    );
    f.expect_verdict(
        "tool.tar",
        1,
        &format!(
            "rejected: unlinked-signer-change: {NAME}@2.0.0 is signed by identity {}, not by identity {} which is pinned for org.example, and no transfer links them",
            attacker.short(),
            f.p.short()
        ),
    );
    assert_eq!(f.stored_kels(), vec![Fixture::kel_file_name(&f.p)]);
    assert!(
        !f.audit()
            .iter()
            .any(|e| e["record"]["kind"] == "kel-extended"
                && e["record"]["identity"] == attacker.identity.to_string()),
    );
    // A giver's log offered beside a refused transfer is not stored either.
    let q = Id::incept(5, 6, &["org.q"], t(10));
    let mut stranger = Id::incept(70, 71, &["org.stranger"], t(10));
    stranger.transfer(q.identity, &["org.stranger"], t(20));
    let mut bundle = q.bundle(NAME, "2.0.1", ORIGINAL, t(50), &[5]);
    bundle.related.push(KelFile {
        media_type: hallmark_keyring::kel::file::KEL_MEDIA_TYPE.to_owned(),
        events: stranger.events.clone(),
    });
    f.serve("tool-q.tar", ORIGINAL, &bundle);
    f.verify(&["tool-q.tar"]).expect(1);
    assert_eq!(f.stored_kels(), vec![Fixture::kel_file_name(&f.p)]);

    // The pinned identity's own newer log is still stored from a trusted verdict.
    let mut p = f.p.clone();
    p.rotate(3, Reason::Scheduled, t(100));
    f.serve(
        "tool-3.tar",
        b"3\n",
        &p.bundle(NAME, "3.0.0", b"3\n", t(150), &[2]),
    );
    f.verify(&["tool-3.tar"]).expect(0);
    let stored = KelFile::read_verified(
        &f.s.join(&f.path(&format!("trust/kels/{}", Fixture::kel_file_name(&p)))),
    )
    .unwrap();
    assert_eq!(stored.events().len(), 2);
}

// ---- Registry. ----

#[test]
fn registry_accept_hashes_the_artifact_beside_the_bundle() {
    // The bundle is genuine; the bytes beside it were swapped.
    let f = Fixture::new("registry-swapped-bytes");
    f.registry("registry");
    let evil = b"swapped bytes\n";
    f.serve(
        "tool.tar",
        evil,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    let before = f.s.read(&f.path("tool.tar.hallmark.json"));
    let entries = f.registry_entries("registry");
    let run = f.accept("registry", &["tool.tar"], &[]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: refused (digest): the artifact beside the bundle has content {}, but the statement for {NAME}@1.0.0 signs {}: the bytes are not the release, so the registry does not countersign them\n",
            f.path("tool.tar"),
            content(evil),
            content(ORIGINAL)
        )
    );
    assert_eq!(f.s.read(&f.path("tool.tar.hallmark.json")), before);
    assert_eq!(f.registry_entries("registry"), entries);
    // With the right bytes it is accepted.
    std::fs::write(f.s.join(&f.path("tool.tar")), ORIGINAL).unwrap();
    f.accept("registry", &["tool.tar"], &[]).expect(0);
}

#[test]
fn registry_refuses_a_yanked_release_submitted_again() {
    let f = Fixture::new("registry-yanked-resubmitted");
    f.registry("registry");
    f.serve(
        "tool.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    f.accept("registry", &["tool.tar"], &[]).expect(0);
    f.run(&[
        "registry",
        "yank",
        &format!("{NAME}@1.0.0"),
        "--reason",
        "CVE-2027-0001",
        "--registry",
        &f.path("registry"),
        "--passphrase-file",
        "pw",
    ])
    .expect(0);
    // The attacker strips the receipt and submits the yanked release again.
    f.serve(
        "tool.tar",
        ORIGINAL,
        &f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]),
    );
    let before = f.s.read(&f.path("tool.tar.hallmark.json"));
    let entries = f.registry_entries("registry");
    let run = f.accept("registry", &["tool.tar"], &[]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: refused (yanked): {NAME}@1.0.0 was yanked (CVE-2027-0001) after it was published (log entry #2); a yanked release is not accepted again and gets no new receipt: publish a new version\n",
            f.path("tool.tar")
        )
    );
    assert_eq!(f.s.read(&f.path("tool.tar.hallmark.json")), before);
    assert_eq!(f.registry_entries("registry"), entries);
}

#[test]
fn registry_refuses_a_lookalike_namespace_unless_overridden() {
    let f = Fixture::unpinned("registry-lookalike-namespace");
    f.registry("registry");
    let acme = Id::incept(1, 2, &["org.acme"], t(0));
    let squatter = Id::incept(5, 6, &["org.acmee"], t(10));
    f.serve(
        "tool.tar",
        b"tool\n",
        &acme.bundle("org.acme.tool", "1.0.0", b"tool\n", t(20), &[1]),
    );
    f.accept("registry", &["tool.tar"], &[]).expect(0);
    f.serve(
        "util.tar",
        b"util\n",
        &squatter.bundle("org.acmee.util", "1.0.0", b"util\n", t(30), &[5]),
    );
    let run = f.accept("registry", &["util.tar"], &[]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "{}: refused (similar-name): org.acmee.util is in org.acmee, 1 edit away from org.acme, where identity {} published org.acme.tool: possible typosquat; if the name is legitimate, resubmit with --allow-similar REASON (the reason is recorded in the log)\n",
            f.path("util.tar"),
            acme.short()
        )
    );
    // An unrelated namespace is not a look-alike.
    let other = Id::incept(7, 8, &["org.other"], t(10));
    f.serve(
        "other.tar",
        b"other\n",
        &other.bundle("org.other.util", "1.0.0", b"other\n", t(30), &[7]),
    );
    f.accept("registry", &["other.tar"], &[]).expect(0);
    // Overridden with a reason, which the log records.
    let run = f
        .accept(
            "registry",
            &["util.tar"],
            &["--allow-similar", "Acmee Ltd is a separate company"],
        )
        .expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "{}: accepted org.acmee.util@1.0.0 (log entry #",
            f.path("util.tar")
        )),
        "{}",
        run.stdout
    );
    let last = f.s.read(&f.path("registry/log.jsonl"));
    let line: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    let entry = Envelope::from_json(line["entry"].to_string().as_bytes()).unwrap();
    let payload = String::from_utf8(entry.payload().to_vec()).unwrap();
    assert!(
        payload.contains("\"override\":\"Acmee Ltd is a separate company\""),
        "{payload}"
    );
}

// ---- One verdict per kind of forgery. ----

/// P rotated to key 2 (committing to 3); the bundle of 2.0.0 carries the log with `forge`
/// applied to event #1, and the trust store holds only the inception.
fn forged_log_verdict(attack: &'static str, forge: impl Fn(&Id) -> Envelope) -> Run {
    let f = Fixture::new(attack);
    let mut p = f.p.clone();
    p.rotate(3, Reason::Scheduled, t(100));
    let mut forged = p.clone();
    forged.events[1] = forge(&p);
    f.serve(
        "tool.tar",
        ORIGINAL,
        &forged.bundle(NAME, "2.0.0", ORIGINAL, t(150), &[2]),
    );
    let run = f.verify(&["tool.tar"]).expect(1);
    let prefix = format!(
        "{}: rejected: bad-signature: the key event log in the bundle for {NAME}@2.0.0 does not verify: key event log {}: event #1 (rotation): ",
        f.path("tool.tar"),
        p.short()
    );
    assert!(run.stdout.starts_with(&prefix), "{attack}: {}", run.stdout);
    // Nothing from the forged log was stored.
    assert_eq!(f.stored_kels(), vec![Fixture::kel_file_name(&p)]);
    assert_eq!(
        KelFile::read_verified(
            &f.s.join(&f.path(&format!("trust/kels/{}", Fixture::kel_file_name(&p))))
        )
        .unwrap()
        .events()
        .len(),
        1
    );
    run
}

fn signed(event: &hallmark_keyring::KeyEvent, seeds: &[u8]) -> Envelope {
    let mut env = event.to_envelope().unwrap();
    for &s in seeds {
        env.sign(&sk(s)).unwrap();
    }
    env
}

#[test]
fn every_forgery_of_a_bundles_key_event_log_gets_one_verdict() {
    type Forge = fn(&Id) -> Envelope;
    let forgeries: [(&'static str, Forge); 6] = [
        // A byte of the rotation's signature flipped.
        ("forged-log-flipped-signature", |p| {
            let mut json: serde_json::Value = serde_json::to_value(&p.events[1]).unwrap();
            let sig = json["signatures"][0]["sig"].as_str().unwrap().to_owned();
            let mut bytes = sig.into_bytes();
            bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
            json["signatures"][0]["sig"] = String::from_utf8(bytes).unwrap().into();
            serde_json::from_value(json).unwrap()
        }),
        // The commitment to the next key edited after signing.
        ("forged-log-changed-field", |p| {
            let edited = p.prefix(1).rotation(2, 99, Reason::Scheduled, t(100));
            let mut env = edited.to_envelope().unwrap();
            env.add_signature(p.events[1].signatures()[0].clone())
                .unwrap();
            env
        }),
        // A correctly signed rotation that links to another history.
        ("forged-log-wrong-previous", |p| {
            let mut e = p.prefix(1).rotation(2, 3, Reason::Scheduled, t(100));
            e.previous = Some(hallmark_keyring::Sha256Digest::of(b"another history"));
            signed(&e, &[2])
        }),
        // The rotation signed by the current key 1 (a thief's), not by the committed key 2.
        ("forged-log-wrong-signer", |p| {
            let e = p.prefix(1).rotation(2, 3, Reason::Scheduled, t(100));
            signed(&e, &[1])
        }),
        // Event #1 taken from another identity's log.
        ("forged-log-swapped-event", |_| {
            let mut other = Id::incept(40, 41, &["org.other"], t(0));
            other.rotate(42, Reason::Scheduled, t(100));
            other.events[1].clone()
        }),
        // A rotation to a key that was never committed to.
        ("forged-log-uncommitted-key", |p| {
            let e = p.prefix(1).rotation(66, 67, Reason::Scheduled, t(100));
            signed(&e, &[1, 66])
        }),
    ];
    for (attack, forge) in forgeries {
        forged_log_verdict(attack, forge);
    }
}

#[test]
fn malformed_event_in_a_well_formed_log_is_an_input_error() {
    let f = Fixture::new("malformed-event");
    let mut p = f.p.clone();
    p.rotate(3, Reason::Scheduled, t(100));
    // A key event envelope whose payload is not a key event (an unknown field), signed.
    let mut payload: serde_json::Value = serde_json::from_slice(p.events[1].payload()).unwrap();
    payload["color"] = "red".into();
    let mut env =
        Envelope::new(PayloadType::KeyEvent, serde_json::to_vec(&payload).unwrap()).unwrap();
    env.sign(&sk(2)).unwrap();
    let mut damaged = p.clone();
    damaged.events[1] = env;
    // The bundle carries the whole damaged log.
    let mut bundle = damaged.bundle_at(0, NAME, "2.0.0", ORIGINAL, t(150), &[1]);
    bundle.kel = damaged.events.clone();
    f.serve("tool.tar", ORIGINAL, &bundle);
    let audit_before = f.audit().len();
    let run = f.verify(&["tool.tar"]).expect(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains(&format!(
            "bundle {}.hallmark.json is damaged or not a Hallmark bundle: bundle key event log: key event log {}: event #1: ",
            f.path("tool.tar"),
            p.short()
        )) && run.stderr.contains("unknown field `color`"),
        "{}",
        run.stderr
    );
    // The same log file offered to `keyring import`: an input error, nothing recorded.
    f.write_kel(&damaged, "damaged.kel");
    let run = f
        .run(&[
            "keyring",
            "import",
            &f.path("damaged.kel"),
            "--keyring",
            &f.path("trust"),
        ])
        .expect(2);
    assert!(
        run.stderr.contains(&format!(
            "{} is damaged: key event log {}: event #1: ",
            f.path("damaged.kel"),
            p.short()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(f.audit().len(), audit_before);
}

#[test]
fn sixty_five_signatures_are_refused_as_signatures() {
    let f = Fixture::new("sixty-five-signatures");
    let bundle = f.p.bundle(NAME, "1.0.0", ORIGINAL, t(50), &[1]);
    let mut json: serde_json::Value = serde_json::from_slice(&bundle.to_json()).unwrap();
    let one = json["statement"]["signatures"][0].clone();
    json["statement"]["signatures"] = serde_json::Value::Array(vec![one; 65]);
    let dir = f.s.join(f.attack);
    std::fs::write(dir.join("tool.tar"), ORIGINAL).unwrap();
    std::fs::write(
        dir.join("tool.tar.hallmark.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .unwrap();
    let run = f.verify(&["tool.tar"]).expect(2);
    assert!(
        run.stderr
            .contains("an envelope has 65 signatures, more than the 64 allowed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("bytes"), "{}", run.stderr);
}
