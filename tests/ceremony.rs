//! `hallmark ceremony …` end to end on file keys: identities, rotations, M-of-N ceremonies with
//! co-signers, transfers, revocations, transcripts and custodian backups — and every refusal of
//! issue 5, each with its exact message and exit code, and nothing written on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use age::secrecy::ExposeSecret;
use hallmark_keyring::{KeyId, PublicKey};
use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};
use serde_json::Value;

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// Key ids of a key file's public key (`NAME.pub`).
fn kid(s: &Scratch, name: &str) -> KeyId {
    let key: PublicKey = s.read(&format!("{name}.pub")).trim().parse().unwrap();
    key.key_id()
}

fn short(s: &Scratch, name: &str) -> String {
    kid(s, name).short()
}

fn keys(s: &Scratch, names: &[&str]) {
    for name in names {
        s.file_key(name);
    }
}

fn run(s: &Scratch, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    if matches!(
        args.get(1),
        Some(&"init" | &"rotate" | &"transfer" | &"accept" | &"revoke" | &"cosign" | &"backup")
    ) {
        all.extend(["--passphrase-file", "pw"]);
    }
    s.run(all)
}

/// An identity `org.example.kel`: current key a.key, next key b.key, namespace org.example.
fn identity() -> Scratch {
    let s = scratch();
    keys(&s, &["a.key", "b.key"]);
    run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:a.key",
            "--next-key",
            "file:b.key",
            "--namespace",
            "org.example",
            "--out",
            "org.example.kel",
        ],
    )
    .expect(0);
    s
}

fn identity_id(s: &Scratch, kel: &str) -> String {
    let file: Value = serde_json::from_str(&s.read(kel)).unwrap();
    let payload = file["events"][0]["payload"].as_str().unwrap();
    let bytes = hallmark_keyring::encoding::base64_decode("p", payload, 1 << 20).unwrap();
    hallmark_keyring::IdentityId::from_inception(&hallmark_keyring::Sha256Digest::of(&bytes))
        .to_string()
}

fn short_id(s: &Scratch, kel: &str) -> String {
    identity_id(s, kel)[..20].to_owned()
}

fn rotate(s: &Scratch, key: &str, next: &str) -> Run {
    run(
        s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            &format!("file:{key}"),
            "--next-key",
            &format!("file:{next}"),
            "--reason",
            "scheduled",
        ],
    )
}

fn sign(s: &Scratch, key: &str, kel: &str, name: &str) -> Run {
    if !s.join("tool.tar").exists() {
        s.write("tool.tar", b"release\n");
    }
    s.run([
        "sign",
        "--identity",
        kel,
        "--key",
        &format!("file:{key}"),
        "--passphrase-file",
        "pw",
        "--name",
        name,
        "--version",
        "1.0.0",
        "--force",
        "tool.tar",
    ])
}

fn events(s: &Scratch, kel: &str) -> Vec<Value> {
    let file: Value = serde_json::from_str(&s.read(kel)).unwrap();
    file["events"].as_array().unwrap().clone()
}

fn set_events(s: &Scratch, kel: &str, events: Vec<Value>) {
    let mut file: Value = serde_json::from_str(&s.read(kel)).unwrap();
    file["events"] = Value::Array(events);
    s.write(kel, serde_json::to_vec_pretty(&file).unwrap());
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `args`, expects exit code 2 with exactly `message` on stderr, and checks that no file
/// in the scratch directory was created, removed or changed.
#[track_caller]
fn refused(s: &Scratch, args: &[&str], message: &str) {
    let before: Vec<(String, Vec<u8>)> = files(s.path())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(s.join(&f)).unwrap_or_default();
            (f, bytes)
        })
        .collect();
    let out = run(s, args).expect(2);
    assert_eq!(out.stderr.trim_end(), format!("error: {message}"));
    assert_eq!(out.stdout, "");
    let after: Vec<(String, Vec<u8>)> = files(s.path())
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(s.join(&f)).unwrap_or_default();
            (f, bytes)
        })
        .collect();
    assert_eq!(before, after, "a refused command changed files");
}

// --- happy paths ---------------------------------------------------------------------------------

