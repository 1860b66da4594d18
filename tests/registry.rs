//! The registry end to end: every check with its exact refusal, receipts, yanks, log
//! verification, and durability under SIGKILL at random points.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use common::*;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::hashlog::{self, LogEntry, LogLine};
use hallmark_keyring::kel::Reason;
use hallmark_keyring::registry::RegistryRecord;
use hallmark_keyring::{Sha256Digest, Timestamp};
use hallmark_tests::{Run, Scratch};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// A scratch dir with a registry in `reg/`.
fn with_registry() -> Scratch {
    let s = scratch();
    init_registry(&s, None, None).expect(0);
    s
}

fn accept(s: &Scratch, paths: &[&str]) -> Run {
    let mut args = vec![
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
    ];
    args.extend_from_slice(paths);
    s.run(args)
}

fn past(secs: u64) -> Timestamp {
    Timestamp::from_unix(Timestamp::now().unix() - 100_000 + secs).unwrap()
}

fn publish(s: &Scratch, id: &Id, file: &str, name: &str, version: &str, bytes: &[u8], key: u8) {
    write_release(
        s.path(),
        file,
        bytes,
        &id.bundle(name, version, bytes, past(50), &[key]),
    );
}

fn log_records(s: &Scratch) -> Vec<RegistryRecord> {
    let raw = hashlog::read(&s.join("reg/log.jsonl")).unwrap();
    raw.lines
        .iter()
        .map(|l| {
            let line = LogLine::from_json(l).unwrap();
            LogEntry::<RegistryRecord>::from_envelope(&line.entry)
                .unwrap()
                .record
        })
        .collect()
}

#[test]
fn accept_writes_a_receipt_and_resubmission_is_idempotent() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    publish(&s, &p, "tool.tar", "org.example.tool", "1.0.0", b"one\n", 1);
    let run = accept(&s, &["tool.tar"]).expect(0);
    assert_eq!(
        run.stdout,
        "tool.tar: accepted org.example.tool@1.0.0 (log entry #2); receipt written to tool.tar.hallmark.json\n"
    );
    let bundle = Bundle::from_json(s.read("tool.tar.hallmark.json").as_bytes()).unwrap();
    assert_eq!(bundle.receipts.len(), 1);
    let first = s.read("tool.tar.hallmark.json");
    let run = accept(&s, &["tool.tar"]).expect(0);
    assert_eq!(
        run.stdout,
        "tool.tar: already accepted org.example.tool@1.0.0 (log entry #2); receipt written to tool.tar.hallmark.json\n"
    );
    // The re-issued receipt is byte for byte the same.
    assert_eq!(s.read("tool.tar.hallmark.json"), first);
    // `registry receipt` re-issues it too, from the log.
    let mut stripped = bundle.clone();
    stripped.receipts.clear();
    std::fs::write(s.join("tool.tar.hallmark.json"), stripped.to_json()).unwrap();
    s.run([
        "registry",
        "receipt",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "tool.tar",
    ])
    .expect(0);
    assert_eq!(s.read("tool.tar.hallmark.json"), first);
    let records = log_records(&s);
    assert!(matches!(
        records[0],
        RegistryRecord::KeyEvent { sequence: 0, .. }
    ));
    assert!(
        matches!(records[1], RegistryRecord::KeyEvent { identity, sequence: 0, .. } if identity == p.identity)
    );
    assert!(
        matches!(&records[2], RegistryRecord::Publish { version, .. } if version.as_str() == "1.0.0")
    );
    assert_eq!(records.len(), 3);
}

#[test]
fn versions_are_immutable_and_yanked_versions_are_kept() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    publish(&s, &p, "a.tar", "org.example.tool", "1.0.0", b"one\n", 1);
    accept(&s, &["a.tar"]).expect(0);
    publish(&s, &p, "b.tar", "org.example.tool", "1.0.0", b"other\n", 1);
    let run = accept(&s, &["b.tar"]).expect(1);
    let when = match &log_records(&s)[2] {
        RegistryRecord::Publish { .. } => {
            let raw = hashlog::read(&s.join("reg/log.jsonl")).unwrap();
            let line = LogLine::from_json(&raw.lines[2]).unwrap();
            LogEntry::<RegistryRecord>::from_envelope(&line.entry)
                .unwrap()
                .time
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run.stdout,
        format!(
            "b.tar: refused (immutable-version): org.example.tool@1.0.0 was published on {when} with content {} (log entry #2); versions are immutable: publish a new version\n",
            content(b"one\n")
        )
    );
    let run = s
        .run([
            "registry",
            "yank",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
            "org.example.tool@1.0.0",
            "--reason",
            "CVE-2027-0001",
        ])
        .expect(0);
    assert_eq!(run.stdout, "yanked org.example.tool@1.0.0 (log entry #3)\n");
    let run = accept(&s, &["b.tar"]).expect(1);
    assert!(
        run.stdout
            .contains("(log entry #2, yanked: CVE-2027-0001); versions are immutable"),
        "{}",
        run.stdout
    );
    assert!(
        matches!(&log_records(&s)[3], RegistryRecord::Yank { reason, .. } if reason == "CVE-2027-0001")
    );
}

