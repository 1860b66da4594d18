//! The worked examples in docs/formats.md are computed here from fixed inputs and compared with
//! the document byte for byte, so the specification cannot drift from the code.
//!
//! A worked example in the document is a fenced block preceded by `<!-- vector: NAME -->`.
//! When a block is missing or differs, the failure message prints the block as it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::canonical;
use hallmark_keyring::encoding::hex_encode;
use hallmark_keyring::envelope::signing_input;
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::trust::AuditRecord;
use hallmark_keyring::{
    Bundle, ContentDigest, PayloadType, PublicKey, Sha256Digest, Statement, Timestamp,
};
use sha2::{Digest, Sha256};

/// Extracts the block named `name` from the document.
fn doc_vector<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("<!-- vector: {name} -->\n");
    let start = doc.find(&marker)? + marker.len();
    let rest = &doc[start..];
    let fence_end = rest.find('\n')? + 1;
    let body = &rest[fence_end..];
    let end = body.find("\n```")?;
    Some(&body[..end])
}

fn vectors() -> Vec<(&'static str, String)> {
    // RFC 8032 §7.1 TEST 1.
    let seed: [u8; 32] = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let key = SigningKey::from_bytes(&seed);
    let public = PublicKey::new(key.verifying_key());

    let artifact = b"hello, world\n";
    let statement = Statement {
        name: "org.example.hello".parse().unwrap(),
        version: "1.0.0".parse().unwrap(),
        digest: ContentDigest::File(Sha256::digest(artifact).into()),
        signer: SignerRef::key(public),
        created: "2026-11-23T12:00:00Z".parse::<Timestamp>().unwrap(),
    };
    let payload = statement.to_payload();
    let input = signing_input(PayloadType::Statement, &payload);
    let mut envelope = statement.to_envelope().unwrap();
    envelope.sign(&key).unwrap();
    let bundle = Bundle::new(envelope.clone());
    let bundle_json = String::from_utf8(bundle.to_json()).unwrap();

    vec![
        ("example-secret-key", hex_encode(&seed)),
        ("example-public-key", public.to_string()),
        ("example-key-id", public.key_id().to_string()),
        ("example-artifact-digest", statement.digest.to_string()),
        (
            "example-statement-payload",
            String::from_utf8(payload.clone()).unwrap(),
        ),
        (
            "example-payload-sha256",
            hex_encode(&Sha256::digest(&payload)),
        ),
        ("example-signing-input", hex_encode(&input)),
        (
            "example-signature",
            hallmark_keyring::encoding::base64_encode(&envelope.signatures()[0].sig),
        ),
        ("example-bundle", bundle_json.trim_end().to_owned()),
        (
            "example-audit-checkpoint",
            String::from_utf8(canonical::to_vec(&audit_checkpoint())).unwrap(),
        ),
        (
            "example-audit-checkpoint-refused",
            String::from_utf8(canonical::to_vec(&audit_checkpoint_refused())).unwrap(),
        ),
    ]
}

/// The evidence files of the equivocation example (checkpoint bodies, their signature lines
/// left out): the held one, then the offered one.
const HELD_NOTE: &str = "registry.example/main\n4\nERERERERERERERERERERERERERERERERERERERERERE=\n";
const OFFERED_NOTE: &str =
    "registry.example/main\n4\nIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\n";

fn audit_checkpoint() -> AuditRecord {
    AuditRecord::Checkpoint {
        registry: "main".to_owned(),
        origin: "registry.example/main".to_owned(),
        from: 3,
        to: 4,
        root: hallmark_keyring::encoding::base64_encode(&[0x11; 32]),
        consistent: true,
    }
}

fn audit_checkpoint_refused() -> AuditRecord {
    AuditRecord::CheckpointRefused {
        registry: "main".to_owned(),
        reason: "equivocation".to_owned(),
        detail: "a checkpoint of 4 entries not consistent with the one of 4 entries held: the same size with another root hash".to_owned(),
        evidence: vec![
            Sha256Digest::of(HELD_NOTE.as_bytes()),
            Sha256Digest::of(OFFERED_NOTE.as_bytes()),
        ],
    }
}

fn hex<const N: usize>(text: &str) -> [u8; N] {
    hallmark_keyring::encoding::hex_decode_array::<N>("test", text).unwrap()
}

#[test]
fn worked_examples_match_the_document() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md");
    let doc = std::fs::read_to_string(path).unwrap();
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
fn the_documented_audit_records_read_back() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md"))
        .unwrap();
    for (name, record) in [
        ("example-audit-checkpoint", audit_checkpoint()),
        (
            "example-audit-checkpoint-refused",
            audit_checkpoint_refused(),
        ),
    ] {
        let text = doc_vector(&doc, name).unwrap();
        let read: AuditRecord = canonical::from_slice("audit record", text.as_bytes(), 4096)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read, record, "{name}");
    }
}

#[test]
fn the_documented_bundle_verifies() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md"))
        .unwrap();
    let bundle = Bundle::from_json(doc_vector(&doc, "example-bundle").unwrap().as_bytes()).unwrap();
    let key: PublicKey = doc_vector(&doc, "example-public-key")
        .unwrap()
        .parse()
        .unwrap();
    let digest = ContentDigest::File(Sha256::digest(b"hello, world\n").into());
    let decision = hallmark_keyring::verify::verify_with_keys(&bundle, &[key], &digest).unwrap();
    assert_eq!(
        decision.verdict,
        hallmark_keyring::Verdict::Trusted,
        "{decision}"
    );
}