#[test]
fn init_sign_rotate_sign_with_the_new_key() {
    let s = identity();
    let id = identity_id(&s, "org.example.kel");
    assert!(id.starts_with("hid:"));
    assert_eq!(
        files(s.path()),
        [
            "a.key",
            "a.key.pub",
            "b.key",
            "b.key.pub",
            "org.example.kel",
            "org.example.kel.0-init.transcript.json",
            "pw"
        ]
    );
    sign(&s, "a.key", "org.example.kel", "org.example.tool").expect(0);

    // Rotate to the committed b.key, creating the following key c.key on the spot.
    let out = run(
        &s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            "file:b.key",
            "--current-key",
            "file:a.key",
            "--create-next",
            "file:c.key",
            "--next-passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
            "--reason",
            "scheduled",
        ],
    )
    .expect(0);
    assert!(
        out.stderr
            .contains("important: created next key c.key (key id "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Move it offline now"), "{}", out.stderr);
    let events = events(&s, "org.example.kel");
    assert_eq!(events.len(), 2);
    assert!(s.join("c.key").exists() && s.join("c.key.pub").exists());

    // The old key no longer signs for the identity; the new one does.
    let refused = sign(&s, "a.key", "org.example.kel", "org.example.tool").expect(2);
    assert_eq!(
        refused.stderr.trim(),
        format!(
            "error: key {} (file:a.key) is not a current signing key of identity {}; it was rotated out by event #1; current keys: {}",
            short(&s, "a.key"),
            short_id(&s, "org.example.kel"),
            short(&s, "b.key")
        )
    );
    sign(&s, "b.key", "org.example.kel", "org.example.tool").expect(0);

    // The transcript names the event, both keys and their roles, and verifies against the log.
    let out = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "org.example.kel.1-rotate.transcript.json",
            "--identity",
            "org.example.kel",
        ])
        .expect(0)
        .json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["action"], "rotate");
    assert_eq!(out["identity"], id.as_str());
    assert_eq!(out["events"][0]["sequence"], 1);
    assert_eq!(out["events"][0]["kind"], "rotation");
    assert_eq!(out["events"][0]["inLog"], true);
    assert_eq!(out["details"]["reason"], "scheduled");
    let participants = out["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    assert_eq!(participants[0]["keyId"], kid(&s, "b.key").to_string());
    assert_eq!(participants[0]["role"], "signer");
    assert_eq!(participants[0]["backend"], "file");
    assert_eq!(participants[0]["reference"], "file:b.key");
    assert_eq!(participants[1]["keyId"], kid(&s, "a.key").to_string());
    assert_eq!(participants[1]["role"], "co-signer");

    // And rotation continues to the key created at the last one.
    rotate(&s, "c.key", "a.key").expect(2); // a.key was a signing key already: refused
    keys(&s, &["d.key"]);
    rotate(&s, "c.key", "d.key").expect(0);
}

#[test]
fn next_key_by_public_key_or_key_id_needs_no_private_key() {
    let s = scratch();
    keys(&s, &["a.key", "b.key", "c.key"]);
    std::fs::remove_file(s.join("b.key")).unwrap(); // the next key is offline
    let b_id = kid(&s, "b.key").to_string();
    let c_pub = s.read("c.key.pub").trim().to_owned();
    run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:a.key",
            "--next-public-key",
            &b_id,
            "--next-public-key",
            &c_pub,
            "--next-threshold",
            "1",
            "--namespace",
            "org.example",
            "--out",
            "org.example.kel",
        ],
    )
    .expect(0);
    let json = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "org.example.kel.0-init.transcript.json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["details"]["namespaces"], "org.example");
    assert_eq!(json["details"]["threshold"], "1 of 1");
    // c.key alone can rotate: one of the two committed keys, threshold 1.
    keys(&s, &["d.key"]);
    rotate(&s, "c.key", "d.key").expect(0);
}

