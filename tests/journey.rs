//! The user journey of the README and issue 6, typed exactly as a user would, with file keys:
//! generate keys, create an identity with a pre-committed next key, pin it, sign, verify,
//! rotate, sign with the new key, verify the linked change; then the refusals a consumer must
//! see: a new identity claiming the namespace, and a release signed with a key after it was
//! rotated away as compromised.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hallmark_tests::{Run, Scratch};

fn hallmark(s: &Scratch, line: &str) -> Run {
    s.run(line.split_whitespace())
}

fn key_id(s: &Scratch, key: &str) -> String {
    let json = hallmark(s, &format!("--json key show file:{key}"))
        .expect(0)
        .json();
    json["key_id"].as_str().unwrap()[..16].to_owned()
}

fn journey_until_rotation(s: &Scratch) {
    for key in ["alice.key", "alice-next.key", "alice-next2.key"] {
        hallmark(
            s,
            &format!("key generate --out file:{key} --passphrase-file pw --work-factor 10"),
        )
        .expect(0);
    }
    hallmark(
        s,
        "ceremony init --key file:alice.key --next-key file:alice-next.key \
         --namespace org.example --passphrase-file pw --out org.example.kel",
    )
    .expect(0);
    hallmark(
        s,
        "keyring pin org.example --identity org.example.kel --keyring trust",
    )
    .expect(0);
    s.write("tool-1.0.0.tar", b"tool 1.0.0\n");
    hallmark(
        s,
        "sign --key file:alice.key --identity org.example.kel --passphrase-file pw \
         --name org.example.tool --version 1.0.0 tool-1.0.0.tar",
    )
    .expect(0);
}

#[test]
fn pin_sign_verify_rotate_verify() {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    journey_until_rotation(&s);
    let (a, b) = (key_id(&s, "alice.key"), key_id(&s, "alice-next.key"));
    let identity = s.read("org.example.kel");
    let run = hallmark(&s, "verify --keyring trust tool-1.0.0.tar").expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "tool-1.0.0.tar: trusted: org.example.tool@1.0.0 signed by key {a} of identity hid:"
        )),
        "{}",
        run.stdout
    );

    // The rotation reveals the pre-committed key (scheduled, the default reason).
    hallmark(
        &s,
        "ceremony rotate --identity org.example.kel --key file:alice-next.key \
         --next-key file:alice-next2.key --passphrase-file pw",
    )
    .expect(0);
    assert_ne!(s.read("org.example.kel"), identity);
    s.write("tool-2.0.0.tar", b"tool 2.0.0\n");
    hallmark(
        &s,
        "sign --key file:alice-next.key --identity org.example.kel --passphrase-file pw \
         --name org.example.tool --version 2.0.0 tool-2.0.0.tar",
    )
    .expect(0);
    let run = hallmark(&s, "verify --keyring trust tool-2.0.0.tar").expect(0);
    let prefix = format!(
        "tool-2.0.0.tar: trusted-after-rotation: org.example.tool@2.0.0 signed by key {b}; {a} → {b} by rotation #1 (scheduled, "
    );
    assert!(run.stdout.starts_with(&prefix), "{}", run.stdout);
    // The release signed before the scheduled rotation stays trusted.
    hallmark(&s, "verify --keyring trust tool-1.0.0.tar").expect(0);

    // A new identity claiming org.example is not linked to the pin.
    for key in ["mallory.key", "mallory-next.key"] {
        hallmark(
            &s,
            &format!("key generate --out file:{key} --passphrase-file pw --work-factor 10"),
        )
        .expect(0);
    }
    hallmark(
        &s,
        "ceremony init --key file:mallory.key --next-key file:mallory-next.key \
         --namespace org.example --passphrase-file pw --out mallory.kel",
    )
    .expect(0);
    s.write("tool-3.0.0.tar", b"not the real tool\n");
    hallmark(
        &s,
        "sign --key file:mallory.key --identity mallory.kel --passphrase-file pw \
         --name org.example.tool --version 3.0.0 tool-3.0.0.tar",
    )
    .expect(0);
    let run = hallmark(&s, "verify --keyring trust tool-3.0.0.tar").expect(1);
    assert!(
        run.stdout.starts_with("tool-3.0.0.tar: rejected: unlinked-signer-change: org.example.tool@3.0.0 is signed by identity hid:"),
        "{}",
        run.stdout
    );
    // Verification never changed the pin.
    let show = hallmark(&s, "--json keyring show --keyring trust")
        .expect(0)
        .json();
    assert_eq!(show["pins"].as_array().unwrap().len(), 1, "{show}");
}

#[test]
fn after_a_compromised_rotation_the_old_key_is_revoked() {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    journey_until_rotation(&s);
    let a = key_id(&s, "alice.key");
    // The thief keeps a copy of the log as it was while alice.key was current.
    std::fs::copy(s.join("org.example.kel"), s.join("stolen.kel")).unwrap();
    hallmark(
        &s,
        "ceremony rotate --identity org.example.kel --key file:alice-next.key \
         --next-key file:alice-next2.key --reason compromised --passphrase-file pw",
    )
    .expect(0);
    hallmark(&s, "keyring import org.example.kel --keyring trust").expect(0);
    s.write("tool-9.9.9.tar", b"backdoored\n");
    hallmark(
        &s,
        "sign --key file:alice.key --identity stolen.kel --passphrase-file pw \
         --name org.example.tool --version 9.9.9 tool-9.9.9.tar",
    )
    .expect(0);
    let run = hallmark(&s, "verify --keyring trust tool-9.9.9.tar").expect(1);
    assert!(
        run.stdout.starts_with(&format!(
            "tool-9.9.9.tar: rejected: revoked: org.example.tool@9.9.9 is signed by key {a}, which rotation #1 ("
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("retired as compromised"),
        "{}",
        run.stdout
    );
}
