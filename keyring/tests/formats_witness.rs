//! The witness section of `docs/formats.md`: the `add-checkpoint` request a log sends for the
//! three-entry log of the transparency-log section, and the witness's answers, computed here
//! by a real witness and compared with the document byte for byte. The cosignature it answers
//! with is the one of the cosigned checkpoint documented there (`tlog-checkpoint`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::PublicKey;
use hallmark_keyring::tlog::merkle::{self, MemoryTree};
use hallmark_keyring::tlog::witness::{AddCheckpoint, Witness};
use hallmark_keyring::tlog::{Checkpoint, KeyType, Tree, VerifierKey};

const ORIGIN: &str = "example.org/hallmark-log";
const WITNESS: &str = "witness.example/w1";
const TIME: u64 = 1_765_000_000;
const ENTRIES: [&[u8]; 3] = [b"hallmark entry 0\n", b"", b"hallmark entry 2\n"];

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md")).unwrap()
}

fn doc_vector<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("<!-- vector: {name} -->\n");
    let start = doc.find(&marker)? + marker.len();
    let rest = &doc[start..];
    let body = &rest[rest.find('\n')? + 1..];
    Some(&body[..body.find("\n```")?])
}

fn check(doc: &str, name: &str, actual: &str) {
    let shown = doc_vector(doc, name);
    assert_eq!(
        shown,
        Some(actual.trim_end_matches('\n')),
        "docs/formats.md vector {name} should be:\n<!-- vector: {name} -->\n```\n{}\n```",
        actual.trim_end_matches('\n')
    );
}

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

fn request(tree: &mut MemoryTree, old: u64, size: u64) -> AddCheckpoint {
    let checkpoint = Checkpoint::new(
        ORIGIN,
        Tree {
            size,
            root: tree.root(size).unwrap(),
        },
    )
    .unwrap();
    AddCheckpoint {
        old,
        proof: merkle::consistency_proof(tree, old, size).unwrap(),
        note: checkpoint.sign(&log_key()).unwrap(),
        checkpoint,
    }
}

#[test]
fn the_documented_witness_exchange_is_what_a_witness_does() {
    let doc = doc();
    let mut tree = MemoryTree::new();
    ENTRIES.iter().for_each(|e| tree.push(e));
    let dir = tempfile::tempdir().unwrap();
    let log = VerifierKey::new(
        ORIGIN,
        KeyType::Ed25519,
        PublicKey::new(log_key().verifying_key()),
    )
    .unwrap();
    let witness = Witness::open(
        WITNESS,
        Box::new(SigningKey::from_bytes(&[0x42; 32])),
        &[log],
        dir.path(),
    )
    .unwrap();
    // The witness last cosigned the one-entry tree.
    witness
        .add_checkpoint_at(&request(&mut tree, 0, 1).to_bytes(), TIME - 60)
        .unwrap();
    let body = request(&mut tree, 1, 3).to_bytes();
    check(
        &doc,
        "witness-request",
        &String::from_utf8(body.clone()).unwrap(),
    );
    // A client that believes the witness is at 0: 409 with the size it is at.
    let stale = witness
        .add_checkpoint_at(&request(&mut tree, 0, 3).to_bytes(), TIME)
        .unwrap_err();
    check(
        &doc,
        "witness-conflict",
        &format!("{}\n", stale.conflict_size().unwrap()),
    );
    let answer = witness.add_checkpoint_at(&body, TIME).unwrap();
    check(&doc, "witness-response", &answer.lines);
    // The answer is the cosignature line of the documented cosigned checkpoint.
    let cosigned = doc_vector(&doc, "tlog-checkpoint").unwrap();
    assert!(cosigned.ends_with(answer.lines.trim_end()), "{cosigned}");
}
