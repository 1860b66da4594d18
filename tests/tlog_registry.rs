//! The registry's log as a transparency log, end to end: the tiles and checkpoint `registry
//! accept` writes (checked by Go's sumdb/note and sumdb/tlog, which share no code with
//! Hallmark), receipts v2 verified offline, the consumer's stored checkpoint with
//! `keyring refresh` from a directory and over HTTP (`python3 -m http.server` on loopback),
//! equivocation with its evidence, freshness, recovery of state and tiles after a run stopped
//! between its writes, and each fault refused with its exact message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use hallmark_keyring::Timestamp;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::encoding::base64_encode;
use hallmark_keyring::hashlog;
use hallmark_keyring::receipt::Receipt;
use hallmark_keyring::tlog::{Checkpoint, KeyType, Note, Tree, VerifierKey};
use hallmark_tests::{Run, Scratch};

const ORIGIN: &str = "registry.example/main";
/// The registry's key seed: tests sign forged checkpoints with it.
const REG: u8 = 70;
const INSTALL_GO: &str =
    "install Go and the x/mod sources: apt-get install golang-go golang-golang-x-mod-dev";

fn past(secs: u64) -> Timestamp {
    Timestamp::from_unix(Timestamp::now().unix() - 100_000 + secs).unwrap()
}

/// A scratch dir with a registry in `reg/` (origin [`ORIGIN`], key seed [`REG`]) and a
/// publisher P (key 1, next 2, org.example) with its log in `p.kel`.
struct Fx {
    s: Scratch,
    p: Id,
}

impl Fx {
    fn new() -> Fx {
        let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
        init_registry(&s, Some(REG), Some(ORIGIN)).expect(0);
        let p = Id::incept(1, 2, &["org.example"], past(0));
        p.write(&s.join("p.kel"));
        Fx { s, p }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.s.run(args)
    }

    fn publish(&self, file: &str, version: &str) {
        let bytes = format!("{file} {version}\n").into_bytes();
        write_release(
            self.s.path(),
            file,
            &bytes,
            &self.p.bundle(
                "org.example.tool",
                version,
                &bytes,
                past(50),
                &[self.p.current],
            ),
        );
    }

    fn accept_in(&self, dir: &str, files: &[&str]) -> Run {
        let mut args = vec![
            "registry",
            "accept",
            "--registry",
            dir,
            "--passphrase-file",
            "pw",
        ];
        args.extend_from_slice(files);
        self.run(&args)
    }

    fn accept(&self, files: &[&str]) -> Run {
        self.accept_in("reg", files)
    }

    /// A trust store `trust/` pinning the registry (at `location`) and P with receipts
    /// required.
    fn consumer(&self, location: &str, extra: &[&str]) {
        let mut args = vec![
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "reg/registry.kel",
            "--keyring",
            "trust",
            "--location",
            location,
        ];
        args.extend_from_slice(extra);
        self.run(&args).expect(0);
        self.run(&[
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "p.kel",
            "--require-receipt",
            "main",
            "--keyring",
            "trust",
        ])
        .expect(0);
    }

    fn verify(&self, file: &str) -> Run {
        self.run(&["verify", "--keyring", "trust", file])
    }