/// A receipt proves acceptance and says nothing of a later yank: `registry receipt` refuses
/// to re-issue one for a yanked release (exit 1, naming the yank's log entry) unless
/// `--include-yanked` asks for it; other releases of the run still get theirs.
#[test]
fn receipt_is_refused_for_a_yanked_release_unless_asked_for() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    publish(&s, &p, "a.tar", "org.example.tool", "1.0.0", b"one\n", 1);
    publish(&s, &p, "c.tar", "org.example.tool", "1.0.1", b"two\n", 1);
    accept(&s, &["a.tar", "c.tar"]).expect(0);
    s.run([
        "registry",
        "yank",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "org.example.tool@1.0.0",
        "--reason",
        "CVE-2027-0001",
    ])
    .expect(0);
    let strip = |file: &str| {
        let mut bundle = Bundle::from_json(s.read(file).as_bytes()).unwrap();
        bundle.receipts.clear();
        std::fs::write(s.join(file), bundle.to_json()).unwrap();
    };
    let receipts = |file: &str| {
        Bundle::from_json(s.read(file).as_bytes())
            .unwrap()
            .receipts
            .len()
    };
    strip("a.tar.hallmark.json");
    strip("c.tar.hallmark.json");
    let receipt = |extra: &[&str]| {
        let mut args = vec![
            "registry",
            "receipt",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["a.tar", "c.tar"]);
        s.run(args)
    };
    let refusal = "org.example.tool@1.0.0 was yanked (CVE-2027-0001) in log entry #4 after it was published (log entry #2); a receipt proves acceptance and says nothing of the yank, so none is re-issued for a yanked release; give --include-yanked to re-issue it anyway";
    let run = receipt(&[]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "a.tar: refused (yanked): {refusal}\nc.tar: receipt written to c.tar.hallmark.json\n"
        )
    );
    assert_eq!(receipts("a.tar.hallmark.json"), 0);
    assert_eq!(receipts("c.tar.hallmark.json"), 1);
    let run = receipt(&["--json"]).expect(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["results"][0]["refused"]["reason"], "yanked");
    assert_eq!(doc["results"][0]["refused"]["message"], refusal);
    assert_eq!(doc["results"][0]["receipts"], serde_json::Value::Null);
    assert_eq!(doc["results"][1]["refused"], serde_json::Value::Null);
    assert_eq!(receipts("a.tar.hallmark.json"), 0);

    let run = receipt(&["--include-yanked"]).expect(0);
    assert_eq!(
        run.stdout,
        "a.tar: receipt written to a.tar.hallmark.json\nc.tar: receipt written to c.tar.hallmark.json\n"
    );
    assert_eq!(receipts("a.tar.hallmark.json"), 1);
}

