//! `hallmark witness` end to end: the real binary serving c2sp.org/tlog-witness over HTTP on
//! loopback, with every status of the spec, keep-alive, bounded and slow requests, garbage,
//! evidence of forks, and state that survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use hallmark_keyring::PublicKey;
use hallmark_keyring::tlog::merkle::{self, MemoryTree};
use hallmark_keyring::tlog::witness::AddCheckpoint;
use hallmark_keyring::tlog::{Checkpoint, KeyType, Tree, VerifierKey};
use hallmark_tests::Scratch;
use hallmark_tests::http::{self, post};

const ORIGIN: &str = "registry.test/log";
const NAME: &str = "witness.test/w1";

/// The log's key: in the first tests the test signs checkpoints with it; in the registry
/// tests it is the registry's key (seed [`REG`]).
fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[REG; 32])
}

const REG: u8 = 70;

fn log_vkey() -> VerifierKey {
    VerifierKey::new(
        ORIGIN,
        KeyType::Ed25519,
        PublicKey::new(log_key().verifying_key()),
    )
    .unwrap()
}

/// A running `hallmark witness serve`, killed when dropped.
struct Served {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// The next line the witness printed (one per request).
    fn next_line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(60)).unwrap()
    }
}

fn setup() -> Scratch {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    s.file_key("witness.key");
    s.write(
        "witness.json",
        serde_json::json!({
            "media_type": "application/vnd.hallmark.witness.v1+json",
            "name": NAME,
            "key": "file:witness.key",
            "listen": "127.0.0.1:7380",
            "state": "state",
            "logs": [log_vkey().to_string()],
            "request_timeout_seconds": 1,
        })
        .to_string(),
    );
    s
}

fn serve(s: &Scratch) -> Served {
    serve_config(s, "witness.json", NAME)
}

fn serve_config(s: &Scratch, config: &str, name: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hallmark"))
        .args([
            "witness",
            "serve",
            "--config",
            config,
            "--listen",
            "127.0.0.1:0",
            "--passphrase-file",
            "pw",
        ])
        .current_dir(s.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(60)).unwrap();
    let url = first
        .strip_prefix(&format!("witness {name} listening on http://"))
        .unwrap_or_else(|| panic!("{first}"));
    let addr = url
        .strip_suffix("/add-checkpoint")
        .unwrap()
        .parse()
        .unwrap();
    let served = Served { child, addr, lines };
    assert!(
        served
            .next_line()
            .starts_with(&format!("cosigning as {NAME}+"))
    );
    assert_eq!(served.next_line(), format!("following {ORIGIN}"));
    served
}

fn tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(format!("leaf {i}").as_bytes());
    }
    t
}

fn checkpoint(t: Tree, key: &SigningKey) -> (Checkpoint, hallmark_keyring::tlog::Note) {
    let cp = Checkpoint::new(ORIGIN, t).unwrap();
    let note = cp.sign(key).unwrap();
    (cp, note)
}

fn request(full: &mut MemoryTree, old: u64, new: u64) -> Vec<u8> {
    let t = Tree {
        size: new,
        root: full.root(new).unwrap(),
    };
    let (checkpoint, note) = checkpoint(t, &log_key());
    AddCheckpoint {
        old,
        proof: merkle::consistency_proof(full, old, new).unwrap(),
        note,
        checkpoint,
    }
    .to_bytes()
}

fn vkey(s: &Scratch) -> VerifierKey {
    s.run(["witness", "vkey", "--config", "witness.json"])
        .expect(0)
        .stdout
        .trim()
        .parse()
        .unwrap()
}