    fn refresh(&self, extra: &[&str]) -> Run {
        let mut args = vec!["keyring", "refresh", "main", "--keyring", "trust"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// The trust store's audit records, oldest first, after checking the chain.
    fn audit(&self) -> Vec<serde_json::Value> {
        self.run(&["keyring", "log", "--verify", "--keyring", "trust"])
            .expect(0);
        let json = self
            .run(&["keyring", "log", "--json", "--keyring", "trust"])
            .expect(0)
            .json();
        json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["record"].clone())
            .collect()
    }

    /// The audit log as `hallmark keyring log` prints it for people.
    fn audit_text(&self) -> String {
        self.run(&["keyring", "log", "--keyring", "trust"])
            .expect(0)
            .stdout
    }

    /// The audit records written since the log held `since` entries.
    fn audit_since(&self, since: usize) -> Vec<serde_json::Value> {
        self.audit().split_off(since)
    }

    fn receipt(&self, file: &str) -> Receipt {
        let bundle =
            Bundle::from_json(self.s.read(&format!("{file}.hallmark.json")).as_bytes()).unwrap();
        Receipt::from_envelope(&bundle.receipts[0]).unwrap()
    }

    fn checkpoint(&self, dir: &str) -> Checkpoint {
        let bytes = std::fs::read(self.s.join(&format!("{dir}/checkpoint"))).unwrap();
        Checkpoint::parse_body(Note::parse(&bytes).unwrap().text()).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Builds `tests/tlog-go` offline into the target directory; fails (never skips) without Go.
fn build_go() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let out_dir = target.join("tlog-go");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join(format!("tlog-go-registry.{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tlog-go");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GOPATH", "/usr/share/gocode")
        .env("GO111MODULE", "off")
        .env("GOCACHE", out_dir.join("cache"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): {INSTALL_GO}"));
    assert!(
        status.success(),
        "building tests/tlog-go failed: {INSTALL_GO}"
    );
    bin
}

#[test]
fn accept_publishes_tiles_and_a_checkpoint_that_go_verifies_with_the_receipts_proofs() {
    let f = Fx::new();
    // Entry 0 is the registry's inception; one checkpoint per run.
    assert_eq!(f.checkpoint("reg").tree.size, 1);
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    let files: Vec<String> = (1..=300).map(|i| format!("r{i}.tar")).collect();
    for (i, file) in files.iter().enumerate() {
        f.publish(file, &format!("2.0.{i}"));
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    f.accept(&names).expect(0);
    let cp = f.checkpoint("reg");
    assert_eq!(cp.origin, ORIGIN);
    assert_eq!(cp.tree.size, 303);
    // Each leaf is a line of log.jsonl, byte for byte.
    let lines = hashlog::read(&f.s.join("reg/log.jsonl")).unwrap().lines;
    assert_eq!(lines.len(), 303);
    let mut memory = hallmark_keyring::tlog::MemoryTree::new();
    for line in &lines {
        memory.push(line);
    }
    assert_eq!(memory.root(303).unwrap(), cp.tree.root);
    // The receipts are version 2, proved against the run's checkpoint.
    let first = f.receipt("a.tar");
    assert_eq!(first.version(), 2);
    assert_eq!(first.log_index, 2);
    let last = f.receipt("r300.tar");
    let proof = last.tlog.as_ref().unwrap();
    assert_eq!(proof.line.to_json(), lines[302]);
    assert_eq!(
        proof.checkpoint.as_bytes(),
        std::fs::read(f.s.join("reg/checkpoint")).unwrap()
    );
    // Go opens the checkpoint with the registry key's note verifier key, rebuilds the tree
    // from the tiles, checks every entry bundle against it, and checks the receipts' proofs.
    let vkey = VerifierKey::new(ORIGIN, KeyType::Ed25519, pk(REG)).unwrap();
    let mut cases = String::new();
    for file in ["r150.tar", "r299.tar", "r300.tar"] {
        let r = f.receipt(file);
        cases.push_str(&format!(
            "inclusion {} {}\n",
            r.log_index,
            r.tlog.unwrap().inclusion.join(" ")
        ));
    }
    f.s.write("cases.txt", cases);
    let go = build_go();
    let out = Command::new(&go)
        .arg(f.s.join("reg"))
        .arg(vkey.to_string())
        .arg(f.s.join("cases.txt"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&go);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("ok: {ORIGIN} size 303, 3 inclusion, 0 consistency, 0 cosignatures\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn receipts_v2_verify_offline_and_a_proof_for_another_tree_is_refused() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    let older = std::fs::read_to_string(f.s.join("reg/checkpoint")).unwrap();
    f.publish("b.tar", "1.0.1");
    f.accept(&["b.tar"]).expect(0);
    f.consumer("reg", &[]);
    // Offline: nothing but the store and the bundle.
    let run = f.verify("b.tar").expect(0);
    assert!(run.stdout.starts_with("b.tar: trusted: "), "{}", run.stdout);

    // The registry's key signs a receipt whose proof is for another tree (the checkpoint of
    // the run before): the inclusion proof does not lead to that checkpoint's root.
    let mut receipt = f.receipt("b.tar");
    receipt.tlog.as_mut().unwrap().checkpoint = older;
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&sk(REG)).unwrap();
    let mut bundle = Bundle::from_json(f.s.read("b.tar.hallmark.json").as_bytes()).unwrap();
    bundle.receipts = vec![envelope];
    f.s.write("b.tar.hallmark.json", bundle.to_json());
    let run = f.verify("b.tar").expect(1);
    assert_eq!(
        run.stdout,
        "b.tar: rejected: bad-signature: the receipt from registry `main` in the bundle for org.example.tool@1.0.1 does not verify: the receipt's inclusion proof does not verify: leaf index 3 is not in a tree of 3 leaves\n"
    );

    // A line that does not record the subject: the receipt for a.tar carrying b.tar's line.
    let mut receipt = f.receipt("a.tar");
    let other = Receipt::from_envelope(
        &Bundle::from_json(f.s.read("b.tar.hallmark.json").as_bytes())
            .unwrap()
            .receipts[0],
    )
    .unwrap();
    receipt.tlog.as_mut().unwrap().line = other.tlog.unwrap().line;
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&sk(REG)).unwrap();
    let mut bundle = Bundle::from_json(f.s.read("a.tar.hallmark.json").as_bytes()).unwrap();
    bundle.receipts = vec![envelope];
    f.s.write("a.tar.hallmark.json", bundle.to_json());
    let run = f.verify("a.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "a.tar: rejected: bad-signature: the receipt from registry `main` in the bundle for org.example.tool@1.0.0 does not verify: the receipt's log line is entry #3 ({}), not the entry #2 ({}) the receipt names\n",
            other.log_entry, receipt.log_entry
        )
    );
}

#[test]
fn refresh_from_a_directory_extends_key_event_logs_and_records_the_checkpoint() {
    let mut f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    f.consumer("reg", &[]);
    let before = f.audit().len();
    let run = f.refresh(&[]).expect(0);
    assert_eq!(
        run.stdout,
        "registry `main`: checkpoint of 3 entries verified (held: 0); 0 key event log(s) extended\n"
    );
    // The first checkpoint held: one record, nothing to prove it against.
    assert_eq!(
        f.audit_since(before),
        vec![serde_json::json!({
            "kind": "checkpoint",
            "registry": "main",
            "origin": ORIGIN,
            "from": 0,
            "to": 3,
            "root": base64_encode(&f.checkpoint("reg").tree.root),
            "consistent": false,
        })]
    );
    let before = f.audit().len();
    // P rotates; the registry logs it; the consumer learns it from the log alone.
    f.p.rotate(3, hallmark_keyring::kel::Reason::Scheduled, past(100));
    f.p.write(&f.s.join("p2.kel"));
    f.accept(&["p2.kel"]).expect(0);
    let run = f.refresh(&[]).expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "registry `main`: checkpoint of 4 entries verified (held: 3); 1 key event log(s) extended\n  {}: now 2 events\n",
            f.p.identity
        )
    );
    // The log extended from the registry's entries, then the checkpoint proved consistent.
    let stored = hallmark_keyring::kel::KelFile::read_verified(&f.s.join(&format!(
        "trust/kels/{}.kel",
        f.p.identity.to_string().trim_start_matches("hid:")
    )))
    .unwrap();
    assert_eq!(
        f.audit_since(before),
        vec![
            serde_json::json!({
                "kind": "kel-extended",
                "identity": f.p.identity.to_string(),
                "from": 1,
                "to": 2,
                "head": stored.head().digest.to_string(),
                "via": "refresh",
            }),
            serde_json::json!({
                "kind": "checkpoint",
                "registry": "main",
                "origin": ORIGIN,
                "from": 3,
                "to": 4,
                "root": base64_encode(&f.checkpoint("reg").tree.root),
                "consistent": true,
            }),
        ]
    );
    let log = f.audit_text();
    assert!(
        log.contains(&format!(
            "checkpoint of registry `main` ({ORIGIN}) advanced from 3 to 4 entries (root {}), proved consistent\n",
            base64_encode(&f.checkpoint("reg").tree.root)
        )),
        "{log}"
    );
    let before = f.audit().len();
    let held: serde_json::Value =
        serde_json::from_str(&f.s.read("trust/registries/main.json")).unwrap();
    assert_eq!(
        held["checkpoint"].as_str().unwrap(),
        f.s.read("reg/checkpoint")
    );
    // Nothing new: the same checkpoint verifies again, and nothing is recorded.
    f.refresh(&[]).expect(0);
    assert_eq!(f.audit_since(before), Vec::<serde_json::Value>::new());
    let run = f.run(&["keyring", "show", "--keyring", "trust"]).expect(0);
    assert!(
        run.stdout.contains(&format!(
            "  main -> {}\n    checkpoint: 4 entries, verified ",
            hallmark_keyring::kel::KelFile::read_verified(&f.s.join("reg/registry.kel"))
                .unwrap()
                .identity()
        )),
        "{}",
        run.stdout
    );
}

/// `python3 -m http.server` serving `dir` on a free loopback port; killed when dropped.
struct HttpServer {
    child: Child,
    url: String,
}

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start python3 -m http.server ({e}): install python3")
            });
        let server = HttpServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("python3 -m http.server did not start listening on port {port}");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn refresh_over_http_from_a_static_server() {
    let mut f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    let server = HttpServer::start(&f.s.join("reg"));
    f.consumer(&server.url, &[]);
    f.refresh(&[]).expect(0);
    f.p.rotate(3, hallmark_keyring::kel::Reason::Scheduled, past(100));
    f.p.write(&f.s.join("p2.kel"));
    f.accept(&["p2.kel"]).expect(0);
    let run = f.refresh(&[]).expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "registry `main`: checkpoint of 4 entries verified (held: 3); 1 key event log(s) extended\n  {}: now 2 events\n",
            f.p.identity
        )
    );
    // A path the server does not have.
    let run = f
        .refresh(&["--registry", &format!("{}/nothing-here", server.url)])
        .expect(2);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot fetch from registry `main`: {}/nothing-here/registry.kel: not found\n",
            server.url
        )
    );
}

