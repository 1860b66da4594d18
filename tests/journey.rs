//! The user journey of the README and issue 6, typed exactly as a user would, with file keys
//! (the same journey runs with PKCS#11 keys in `pkcs11_cli.rs` and YubiKey keys in
//! `yubikey_cli.rs`; see `hallmark_tests::journey`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hallmark_tests::Scratch;
use hallmark_tests::journey::{Journey, JourneyKeys};

fn file_keys(s: &Scratch) -> Journey<'_> {
    let unlock = ["--passphrase-file", "pw"].map(String::from).to_vec();
    let mut generate = unlock.clone();
    generate.extend(["--work-factor", "10"].map(String::from));
    Journey {
        scratch: s,
        keys: JourneyKeys {
            alice: "file:alice.key".to_owned(),
            alice_next: "file:alice-next.key".to_owned(),
            alice_next2: "file:alice-next2.key".to_owned(),
            mallory: "file:mallory.key".to_owned(),
            mallory_next: "file:mallory-next.key".to_owned(),
        },
        generate_args: generate,
        unlock_args: unlock,
    }
}

#[test]
fn pin_sign_verify_rotate_verify() {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    file_keys(&s).pin_sign_verify_rotate_verify();
}

#[test]
fn after_a_compromised_rotation_the_old_key_is_revoked() {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    file_keys(&s).after_a_compromised_rotation_the_old_key_is_revoked();
}
