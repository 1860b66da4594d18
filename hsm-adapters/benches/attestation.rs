//! Cost of verifying one real YubiKey attestation chain (RSA 2048 signatures throughout).
//!
//! `cargo bench -p hallmark-hsm --bench attestation`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hallmark_hsm::attestation::{self, TrustRoots};

/// Firmware 5.2.7: per-key → F9 → "Yubico PIV Root CA Serial 263751" (two RSA verifications).
const F9_527: &[u8] = include_bytes!("../tests/data/yubikey/chains/tmc-5-2-7/f9.pem");
const KEY_527: &[u8] = include_bytes!("../tests/data/yubikey/chains/tmc-5-2-7/attestation-9a.pem");

/// Firmware 5.7.4: per-key → F9 → PIV Attestation B 1 → Attestation Intermediate B 1 →
/// Attestation Root 1 (four RSA verifications).
const F9_574: &[u8] = include_bytes!("../tests/data/yubikey/chains/ovh-yk5.7.4-root1/f9.pem");
const KEY_574: &[u8] =
    include_bytes!("../tests/data/yubikey/chains/ovh-yk5.7.4-root1/attestation-9a.pem");

fn verify(c: &mut Criterion) {
    let trust = TrustRoots::yubico();
    let mut group = c.benchmark_group("attestation-verify");
    group.bench_function("rsa2048-fw5.2.7-root263751", |b| {
        b.iter(|| attestation::verify(black_box(F9_527), black_box(KEY_527), &trust, None))
    });
    group.bench_function("rsa2048-fw5.7.4-root1", |b| {
        b.iter(|| attestation::verify(black_box(F9_574), black_box(KEY_574), &trust, None))
    });
    group.finish();
    c.bench_function("trust-roots-yubico", |b| b.iter(TrustRoots::yubico));
}

criterion_group!(benches, verify);
criterion_main!(benches);
