//! YubiKey adapter benchmarks through the real stack: `hallmark_hsm::yubikey` → `yubikey`
//! crate → pcscd → vpcd → virtual YubiKey (in this process, on a thread).
//!
//! * `sign/adapter` — one signature through [`YubiKeySigner`] (PIN once, already verified;
//!   touch never), including the adapter's own checks (length cap, policy, `verify_strict` of
//!   the result);
//! * `sign/crate` — the same signature straight through `yubikey::piv::sign_data`: the
//!   difference is the adapter's overhead;
//! * `sign_batch/100` — a hundred signatures in one batch;
//! * `open` — opening the signer: enumerating readers, selecting the card, reading the
//!   slot's metadata and checking the expected key.
//!
//! The virtual card answers in microseconds, so these measure the host side and the PC/SC
//! round trips, which is where an adapter regression would show. A real YubiKey 5 spends
//! milliseconds per Ed25519 signature on its own. Run with `bash bench/yubikey.sh`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark that cannot set up must stop loudly"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallmark_hsm::interact::Headless;
use hallmark_hsm::secret::SecretSource;
use hallmark_hsm::yubikey::{
    GenerateOptions, PinPolicy, Slot, TouchPolicy, YubiKeyRef, YubiKeySigner, generate,
};
use virtual_yubikey::{CardConfig, Reader, VirtualYubiKey};

fn benches(c: &mut Criterion) {
    let card = VirtualYubiKey::insert(CardConfig::new(12345678), Reader::First)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "123456").unwrap();
    let reference = YubiKeyRef::new(Slot::SIGNATURE)
        .with_serial(12345678)
        .with_pin_source(SecretSource::File(pin));
    let key = generate(
        &reference,
        &GenerateOptions::new(PinPolicy::Once, TouchPolicy::Never),
        &Headless,
    )
    .unwrap()
    .verifying_key;
    // A Hallmark signing input is a domain-separated digest of about 120 bytes.
    let message = [0x5a_u8; 120];

    let mut group = c.benchmark_group("yubikey");
    group.throughput(Throughput::Elements(1));
    group.bench_function("open", |b| {
        b.iter(|| black_box(YubiKeySigner::open(&reference, Some(&key), &Headless).unwrap()))
    });
    {
        let signer = YubiKeySigner::open(&reference, Some(&key), &Headless).unwrap();
        signer.sign_message(&message).unwrap(); // verifies the PIN once
        group.bench_function("sign/adapter", |b| {
            b.iter(|| black_box(signer.sign_message(black_box(&message)).unwrap()))
        });
        let messages = vec![message; 100];
        group.throughput(Throughput::Elements(100));
        group.bench_function("sign_batch/100", |b| {
            b.iter(|| black_box(signer.sign_batch(&messages, |_, _| {}).unwrap()))
        });
    }
    {
        let mut yk = yubikey::YubiKey::open().unwrap();
        yk.verify_pin(b"123456").unwrap();
        group.throughput(Throughput::Elements(1));
        group.bench_function("sign/crate", |b| {
            b.iter(|| {
                black_box(
                    yubikey::piv::sign_data(
                        &mut yk,
                        black_box(&message),
                        yubikey::piv::AlgorithmId::Ed25519,
                        yubikey::piv::SlotId::Signature,
                    )
                    .unwrap(),
                )
            })
        });
    }
    group.finish();
    drop(card);
}

criterion_group!(yubikey_benches, benches);
criterion_main!(yubikey_benches);