#[test]
fn look_alike_names_need_a_recorded_override() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    let q = Id::incept(5, 6, &["org.examp1e"], past(0));
    publish(&s, &p, "a.tar", "org.example.tool", "1.0.0", b"a\n", 1);
    accept(&s, &["a.tar"]).expect(0);
    publish(&s, &q, "b.tar", "org.examp1e.tool", "1.0.0", b"b\n", 5);
    let run = accept(&s, &["b.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "b.tar: refused (similar-name): org.examp1e.tool is 1 edit away from org.example.tool, published by identity {}: possible typosquat; if the name is legitimate, resubmit with --allow-similar REASON (the reason is recorded in the log)\n",
            p.short()
        )
    );
    // Nothing of the refused publish was logged, not even the new identity's inception.
    assert_eq!(log_records(&s).len(), 3);
    s.run([
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "--allow-similar",
        "ticket 42: a different project, checked by a person",
        "b.tar",
    ])
    .expect(0);
    match log_records(&s).last().unwrap() {
        RegistryRecord::Publish {
            override_reason, ..
        } => assert_eq!(
            override_reason.as_deref(),
            Some("ticket 42: a different project, checked by a person")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_events_go_through_the_same_checks() {
    let s = with_registry();
    let mut p = Id::incept(1, 2, &["org.example"], past(0));
    publish(&s, &p, "a.tar", "org.example.tool", "1.0.0", b"a\n", 1);
    accept(&s, &["a.tar"]).expect(0);
    // A rotation, submitted as a key event log: logged and countersigned.
    let before = p.clone();
    p.rotate(3, Reason::Scheduled, past(100));
    p.write(&s.join("p.kel"));
    let run = accept(&s, &["p.kel"]).expect(0);
    assert_eq!(
        run.stdout,
        "p.kel: accepted 1 new key event(s) (log entries #1, #3); receipt written to p.kel.receipts.json\n"
    );
    // A new release signed with the rotated-away key is a rollback.
    publish(
        &s,
        &before,
        "old.tar",
        "org.example.tool",
        "1.1.0",
        b"old\n",
        1,
    );
    let run = accept(&s, &["old.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "old.tar: refused (rollback): org.example.tool@1.1.0 is signed with the keys of event #0 of identity {}, which rotation #1 replaced: new releases are signed with the current keys\n",
            p.short()
        )
    );
    // A forked log is equivocation.
    let mut fork = before.clone();
    let other = fork.rotation(2, 9, Reason::Scheduled, past(100));
    fork.push(&other, &[2]);
    fork.write(&s.join("fork.kel"));
    let run = accept(&s, &["fork.kel"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "fork.kel: refused (equivocation): identity {} has two different events at #1 (registry: {}, submitted: {}): its keys signed conflicting histories, which only a compromise explains\n",
            p.short(),
            p.event_digest(1).short(),
            fork.event_digest(1).short()
        )
    );
    // A rotation signed only by the current key is refused.
    let mut thief = p.clone();
    let rotation = thief.rotation(66, 67, Reason::Scheduled, past(200));
    thief.push(&rotation, &[2]);
    thief.write(&s.join("thief.kel"));
    let run = accept(&s, &["thief.kel"]).expect(1);
    assert!(
        run.stdout
            .starts_with("thief.kel: refused (signature): the key event log does not verify: "),
        "{}",
        run.stdout
    );
    // A package of the namespace published by a receiver of an unaccepted transfer: refused.
    let q = Id::incept(5, 6, &["org.q"], past(0));
    p.transfer(q.identity, &["org.example.tool"], past(300));
    p.write(&s.join("p.kel"));
    accept(&s, &["p.kel"]).expect(0);
    publish(&s, &q, "q.tar", "org.example.tool", "2.0.0", b"q\n", 5);
    let run = accept(&s, &["q.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "q.tar: refused (namespace): identity {} does not hold org.example.tool\n",
            q.short()
        )
    );
    s.run(["registry", "verify-log", "--registry", "reg"])
        .expect(0);
}

#[test]
fn verify_log_names_the_edited_removed_or_reordered_entry() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        publish(
            &s,
            &p,
            &format!("{v}.tar"),
            "org.example.tool",
            v,
            v.as_bytes(),
            1,
        );
    }
    accept(&s, &["1.0.0.tar", "1.0.1.tar", "1.0.2.tar"]).expect(0);
    let run = s
        .run(["registry", "verify-log", "--registry", "reg"])
        .expect(0);
    assert!(
        run.stdout.starts_with(
            "registry log verified: 5 entries (3 publishes, 2 key events, 0 yanks), registry hid:"
        ),
        "{}",
        run.stdout
    );
    let path = s.join("reg/log.jsonl");
    let pristine = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = pristine.lines().collect();

    // Edited last entry (no next entry to break): its signature no longer verifies.
    let mut edited = lines.clone();
    let mut v: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
    let sig = v["entry"]["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if sig.starts_with('A') {
        sig.replacen('A', "B", 1)
    } else {
        format!("A{}", &sig[1..])
    };
    v["entry"]["signatures"][0]["sig"] = serde_json::Value::String(flipped);
    let edited_line = serde_json::to_string(&v).unwrap();
    edited[4] = &edited_line;
    std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    let run = s
        .run(["registry", "verify-log", "--registry", "reg"])
        .expect(1);
    assert!(run.stdout.starts_with("registry log broken at entry #4: the entry is not signed by the registry's current keys"), "{}", run.stdout);

    // Removed.
    let mut removed = lines.clone();
    removed.remove(2);
    std::fs::write(&path, removed.join("\n") + "\n").unwrap();
    let run = s
        .run(["registry", "verify-log", "--registry", "reg"])
        .expect(1);
    assert_eq!(
        run.stdout,
        "registry log broken at entry #2: the entry says it is #3: entries were removed, inserted or reordered before it\n"
    );

    // Reordered.
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    std::fs::write(&path, swapped.join("\n") + "\n").unwrap();
    let run = s
        .run(["registry", "verify-log", "--registry", "reg"])
        .expect(1);
    assert_eq!(
        run.stdout,
        "registry log broken at entry #2: the entry says it is #3: entries were removed, inserted or reordered before it\n"
    );

    // An attached statement swapped for another.
    let mut attached = lines.clone();
    let a: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    b["attached"] = a["attached"].clone();
    let b_line = serde_json::to_string(&b).unwrap();
    attached[3] = &b_line;
    std::fs::write(&path, attached.join("\n") + "\n").unwrap();
    let run = s
        .run(["registry", "verify-log", "--registry", "reg"])
        .expect(1);
    assert_eq!(
        run.stdout,
        "registry log broken at entry #3: the attached envelopes are not the ones the entry names: the entry names 1 envelope(s), 1 attached with other digests\n"
    );
}