#[test]
fn m_of_n_inception_and_rotation_with_cosigners() {
    let s = scratch();
    keys(
        &s,
        &[
            "k1.key", "k2.key", "k3.key", "n1.key", "n2.key", "n3.key", "m.key",
        ],
    );
    let out = run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:k1.key",
            "--cosigner-key",
            "k2.key.pub",
            "--cosigner-key",
            "k3.key.pub",
            "--threshold",
            "2",
            "--next-key",
            "file:n1.key",
            "--next-key",
            "file:n2.key",
            "--next-key",
            "file:n3.key",
            "--next-threshold",
            "2",
            "--namespace",
            "org.example",
            "--pending",
            "p0.json",
        ],
    )
    .expect(0);
    assert!(
        out.stdout.contains(
            "pending in p0.json: signed by 1 of the 2 needed; co-sign with `hallmark ceremony cosign p0.json`"
        ),
        "{}",
        out.stdout
    );
    // One signature of two: the commit is refused and writes nothing.
    refused(
        &s,
        &["ceremony", "commit", "p0.json", "--out", "org.example.kel"],
        &format!(
            "the inception event is signed by 1 of the 2 entitled keys it needs ({}); co-sign it with `hallmark ceremony cosign` on the machines that hold the others (entitled: {}, {}, {})",
            short(&s, "k1.key"),
            short(&s, "k1.key"),
            short(&s, "k2.key"),
            short(&s, "k3.key")
        ),
    );
    // A key outside the set cannot co-sign; nothing is unlocked.
    refused(
        &s,
        &["ceremony", "cosign", "p0.json", "--key", "file:n1.key"],
        &format!(
            "file:n1.key holds key {}, which is not entitled to sign this inception event (entitled: {}, {}, {}); nothing was unlocked",
            short(&s, "n1.key"),
            short(&s, "k1.key"),
            short(&s, "k2.key"),
            short(&s, "k3.key")
        ),
    );
    run(
        &s,
        &["ceremony", "cosign", "p0.json", "--key", "file:k3.key"],
    )
    .expect(0);
    run(
        &s,
        &["ceremony", "commit", "p0.json", "--out", "org.example.kel"],
    )
    .expect(0);

    // The commit transcript shows both signers, from the signing steps it carries.
    let json = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "org.example.kel.0-commit.transcript.json",
            "--identity",
            "org.example.kel",
        ])
        .expect(0)
        .json();
    let signers: Vec<&str> = json["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(signers, ["file:k1.key", "file:k3.key"]);

    // Rotation: reveal n1 and n2, signed on two "machines", co-signed by a current key.
    run(
        &s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            "file:n2.key",
            "--cosigner-key",
            "n1.key.pub",
            "--next-key",
            "file:m.key",
            "--reason",
            "scheduled",
            "--pending",
            "p1.json",
        ],
    )
    .expect(0);
    let cosigned = s
        .run([
            "--json",
            "ceremony",
            "cosign",
            "p1.json",
            "--identity",
            "org.example.kel",
            "--key",
            "file:n1.key",
            "--key",
            "file:k2.key",
            "--passphrase-file",
            "pw",
        ])
        .expect(0)
        .json();
    assert_eq!(
        (&cosigned["schema"], &cosigned["status"], &cosigned["file"]),
        (
            &"hallmark.ceremony.cosign/v1".into(),
            &"pending".into(),
            &"p1.json".into()
        )
    );
    // The entitled keys: the two pre-committed keys the rotation reveals.
    let mut signed: Vec<String> = cosigned["signed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    signed.sort();
    let mut expected = vec![kid(&s, "n1.key").to_string(), kid(&s, "n2.key").to_string()];
    expected.sort();
    assert_eq!(signed, expected);
    let out = s
        .run([
            "--json",
            "ceremony",
            "commit",
            "p1.json",
            "--identity",
            "org.example.kel",
        ])
        .expect(0)
        .json();
    assert_eq!(out["status"], "committed");
    assert_eq!(out["event"]["sequence"], 1);
    assert_eq!(out["threshold"], 2);
    // Committing it again is refused: it is already in the log.
    let digest = out["event"]["digest"].as_str().unwrap();
    refused(
        &s,
        &[
            "ceremony",
            "commit",
            "p1.json",
            "--identity",
            "org.example.kel",
        ],
        &format!("event #1 {} is already in the log", &digest[..23]),
    );
    // n1 and n2 now sign statements together; one alone is not enough.
    s.write("tool.tar", b"x");
    let one = sign(&s, "n1.key", "org.example.kel", "org.example.tool").expect(2);
    assert!(
        one.stderr
            .contains("needs 2 of its 2 keys to sign; give --key for each co-signer"),
        "{}",
        one.stderr
    );
}

#[test]
fn transfer_and_accept() {
    let s = identity();
    keys(&s, &["r.key", "rn.key"]);
    run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:r.key",
            "--next-key",
            "file:rn.key",
            "--namespace",
            "org.newhome",
            "--out",
            "receiver.kel",
        ],
    )
    .expect(0);
    let receiver = identity_id(&s, "receiver.kel");

    // Accepting before any transfer links nothing and is refused.
    refused(
        &s,
        &[
            "ceremony",
            "accept",
            "--identity",
            "receiver.kel",
            "--from",
            "org.example.kel",
            "--key",
            "file:r.key",
        ],
        &format!(
            "identity {} has no transfer to {} that is not yet accepted; the giver runs `hallmark ceremony transfer --to` first",
            short_id(&s, "org.example.kel"),
            short_id(&s, "receiver.kel")
        ),
    );

    run(
        &s,
        &[
            "ceremony",
            "transfer",
            "--identity",
            "org.example.kel",
            "--to",
            &receiver,
            "--name",
            "org.example.tool",
            "--key",
            "file:a.key",
        ],
    )
    .expect(0);
    // Transferred but not accepted: the giver lost the name, the receiver does not have it.
    let giver = sign(&s, "a.key", "org.example.kel", "org.example.tool").expect(2);
    assert!(
        giver
            .stderr
            .starts_with("error: org.example.tool is not in the namespaces of identity"),
        "{}",
        giver.stderr
    );
    let early = sign(&s, "r.key", "receiver.kel", "org.example.tool").expect(2);
    assert_eq!(
        early.stderr.trim(),
        format!(
            "error: org.example.tool is not in the namespaces of identity {} (org.newhome)",
            short_id(&s, "receiver.kel")
        )
    );
    // An acceptance naming other names than the transfer's is refused.
    let transfer_digest = events(&s, "org.example.kel")[1]["payload"].clone();
    assert!(transfer_digest.is_string());
    let out = run(
        &s,
        &[
            "ceremony",
            "accept",
            "--identity",
            "receiver.kel",
            "--from",
            "org.example.kel",
            "--name",
            "org.example.other",
            "--key",
            "file:r.key",
        ],
    )
    .expect(2);
    assert!(
        out.stderr
            .contains("hands over org.example.tool, not org.example.other: an acceptance names exactly the transfer's names"),
        "{}",
        out.stderr
    );
    run(
        &s,
        &[
            "ceremony",
            "accept",
            "--identity",
            "receiver.kel",
            "--from",
            "org.example.kel",
            "--name",
            "org.example.tool",
            "--key",
            "file:r.key",
        ],
    )
    .expect(0);
    sign(&s, "r.key", "receiver.kel", "org.example.tool").expect(0);
    let json = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "receiver.kel.1-accept.transcript.json",
            "--identity",
            "receiver.kel",
        ])
        .expect(0)
        .json();
    assert_eq!(json["details"]["names"], "org.example.tool");
    assert_eq!(json["details"]["from"], identity_id(&s, "org.example.kel"));
}

