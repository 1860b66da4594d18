//! The gatekeeper's cost per verdict, in memory (no file I/O), against the one strict
//! signature check it is bounded by: a verdict checks one statement signature (the key event
//! log is verified once per run and cached).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::kel::{EventKind, Kel, KeyEvent};
use hallmark_keyring::key::verify_signature;
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::trust::{Gate, NoAttestationVerifier, TrustView};
use hallmark_keyring::{PublicKey, Sha256Digest, Statement, Timestamp};

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[1; 32]);
    let next = SigningKey::from_bytes(&[2; 32]);
    let now = Timestamp::from_unix(1_800_000_000).unwrap();
    let mut inception = KeyEvent::new(EventKind::Inception, 0, now);
    inception.keys = Some(vec![PublicKey::new(key.verifying_key())]);
    inception.threshold = Some(1);
    inception.next = Some(vec![PublicKey::new(next.verifying_key()).key_id()]);
    inception.next_threshold = Some(1);
    inception.namespaces = Some(vec!["org.example".parse().unwrap()]);
    let mut event = inception.to_envelope().unwrap();
    event.sign(&key).unwrap();
    let kel = Kel::verify(std::slice::from_ref(&event)).unwrap();
    let bytes = b"artifact\n";
    let digest = ContentDigest::File(*Sha256Digest::of(bytes).as_bytes());
    let statement = Statement {
        name: "org.example.tool".parse().unwrap(),
        version: "1.0.0".parse().unwrap(),
        digest,
        signer: SignerRef::identity(kel.identity(), 0, event.payload_digest()),
        created: now,
    };
    let mut envelope = statement.to_envelope().unwrap();
    envelope.sign(&key).unwrap();
    let mut bundle = Bundle::new(envelope.clone());
    bundle.kel = vec![event];
    let json = bundle.to_json();

    let view = TrustView::for_identity(kel, now);
    let attestation = NoAttestationVerifier;
    let gate = Gate::new(&view, &attestation, false, now);
    assert!(
        gate.decide(&bundle, &digest)
            .unwrap()
            .decision
            .verdict
            .is_trusted()
    );

    let public = PublicKey::new(key.verifying_key());
    let input = envelope.signing_input();
    let sig = envelope.signatures()[0].sig;
    c.bench_function("verify_strict (the limit)", |b| {
        b.iter(|| verify_signature(&public, &input, &sig).unwrap())
    });
    c.bench_function("gate decide (parsed bundle)", |b| {
        b.iter(|| gate.decide(&bundle, &digest).unwrap())
    });
    c.bench_function("gate decide (bundle JSON parsed each time)", |b| {
        b.iter(|| {
            let bundle = Bundle::from_json(&json).unwrap();
            gate.decide(&bundle, &digest).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
