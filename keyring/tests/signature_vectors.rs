//! Hallmark's one verification function against public Ed25519 test vectors.
//!
//! Policy: strict verification (ed25519-dalek `verify_strict`, the libsodium behaviour) —
//! small-order keys and `R`, non-canonical encodings and `S ≥ L` are refused. Provenance of the
//! data files: `tests/data/vectors/PROVENANCE.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::{Signer, SigningKey};
use hallmark_keyring::key::{PublicKey, verify_signature};
use serde_json::Value;

fn data(path: &str) -> Value {
    let full = format!("{}/tests/data/vectors/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Verifies through the public API; any decoding failure is a rejection.
fn hallmark_accepts(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return false;
    };
    let Ok(key) = PublicKey::from_bytes(&pk) else {
        return false;
    };
    verify_signature(&key, msg, &sig).is_ok()
}

#[test]
fn wycheproof_v1() {
    let file = data("wycheproof/ed25519_test.json");
    let mut counts = [0usize; 3];
    for group in file["testGroups"].as_array().unwrap() {
        let pk = hex(group["publicKey"]["pk"].as_str().unwrap());
        for test in group["tests"].as_array().unwrap() {
            let id = test["tcId"].as_u64().unwrap();
            let accepted = hallmark_accepts(
                &pk,
                &hex(test["msg"].as_str().unwrap()),
                &hex(test["sig"].as_str().unwrap()),
            );
            match test["result"].as_str().unwrap() {
                "valid" => {
                    assert!(accepted, "tcId {id} ({}) must verify", test["comment"]);
                    counts[0] += 1;
                }
                "invalid" => {
                    assert!(!accepted, "tcId {id} ({}) must be refused", test["comment"]);
                    counts[1] += 1;
                }
                "acceptable" => counts[2] += 1,
                other => panic!("unknown result {other}"),
            }
        }
    }
    assert_eq!(
        counts.iter().sum::<usize>(),
        file["numberOfTests"].as_u64().unwrap() as usize
    );
    assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");
}

#[test]
fn wycheproof_legacy_sign_and_verify() {
    let file = data("wycheproof/eddsa_test.json");
    let mut signed = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let sk: [u8; 32] = hex(group["key"]["sk"].as_str().unwrap())
            .try_into()
            .unwrap();
        let pk = hex(group["key"]["pk"].as_str().unwrap());
        let signing = SigningKey::from_bytes(&sk);
        assert_eq!(signing.verifying_key().as_bytes().as_slice(), pk.as_slice());
        for test in group["tests"].as_array().unwrap() {
            let msg = hex(test["msg"].as_str().unwrap());
            let sig = hex(test["sig"].as_str().unwrap());
            let accepted = hallmark_accepts(&pk, &msg, &sig);
            match test["result"].as_str().unwrap() {
                "valid" => {
                    assert!(accepted, "tcId {}", test["tcId"]);
                    assert_eq!(signing.sign(&msg).to_bytes().as_slice(), sig.as_slice());
                    signed += 1;
                }
                "invalid" => assert!(!accepted, "tcId {}", test["tcId"]),
                _ => {}
            }
        }
    }
    assert!(signed > 0);
}

#[test]
fn rfc8032_section_7_1() {
    let file = data("rfc8032/ed25519_rfc8032_7_1.json");
    let vectors = file.as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let sk: [u8; 32] = hex(v["secret_key_hex"].as_str().unwrap())
            .try_into()
            .unwrap();
        let pk = hex(v["public_key_hex"].as_str().unwrap());
        let msg = hex(v["message_hex"].as_str().unwrap());
        let sig = hex(v["signature_hex"].as_str().unwrap());
        let signing = SigningKey::from_bytes(&sk);
        assert_eq!(
            signing.verifying_key().as_bytes().as_slice(),
            pk.as_slice(),
            "{name}"
        );
        assert_eq!(
            signing.sign(&msg).to_bytes().as_slice(),
            sig.as_slice(),
            "{name}"
        );
        assert!(hallmark_accepts(&pk, &msg, &sig), "{name}");
        for bit in [0, 7, 8 * sig.len() / 2, 8 * sig.len() - 1] {
            let mut bad = sig.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !hallmark_accepts(&pk, &msg, &bad),
                "{name}: signature bit {bit}"
            );
        }
        let mut bad_msg = msg.clone();
        if bad_msg.is_empty() {
            bad_msg.push(0);
        } else {
            bad_msg[0] ^= 1;
        }
        assert!(
            !hallmark_accepts(&pk, &bad_msg, &sig),
            "{name}: message changed"
        );
    }
}

#[test]
fn speccheck_strict_column() {
    let file = data("speccheck/cases_annotated.json");
    let cases = file["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let mut accepted_cases = Vec::new();
    for case in cases {
        let index = case["index"].as_u64().unwrap();
        let expected = case["expected"]["strict_libsodium_or_dalek_verify_strict"]
            .as_str()
            .unwrap();
        let accepted = hallmark_accepts(
            &hex(case["pub_key_hex"].as_str().unwrap()),
            &hex(case["message_hex"].as_str().unwrap()),
            &hex(case["signature_hex"].as_str().unwrap()),
        );
        assert_eq!(
            accepted,
            expected == "V",
            "speccheck case {index}: {}",
            case["comment"]
        );
        if accepted {
            accepted_cases.push(index);
        }
    }
    assert_eq!(accepted_cases, [3]);
}
