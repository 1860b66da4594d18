//! `hallmark monitor` end to end: registries followed from a directory and over real HTTP
//! (`python3 -m http.server` on loopback), every alert kind it raises for a watched
//! namespace, the hook per alert, a restart that neither misses nor repeats an alert, a
//! server that stops mid-read, a mirror that serves a tile inconsistent with the checkpoint,
//! and a registry that signs two histories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::path::Path;

use common::*;
use hallmark_keyring::kel::Reason;
use hallmark_tests::http::{StaticServer, cutting_server};
use hallmark_tests::{Run, Scratch};

const REG: u8 = 70;

/// A registry `reg/` and a publisher P (key 1, next 2) holding org.example, with 1.0.0
/// published.
fn setup() -> (Scratch, Id) {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    init_registry(&s, Some(REG), Some("registry.test/log")).expect(0);
    let p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    publish(&s, &p, "reg", "tool-1.0.tar", "1.0.0");
    // The consumer also pinned Q for org.acme (Q publishes it elsewhere): nobody claims
    // org.acme at this registry yet.
    let q = Id::incept(5, 6, &["org.acme"], t(0));
    q.write(&s.join("q.kel"));
    s.run([
        "keyring",
        "pin",
        "org.acme",
        "--identity",
        "q.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    (s, p)
}

fn publish(s: &Scratch, p: &Id, reg: &str, file: &str, version: &str) {
    let bytes = format!("{file} {version}\n").into_bytes();
    write_release(
        s.path(),
        file,
        &bytes,
        &p.bundle("org.example.tool", version, &bytes, t(50), &[p.current]),
    );
    accept(s, reg, file).expect(0);
}

fn accept(s: &Scratch, reg: &str, file: &str) -> Run {
    s.run([
        "registry",
        "accept",
        "--registry",
        reg,
        "--passphrase-file",
        "pw",
        file,
    ])
}

fn monitor(s: &Scratch, registry: &str, extra: &[&str]) -> Run {
    let mut args = vec!["monitor", "--registry", registry, "--keyring", "trust"];
    args.extend_from_slice(&["--watch", "org.example", "--state", "mon", "--once"]);
    args.extend_from_slice(extra);
    s.run(&args)
}

fn alerts(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("ALERT "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_monitor_over_http_alerts_once_on_each_change_to_a_watched_namespace() {
    let (s, mut p) = setup();
    let server = StaticServer::start(&s.join("reg"));
    // First sight: P claims org.example first and publishes: nothing to say.
    let run = monitor(&s, &server.url, &[]).expect(0);
    assert_eq!(run.stdout, "");

    // A thief's identity claims org.acme (pinned to Q) and publishes there; P rotates its
    // keys as compromised; the registry yanks P's release.
    let thief = Id::incept(9, 10, &["org.acme"], t(10));
    thief.write(&s.join("thief.kel"));
    accept(&s, "reg", "thief.kel").expect(0);
    let bytes = b"evil\n".to_vec();
    write_release(
        s.path(),
        "evil.tar",
        &bytes,
        &thief.bundle("org.acme.tool", "6.6.6", &bytes, t(60), &[thief.current]),
    );
    accept(&s, "reg", "evil.tar").expect(0);
    p.rotate(3, Reason::Compromised, t(100));
    p.write(&s.join("p2.kel"));
    accept(&s, "reg", "p2.kel").expect(0);
    s.run([
        "registry",
        "yank",
        "org.example.tool@1.0.0",
        "--reason",
        "built on a compromised key",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
    ])
    .expect(0);

    let run = monitor(&s, &server.url, &[]).expect(1);
    let (th, pi, re) = (
        thief.identity.short(),
        p.identity.short(),
        registry_short(&s),
    );
    let at = "registry registry.test/log, entry";
    assert_eq!(
        alerts(&run),
        vec![
            format!(
                "ALERT new-claim: {th} in watched namespace org.acme: a new identity claims it ({at} #3)"
            ),
            format!(
                "ALERT unlinked-publish: {th} in watched namespace org.acme: published org.acme.tool@6.6.6 without a link to the namespace's holder ({at} #4)"
            ),
            format!(
                "ALERT compromised-rotation: {pi} in watched namespace org.example: rotated its keys as compromised ({at} #5)"
            ),
            format!(
                "ALERT yank: {re} in watched namespace org.example: org.example.tool@1.0.0 yanked: built on a compromised key ({at} #6)"
            ),
        ],
        "{}",
        run.stdout
    );
    // A restart sees nothing new, and repeats nothing.
    assert_eq!(monitor(&s, &server.url, &[]).expect(0).stdout, "");
}

fn registry_short(s: &Scratch) -> String {
    let kel = hallmark_keyring::kel::KelFile::from_json(
        &std::fs::read(s.join("reg/registry.kel")).unwrap(),
    )
    .unwrap();
    hallmark_keyring::Kel::verify(&kel.events)
        .unwrap()
        .identity()
        .short()
}

#[test]
fn json_lines_and_a_hook_per_alert_that_is_retried_until_it_succeeds() {
    let (s, _p) = setup();
    monitor(&s, "reg", &[]).expect(0);
    let thief = Id::incept(9, 10, &["org.acme"], t(10));
    thief.write(&s.join("thief.kel"));
    accept(&s, "reg", "thief.kel").expect(0);
    // A hook that fails: the alert is not delivered (nothing printed) and is kept.
    let run = monitor(&s, "reg", &["--exec", "exit 3"]).expect(0);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("--exec failed for alert registry.test/log#3-new-claim-org.acme: it exited with exit status: 3; it is kept and retried at the next poll"), "{}", run.stderr);
    // A hook that works: it gets the alert as JSON on stdin, and the alert is printed once.
    let run = monitor(
        &s,
        "reg",
        &[
            "--json",
            "--exec",
            "cat >> hook.jsonl; echo \"$HALLMARK_ALERT_KIND $HALLMARK_ALERT_ID\" >> hook.env",
        ],
    )
    .expect(1);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "one JSON line per alert");
    let line = lines[0].clone();
    assert_eq!(line["schema"], "hallmark.monitor.alert/v1");
    assert_eq!(line["kind"], "new-claim");
    assert_eq!(line["evidence"], serde_json::json!([]));
    assert_eq!(line["identity"], thief.identity.to_string());
    assert_eq!(line["index"], 3);
    let hooked: serde_json::Value = serde_json::from_str(s.read("hook.jsonl").trim()).unwrap();
    assert_eq!(hooked, line);
    assert_eq!(
        s.read("hook.env"),
        "new-claim registry.test/log#3-new-claim-org.acme\n"
    );
    assert_eq!(
        monitor(&s, "reg", &["--exec", "cat >> hook.jsonl"])
            .expect(0)
            .stdout,
        ""
    );
    assert_eq!(s.read("hook.jsonl").lines().count(), 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_server_that_stops_mid_read_or_lies_about_a_tile_moves_nothing() {
    let (s, p) = setup();
    publish(&s, &p, "reg", "tool-1.1.tar", "1.1.0");
    // The server stops half-way through every entry bundle: an error, exit 2, no position.
    let url = cutting_server(s.join("reg"), "tile/entries");
    let run = monitor(&s, &url, &[]).expect(2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: {url}: cannot read the log: {url}/tile/entries/000.p/"
        )),
        "{}",
        run.stderr
    );
    // A mirror whose entry bundle was altered (same length): refused as not matching the
    // checkpoint, even served by a real static server.
    copy_dir(&s.join("reg"), &s.join("mirror"));
    // The bundle of the current tree: the widest partial one.
    let bundle = std::fs::read_dir(s.join("mirror/tile/entries/000.p"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        })
        .unwrap();
    let honest = std::fs::read(&bundle).unwrap();
    let mut bytes = honest.clone();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&bundle, bytes).unwrap();
    let server = StaticServer::start(&s.join("mirror"));
    let run = monitor(&s, &server.url, &[]).expect(2);
    assert!(
        run.stderr.contains(
            "does not match the checkpoint's root hash: the log serves tiles of another tree"
        ),
        "{}",
        run.stderr
    );
    // Once the mirror serves the honest bundle, it is read from the start: the failure
    // recorded nothing.
    std::fs::write(&bundle, honest).unwrap();
    assert_eq!(monitor(&s, &server.url, &[]).expect(0).stdout, "");
    let state: Vec<_> = std::fs::read_dir(s.join("mon")).unwrap().collect();
    assert!(!state.is_empty());
}

#[test]
fn a_registry_that_signs_two_histories_is_a_log_fork_alert_with_both_checkpoints() {
    let (s, p) = setup();
    copy_dir(&s.join("reg"), &s.join("other"));
    std::fs::remove_file(s.join("other/.lock")).ok();
    // Two different entries at the same position, each signed by the registry's key.
    publish(&s, &p, "reg", "tool-1.1.tar", "1.1.0");
    publish(&s, &p, "other", "tool-1.2.tar", "1.2.0");
    copy_dir(&s.join("reg"), &s.join("served"));
    monitor(&s, "served", &[]).expect(0);
    std::fs::remove_dir_all(s.join("served")).unwrap();
    copy_dir(&s.join("other"), &s.join("served"));
    let run = monitor(&s, "served", &[]).expect(1);
    let got = alerts(&run);
    assert_eq!(
        got,
        vec!["ALERT registry registry.test/log: it signed two checkpoints of 4 entries with different roots: a split view".to_owned()],
        "{}",
        run.stdout
    );
    let evidence: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  evidence: "))
        .collect();
    assert_eq!(evidence.len(), 2);
    assert_eq!(s.read(evidence[0]), s.read("reg/checkpoint"));
    assert_eq!(s.read(evidence[1]), s.read("other/checkpoint"));
    // Once raised, the fork is not raised again; the monitor stops following that registry.
    assert_eq!(monitor(&s, "served", &[]).expect(0).stdout, "");
}