#[test]
fn a_registry_that_signs_two_histories_is_caught_with_evidence() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    // A split view: the same registry key extends one history for some consumers and another
    // for others.
    copy_dir(&f.s.join("reg"), &f.s.join("fork"));
    f.publish("b.tar", "1.0.1");
    f.accept(&["b.tar"]).expect(0);
    f.publish("c.tar", "1.0.2");
    f.accept_in("fork", &["c.tar"]).expect(0);
    assert_eq!(
        f.checkpoint("reg").tree.size,
        f.checkpoint("fork").tree.size
    );
    f.consumer("reg", &[]);
    f.refresh(&[]).expect(0);
    let before = f.audit().len();
    let run = f.refresh(&["--registry", "fork"]).expect(1);
    let evidence = f.s.join("trust/registries/main.equivocation");
    let (held, offered) = (f.checkpoint("reg").tree, f.checkpoint("fork").tree);
    let stamp = |t: Tree| format!("{}-{}", t.size, hex(&t.root[..4]));
    assert_eq!(
        run.stdout,
        "rejected: equivocation: registry `main` signed a checkpoint of 4 entries that is not consistent with the one of 4 entries this store holds (the same size with another root hash); both signed checkpoints are kept as evidence in trust/registries/main.equivocation\n"
    );
    // With --json: the verdict and its reason as fields, the explanation as the message.
    let json = f
        .refresh(&["--registry", "fork", "--json"])
        .expect(1)
        .json();
    assert_eq!(
        (&json["verdict"], &json["reason"], &json["registry"]),
        (&"rejected".into(), &"equivocation".into(), &"main".into())
    );
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .starts_with("registry `main` signed a checkpoint of 4 entries"),
        "{json}"
    );
    let pair = format!("{}-vs-{}", stamp(held), stamp(offered));
    assert_eq!(
        std::fs::read_to_string(evidence.join(format!("{pair}.stored"))).unwrap(),
        f.s.read("reg/checkpoint")
    );
    assert_eq!(
        std::fs::read_to_string(evidence.join(format!("{pair}.offered"))).unwrap(),
        f.s.read("fork/checkpoint")
    );
    // Each refusal (the plain run, then the --json one) is recorded, naming the digests of
    // the two files kept.
    let digest = |file: &str| {
        hallmark_keyring::Sha256Digest::of(&std::fs::read(evidence.join(file)).unwrap()).to_string()
    };
    let refused = serde_json::json!({
        "kind": "checkpoint-refused",
        "registry": "main",
        "reason": "equivocation",
        "detail": "a checkpoint of 4 entries not consistent with the one of 4 entries held: the same size with another root hash",
        "evidence": [digest(&format!("{pair}.stored")), digest(&format!("{pair}.offered"))],
    });
    assert_eq!(f.audit_since(before), vec![refused.clone(), refused]);
    let log = f.audit_text();
    assert!(
        log.contains(&format!(
            "refused checkpoint of registry `main`: equivocation: a checkpoint of 4 entries not consistent with the one of 4 entries held: the same size with another root hash (evidence {}, {})\n",
            hallmark_keyring::Sha256Digest::of(f.s.read("reg/checkpoint").as_bytes()).short(),
            hallmark_keyring::Sha256Digest::of(f.s.read("fork/checkpoint").as_bytes()).short(),
        )),
        "{log}"
    );
    // The held checkpoint is unchanged.
    let held_file: serde_json::Value =
        serde_json::from_str(&f.s.read("trust/registries/main.json")).unwrap();
    assert_eq!(
        held_file["checkpoint"].as_str().unwrap(),
        f.s.read("reg/checkpoint")
    );

    // A bundle whose receipt is proved against the other history is refused offline.
    let run = f.verify("c.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "c.tar: rejected: equivocation: the receipt from registry `main` is proved against a checkpoint of the same size as the one this store holds, with another root hash: the registry signed two histories (the held checkpoint: \"{ORIGIN} 4 {}\"); both are kept as evidence\n",
            base64_encode(&held.root)
        )
    );

    // A longer history that does not extend the held one: the consistency proof fails.
    f.publish("d.tar", "1.0.3");
    f.accept_in("fork", &["d.tar"]).expect(0);
    let run = f.refresh(&["--registry", "fork"]).expect(1);
    assert!(
        run.stdout.starts_with(
            "rejected: equivocation: registry `main` signed a checkpoint of 5 entries that is not consistent with the one of 4 entries this store holds ("
        ),
        "{}",
        run.stdout
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn max_age_fails_closed_until_a_refresh() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    f.consumer("reg", &["--max-age", "24h"]);
    let run = f.verify("a.tar").expect(1);
    assert_eq!(
        run.stdout,
        "a.tar: rejected: stale: the trust store verified registry `main`'s checkpoint never, and its pin requires one no older than 24h: run `hallmark keyring refresh main` and verify again\n"
    );
    f.refresh(&[]).expect(0);
    let run = f.verify("a.tar").expect(0);
    assert!(run.stdout.starts_with("a.tar: trusted: "), "{}", run.stdout);
    // A checkpoint verified more than the maximum age ago is stale again.
    let path = f.s.join("trust/registries/main.json");
    let mut held: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let old = Timestamp::from_unix(Timestamp::now().unix() - 25 * 3600).unwrap();
    held["verified"] = serde_json::Value::String(old.to_string());
    std::fs::write(&path, serde_json::to_vec_pretty(&held).unwrap()).unwrap();
    let run = f.verify("a.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "a.tar: rejected: stale: the trust store verified registry `main`'s checkpoint last on {old}, and its pin requires one no older than 24h: run `hallmark keyring refresh main` and verify again\n"
        )
    );
    let run = f
        .run(&[
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "reg/registry.kel",
            "--keyring",
            "trust",
            "--max-age",
            "soon",
        ])
        .expect(2);
    assert_eq!(
        run.stderr,
        "error: maximum age \"soon\" is not a positive number followed by s, m, h or d (e.g. 24h)\n"
    );
}

