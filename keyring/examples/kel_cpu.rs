//! CPU time per verified event, independent of other load on the machine: the same two
//! workloads as `benches/kel.rs`, timed with this thread's on-CPU time from
//! `/proc/thread-self/schedstat` (Linux). Run single-threaded for the per-core figure:
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p hallmark-keyring --example kel_cpu`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

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

fn log(identity: u32, rotations: u32) -> Vec<Envelope> {
    let t = |n: u32| Timestamp::from_unix(1_800_000_000 + u64::from(n)).unwrap();
    let mut inception = KeyEvent::new(EventKind::Inception, 0, t(0));
    inception.keys = Some(vec![public(identity, 0)]);
    inception.threshold = Some(1);
    inception.next = Some(vec![public(identity, 1).key_id()]);
    inception.next_threshold = Some(1);
    inception.namespaces = Some(vec![format!("org.example{identity}").parse().unwrap()]);
    let mut env = inception.to_envelope().unwrap();
    env.sign(&key(identity, 0)).unwrap();
    let id = IdentityId::from_inception(&env.payload_digest());
    let mut events = vec![env];
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

/// This process's CPU time (all threads), in nanoseconds.
fn cpu_ns() -> u128 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u128>()
                .unwrap();
        }
    }
    total
}

fn report(what: &str, events: usize, rounds: usize, run: impl Fn() -> usize) {
    let wall = std::time::Instant::now();
    let start = cpu_ns();
    let mut verified = 0;
    for _ in 0..rounds {
        verified += run();
    }
    let cpu = cpu_ns() - start;
    let wall = wall.elapsed();
    assert_eq!(verified, events * rounds);
    let per_event_us = cpu as f64 / 1000.0 / verified as f64;
    println!(
        "{what}: {verified} events, {per_event_us:.1} µs CPU per event = {:.0} events/s per core \
         (wall {:.0} events/s)",
        1e6 / per_event_us,
        verified as f64 / wall.as_secs_f64()
    );
}

fn main() {
    let long = log(0, 10_000);
    let many: Vec<Vec<Envelope>> = (1..=1000).map(|i| log(i, 9)).collect();
    report("one log of 10,000 rotations", long.len(), 5, || {
        Kel::verify(&long).unwrap().events().len()
    });
    report("1,000 identities x 10 events", 10_000, 5, || {
        many.iter()
            .map(|l| Kel::verify(l).unwrap().events().len())
            .sum()
    });
    let input = long[1].signing_input();
    let sig = long[1].signatures()[0].sig;
    let signer = public(0, 1);
    report("one strict Ed25519 verification", 1, 20_000, || {
        usize::from(hallmark_keyring::key::verify_signature(&signer, &input, &sig).is_ok())
    });
    report("decoding one event", 1, 20_000, || {
        usize::from(KeyEvent::from_envelope(&long[1]).is_ok())
    });
}
