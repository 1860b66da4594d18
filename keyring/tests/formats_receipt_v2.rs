//! The worked receipt version 2 of `docs/formats.md`, rebuilt from fixed keys and times: a
//! registry log of three lines (the registry's inception, a publisher's inception, a publish),
//! its checkpoint, the inclusion proof of the publish and the signed receipt. The document
//! must show exactly these values, and the receipt must verify (and fail when its proof is
//! for another tree).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::encoding::{base64_encode, hex_encode};
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::hashlog::{Head, LogLine};
use hallmark_keyring::kel::{EventKind, Kel, KeyEvent};
use hallmark_keyring::receipt::{Receipt, ReceiptError, SubjectType, TlogProof, verify_receipt};
use hallmark_keyring::registry::RegistryRecord;
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::tlog::merkle::{inclusion_proof, leaf_hash};
use hallmark_keyring::tlog::{Checkpoint, MemoryTree, Tree};
use hallmark_keyring::{PublicKey, Sha256Digest, Statement, Timestamp};

const ORIGIN: &str = "registry.example/main";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn time(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

fn inception(seed: u8, next: u8, namespace: &str) -> (Envelope, Kel) {
    let mut event = KeyEvent::new(EventKind::Inception, 0, time(0));
    event.keys = Some(vec![PublicKey::new(key(seed).verifying_key())]);
    event.threshold = Some(1);
    event.next = Some(vec![PublicKey::new(key(next).verifying_key()).key_id()]);
    event.next_threshold = Some(1);
    event.namespaces = Some(vec![namespace.parse().unwrap()]);
    let mut envelope = event.to_envelope().unwrap();
    envelope.sign(&key(seed)).unwrap();
    let kel = Kel::verify(std::slice::from_ref(&envelope)).unwrap();
    (envelope, kel)
}

struct Worked {
    registry: Kel,
    statement: Sha256Digest,
    receipt: Envelope,
    text: String,
}

fn worked() -> Worked {
    let (reg_event, registry) = inception(0x52, 0x53, "local.registry");
    let (pub_event, publisher) = inception(0x50, 0x51, "org.example");
    let bytes = b"tool 1.0.0\n";
    let statement = Statement {
        name: "org.example.tool".parse().unwrap(),
        version: "1.0.0".parse().unwrap(),
        digest: ContentDigest::File(*Sha256Digest::of(bytes).as_bytes()),
        signer: SignerRef::identity(publisher.identity(), 0, pub_event.payload_digest()),
        created: time(10),
    };
    let mut statement_env = statement.to_envelope().unwrap();
    statement_env.sign(&key(0x50)).unwrap();
    let records = [
        (
            RegistryRecord::KeyEvent {
                identity: registry.identity(),
                sequence: 0,
                event: reg_event.payload_digest(),
            },
            reg_event.clone(),
        ),
        (
            RegistryRecord::KeyEvent {
                identity: publisher.identity(),
                sequence: 0,
                event: pub_event.payload_digest(),
            },
            pub_event.clone(),
        ),
        (
            RegistryRecord::Publish {
                identity: publisher.identity(),
                name: statement.name.clone(),
                version: statement.version.clone(),
                content: statement.digest,
                statement: statement_env.payload_digest(),
                sequence: 0,
                override_reason: None,
            },
            statement_env.clone(),
        ),
    ];
    let mut head = Head::default();
    let mut lines = Vec::new();
    for (i, (record, attached)) in records.into_iter().enumerate() {
        let entry = head.next_entry(time(20 + i as u64), record);
        head.advance(&entry);
        let mut envelope = entry.to_envelope().unwrap();
        envelope.sign(&key(0x52)).unwrap();
        lines.push(LogLine {
            entry: envelope,
            attached: vec![attached],
        });
    }
    let mut tree = MemoryTree::new();
    for line in &lines {
        tree.push(&line.to_json());
    }
    let root = tree.root(3).unwrap();
    let checkpoint = Checkpoint::new(ORIGIN, Tree { size: 3, root }).unwrap();
    let note = String::from_utf8(checkpoint.sign(&key(0x52)).unwrap().to_bytes()).unwrap();
    let proof = inclusion_proof(&mut tree, 2, 3).unwrap();
    let inclusion: Vec<String> = proof.iter().map(|h| base64_encode(h)).collect();
    let receipt = Receipt {
        registry: registry.identity(),
        registry_sequence: 0,
        subject: statement_env.payload_digest(),
        subject_type: SubjectType::Statement,
        identity: publisher.identity(),
        log_index: 2,
        log_entry: lines[2].entry.payload_digest(),
        time: time(22),
        tlog: Some(TlogProof {
            checkpoint: note.clone(),
            inclusion: inclusion.clone(),
            line: lines[2].clone(),
        }),
    };
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&key(0x52)).unwrap();
    let text = format!(
        "checkpoint (signed by the registry key of seed 0x52…52):\n{note}\
         leaf 2 of 3: SHA-256(0x00 || line 2) = {}\n\
         inclusion: {}\n\
         receipt payload: {} bytes, SHA-256 {}\n",
        hex_encode(&leaf_hash(&lines[2].to_json())),
        serde_json::to_string(&inclusion).unwrap(),
        receipt.to_payload().len(),
        Sha256Digest::of(&receipt.to_payload()),
    );
    // Keep the bundle API honest: the receipt travels in a bundle.
    let mut bundle = Bundle::new(statement_env);
    bundle.receipts.push(envelope.clone());
    Worked {
        registry,
        statement: bundle.statement.payload_digest(),
        receipt: envelope,
        text,
    }
}