/// `--json`: the configuration's documents, and the stream `witness serve` prints — a line
/// saying where it listens, then one per request — each as docs/json.md says.
#[test]
fn json_documents_and_the_stream_of_a_witness() {
    let s = setup();
    let vkey_doc = s
        .run(["--json", "witness", "vkey", "--config", "witness.json"])
        .expect(0)
        .json();
    assert_eq!(vkey_doc["schema"], "hallmark.witness.vkey/v1");
    assert_eq!(vkey_doc["name"], NAME);
    assert_eq!(vkey_doc["vkey"], vkey(&s).to_string());

    let mut child = Command::new(env!("CARGO_BIN_EXE_hallmark"))
        .args([
            "--json",
            "witness",
            "serve",
            "--config",
            "witness.json",
            "--listen",
            "127.0.0.1:0",
            "--passphrase-file",
            "pw",
        ])
        .current_dir(s.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        let line = lines.next().unwrap().unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        hallmark_tests::json_doc::assert_documented(&value);
        value
    };
    let first = next();
    assert_eq!(first["schema"], "hallmark.witness.serve/v1");
    assert_eq!(first["logs"], serde_json::json!([ORIGIN]));
    let url = first["listening"].as_str().unwrap();
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/add-checkpoint"))
        .unwrap()
        .parse()
        .unwrap();
    let mut t = tree(20);
    assert_eq!(
        post(addr, "/add-checkpoint", &request(&mut t, 0, 10)).status,
        200
    );
    let served = next();
    assert_eq!(served["schema"], "hallmark.witness.request/v1");
    assert_eq!(served["status"], 200);
    let _ = child.kill();
    let _ = child.wait();

    // A registry submitting to it.
    common::init_registry(&s, None, Some(ORIGIN)).expect(0);
    let added = s
        .run([
            "--json",
            "registry",
            "add-witness",
            "--registry",
            "reg",
            "--vkey",
            vkey_doc["vkey"].as_str().unwrap(),
            "--url",
            url,
        ])
        .expect(0)
        .json();
    assert_eq!(
        (&added["witness"], &added["changed"]),
        (&vkey_doc["vkey"], &serde_json::Value::Bool(true))
    );
}

#[test]
fn a_witness_cosigns_consistent_checkpoints_and_refuses_the_rest_with_the_spec_statuses() {
    let s = setup();
    let w = serve(&s);
    let mut t = tree(600);

    // First contact: cosigned; the answer appended to the checkpoint verifies under the key
    // `hallmark witness vkey` prints.
    let r = post(w.addr, "/add-checkpoint", &request(&mut t, 0, 10));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with(&format!("\u{2014} {NAME} ")));
    let t10 = Tree {
        size: 10,
        root: t.root(10).unwrap(),
    };
    let mut cosigned = checkpoint(t10, &log_key()).1.to_bytes();
    cosigned.extend_from_slice(&r.body);
    let opened = Checkpoint::open(&cosigned, &log_vkey()).unwrap();
    let verified = opened.cosignatures(&[vkey(&s)]).unwrap();
    assert_eq!(verified.len(), 1);
    assert!(w.next_line().starts_with("200 127.0.0.1:"));

    // A consistent extension across a tile boundary.
    assert_eq!(
        post(w.addr, "/add-checkpoint", &request(&mut t, 10, 300)).status,
        200
    );

    // A client behind: 409 with the size last cosigned, as text/x.tlog.size.
    let r = post(w.addr, "/add-checkpoint", &request(&mut t, 10, 400));
    assert_eq!(r.status, 409);
    assert_eq!(r.header("content-type"), Some("text/x.tlog.size"));
    assert_eq!(r.text(), "300\n");

    // Old size larger than the checkpoint's: 400.
    let mut bad = AddCheckpoint::parse(&request(&mut t, 0, 5)).unwrap();
    bad.old = 9;
    let r = post(w.addr, "/add-checkpoint", &bad.to_bytes());
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "the old size 9 is larger than the checkpoint's size 5\n"
    );

    // Another log: 404.
    let mut other = AddCheckpoint::parse(&request(&mut t, 300, 400)).unwrap();
    other.checkpoint.origin = "elsewhere.test/log".into();
    other.note = other.checkpoint.sign(&log_key()).unwrap();
    let r = post(w.addr, "/add-checkpoint", &other.to_bytes());
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "this witness does not follow the log \"elsewhere.test/log\"\n"
    );

    // Signed by someone else: 403.
    let mut forged = AddCheckpoint::parse(&request(&mut t, 300, 400)).unwrap();
    forged.note = checkpoint(forged.checkpoint.tree, &SigningKey::from_bytes(&[1; 32])).1;
    assert_eq!(
        post(w.addr, "/add-checkpoint", &forged.to_bytes()).status,
        403
    );

    // A consistency proof that does not verify: 422, kept as evidence.
    let mut wrong = AddCheckpoint::parse(&request(&mut t, 300, 400)).unwrap();
    wrong.proof.swap(0, 1);
    let r = post(w.addr, "/add-checkpoint", &wrong.to_bytes());
    assert_eq!(r.status, 422);
    assert!(r.text().contains("does not verify"), "{}", r.text());

    // A fork: another root at the size cosigned. 409, and the evidence holds both.
    let fork = Tree {
        size: 300,
        root: [7; 32],
    };
    let (cp, note) = checkpoint(fork, &log_key());
    let fork_request = AddCheckpoint {
        old: 300,
        proof: vec![],
        note,
        checkpoint: cp,
    };
    let r = post(w.addr, "/add-checkpoint", &fork_request.to_bytes());
    assert_eq!((r.status, r.text().as_str()), (409, "300\n"));
    let evidence_dir = std::fs::read_dir(s.join("state/evidence"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut kept: Vec<String> = std::fs::read_dir(&evidence_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].starts_with("fork-") && kept[1].starts_with("inconsistent-"));
    let fork_text = std::fs::read_to_string(evidence_dir.join(&kept[0])).unwrap();
    assert!(fork_text.contains(&String::from_utf8(fork_request.note.to_bytes()).unwrap()));
    assert!(fork_text.contains(&format!("{ORIGIN}\n300\n")));

    // Routes and methods.
    assert_eq!(post(w.addr, "/other", b"").status, 404);
    let r = http::exchange(
        w.addr,
        b"GET /add-checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));

    // A malformed body: 400 with the reason.
    let r = post(w.addr, "/add-checkpoint", b"old 01\n\n");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "the first line must be `old <size>` in decimal without leading zeros\n"
    );

    // Still cosigning after all that.
    assert_eq!(
        post(w.addr, "/add-checkpoint", &request(&mut t, 300, 600)).status,
        200
    );
}