#[test]
fn revoke_a_past_key() {
    let s = identity();
    keys(&s, &["c.key"]);
    rotate(&s, "b.key", "c.key").expect(0);
    // Signed by the wrong keys: the revoked key itself is not current; refused before unlock.
    refused(
        &s,
        &[
            "ceremony",
            "revoke",
            "--identity",
            "org.example.kel",
            "--revoke",
            "a.key.pub",
            "--reason",
            "compromised",
            "--since",
            "2026-01-01T00:00:00Z",
            "--key",
            "file:a.key",
        ],
        &format!(
            "file:a.key holds key {}, which is not entitled to sign this revocation event (entitled: {}); nothing was unlocked",
            short(&s, "a.key"),
            short(&s, "b.key")
        ),
    );
    // A current key is retired by rotating, not revoking.
    let out = run(
        &s,
        &[
            "ceremony",
            "revoke",
            "--identity",
            "org.example.kel",
            "--revoke",
            &kid(&s, "b.key").to_string(),
            "--reason",
            "compromised",
            "--since",
            "2026-01-01T00:00:00Z",
            "--key",
            "file:b.key",
        ],
    )
    .expect(2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: key event log {}: event #2 (revocation): key {} is current; retire current keys by rotating (reason `compromised` when they may be stolen)",
            short_id(&s, "org.example.kel"),
            short(&s, "b.key")
        )
    );
    run(
        &s,
        &[
            "ceremony",
            "revoke",
            "--identity",
            "org.example.kel",
            "--revoke",
            "file:a.key",
            "--reason",
            "compromised",
            "--since",
            "2026-01-01T00:00:00Z",
            "--key",
            "file:b.key",
        ],
    )
    .expect(0);
    let json = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "org.example.kel.2-revoke.transcript.json",
            "--identity",
            "org.example.kel",
        ])
        .expect(0)
        .json();
    assert_eq!(json["details"]["since"], "2026-01-01T00:00:00Z");
    assert_eq!(json["details"]["reason"], "compromised");
    assert_eq!(json["details"]["revoked"], kid(&s, "a.key").to_string());
}

// --- refusals ----------------------------------------------------------------------------------

#[test]
fn rotation_to_an_uncommitted_key_is_refused_before_unlocking() {
    let s = identity();
    keys(&s, &["thief.key", "c.key"]);
    // No passphrase source at all: the refusal must come before any prompt.
    let out = s
        .run([
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            "file:thief.key",
            "--next-key",
            "file:c.key",
            "--reason",
            "compromised",
        ])
        .expect(2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: rotation to key {} refused: it was not pre-committed. Event #0 of identity {} commits to {}; only those keys can become current. Nothing was unlocked.",
            short(&s, "thief.key"),
            short_id(&s, "org.example.kel"),
            short(&s, "b.key")
        )
    );
    refused(
        &s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            "file:thief.key",
            "--next-key",
            "file:c.key",
            "--reason",
            "compromised",
        ],
        &format!(
            "rotation to key {} refused: it was not pre-committed. Event #0 of identity {} commits to {}; only those keys can become current. Nothing was unlocked.",
            short(&s, "thief.key"),
            short_id(&s, "org.example.kel"),
            short(&s, "b.key")
        ),
    );
}

#[test]
fn rotation_signed_only_by_the_stolen_current_key_is_refused() {
    let s = identity();
    keys(&s, &["thief.key"]);
    // The thief holds a.key and knows b.key's public key; they prepare a rotation revealing
    // b.key, committing to their own next key, signed by the stolen a.key only.
    run(
        &s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--cosigner-key",
            "b.key.pub",
            "--current-key",
            "file:a.key",
            "--next-key",
            "file:thief.key",
            "--reason",
            "compromised",
            "--pending",
            "stolen.json",
        ],
    )
    .expect(0);
    refused(
        &s,
        &[
            "ceremony",
            "commit",
            "stolen.json",
            "--identity",
            "org.example.kel",
        ],
        &format!(
            "the rotation event is signed by 0 of the 1 entitled keys it needs; co-sign it with `hallmark ceremony cosign` on the machines that hold the others (entitled: {})",
            short(&s, "b.key")
        ),
    );
    // Spliced into the log file by hand, the log itself is refused by every command.
    let pending: Value = serde_json::from_str(&s.read("stolen.json")).unwrap();
    let mut all = events(&s, "org.example.kel");
    all.push(pending["event"].clone());
    set_events(&s, "org.example.kel", all);
    refused(
        &s,
        &[
            "ceremony",
            "revoke",
            "--identity",
            "org.example.kel",
            "--revoke",
            "a.key.pub",
            "--reason",
            "compromised",
            "--since",
            "2026-01-01T00:00:00Z",
            "--key",
            "file:b.key",
        ],
        &format!(
            "org.example.kel: key event log {}: event #1 (rotation): signed by 0 of the 1 authorised keys required; signatures by keys outside the authorised set ({}) do not count (entitled: the pre-committed next keys)",
            short_id(&s, "org.example.kel"),
            short(&s, "a.key")
        ),
    );
}

