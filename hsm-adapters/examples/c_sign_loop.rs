//! The limit for batch signing on a PKCS#11 token: SHA-256 of each file in a directory, then one
//! raw `C_Sign` (CKM_EDDSA) per file on one logged-in session — no statements, no bundles, no
//! checks. `bench/pkcs11-sign.sh` compares `hallmark sign` with this.
//!
//! Usage: c_sign_loop MODULE TOKEN_LABEL KEY_LABEL DIR  (PIN in $BENCH_PIN; SOFTHSM2_CONF set by
//! the caller for SoftHSM2). Prints the elapsed seconds for hashing and signing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, module, token, key, dir] = args.as_slice() else {
        panic!("usage: c_sign_loop MODULE TOKEN_LABEL KEY_LABEL DIR (PIN in $BENCH_PIN)");
    };
    let pin = std::env::var("BENCH_PIN").expect("BENCH_PIN");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();

    let ctx = Pkcs11::new(module).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == token.as_str())
        .expect("token not found");
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(pin)))
        .unwrap();
    let handle = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(key.as_bytes().to_vec()),
        ])
        .unwrap()[0];
    let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));

    let start = Instant::now();
    let mut signatures = 0usize;
    for file in &files {
        let digest = Sha256::digest(std::fs::read(file).unwrap());
        // The same size as Hallmark's signing input for a statement (92 bytes).
        let mut message = [0u8; 92];
        message[60..].copy_from_slice(&digest);
        let signature = session.sign(&mechanism, handle, &message).unwrap();
        assert_eq!(signature.len(), 64);
        signatures += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{elapsed:.6} {signatures}");
}
