//! Verifying key event logs: one log of 10,000 rotations, and 1,000 identities of 10 events
//! each. Throughput is reported in events per second; run with `RAYON_NUM_THREADS=1` for the
//! per-core figure.
//!
//! `cargo bench -p hallmark-keyring --bench kel`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use hallmark_keyring::kel::{EventKind, Kel, KeyEvent, Reason};
use hallmark_keyring::{Envelope, IdentityId, PublicKey, Timestamp};

fn key(identity: u32, n: u32) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&identity.to_le_bytes());
    seed[4..8].copy_from_slice(&n.to_le_bytes());
    seed[8] = 1;
    SigningKey::from_bytes(&seed)
}

fn public(identity: u32, n: u32) -> PublicKey {
    PublicKey::new(key(identity, n).verifying_key())
}

/// A log of one inception and `rotations` rotations, each signed by its committed key.
fn log(identity: u32, rotations: u32) -> Vec<Envelope> {
    let t = |n: u32| Timestamp::from_unix(1_800_000_000 + u64::from(n)).unwrap();
    let mut inception = KeyEvent::new(EventKind::Inception, 0, t(0));
    inception.keys = Some(vec![public(identity, 0)]);
    inception.threshold = Some(1);
    inception.next = Some(vec![public(identity, 1).key_id()]);
    inception.next_threshold = Some(1);
    inception.namespaces = Some(vec![format!("org.example{identity}").parse().unwrap()]);
    let mut events = Vec::with_capacity(rotations as usize + 1);
    let mut env = inception.to_envelope().unwrap();
    env.sign(&key(identity, 0)).unwrap();
    let id = IdentityId::from_inception(&env.payload_digest());
    events.push(env);
    for n in 1..=rotations {
        let mut e = KeyEvent::new(EventKind::Rotation, u64::from(n), t(n));
        e.identity = Some(id);
        e.previous = events.last().map(Envelope::payload_digest);
        e.keys = Some(vec![public(identity, n)]);
        e.threshold = Some(1);
        e.next = Some(vec![public(identity, n + 1).key_id()]);
        e.next_threshold = Some(1);
        e.reason = Some(Reason::Scheduled);
        let mut env = e.to_envelope().unwrap();
        env.sign(&key(identity, n)).unwrap();
        events.push(env);
    }
    events
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("kel-verify");
    group.sample_size(10);

    let long = log(0, 10_000);
    assert!(Kel::verify(&long).is_ok());
    group.throughput(Throughput::Elements(long.len() as u64));
    group.bench_function(BenchmarkId::new("one-log", "10000-rotations"), |b| {
        b.iter(|| Kel::verify(&long).map(|k| k.events().len()))
    });

    // The floor: one strict Ed25519 verification of an event's signing input, and decoding one
    // event (canonical JSON, with its public key), which every event needs.
    let event = &long[1];
    let signer = public(0, 1);
    let input = event.signing_input();
    let sig = event.signatures()[0].sig;
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify-strict-one-signature", |b| {
        b.iter(|| hallmark_keyring::key::verify_signature(&signer, &input, &sig).is_ok())
    });
    group.bench_function("decode-one-event", |b| {
        b.iter(|| KeyEvent::from_envelope(event).is_ok())
    });

    let many: Vec<Vec<Envelope>> = (1..=1000).map(|i| log(i, 9)).collect();
    assert!(many.iter().all(|l| Kel::verify(l).is_ok()));
    group.throughput(Throughput::Elements(10_000));
    group.bench_function(BenchmarkId::new("identities", "1000x10-events"), |b| {
        b.iter(|| {
            many.iter()
                .map(|l| Kel::verify(l).map(|k| k.events().len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