#[test]
fn the_worked_receipt_v2_is_in_the_docs_and_verifies() {
    let w = worked();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/formats.md"),
    )
    .unwrap();
    assert!(
        doc.contains(&w.text),
        "docs/formats.md must show the worked receipt v2 exactly:\n{}",
        w.text
    );
    let receipt = verify_receipt(&w.receipt, &w.registry, &w.statement).unwrap();
    assert_eq!(receipt.version(), 2);
}

#[test]
fn the_worked_receipt_with_a_proof_for_another_tree_is_refused() {
    let w = worked();
    let mut receipt = Receipt::from_envelope(&w.receipt).unwrap();
    // The same proof against a checkpoint of a larger tree, signed by the registry key.
    let proof = receipt.tlog.as_mut().unwrap();
    let other = Checkpoint::new(
        ORIGIN,
        Tree {
            size: 4,
            root: [7; 32],
        },
    )
    .unwrap();
    proof.checkpoint = String::from_utf8(other.sign(&key(0x52)).unwrap().to_bytes()).unwrap();
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&key(0x52)).unwrap();
    assert_eq!(
        verify_receipt(&envelope, &w.registry, &w.statement).unwrap_err(),
        ReceiptError::Inclusion(
            "the proof has 1 hashes; one for these tree sizes has 2".to_owned()
        )
    );
    // Signed by a key the registry never had.
    let mut receipt = Receipt::from_envelope(&w.receipt).unwrap();
    let cp = Checkpoint::parse_body(
        hallmark_keyring::tlog::Note::parse(receipt.tlog.as_ref().unwrap().checkpoint.as_bytes())
            .unwrap()
            .text(),
    )
    .unwrap();
    receipt.tlog.as_mut().unwrap().checkpoint =
        String::from_utf8(cp.sign(&key(0x99)).unwrap().to_bytes()).unwrap();
    let mut envelope = receipt.to_envelope().unwrap();
    envelope.sign(&key(0x52)).unwrap();
    assert_eq!(
        verify_receipt(&envelope, &w.registry, &w.statement).unwrap_err(),
        ReceiptError::Checkpoint(format!(
            "the note carries no signature by a known key (expected one by {ORIGIN})"
        ))
    );
}
