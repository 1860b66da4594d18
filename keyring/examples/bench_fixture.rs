//! Generates the fixture of `bench/trust.sh`: an identity's key event log and N small signed
//! artifacts (one version each, so each is also a distinct publish), from fixed seeds; and
//! measures the raw `verify_strict` rate on all cores, the limit verdicts are quoted against.
//!
//! ```text
//! cargo run --release -p hallmark-keyring --example bench_fixture -- DIR N
//! cargo run --release -p hallmark-keyring --example bench_fixture -- --raw-verify N
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use hallmark_keyring::bundle::Bundle;
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::kel::file::KEL_MEDIA_TYPE;
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent};
use hallmark_keyring::key::verify_signature;
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::{IdentityId, PublicKey, Sha256Digest, Statement, Timestamp};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, n] if flag == "--raw-verify" => raw_verify(n.parse().unwrap()),
        [dir, n] => fixture(PathBuf::from(dir), n.parse().unwrap()),
        _ => {
            eprintln!("usage: bench_fixture DIR N | bench_fixture --raw-verify N");
            std::process::exit(2);
        }
    }
}

fn fixture(dir: PathBuf, n: usize) {
    let key = SigningKey::from_bytes(&[1; 32]);
    let next = SigningKey::from_bytes(&[2; 32]);
    let now = Timestamp::now();
    let mut inception = KeyEvent::new(EventKind::Inception, 0, now);
    inception.keys = Some(vec![PublicKey::new(key.verifying_key())]);
    inception.threshold = Some(1);
    inception.next = Some(vec![PublicKey::new(next.verifying_key()).key_id()]);
    inception.next_threshold = Some(1);
    inception.namespaces = Some(vec!["org.example".parse().unwrap()]);
    let mut envelope = inception.to_envelope().unwrap();
    envelope.sign(&key).unwrap();
    let kel = Kel::verify(std::slice::from_ref(&envelope)).unwrap();
    let identity: IdentityId = kel.identity();
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let file = KelFile {
        media_type: KEL_MEDIA_TYPE.to_owned(),
        events: vec![envelope.clone()],
    };
    std::fs::write(dir.join("org.example.kel"), file.to_json()).unwrap();
    (0..n).into_par_iter().for_each(|i| {
        let bytes = format!("artifact {i}\n").into_bytes();
        let statement = Statement {
            name: "org.example.tool".parse().unwrap(),
            version: format!("1.0.{i}").parse().unwrap(),
            digest: ContentDigest::File(*Sha256Digest::of(&bytes).as_bytes()),
            signer: SignerRef::identity(identity, 0, envelope.payload_digest()),
            created: now,
        };
        let mut env = statement.to_envelope().unwrap();
        env.sign(&key).unwrap();
        let mut bundle = Bundle::new(env);
        bundle.kel = vec![envelope.clone()];
        let path = artifacts.join(format!("a{i:05}.bin"));
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(Bundle::path_for(&path), bundle.to_json()).unwrap();
    });
    println!("{identity}");
}

fn raw_verify(n: usize) {
    let key = SigningKey::from_bytes(&[1; 32]);
    let public = PublicKey::new(key.verifying_key());
    let messages: Vec<[u8; 92]> = (0..n)
        .map(|i| {
            let mut m = [0u8; 92];
            m[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m
        })
        .collect();
    let sigs: Vec<[u8; 64]> = messages.iter().map(|m| key.sign(m).to_bytes()).collect();
    for (label, threads) in [("1 core", 1), ("all cores", rayon::current_num_threads())] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let start = Instant::now();
        pool.install(|| {
            messages.par_iter().zip(&sigs).for_each(|(m, s)| {
                verify_signature(&public, m, s).unwrap();
            });
        });
        let secs = start.elapsed().as_secs_f64();
        println!(
            "verify_strict ({label}, {threads} thread{}): {:.0} signatures/s",
            if threads == 1 { "" } else { "s" },
            n as f64 / secs
        );
    }
}
