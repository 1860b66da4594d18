//! The transparency-log section of `docs/formats.md`: its worked examples are computed here
//! from fixed inputs and compared with the document byte for byte, and the documented
//! checkpoint, proofs and cosignature verify.
//!
//! A worked example is a fenced block preceded by `<!-- vector: NAME -->`; when one is missing
//! or differs, the failure prints the block as it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::PublicKey;
use hallmark_keyring::encoding::{base64_encode, hex_encode};
use hallmark_keyring::tlog::merkle::{self, MemoryTree};
use hallmark_keyring::tlog::tile::{TileId, TileKind, encode_entry_bundle};
use hallmark_keyring::tlog::{Checkpoint, KeyType, Tree, VerifierKey, cosignature};

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

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

fn witness_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

fn log_vkey() -> VerifierKey {
    VerifierKey::new(
        ORIGIN,
        KeyType::Ed25519,
        PublicKey::new(log_key().verifying_key()),
    )
    .unwrap()
}

fn witness_vkey() -> VerifierKey {
    VerifierKey::new(
        WITNESS,
        KeyType::Cosignature,
        PublicKey::new(witness_key().verifying_key()),
    )
    .unwrap()
}

fn lines<T: AsRef<[u8]>>(hashes: &[T]) -> String {
    hashes
        .iter()
        .map(|h| base64_encode(h.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn vectors() -> Vec<(&'static str, String)> {
    let mut mem = MemoryTree::new();
    ENTRIES.iter().for_each(|e| mem.push(e));
    let tree = Tree {
        size: 3,
        root: mem.root(3).unwrap(),
    };
    let empty = Checkpoint::new(ORIGIN, Tree::EMPTY).unwrap();
    let cp = Checkpoint::new(ORIGIN, tree).unwrap();
    let mut note = cp.sign(&log_key()).unwrap();
    note.push_signature(cosignature::cosign(&cp, WITNESS, TIME, &witness_key()).unwrap())
        .unwrap();
    let leaves: Vec<String> = ENTRIES
        .iter()
        .map(|e| hex_encode(&merkle::leaf_hash(e)))
        .collect();
    let tile: Vec<u8> = ENTRIES.iter().flat_map(|e| merkle::leaf_hash(e)).collect();
    let path = |kind, width| {
        TileId {
            kind,
            index: 1_234_067,
            width,
        }
        .path()
    };
    vec![
        ("tlog-log-vkey", log_vkey().to_string()),
        ("tlog-witness-vkey", witness_vkey().to_string()),
        (
            "tlog-checkpoint-empty",
            String::from_utf8(empty.sign(&log_key()).unwrap().to_bytes())
                .unwrap()
                .trim_end()
                .to_owned(),
        ),
        ("tlog-leaf-hashes", leaves.join("\n")),
        ("tlog-root", hex_encode(&tree.root)),
        (
            "tlog-checkpoint",
            String::from_utf8(note.to_bytes())
                .unwrap()
                .trim_end()
                .to_owned(),
        ),
        (
            "tlog-cosigned-message",
            String::from_utf8(cosignature::message(TIME, cp.body().as_bytes()))
                .unwrap()
                .trim_end()
                .to_owned(),
        ),
        (
            "tlog-entry-bundle",
            hex_encode(&encode_entry_bundle(&ENTRIES).unwrap()),
        ),
        ("tlog-hash-tile", hex_encode(&tile)),
        (
            "tlog-inclusion-proof",
            lines(&merkle::inclusion_proof(&mut mem, 1, 3).unwrap()),
        ),
        (
            "tlog-consistency-proof",
            lines(&merkle::consistency_proof(&mut mem, 2, 3).unwrap()),
        ),
        (
            "tlog-tile-paths",
            [
                path(TileKind::Hashes(0), 256),
                path(TileKind::Hashes(0), 8),
                path(TileKind::Hashes(2), 256),
                path(TileKind::Entries, 256),
                path(TileKind::Entries, 8),
            ]
            .join("\n"),
        ),
    ]
}

#[test]
fn transparency_log_examples_match_the_document() {
    let doc = doc();
    let mut wrong = Vec::new();
    for (name, value) in vectors() {
        if doc_vector(&doc, name) != Some(value.as_str()) {
            wrong.push(format!("<!-- vector: {name} -->\n```\n{value}\n```"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/formats.md differs from the code; expected blocks:\n\n{}",
        wrong.join("\n\n")
    );
}

#[test]
fn the_documented_checkpoint_proofs_and_cosignature_verify() {
    let doc = doc();
    let get = |name| doc_vector(&doc, name).unwrap();
    let log: VerifierKey = get("tlog-log-vkey").parse().unwrap();
    let witness: VerifierKey = get("tlog-witness-vkey").parse().unwrap();
    let signed =
        Checkpoint::open(format!("{}\n", get("tlog-checkpoint")).as_bytes(), &log).unwrap();
    let tree = signed.checkpoint.tree;
    assert_eq!(tree.size, 3);
    let cosigned = signed.cosignatures(&[witness]).unwrap();
    assert_eq!(cosigned[0].timestamp, Some(TIME));

    let decode = |name| -> Vec<[u8; 32]> {
        get(name)
            .lines()
            .map(|l| hallmark_keyring::encoding::base64_decode_array::<32>("hash", l).unwrap())
            .collect()
    };
    merkle::verify_inclusion(
        &merkle::leaf_hash(ENTRIES[1]),
        1,
        3,
        &decode("tlog-inclusion-proof"),
        &tree.root,
    )
    .unwrap();
    let old_root = merkle::root_of(&[merkle::leaf_hash(ENTRIES[0]), merkle::leaf_hash(ENTRIES[1])]);
    merkle::verify_consistency(
        2,
        3,
        &decode("tlog-consistency-proof"),
        &old_root,
        &tree.root,
    )
    .unwrap();
    Checkpoint::open(
        format!("{}\n", get("tlog-checkpoint-empty")).as_bytes(),
        &log,
    )
    .unwrap();
}