/// A log with three events: inception (a → b), rotation to b (→ c), rotation to c (→ d).
fn three_events() -> Scratch {
    let s = identity();
    keys(&s, &["c.key", "d.key", "e.key"]);
    rotate(&s, "b.key", "c.key").expect(0);
    rotate(&s, "c.key", "d.key").expect(0);
    s
}

fn rotate_d(_s: &Scratch) -> Vec<String> {
    [
        "ceremony",
        "rotate",
        "--identity",
        "org.example.kel",
        "--key",
        "file:d.key",
        "--next-key",
        "file:e.key",
        "--reason",
        "scheduled",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_replayed_old_rotation_is_refused() {
    let s = three_events();
    let mut all = events(&s, "org.example.kel");
    all.push(all[1].clone());
    set_events(&s, "org.example.kel", all);
    let args = rotate_d(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(
        &s,
        &args,
        &format!(
            "org.example.kel: key event log {}: event #3 (rotation): expected sequence 3, found 1: events are missing, repeated or out of order",
            short_id(&s, "org.example.kel")
        ),
    );
}

#[test]
fn events_out_of_order_are_refused() {
    let s = three_events();
    let mut all = events(&s, "org.example.kel");
    all.swap(1, 2);
    set_events(&s, "org.example.kel", all);
    let args = rotate_d(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(
        &s,
        &args,
        &format!(
            "org.example.kel: key event log {}: event #1 (rotation): expected sequence 1, found 2: events are missing, repeated or out of order",
            short_id(&s, "org.example.kel")
        ),
    );
}

#[test]
fn a_forked_log_is_refused() {
    // A pending rotation planned on the log, then another rotation committed at the same
    // position: committing the pending one would fork the log.
    let s = identity();
    keys(&s, &["c.key", "x.key"]);
    run(
        &s,
        &[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            "file:b.key",
            "--next-key",
            "file:x.key",
            "--reason",
            "scheduled",
            "--pending",
            "other.json",
        ],
    )
    .expect(0);
    rotate(&s, "b.key", "c.key").expect(0);
    let ours: Value = serde_json::from_str(&s.read("other.json")).unwrap();
    let payload = hallmark_keyring::encoding::base64_decode(
        "p",
        ours["event"]["payload"].as_str().unwrap(),
        1 << 20,
    )
    .unwrap();
    let ours_digest = hallmark_keyring::Sha256Digest::of(&payload).short();
    let theirs = events(&s, "org.example.kel")[1]["payload"].clone();
    let theirs =
        hallmark_keyring::encoding::base64_decode("p", theirs.as_str().unwrap(), 1 << 20).unwrap();
    let theirs_digest = hallmark_keyring::Sha256Digest::of(&theirs).short();
    refused(
        &s,
        &[
            "ceremony",
            "commit",
            "other.json",
            "--identity",
            "org.example.kel",
        ],
        &format!(
            "the log already has event {theirs_digest} at position #1; this pending event ({ours_digest}) was made for an older state of the log, and committing it would fork the log (two events at one position are equivocation). Plan the event again on the current log."
        ),
    );

    // A log file whose history was rewritten (event #2 chained to event #0) is refused.
    let s = three_events();
    let mut all = events(&s, "org.example.kel");
    all.remove(1);
    set_events(&s, "org.example.kel", all);
    let args = rotate_d(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&s, &args).expect(2);
    assert!(
        out.stderr.starts_with(&format!(
            "error: org.example.kel: key event log {}: event #1 (rotation): expected sequence 1, found 2",
            short_id(&s, "org.example.kel")
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_revocation_signed_by_the_wrong_keys_is_refused_in_the_log() {
    let s = identity();
    keys(&s, &["c.key"]);
    rotate(&s, "b.key", "c.key").expect(0);
    // Write a revocation as a pending event with no signature, sign it with the old key by
    // hand-editing is impossible through the CLI, so splice one signed by b (valid) and then
    // swap its signature for one by a, copied from the inception (a different payload).
    run(
        &s,
        &[
            "ceremony",
            "revoke",
            "--identity",
            "org.example.kel",
            "--revoke",
            "a.key.pub",
            "--reason",
            "retired",
            "--since",
            "2026-01-01T00:00:00Z",
            "--pending",
            "revoke.json",
        ],
    )
    .expect(0);
    let mut pending: Value = serde_json::from_str(&s.read("revoke.json")).unwrap();
    let inception_sig = events(&s, "org.example.kel")[0]["signatures"].clone();
    pending["event"]["signatures"] = inception_sig;
    let mut all = events(&s, "org.example.kel");
    all.push(pending["event"].clone());
    set_events(&s, "org.example.kel", all);
    refused(
        &s,
        &[
            "ceremony",
            "transfer",
            "--identity",
            "org.example.kel",
            "--to",
            "hid:0000000000000000000000000000000000000000000000000000000000000001",
            "--name",
            "org.example.tool",
            "--key",
            "file:b.key",
        ],
        &format!(
            "org.example.kel: key event log {}: event #2 (revocation): signed by 0 of the 1 authorised keys required; signatures by keys outside the authorised set ({}) do not count (entitled: the current keys)",
            short_id(&s, "org.example.kel"),
            short(&s, "a.key")
        ),
    );
}

#[test]
fn truncated_or_padded_events_are_refused() {
    let s = three_events();
    let original = s.read("org.example.kel");
    let args = rotate_d(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = short_id(&s, "org.example.kel");
    let all = events(&s, "org.example.kel");
    let payload = hallmark_keyring::encoding::base64_decode(
        "p",
        all[2]["payload"].as_str().unwrap(),
        1 << 20,
    )
    .unwrap();
    for (bad, detail) in [
        (
            payload[..payload.len() - 1].to_vec(),
            "key event is malformed: EOF while parsing an object at line 1 column ",
        ),
        (
            [payload.as_slice(), b" "].concat(),
            "key event is not in canonical form; signed payloads have exactly one encoding",
        ),
        (
            [payload.as_slice(), b"{}"].concat(),
            "key event is malformed: trailing characters at line 1 column ",
        ),
    ] {
        let mut tampered = all.clone();
        tampered[2]["payload"] = Value::String(hallmark_keyring::encoding::base64_encode(&bad));
        set_events(&s, "org.example.kel", tampered);
        let out = run(&s, &args).expect(2);
        assert!(
            out.stderr.starts_with(&format!(
                "error: org.example.kel: key event log {id}: event #2: {detail}"
            )),
            "{}",
            out.stderr
        );
    }
    // A truncated log file.
    s.write("org.example.kel", &original[..original.len() / 2]);
    let out = run(&s, &args).expect(2);
    assert!(
        out.stderr.starts_with(
            "error: org.example.kel is not a Hallmark key event log: key event log is malformed: EOF while parsing"
        ),
        "{}",
        out.stderr
    );
}

// --- transcripts ------------------------------------------------------------------------------

#[test]
fn tampered_transcripts_and_foreign_logs_are_refused() {
    let s = identity();
    let name = "org.example.kel.0-init.transcript.json";
    let text = s.read(name);
    let mut envelope: Value = serde_json::from_str(&text).unwrap();
    let payload = hallmark_keyring::encoding::base64_decode(
        "p",
        envelope["payload"].as_str().unwrap(),
        1 << 20,
    )
    .unwrap();
    let changed = String::from_utf8(payload)
        .unwrap()
        .replace("\"action\":\"init\"", "\"action\":\"rotate\"");
    envelope["payload"] = Value::String(hallmark_keyring::encoding::base64_encode(
        changed.as_bytes(),
    ));
    s.write("tampered.json", serde_json::to_vec(&envelope).unwrap());
    let out = s
        .run(["ceremony", "verify-transcript", "tampered.json"])
        .expect(2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: tampered.json: not every participant signed the transcript: the signature by key {} does not verify",
            short(&s, "a.key")
        )
    );
    // With --json: the error document, with the same text and exit code.
    let out = s
        .run(["--json", "ceremony", "verify-transcript", "tampered.json"])
        .expect(2);
    let json = out.json();
    assert_eq!(
        (&json["schema"], &json["exitCode"]),
        (&"hallmark.error/v1".into(), &2.into())
    );
    assert_eq!(
        json["error"]["message"],
        format!(
            "tampered.json: not every participant signed the transcript: the signature by key {} does not verify",
            short(&s, "a.key")
        )
    );
    assert!(
        out.stderr.starts_with("error: tampered.json: "),
        "{}",
        out.stderr
    );

    // Against another identity's log, the events are not there.
    keys(&s, &["o.key", "on.key"]);
    run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:o.key",
            "--next-key",
            "file:on.key",
            "--namespace",
            "org.other",
            "--out",
            "other.kel",
        ],
    )
    .expect(0);
    let out = s
        .run([
            "ceremony",
            "verify-transcript",
            name,
            "--identity",
            "other.kel",
        ])
        .expect(2);
    assert_eq!(
        out.stderr.trim().lines().last().unwrap(),
        format!(
            "error: {name}: the transcript is about identity {}, not {}",
            identity_id(&s, "org.example.kel"),
            identity_id(&s, "other.kel")
        )
    );
    // With --json: one document that says why it does not hold, and the same exit code.
    let out = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            name,
            "--identity",
            "other.kel",
        ])
        .expect(2);
    let json = out.json();
    assert_eq!(
        (&json["valid"], &json["exitCode"]),
        (&false.into(), &2.into())
    );
    assert_eq!(
        json["problems"][0],
        format!(
            "the transcript is about identity {}, not {}",
            identity_id(&s, "org.example.kel"),
            identity_id(&s, "other.kel")
        )
    );
    assert!(
        out.stderr.starts_with(&format!("error: {name}: ")),
        "{}",
        out.stderr
    );
}

// --- custodian backup ---------------------------------------------------------------------------

/// Three custodians' age identities: `custodianN.txt`, returning their recipients.
fn custodians(s: &Scratch) -> Vec<String> {
    (1..=3)
        .map(|n| {
            let identity = age::x25519::Identity::generate();
            s.write(
                &format!("custodian{n}.txt"),
                format!("{}\n", identity.to_string().expose_secret()),
            );
            identity.to_public().to_string()
        })
        .collect()
}

fn backup(s: &Scratch, key: &str, out: &str, recipients: &[String]) -> Run {
    let mut args = vec![
        "ceremony".to_owned(),
        "backup".to_owned(),
        "--key".to_owned(),
        format!("file:{key}"),
        "--shares".to_owned(),
        "3".to_owned(),
        "--threshold".to_owned(),
        "2".to_owned(),
        "--identity".to_owned(),
        "org.example.kel".to_owned(),
        "--out".to_owned(),
        out.to_owned(),
    ];
    for r in recipients {
        args.push("--recipient".to_owned());
        args.push(r.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(s, &args)
}

fn restore(s: &Scratch, shares: &[&str], out: &str) -> Run {
    let mut args = vec!["ceremony", "restore", "--identity", "org.example.kel"];
    for share in shares {
        args.extend(["--share", share]);
    }
    for n in ["custodian1.txt", "custodian2.txt", "custodian3.txt"] {
        args.extend(["--age-identity", n]);
    }
    args.extend([
        "--out",
        out,
        "--passphrase-file",
        "pw",
        "--work-factor",
        TEST_WORK_FACTOR,
    ]);
    s.run(args)
}

#[test]
fn backup_restore_rotate_with_the_restored_key() {
    let s = identity();
    let recipients = custodians(&s);
    let out = backup(&s, "b.key", "shares", &recipients).expect(0);
    assert!(
        out.stdout.contains(" of key ") && out.stdout.contains(": 2 of 3 shares rebuild it"),
        "{}",
        out.stdout
    );
    assert_eq!(
        files(&s.join("shares")),
        [
            "backup.transcript.json",
            "share-1-of-3.age",
            "share-2-of-3.age",
            "share-3-of-3.age"
        ]
    );
    assert!(
        s.read("shares/share-1-of-3.age")
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    // The next key is lost.
    std::fs::remove_file(s.join("b.key")).unwrap();
    std::fs::remove_file(s.join("b.key.pub")).unwrap();

    restore(
        &s,
        &["shares/share-3-of-3.age", "shares/share-1-of-3.age"],
        "file:restored.key",
    )
    .expect(0);
    assert_eq!(kid(&s, "restored.key"), {
        let kel = events(&s, "org.example.kel");
        assert_eq!(kel.len(), 1);
        kid(&s, "restored.key")
    });
    let json = s
        .run([
            "--json",
            "ceremony",
            "verify-transcript",
            "restored.key.restore.transcript.json",
        ])
        .expect(0)
        .json();
    assert_eq!(json["action"], "restore");
    assert_eq!(json["participants"][0]["role"], "restored");

    // The same, as JSON documents: a second backup, and a restore from it.
    let mut args = vec![
        "--json",
        "ceremony",
        "backup",
        "--key",
        "file:restored.key",
        "--shares",
        "2",
        "--threshold",
        "2",
        "--identity",
        "org.example.kel",
        "--out",
        "shares2",
        "--passphrase-file",
        "pw",
    ];
    for r in &recipients[..2] {
        args.extend(["--recipient", r]);
    }
    let made = s.run(args).expect(0).json();
    assert_eq!(made["threshold"], 2);
    assert_eq!(made["keyId"], kid(&s, "restored.key").to_string());
    let shares: Vec<String> = made["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|share| share["file"].as_str().unwrap().to_owned())
        .collect();
    let mut args = vec![
        "--json",
        "ceremony",
        "restore",
        "--identity",
        "org.example.kel",
    ];
    for share in &shares {
        args.extend(["--share", share]);
    }
    for n in ["custodian1.txt", "custodian2.txt"] {
        args.extend(["--age-identity", n]);
    }
    args.extend([
        "--out",
        "file:restored2.key",
        "--passphrase-file",
        "pw",
        "--work-factor",
        TEST_WORK_FACTOR,
    ]);
    let restored = s.run(args).expect(0).json();
    assert_eq!(
        (&restored["keyId"], &restored["file"]),
        (&made["keyId"], &"restored2.key".into())
    );
    keys(&s, &["c.key"]);
    rotate(&s, "restored.key", "c.key").expect(0);
    s.write("tool.tar", b"y");
    sign(&s, "restored.key", "org.example.kel", "org.example.tool").expect(0);
}

#[test]
fn backup_refusals() {
    let s = identity();
    let recipients = custodians(&s);
    backup(&s, "b.key", "one", &recipients).expect(0);
    backup(&s, "b.key", "two", &recipients).expect(0);

    // Fewer shares than the threshold.
    let out = restore(&s, &["one/share-1-of-3.age"], "file:r1.key").expect(2);
    assert!(
        out.stderr
            .starts_with("error: 1 share(s) given, but backup ")
            && out.stderr.trim_end().ends_with("needs 2 of its 3"),
        "{}",
        out.stderr
    );
    // The same share twice.
    let out = restore(
        &s,
        &["one/share-2-of-3.age", "one/share-2-of-3.age"],
        "file:r1.key",
    )
    .expect(2);
    assert_eq!(
        out.stderr.trim(),
        "error: one/share-2-of-3.age is share 2 again (already given as one/share-2-of-3.age); give 2 different shares"
    );
    // A share from another backup of the same key.
    let out = restore(
        &s,
        &["one/share-1-of-3.age", "two/share-2-of-3.age"],
        "file:r1.key",
    )
    .expect(2);
    assert!(
        out.stderr
            .starts_with("error: share two/share-2-of-3.age belongs to backup ")
            && out
                .stderr
                .contains("like one/share-1-of-3.age: shares of different backups never combine"),
        "{}",
        out.stderr
    );
    // A tampered share: decrypted, altered, re-encrypted to its custodian (age does not
    // authenticate the sender). The share's signature catches it and names it.
    let identity: age::x25519::Identity = s.read("custodian2.txt").trim().parse().unwrap();
    let armored = std::fs::read(s.join("one/share-2-of-3.age")).unwrap();
    let plain = age::decrypt(&identity, &armored).unwrap();
    let text = String::from_utf8(plain).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let value = doc["value"].as_str().unwrap().to_owned();
    let mut bytes = hallmark_keyring::encoding::base64_decode("v", &value, 64).unwrap();
    bytes[0] ^= 1;
    // Keep the document canonical (same field order): only the share value changes.
    let forged = text
        .replace(&value, &hallmark_keyring::encoding::base64_encode(&bytes))
        .into_bytes();
    let recipient = identity.to_public();
    let encrypted = age::encrypt_and_armor(&recipient, &forged).unwrap();
    s.write("forged.age", encrypted);
    let out = restore(&s, &["one/share-1-of-3.age", "forged.age"], "file:r1.key").expect(2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: share forged.age (index 2) was altered or forged: its signature by key {} does not verify; ask its custodian for an intact copy",
            short(&s, "b.key")
        )
    );
    // A share file damaged in transit fails age's authentication.
    let mut damaged = armored.clone();
    let mid = damaged.len() / 2;
    damaged[mid] = if damaged[mid] == b'A' { b'B' } else { b'A' };
    s.write("damaged.age", damaged);
    let out = restore(&s, &["one/share-1-of-3.age", "damaged.age"], "file:r1.key").expect(2);
    assert!(
        out.stderr
            .starts_with("error: cannot decrypt share damaged.age:"),
        "{}",
        out.stderr
    );
    assert!(!s.join("r1.key").exists() && !s.join("r1.key.pub").exists());

    // A key the identity does not commit to is not backed up.
    keys(&s, &["stray.key"]);
    let out = backup(&s, "stray.key", "three", &recipients).expect(2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: key {} is neither committed as a next key nor a current key of identity {}: refusing to back it up; nothing was unlocked",
            short(&s, "stray.key"),
            short_id(&s, "org.example.kel")
        )
    );
    assert!(!s.join("three").exists());
}

/// A co-signer sees what they are about to sign before any passphrase or PIN is asked for: a
/// wrong passphrase comes after the event is shown.
#[test]
fn cosign_shows_the_event_before_unlocking() {
    let s = scratch();
    keys(&s, &["k1.key", "k2.key", "n1.key"]);
    let init = run(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:k1.key",
            "--cosigner-key",
            "k2.key.pub",
            "--threshold",
            "2",
            "--next-key",
            "file:n1.key",
            "--namespace",
            "org.example",
            "--pending",
            "p0.json",
        ],
    )
    .expect(0);
    let identity = init
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("identity "))
        .unwrap()
        .to_owned();
    s.write("wrong-pw", "not the passphrase\n");
    let out = s
        .run([
            "ceremony",
            "cosign",
            "p0.json",
            "--key",
            "file:k2.key",
            "--passphrase-file",
            "wrong-pw",
        ])
        .expect(2);
    let digest = identity.strip_prefix("hid:").unwrap();
    assert!(
        out.stderr.starts_with(&format!(
            "co-signing event #0 (inception) of identity {identity}: sha256:{digest}\nerror: "
        )),
        "{}",
        out.stderr
    );
}
