//! The worked key event log examples in `docs/formats.md`, checked byte for byte.
//!
//! Every block in the document preceded by `<!-- check: NAME -->` must equal, exactly, what
//! this test computes for NAME from fixed seeds and fixed times (Ed25519 signatures are
//! deterministic), and every NAME computed here must appear in the document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use hallmark_keyring::encoding::hex_encode;
use hallmark_keyring::envelope::signing_input;
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent, Reason};
use hallmark_keyring::{IdentityId, PayloadType, PublicKey, Timestamp};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(seed: u8) -> PublicKey {
    PublicKey::new(key(seed).verifying_key())
}

/// The example: key A (seed 0x01 × 32) incepts `org.example` committing to key B (seed 0x02),
/// then B rotates in, committing to key C (seed 0x03).
fn computed() -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (name, seed) in [("a", 1u8), ("b", 2), ("c", 3)] {
        let k = public(seed);
        out.insert(
            match name {
                "a" => "key-a",
                "b" => "key-b",
                _ => "key-c",
            },
            format!("public key: {k}\nkey id:     {}", k.key_id()),
        );
    }

    let mut inception = KeyEvent::new(
        EventKind::Inception,
        0,
        "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
    );
    inception.keys = Some(vec![public(1)]);
    inception.threshold = Some(1);
    inception.next = Some(vec![public(2).key_id()]);
    inception.next_threshold = Some(1);
    inception.namespaces = Some(vec!["org.example".parse().unwrap()]);
    let payload = inception.to_payload();
    out.insert(
        "inception-payload",
        String::from_utf8(payload.clone()).unwrap(),
    );
    let digest = inception.digest();
    let identity = IdentityId::from_inception(&digest);
    out.insert(
        "inception-digest",
        format!("digest:   {digest}\nidentity: {identity}"),
    );
    let input = signing_input(PayloadType::KeyEvent, &payload);
    out.insert("inception-signing-input", hex_encode(&input));
    let mut env0 = inception.to_envelope().unwrap();
    env0.sign(&key(1)).unwrap();
    out.insert(
        "inception-envelope",
        String::from_utf8(env0.to_json()).unwrap(),
    );

    let mut rotation = KeyEvent::new(
        EventKind::Rotation,
        1,
        "2026-06-01T12:00:00Z".parse::<Timestamp>().unwrap(),
    );
    rotation.identity = Some(identity);
    rotation.previous = Some(digest);
    rotation.keys = Some(vec![public(2)]);
    rotation.threshold = Some(1);
    rotation.next = Some(vec![public(3).key_id()]);
    rotation.next_threshold = Some(1);
    rotation.reason = Some(Reason::Scheduled);
    let payload = rotation.to_payload();
    out.insert(
        "rotation-payload",
        String::from_utf8(payload.clone()).unwrap(),
    );
    out.insert("rotation-digest", format!("digest: {}", rotation.digest()));
    let mut env1 = rotation.to_envelope().unwrap();
    env1.sign(&key(2)).unwrap();
    out.insert(
        "rotation-envelope",
        String::from_utf8(env1.to_json()).unwrap(),
    );

    let kel = Kel::verify(&[env0, env1]).unwrap();
    assert_eq!(kel.identity(), identity);
    let file = KelFile::from_kel(&kel).to_json();
    out.insert(
        "kel-file",
        String::from_utf8(file).unwrap().trim_end().to_owned(),
    );
    out
}

/// The blocks of the document marked `<!-- check: NAME -->`.
fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("<!-- check: ") {
        rest = &rest[at + "<!-- check: ".len()..];
        let end = rest.find(" -->").unwrap();
        let name = rest[..end].to_owned();
        let open = rest.find("```").unwrap();
        let body_start = open + rest[open..].find('\n').unwrap() + 1;
        let body_len = rest[body_start..].find("\n```").unwrap();
        let body = rest[body_start..body_start + body_len].to_owned();
        assert!(blocks.insert(name.clone(), body).is_none(), "{name} twice");
        rest = &rest[body_start + body_len..];
    }
    blocks
}

#[test]
fn worked_examples_in_formats_md_are_exact() {
    let computed = computed();
    let documented = documented();
    let mut wrong = Vec::new();
    for (name, value) in &computed {
        match documented.get(*name) {
            Some(doc) if doc == value => {}
            Some(doc) => wrong.push(format!(
                "block {name} differs:\n--- documented\n{doc}\n--- computed\n{value}\n"
            )),
            None => wrong.push(format!("block {name} is missing:\n{value}\n")),
        }
    }
    for name in documented.keys() {
        if name.starts_with("key-")
            || name.starts_with("inception")
            || name.starts_with("rotation")
            || name == "kel-file"
        {
            assert!(computed.contains_key(name.as_str()), "unknown block {name}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