#[test]
fn requests_are_bounded_in_size_and_time_and_garbage_never_stops_the_witness() {
    let s = setup();
    let w = serve(&s);
    let mut t = tree(50);

    // A declared length over the bound: 413 before any body is read.
    let r = http::exchange(
        w.addr,
        b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 413);
    // A chunked body that grows past the bound: 413.
    let mut raw = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        raw.extend_from_slice(b"1000\r\n");
        raw.extend_from_slice(&[b'a'; 0x1000]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(http::exchange(w.addr, &raw).unwrap().status, 413);

    // A body that never comes: 408 once the timeout passes.
    let mut slow = TcpStream::connect(w.addr).unwrap();
    slow.write_all(
        b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).unwrap();
    assert_eq!(http::parse(&answer).unwrap().status, 408);
    // Headers that never end: the connection is closed.
    let mut stalled = TcpStream::connect(w.addr).unwrap();
    stalled
        .write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut rest = Vec::new();
    // The server closes it (a read timing out here would fail the test).
    stalled.read_to_end(&mut rest).unwrap();
    assert!(
        http::parse(&rest).is_none_or(|r| r.status == 408),
        "{rest:?}"
    );

    // Garbage of every shape: an answer, never a crash.
    let good = request(&mut t, 0, 50);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200 {
        let mut body = good.clone();
        for _ in 0..(1 + i % 8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state as usize) % body.len();
            body[at] = (state >> 32) as u8;
        }
        body.truncate(body.len() - (i % 40));
        let r = post(w.addr, "/add-checkpoint", &body);
        assert!(
            [400, 403, 404, 422, 200].contains(&r.status),
            "{i}: {}",
            r.status
        );
    }

    // Keep-alive: two requests on one connection.
    let mut conn = TcpStream::connect(w.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = request(&mut t, 0, 50);
    for _ in 0..2 {
        let mut raw = format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        conn.write_all(&raw).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let response = loop {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the connection closed");
            got.extend_from_slice(&buf[..n]);
            if let Some(r) = http::parse(&got)
                && r.header("content-length").and_then(|l| l.parse().ok()) == Some(r.body.len())
            {
                break r;
            }
        };
        // The first cosigns from 0 (or answers 409 if the garbage above hit a valid
        // request); either way the witness answered on the same connection.
        assert!([200, 409].contains(&response.status));
    }
}

#[test]
fn the_witness_remembers_what_it_cosigned_across_a_restart() {
    let s = setup();
    let mut t = tree(20);
    {
        let w = serve(&s);
        assert_eq!(
            post(w.addr, "/add-checkpoint", &request(&mut t, 0, 12)).status,
            200
        );
        // A second witness on the same state is refused while the first runs.
        let second = s.run([
            "witness",
            "serve",
            "--config",
            "witness.json",
            "--listen",
            "127.0.0.1:0",
            "--passphrase-file",
            "pw",
        ]);
        assert_eq!(second.code, 2);
        assert!(
            second
                .stderr
                .contains("another witness is running on the state directory"),
            "{}",
            second.stderr
        );
    } // killed
    let w = serve(&s);
    let r = post(w.addr, "/add-checkpoint", &request(&mut t, 0, 20));
    assert_eq!((r.status, r.text().as_str()), (409, "12\n"));
    assert_eq!(
        post(w.addr, "/add-checkpoint", &request(&mut t, 12, 20)).status,
        200
    );
}

#[test]
fn a_bad_configuration_is_refused_with_what_to_fix() {
    let s = setup();
    s.write(
        "bad.json",
        r#"{"media_type":"application/vnd.hallmark.witness.v1+json","name":"w","key":"file:witness.key","listen":"127.0.0.1:0","state":"st","logs":["not a key"]}"#,
    );
    let r = s
        .run(["witness", "serve", "--config", "bad.json"])
        .expect(2);
    assert!(r.stderr.contains("log key \"not a key\""), "{}", r.stderr);
    s.write(
        "extra.json",
        r#"{"media_type":"application/vnd.hallmark.witness.v1+json","name":"w","key":"file:witness.key","listen":"127.0.0.1:0","state":"st","logs":[],"colour":"red"}"#,
    );
    let r = s
        .run(["witness", "vkey", "--config", "extra.json"])
        .expect(2);
    assert!(r.stderr.contains("unknown field `colour`"), "{}", r.stderr);
}

/// A registry `reg/` with origin [`ORIGIN`] and key seed [`REG`], a publisher P (key 1,
/// org.example), witness w1 (running) and w2 (configured but down) added to the registry.
fn registry_with_witnesses(s: &Scratch) -> (Served, common::Id) {
    common::init_registry(s, Some(REG), Some(ORIGIN)).expect(0);
    let w = serve(s);
    let w1 = vkey(s).to_string();
    s.run([
        "registry",
        "add-witness",
        "--registry",
        "reg",
        "--vkey",
        &w1,
        "--url",
        &format!("http://{}", w.addr),
    ])
    .expect(0);
    // w2: a key nobody serves, at a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let w2 = VerifierKey::new(
        "witness.test/w2",
        KeyType::Cosignature,
        PublicKey::new(SigningKey::from_bytes(&[2; 32]).verifying_key()),
    )
    .unwrap();
    let added = s
        .run([
            "registry",
            "add-witness",
            "--registry",
            "reg",
            "--vkey",
            &w2.to_string(),
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .expect(0);
    assert_eq!(
        added.stdout,
        format!("checkpoints will be submitted to {w2} at http://127.0.0.1:{port}\n")
    );
    let p = common::Id::incept(1, 2, &["org.example"], common::t(0));
    p.write(&s.join("p.kel"));
    (w, p)
}

fn publish(s: &Scratch, p: &common::Id, file: &str, version: &str) {
    let bytes = format!("{file} {version}\n").into_bytes();
    common::write_release(
        s.path(),
        file,
        &bytes,
        &p.bundle(
            "org.example.tool",
            version,
            &bytes,
            common::t(50),
            &[p.current],
        ),
    );
}

fn accept(s: &Scratch, file: &str) -> hallmark_tests::Run {
    s.run([
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        file,
    ])
}

#[test]
fn the_registry_publishes_checkpoints_with_the_cosignatures_of_the_witnesses_that_answer() {
    let s = setup();
    let (_w, p) = registry_with_witnesses(&s);
    publish(&s, &p, "tool-1.0.tar", "1.0.0");
    let run = accept(&s, "tool-1.0.tar").expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    // The inception and the publish: a tree of 3 entries (the registry's own inception, P's
    // inception, the publish).
    assert!(
        lines.contains(&"checkpoint of 3 entries cosigned by witness witness.test/w1"),
        "{}",
        run.stdout
    );
    let down = lines
        .iter()
        .find(|l| {
            l.starts_with("checkpoint of 3 entries NOT cosigned by witness witness.test/w2: ")
        })
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(down.contains("/add-checkpoint: "), "{down}");

    // The published checkpoint carries w1's cosignature, which verifies under w1's key.
    let published = std::fs::read(s.join("reg/checkpoint")).unwrap();
    let opened = Checkpoint::open(&published, &log_vkey()).unwrap();
    assert_eq!(opened.checkpoint.tree.size, 3);
    let cosigned = opened.cosignatures(&[vkey(&s)]).unwrap();
    assert_eq!(cosigned[0].name, NAME);
    assert_eq!(opened.note.signatures().len(), 2);
    // And so does the receipt written into the bundle.
    let bundle = hallmark_keyring::bundle::Bundle::from_json(
        &std::fs::read(s.join("tool-1.0.tar.hallmark.json")).unwrap(),
    )
    .unwrap();
    let receipt = hallmark_keyring::receipt::Receipt::from_envelope(&bundle.receipts[0]).unwrap();
    assert_eq!(
        receipt.tlog.unwrap().checkpoint.into_bytes(),
        published,
        "the receipt is proved against the cosigned checkpoint"
    );

    // The next run extends: the witness checks consistency from the size it cosigned.
    publish(&s, &p, "tool-1.1.tar", "1.1.0");
    let run = accept(&s, "tool-1.1.tar").expect(0);
    assert!(
        run.stdout
            .contains("checkpoint of 4 entries cosigned by witness witness.test/w1"),
        "{}",
        run.stdout
    );
    let json = s
        .run([
            "registry",
            "accept",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
            "--json",
            "tool-1.1.tar",
        ])
        .expect(0)
        .json();
    // Nothing new: the checkpoint is not re-signed, so no witness was asked.
    assert_eq!(json["witnesses"], serde_json::json!([]));
    assert_eq!(json["results"][0]["verdict"], "already-accepted");
}

/// A trust store `store` pinning the registry (served from `reg/`) with a witness policy,
/// and P with receipts required.
/// The size of the tree a checkpoint file holds.
fn checkpoint_size(s: &Scratch, file: &str) -> u64 {
    let note = hallmark_keyring::tlog::Note::parse(&std::fs::read(s.join(file)).unwrap()).unwrap();
    Checkpoint::parse_body(note.text()).unwrap().tree.size
}

fn consumer(s: &Scratch, store: &str, policy: &[&str]) -> hallmark_tests::Run {
    let mut args = vec![
        "keyring",
        "pin-registry",
        "main",
        "--identity",
        "reg/registry.kel",
        "--keyring",
        store,
        "--location",
        "reg",
    ];
    args.extend_from_slice(policy);
    let run = s.run(&args);
    if run.code == 0 {
        s.run([
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "p.kel",
            "--require-receipt",
            "main",
            "--keyring",
            store,
        ])
        .expect(0);
    }
    run
}

#[test]
fn consumers_require_k_of_n_witness_cosignatures_and_name_the_policy_when_refusing() {
    let s = setup();
    let (_w, p) = registry_with_witnesses(&s);
    let w1 = vkey(&s).to_string();
    let registry: serde_json::Value = serde_json::from_str(&s.read("reg/registry.json")).unwrap();
    let w2 = registry["witnesses"][1]["vkey"]
        .as_str()
        .unwrap()
        .to_owned();
    publish(&s, &p, "tool-1.0.tar", "1.0.0");
    accept(&s, "tool-1.0.tar").expect(0);

    // 1 of [w1]: w1 cosigned; the receipt and the refreshed checkpoint count.
    consumer(&s, "one", &["--witness", &w1]).expect(0);
    let run = s
        .run(["verify", "--keyring", "one", "tool-1.0.tar"])
        .expect(0);
    assert!(run.stdout.contains("trusted"), "{}", run.stdout);
    s.run(["keyring", "refresh", "main", "--keyring", "one"])
        .expect(0);

    // 2 of [w1, w2]: w2 was down; both refused, naming the policy.
    consumer(
        &s,
        "two",
        &[
            "--witness",
            &w1,
            "--witness",
            &w2,
            "--witness-threshold",
            "2",
        ],
    )
    .expect(0);
    let run = s
        .run(["verify", "--keyring", "two", "tool-1.0.tar"])
        .expect(1);
    assert!(
        run.stdout.contains(
            "rejected: unwitnessed: the receipt from registry `main`: the checkpoint is cosigned by 1 of the witnesses the policy names (witness.test/w1), and the witness policy 2 of [witness.test/w1, witness.test/w2] requires 2"
        ),
        "{}",
        run.stdout
    );
    let run = s
        .run(["keyring", "refresh", "main", "--keyring", "two"])
        .expect(1);
    assert!(
        run.stdout.contains(
            "rejected: unwitnessed: the checkpoint registry `main` serves is refused: the checkpoint is cosigned by 1 of the witnesses the policy names (witness.test/w1), and the witness policy 2 of [witness.test/w1, witness.test/w2] requires 2; nothing was changed"
        ),
        "{}",
        run.stdout
    );
    let refused = s
        .run(["--json", "keyring", "refresh", "main", "--keyring", "two"])
        .expect(1)
        .json();
    assert_eq!(
        (
            &refused["verdict"],
            &refused["reason"],
            &refused["exitCode"]
        ),
        (&"rejected".into(), &"unwitnessed".into(), &1.into())
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("the checkpoint registry `main` serves is refused: "),
        "{refused}"
    );
    assert_eq!(
        (&refused["from"], &refused["to"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    // Both refusals are in the store's audit log, which still verifies.
    let size = checkpoint_size(&s, "reg/checkpoint");
    let record = serde_json::json!({
        "kind": "checkpoint-refused",
        "registry": "main",
        "reason": "unwitnessed",
        "detail": format!("the checkpoint of {size} entries: the checkpoint is cosigned by 1 of the witnesses the policy names (witness.test/w1), and the witness policy 2 of [witness.test/w1, witness.test/w2] requires 2"),
    });
    s.run(["keyring", "log", "--verify", "--keyring", "two"])
        .expect(0);
    let log = s
        .run(["--json", "keyring", "log", "--keyring", "two"])
        .expect(0)
        .json();
    let records: Vec<&serde_json::Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["record"])
        .collect();
    assert_eq!(records[records.len() - 3]["kind"], "verdict");
    assert_eq!(records[records.len() - 2..], [&record, &record]);

    // 1 of [w2] alone: no cosignature at all.
    consumer(&s, "other", &["--witness", &w2]).expect(0);
    let run = s
        .run(["verify", "--keyring", "other", "tool-1.0.tar"])
        .expect(1);
    assert!(
        run.stdout.contains("cosigned by 0 of the witnesses the policy names (none), and the witness policy 1 of [witness.test/w2] requires 1"),
        "{}",
        run.stdout
    );

    // Policies that cannot work are refused when pinned.
    let run = consumer(&s, "bad", &["--witness", &w1, "--witness", &w2]).expect(2);
    assert!(
        run.stderr.contains("add --witness-threshold K"),
        "{}",
        run.stderr
    );
    let run = consumer(&s, "bad", &["--witness", &w1, "--witness-threshold", "2"]).expect(2);
    assert!(run.stderr.contains("cannot be met"), "{}", run.stderr);
    let run = consumer(&s, "bad", &["--witness", &log_vkey().to_string()]).expect(2);
    assert!(
        run.stderr.contains("cosignature key (type 0x04)"),
        "{}",
        run.stderr
    );
}

/// The commands `docs/monitoring.md` shows, run as written with this test's registry
/// directory, witness key and address put in.
#[test]
fn the_commands_the_monitoring_doc_shows_run() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/monitoring.md"
    ))
    .unwrap();
    let commands: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    assert_eq!(commands.len(), 5, "{commands:?}");
    let s = setup();
    let (mut served, mut p) = (None, None);
    let documented_vkey =
        "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    for command in commands {
        let mut command = command
            .replace("/srv/hallmark", "reg")
            .replace("--identity registry.kel", "--identity reg/registry.kel")
            .replace("--passphrase-file witness-pw", "--passphrase-file pw");
        if let Some(w) = &served {
            let w: &Served = w;
            command = command
                .replace(documented_vkey, &vkey(&s).to_string())
                .replace("http://127.0.0.1:7380", &format!("http://{}", w.addr));
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "hallmark", "{command}");
        match words[1..3] {
            ["witness", "serve"] => {
                assert_eq!(
                    command,
                    "hallmark witness serve --config witness.json --passphrase-file pw"
                );
                // The registry the witness follows, then the witness.
                let (w, id) = {
                    common::init_registry(&s, Some(REG), Some(ORIGIN)).expect(0);
                    let id = common::Id::incept(1, 2, &["org.example"], common::t(0));
                    id.write(&s.join("p.kel"));
                    (serve(&s), id)
                };
                served = Some(w);
                p = Some(id);
            }
            ["registry", "add-witness"] => {
                s.run(&words[1..]).expect(0);
                let p = p.as_ref().unwrap();
                publish(&s, p, "tool-1.0.tar", "1.0.0");
                let run = accept(&s, "tool-1.0.tar").expect(0);
                assert!(
                    run.stdout.contains(&format!("cosigned by witness {NAME}")),
                    "{}",
                    run.stdout
                );
            }
            ["keyring", "pin-registry"] => {
                s.run(&words[1..]).expect(0);
                s.run([
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
                s.run(["verify", "--keyring", "trust", "tool-1.0.tar"])
                    .expect(0);
            }
            ["monitor", ..] => {
                let run = s.run(&words[1..]).expect(0);
                assert_eq!(run.stdout, "");
            }
            _ => {
                s.run(&words[1..]).expect(0);
            }
        }
    }
    assert!(served.is_some());
}