#[test]
fn open_catches_up_state_and_tiles_from_the_log_and_rebuilds_a_lost_state() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    // A run killed after its log append: the log is ahead of the state, tiles and checkpoint.
    copy_dir(&f.s.join("reg"), &f.s.join("behind"));
    f.publish("b.tar", "1.0.1");
    f.accept(&["b.tar"]).expect(0);
    std::fs::copy(f.s.join("reg/log.jsonl"), f.s.join("behind/log.jsonl")).unwrap();
    // The next run holds the key: it catches up the state and the tiles from the log, and
    // signs the checkpoint of the whole log.
    f.publish("c.tar", "1.0.2");
    let run = f.accept_in("behind", &["c.tar"]).expect(0);
    assert_eq!(
        run.stdout,
        "c.tar: accepted org.example.tool@1.0.2 (log entry #4); receipt written to c.tar.hallmark.json\n"
    );
    let lines = hashlog::read(&f.s.join("behind/log.jsonl")).unwrap().lines;
    assert_eq!(lines.len(), 5);
    let mut memory = hallmark_keyring::tlog::MemoryTree::new();
    for line in &lines {
        memory.push(line);
    }
    let cp = f.checkpoint("behind");
    assert_eq!(cp.tree.size, 5);
    assert_eq!(cp.tree.root, memory.root(5).unwrap());
    // b.tar, accepted by the run that stopped, is in the caught-up state: resubmitting it
    // re-issues its receipt from log entry #3.
    let run = f.accept_in("behind", &["b.tar"]).expect(0);
    assert_eq!(
        run.stdout,
        "b.tar: already accepted org.example.tool@1.0.1 (log entry #3); receipt written to b.tar.hallmark.json\n"
    );
    f.accept(&["c.tar"]).expect(0);

    // A lost state database is rebuilt from the log on open, and on demand.
    std::fs::remove_file(f.s.join("reg/state.db")).unwrap();
    f.publish("d.tar", "1.0.3");
    let run = f.accept(&["d.tar"]).expect(0);
    assert_eq!(
        run.stdout,
        "d.tar: accepted org.example.tool@1.0.3 (log entry #5); receipt written to d.tar.hallmark.json\n"
    );
    let run = f
        .run(&["registry", "rebuild-state", "--registry", "reg"])
        .expect(0);
    assert_eq!(
        run.stdout,
        "rebuilt the state of reg from its log: 6 entries\n"
    );
    // The state is checked against the log where they meet: a log replaced under it is found.
    std::fs::copy(f.s.join("behind/log.jsonl"), f.s.join("reg/log.jsonl")).unwrap();
    let run = f.accept(&["d.tar"]).expect(2);
    assert!(
        run.stderr
            .starts_with("error: the registry state reg/state.db cannot be used: it covers "),
        "{}",
        run.stderr
    );
}