/// A random number from the standard library's per-process random hasher keys.
fn random_below(n: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

#[test]
fn accept_loses_nothing_when_killed_at_random_points() {
    let s = with_registry();
    let p = Id::incept(1, 2, &["org.example"], past(0));
    const N: usize = 40;
    let mut digests = Vec::new();
    for i in 0..N {
        let version = format!("1.0.{i}");
        let bytes = version.as_bytes().to_vec();
        let bundle = p.bundle("org.example.tool", &version, &bytes, past(50), &[1]);
        digests.push(bundle.statement.payload_digest());
        write_release(s.path(), &format!("{i}.tar"), &bytes, &bundle);
    }
    // How long one accept takes here (debug or release build, loaded machine): the kill
    // delays are spread over twice that, so some runs finish and others die at every stage.
    let calibrate = p.bundle("org.example.tool", "0.0.1", b"c\n", past(50), &[1]);
    write_release(s.path(), "c.tar", b"c\n", &calibrate);
    let started = std::time::Instant::now();
    accept(&s, &["c.tar"]).expect(0);
    let span = (started.elapsed().as_micros() as u64 * 2).max(1);
    let mut acknowledged: BTreeSet<usize> = BTreeSet::new();
    let mut killed = 0;
    for i in 0..N {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hallmark"))
            .args([
                "registry",
                "accept",
                "--registry",
                "reg",
                "--passphrase-file",
                "pw",
                &format!("{i}.tar"),
            ])
            .current_dir(s.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(random_below(span)));
        // SIGKILL (a no-op if it already exited), then collect the status.
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            acknowledged.insert(i);
        } else {
            killed += 1;
        }
        // After every kill the log verifies.
        s.run(["registry", "verify-log", "--registry", "reg"])
            .expect(0);
    }
    // Every acknowledged accept is in the log, and its bundle holds the receipt.
    let logged: BTreeSet<Sha256Digest> = log_records(&s)
        .into_iter()
        .filter_map(|r| match r {
            RegistryRecord::Publish { statement, .. } => Some(statement),
            _ => None,
        })
        .collect();
    for &i in &acknowledged {
        assert!(
            logged.contains(&digests[i]),
            "acknowledged accept {i} is missing from the log"
        );
        let bundle =
            Bundle::from_json(s.read(&format!("{i}.tar.hallmark.json")).as_bytes()).unwrap();
        assert_eq!(
            bundle.receipts.len(),
            1,
            "acknowledged accept {i} has no receipt"
        );
    }
    // Everything resubmitted in one run: all accepted, each exactly once.
    let paths: Vec<String> = (0..N).map(|i| format!("{i}.tar")).collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    accept(&s, &refs).expect(0);
    s.run(["registry", "verify-log", "--registry", "reg"])
        .expect(0);
    let publishes = log_records(&s)
        .into_iter()
        .filter(|r| matches!(r, RegistryRecord::Publish { .. }))
        .count();
    assert_eq!(publishes, N + 1);
    eprintln!("{} acknowledged, {killed} killed", acknowledged.len());
}

/// The library says what to do in words; the command line names the command.
#[test]
fn advice_is_worded_as_a_command() {
    let s = with_registry();
    s.file_key("bare.key");
    s.write("bare.tar", "bare\n");
    s.run([
        "sign",
        "--key",
        "file:bare.key",
        "--passphrase-file",
        "pw",
        "--name",
        "org.example.tool",
        "--version",
        "1.0.0",
        "bare.tar",
    ])
    .expect(0);
    let run = accept(&s, &["bare.tar"]).expect(1);
    assert_eq!(
        run.stdout,
        "bare.tar: refused (signature): org.example.tool@1.0.0 is signed by a bare key; the \
         registry accepts releases signed in an identity's name (hallmark sign --identity KEL)\n"
    );
    let run = s
        .run(["registry", "verify-log", "--registry", "elsewhere"])
        .expect(2);
    assert_eq!(
        run.stderr,
        "error: no registry at elsewhere: create one with `hallmark registry init --registry \
         elsewhere`\n"
    );
}