/// A server for the registry directory that answers every request for `lie_about` with other
/// bytes of the same length.
fn lying_server(dir: PathBuf, lie_about: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let path = request
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let response = match std::fs::read(dir.join(path)) {
                Ok(mut body) => {
                    if path.starts_with(lie_about) {
                        for b in &mut body {
                            *b ^= 0x5a;
                        }
                    }
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    url
}

#[test]
fn faults_in_what_a_registry_serves_are_refused_with_their_reason() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.accept(&["a.tar"]).expect(0);
    f.consumer("reg", &[]);
    f.refresh(&[]).expect(0);
    f.publish("b.tar", "1.0.1");
    f.accept(&["b.tar"]).expect(0);
    let good = f.s.join("reg");
    let case = |name: &str, damage: &dyn Fn(&Path)| -> String {
        let dir = f.s.join(name);
        copy_dir(&good, &dir);
        damage(&dir);
        let run = f.refresh(&["--registry", name]).expect(2);
        run.stderr
    };
    // Hash tile of the 4-leaf tree: tile/0/000.p/4 (128 bytes).
    let tile = "tile/0/000.p/4";
    assert_eq!(
        case("truncated", &|d| {
            let p = d.join(tile);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..100]).unwrap();
        }),
        "error: the tiles of registry `main` do not match its checkpoint: hash tile tile/0/000.p/4 is 100 bytes; with width 4 it must be 128\n"
    );
    assert_eq!(
        case("wrong-size", &|d| {
            let p = d.join(tile);
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.extend_from_slice(&[0; 32]);
            std::fs::write(&p, &bytes).unwrap();
        }),
        "error: the tiles of registry `main` do not match its checkpoint: hash tile tile/0/000.p/4 is 160 bytes; with width 4 it must be 128\n"
    );
    assert_eq!(
        case("bad-signature", &|d| {
            let p = d.join("checkpoint");
            let text = std::fs::read_to_string(&p).unwrap();
            // Flip one character of the signature (after the key id).
            let at = text.len() - 10;
            let mut bytes = text.into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            std::fs::write(&p, bytes).unwrap();
        }),
        format!(
            "error: the checkpoint of registry `main` does not verify: the signature by {ORIGIN} (key id {}) does not verify\n",
            hex(&VerifierKey::new(ORIGIN, KeyType::Ed25519, pk(REG))
                .unwrap()
                .key_id())
        )
    );
    assert_eq!(
        case("unknown-key", &|d| {
            let cp = f.checkpoint("reg");
            let note = cp.sign(&sk(99)).unwrap();
            std::fs::write(d.join("checkpoint"), note.to_bytes()).unwrap();
        }),
        format!(
            "error: the checkpoint of registry `main` does not verify: the note carries no signature by a known key (expected one by {ORIGIN})\n"
        )
    );
    // A server that lies about a tile's contents.
    let url = lying_server(good.clone(), "tile/0/");
    let run = f.refresh(&["--registry", &url]).expect(2);
    assert_eq!(
        run.stderr,
        "error: the tiles of registry `main` do not match its checkpoint: tile/0/000.p/4 does not match the checkpoint's root hash: the log serves tiles of another tree\n"
    );
    // Nothing of the refused refreshes was kept.
    let held: serde_json::Value =
        serde_json::from_str(&f.s.read("trust/registries/main.json")).unwrap();
    assert!(held["checkpoint"].as_str().unwrap().contains("\n3\n"));
}

/// `registry verify-log --registry` checks what consumers read against the log: the
/// checkpoint (origin, signature by a current key of `registry.kel`, size and root) and every
/// tile of its tree; each fault gets its exact refusal and what to do, and `registry
/// rebuild-state` writes damaged tiles again from the log.
#[test]
fn verify_log_checks_the_checkpoint_and_every_tile_against_the_log() {
    let f = Fx::new();
    f.publish("a.tar", "1.0.0");
    f.publish("b.tar", "1.0.1");
    f.accept(&["a.tar", "b.tar"]).expect(0);
    let verify = || f.run(&["registry", "verify-log", "--registry", "reg"]);
    let lines = hashlog::read(&f.s.join("reg/log.jsonl")).unwrap().lines;
    assert_eq!(lines.len(), 4);
    let mut memory = hallmark_keyring::tlog::MemoryTree::new();
    for line in &lines {
        memory.push(line);
    }
    let root = base64_encode(&memory.root(4).unwrap());
    let clean = format!(
        "checkpoint verified: 4 entries, root {root}, signed by key {} of registry.kel; every tile matches the log\n",
        short(REG)
    );
    let run = verify().expect(0);
    assert!(run.stdout.ends_with(&clean), "{}", run.stdout);
    let json = f.run(&["registry", "verify-log", "--registry", "reg", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.expect(0).stdout).unwrap();
    assert_eq!(doc["checkpointSize"], 4);
    let refused = |message: &str| {
        let run = verify().expect(1);
        assert_eq!(
            run.stdout,
            format!("registry checkpoint refused: {message}\n")
        );
        let json = f.run(&["registry", "verify-log", "--registry", "reg", "--json"]);
        let doc: serde_json::Value = serde_json::from_str(&json.expect(1).stdout).unwrap();
        assert_eq!(doc["verified"], false);
        assert_eq!(doc["checkpointSize"], serde_json::Value::Null);
        assert_eq!(
            doc["message"],
            format!("registry checkpoint refused: {message}")
        );
    };
    let rebuild = "rebuild them from the log with `hallmark registry rebuild-state --registry reg`";
    let repaired = || {
        f.run(&["registry", "rebuild-state", "--registry", "reg"])
            .expect(0);
        assert!(verify().expect(0).stdout.ends_with(&clean));
    };

    // A flipped byte in a hash tile.
    let tile = f.s.join("reg/tile/0/000.p/4");
    let pristine = std::fs::read(&tile).unwrap();
    let mut flipped = pristine.clone();
    flipped[40] ^= 1;
    std::fs::write(&tile, &flipped).unwrap();
    refused(&format!(
        "the tiles do not match the log: tile/0/000.p/4 does not match the checkpoint's root hash: the log serves tiles of another tree; {rebuild}"
    ));
    repaired();
    assert_eq!(std::fs::read(&tile).unwrap(), pristine);

    // A truncated entry bundle.
    let bundle = f.s.join("reg/tile/entries/000.p/4");
    let pristine = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &pristine[..pristine.len() - 10]).unwrap();
    refused(&format!(
        "the tiles do not match the log: entry bundle tile/entries/000.p/4 is malformed: entry 3 claims {} bytes but only {} remain; {rebuild}",
        lines[3].len(),
        lines[3].len() - 10
    ));
    repaired();
    assert_eq!(std::fs::read(&bundle).unwrap(), pristine);

    // A missing hash tile.
    std::fs::remove_file(&tile).unwrap();
    refused(&format!(
        "the tiles do not match the log: cannot read the log: tile/0/000.p/4: not found; {rebuild}"
    ));
    repaired();

    let checkpoint = f.s.join("reg/checkpoint");
    let published = std::fs::read(&checkpoint).unwrap();
    let tree = f.checkpoint("reg").tree;
    let forge = |origin: &str, tree: Tree, seed: u8| {
        let note = Checkpoint::new(origin, tree)
            .unwrap()
            .sign(&sk(seed))
            .unwrap();
        std::fs::write(&checkpoint, note.to_bytes()).unwrap();
    };

    // A checkpoint, signed by the registry's key, for another root.
    forge(
        ORIGIN,
        Tree {
            size: 4,
            root: [7; 32],
        },
        REG,
    );
    refused(&format!(
        "the checkpoint's root hash for 4 entries is {}, but the log's first 4 entries hash to {root}: the checkpoint is for another tree",
        base64_encode(&[7; 32])
    ));
    // … for another log.
    forge("other.example/log", tree, REG);
    refused(&format!(
        "the checkpoint is for log \"other.example/log\", but this registry's origin is \"{ORIGIN}\": it is another log's checkpoint"
    ));
    // … for more entries than the log holds.
    forge(
        ORIGIN,
        Tree {
            size: 5,
            root: [7; 32],
        },
        REG,
    );
    refused(
        "the checkpoint names 5 entries, but the log holds 4: entries were removed from the end of the log, or the checkpoint was replaced",
    );
    // The right tree, signed by a key registry.kel does not hold.
    forge(ORIGIN, tree, 99);
    refused(&format!(
        "the checkpoint is not signed by a current key of reg/registry.kel (key {}): the note carries no signature by a known key (expected one by {ORIGIN}); it was signed by another key, or replaced",
        short(REG)
    ));
    std::fs::write(&checkpoint, &published).unwrap();
    assert!(verify().expect(0).stdout.ends_with(&clean));

    // A run stopped after its tiles and before its checkpoint: the checkpoint covers a prefix
    // of the log, which is said with what to run; the log and what is published still hold.
    f.publish("c.tar", "1.0.2");
    f.accept(&["c.tar"]).expect(0);
    std::fs::write(&checkpoint, &published).unwrap();
    let run = verify().expect(0);
    assert!(
        run.stdout.ends_with(&format!(
            "checkpoint verified: it covers the first 4 of the log's 5 entries (a run stopped before it signed the checkpoint of the rest), root {root}, signed by key {} of registry.kel; every tile matches the log; the next `hallmark registry accept`, `yank` or `receipt` run signs the checkpoint of the whole log\n",
            short(REG)
        )),
        "{}",
        run.stdout
    );
    let json = f.run(&["registry", "verify-log", "--registry", "reg", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.expect(0).stdout).unwrap();
    assert_eq!(
        (doc["entries"].clone(), doc["checkpointSize"].clone()),
        (5.into(), 4.into())
    );
    f.run(&[
        "registry",
        "receipt",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "c.tar",
    ])
    .expect(0);
    assert_eq!(f.checkpoint("reg").tree.size, 5);
}
