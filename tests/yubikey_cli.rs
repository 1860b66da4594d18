//! The `hallmark` command with keys in YubiKey PIV slots, through the real stack: the binary →
//! `hallmark_hsm::yubikey` → the `yubikey` crate → libpcsclite → pcscd → vsmartcard's vpcd → a
//! virtual YubiKey served by this test process.
//!
//! Covered: generate (policies, the slot certificate checked by OpenSSL, never overwriting),
//! list, show in every form, attest (exported certificates checked by Hallmark and OpenSSL),
//! sign (bundles carrying the attestation; minisign and SSH signatures the peer tools accept),
//! verify, a pin that requires hardware attestation, ceremonies and a registry on YubiKey keys,
//! the user journey, and every error an operator must be able to act on, each with its exit
//! code and stable `--json` code.
//!
//! Needs pcscd running with the vpcd readers (`bash scripts/test.sh` starts it). The tests share
//! those readers, so they run one at a time: nextest test group `pcscd` (see
//! `.config/nextest.toml`), and a lock for `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use base64ct::{Base64, Encoding};
use hallmark_tests::journey::{Journey, JourneyKeys};
use hallmark_tests::peers::{hallmark_signs_peers_verify, tool};
use hallmark_tests::{Run, Scratch};
use virtual_yubikey::{CardConfig, ManagementAlgorithm, Reader, TestAuthority, VirtualYubiKey};

const SERIAL: u32 = 12345678;

/// Tests share pcscd's readers: nextest runs them one at a time (test group `pcscd`); under
/// `cargo test` this lock keeps the threads of one process apart.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn insert(config: CardConfig) -> VirtualYubiKey {
    VirtualYubiKey::insert(config, Reader::First).unwrap_or_else(|e| panic!("{e}"))
}

/// A scratch directory with the PIN in `yk.pin` and the virtual card's attestation root and
/// intermediate in `vyk-root.pem` and `vyk-intermediate.pem`.
fn scratch() -> Scratch {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    s.write("yk.pin", "123456\n");
    let authority = virtual_yubikey::test_authority().unwrap();
    s.write(
        "vyk-root.pem",
        TestAuthority::pem(authority.root_der()).unwrap(),
    );
    s.write(
        "vyk-intermediate.pem",
        TestAuthority::pem(authority.intermediate_der()).unwrap(),
    );
    s
}

/// The flags that make Hallmark trust the virtual card's test attestation root.
const TEST_ROOT: [&str; 4] = [
    "--attestation-root",
    "vyk-root.pem",
    "--attestation-intermediate",
    "vyk-intermediate.pem",
];

/// `yubikey:serial=12345678;slot=SLOT?pin-source=file:yk.pin`.
fn yk(slot: &str) -> String {
    format!("yubikey:serial={SERIAL};slot={slot}?pin-source=file:yk.pin")
}

/// Runs `hallmark ARGS` in the scratch directory.
fn hm(s: &Scratch, args: &[&str]) -> Run {
    s.run(args)
}

/// Generates a key in `slot` with `extra` flags; returns its public key text.
fn generate(s: &Scratch, slot: &str, extra: &[&str]) -> String {
    let key = yk(slot);
    let mut args = vec!["--json", "key", "generate", "--out", key.as_str()];
    args.extend_from_slice(extra);
    let run = hm(s, &args).expect(0);
    run.json()["publicKey"].as_str().unwrap().to_owned()
}

fn public_key_of(card: &VirtualYubiKey, slot: u8) -> String {
    let key = card.card().slots[&slot].key.verifying_key();
    format!("ed25519:{}", Base64::encode_string(key.as_bytes()))
}

fn json_error(run: &Run) -> serde_json::Value {
    run.json()
}

// --- generate, list, show, attest ----------------------------------------------------------------

#[test]
fn generate_with_policies_and_a_certificate_openssl_verifies() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    let key = yk("9c");
    let run = hm(&s, &["--json", "key", "generate", "--out", &key]).expect(0);
    let json = run.json();
    // The defaults for release signing: PIN once, touch always.
    assert_eq!(json["device"]["pinPolicy"], "once");
    assert_eq!(json["device"]["touchPolicy"], "always");
    assert_eq!(json["device"]["serial"], SERIAL.to_string());
    assert_eq!(json["device"]["firmware"], "5.7.4");
    assert_eq!(json["reference"], key.as_str());
    {
        let state = card.card();
        let slot = &state.slots[&0x9c];
        assert_eq!((slot.pin_policy, slot.touch_policy), (2, 2));
        assert_eq!(
            state.counters.pin_attempts, 1,
            "one PIN, to sign the certificate"
        );
    }
    assert_eq!(json["publicKey"], public_key_of(&card, 0x9c).as_str());
    // The prompts an operator sees, on standard error.
    assert!(
        run.stderr
            .contains("touch your YubiKey (serial 12345678) to sign its certificate\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("warning: YubiKey 12345678 uses the default PIV management key"),
        "{}",
        run.stderr
    );

    // The certificate Hallmark printed is the one in the slot, and OpenSSL verifies it.
    let pem = json["certificate"].as_str().unwrap();
    s.write("slot.pem", pem);
    tool(
        &s,
        "openssl",
        &["verify", "-check_ss_sig", "-CAfile", "slot.pem", "slot.pem"],
        None,
    )
    .expect(0);
    let subject = tool(
        &s,
        "openssl",
        &["x509", "-in", "slot.pem", "-noout", "-subject"],
        None,
    )
    .expect(0);
    assert_eq!(
        subject.stdout,
        "subject=CN = Hallmark signing key (YubiKey 12345678 slot 9c)\n"
    );
    let der = tool(
        &s,
        "openssl",
        &[
            "x509", "-in", "slot.pem", "-outform", "DER", "-out", "slot.der",
        ],
        None,
    );
    der.expect(0);
    let object = card.card().objects[&0x5f_c10a].clone();
    let (tlv, _) = virtual_yubikey::tlv::parse(&object).unwrap();
    assert_eq!(tlv.value, std::fs::read(s.join("slot.der")).unwrap());

    // An occupied slot is never replaced by accident...
    let run = hm(&s, &["key", "generate", "--out", &key]).expect(2);
    assert_eq!(
        run.stderr,
        "error: slot 9c of YubiKey 12345678 already holds a key; generating would destroy it. \
         Choose another slot, or replace it on purpose (--force) once nothing depends on it\n"
    );
    assert_eq!(card.card().counters.generate_requests, 1);
    // ...only on purpose.
    let old = public_key_of(&card, 0x9c);
    let new = generate(&s, "9c", &["--force"]);
    assert_ne!(new, old);

    // Other policies and a subject.
    generate(
        &s,
        "9a",
        &[
            "--pin-policy",
            "always",
            "--touch-policy",
            "cached",
            "--subject",
            "CN=Release key",
        ],
    );
    let slot = card.card().slots[&0x9a].clone();
    assert_eq!((slot.pin_policy, slot.touch_policy), (3, 3));
    // YubiKey-only flags are refused for other backends.
    let run = hm(
        &s,
        &[
            "key",
            "generate",
            "--out",
            "file:x.key",
            "--pin-policy",
            "once",
        ],
    )
    .expect(2);
    assert_eq!(
        run.stderr,
        "error: --pin-policy applies to keys generated on a YubiKey (--out yubikey:…), not to \
         file:x.key\n"
    );
}

#[test]
fn list_and_show_need_no_pin() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    let run = hm(&s, &["key", "list"]).expect(0);
    assert_eq!(
        run.stdout,
        "YubiKey 12345678  firmware 5.7.4  reader \"Virtual PCD 00 00\"\n  no Ed25519 keys; \
         create one with `hallmark key generate --out yubikey:serial=12345678;slot=9c`\n"
    );
    let public = generate(&s, "9c", &["--touch-policy", "never"]);
    let attempts = card.card().counters.pin_attempts;

    let id = hm(&s, &["--json", "key", "show", &yk("9c")])
        .expect(0)
        .json()["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = hm(&s, &["key", "list"]).expect(0);
    assert_eq!(
        run.stdout,
        format!(
            "YubiKey 12345678  firmware 5.7.4  reader \"Virtual PCD 00 00\"\n  slot 9c  key {}  \
             PIN once, touch never, generated on the device\n    {public}\n    \
             yubikey:serial=12345678;slot=9c\n",
            &id[..16]
        )
    );
    let json = hm(&s, &["--json", "key", "list"]).expect(0).json();
    assert_eq!(json["pkcs11"], serde_json::json!([]));
    let device = &json["yubikeys"][0];
    assert_eq!(device["serial"], SERIAL);
    assert_eq!(device["firmware"], "5.7.4");
    assert_eq!(device["ed25519"], true);
    assert_eq!(device["keys"][0]["slot"], "9c");
    assert_eq!(device["keys"][0]["publicKey"], public.as_str());
    assert_eq!(device["keys"][0]["pinPolicy"], "once");
    assert_eq!(device["keys"][0]["touchPolicy"], "never");
    assert_eq!(
        device["keys"][0]["reference"],
        "yubikey:serial=12345678;slot=9c"
    );

    // Every public key form, from the slot.
    let show = |format: &str| {
        hm(&s, &["key", "show", &yk("9c"), "--format", format])
            .expect(0)
            .stdout
    };
    assert_eq!(show("hallmark"), format!("{public}\nkey id: {id}\n"));
    let ssh = show("ssh");
    assert!(
        ssh.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA")
            && ssh.ends_with(&format!(" {}\n", yk("9c"))),
        "{ssh}"
    );
    s.write("yk.ssh.pub", &ssh);
    let fingerprint = tool(&s, "ssh-keygen", &["-l", "-f", "yk.ssh.pub"], None).expect(0);
    assert!(
        fingerprint.stdout.contains("(ED25519)"),
        "{}",
        fingerprint.stdout
    );
    assert!(show("minisign").starts_with("untrusted comment: minisign public key "));
    let pem = show("pem");
    s.write("yk.pem", &pem);
    let der = tool(
        &s,
        "openssl",
        &["pkey", "-pubin", "-in", "yk.pem", "-outform", "DER"],
        None,
    );
    assert_eq!(der.code, 0, "{}", der.stderr);
    assert!(show("jwk").starts_with("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\""));
    // Listing and showing sent no PIN.
    assert_eq!(card.card().counters.pin_attempts, attempts);
}

#[test]
fn attest_exports_the_certificates_and_checks_them() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    let public = generate(&s, "9c", &[]);
    let attempts = card.card().counters.pin_attempts;

    // Without the test root the chain stops at an untrusted issuer: exit 1, files written.
    let run = hm(&s, &["key", "attest", &yk("9c"), "--out-dir", "plain"]).expect(1);
    assert!(
        run.stdout.contains(
            "attestation does not hold: device certificate (slot F9) \"CN=YubiKey PIV Attestation\""
        ) && run.stdout.contains(
            "was issued by \"CN=Hallmark Virtual YubiKey Test PIV Attestation\", which is not a \
             trusted Yubico root or intermediate"
        ),
        "{}",
        run.stdout
    );

    let mut args = vec!["key", "attest"];
    let key = yk("9c");
    args.extend([key.as_str(), "--out-dir", "att"]);
    args.extend(TEST_ROOT);
    let run = hm(&s, &args).expect(0);
    assert!(
        run.stdout.starts_with(
            "YubiKey 12345678 (firmware 5.7.4) slot 9c: wrote att/attestation-9c.pem (per-key \
             attestation) and att/f9.pem (device certificate, F9)\nattestation holds: the key in \
             slot 9c was generated on YubiKey serial 12345678\n"
        ),
        "{}",
        run.stdout
    );
    for line in [
        "  expected key  matches the attested key\n",
        "  firmware      5.7.4\n",
        "  serial        12345678\n",
        "  PIN policy    once\n",
        "  touch policy  always\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in {}", run.stdout);
    }
    // The same as JSON, `hallmark.key.attest/v1`: the files, the device and the report.
    let mut json_args = vec![
        "--json",
        "key",
        "attest",
        key.as_str(),
        "--out-dir",
        "att-json",
    ];
    json_args.extend(TEST_ROOT);
    let json = hm(&s, &json_args).expect(0).json();
    assert_eq!(
        (&json["verdict"], &json["reason"], &json["exitCode"]),
        (&"holds".into(), &serde_json::Value::Null, &0.into())
    );
    assert_eq!(json["files"]["deviceCertificate"], "att-json/f9.pem");
    assert_eq!(json["device"]["serial"], SERIAL.to_string());
    assert_eq!(json["report"]["expectedKey"], "matches");
    let json = hm(
        &s,
        &[
            "--json",
            "key",
            "attest",
            key.as_str(),
            "--out-dir",
            "plain-json",
        ],
    )
    .expect(1)
    .json();
    assert_eq!(
        (&json["verdict"], &json["report"], &json["exitCode"]),
        (&"does-not-hold".into(), &serde_json::Value::Null, &1.into())
    );
    assert!(json["reason"].is_string(), "{json}");
    // The files are the device's certificates.
    let authority = virtual_yubikey::test_authority().unwrap();
    assert_eq!(
        s.read("att/f9.pem"),
        TestAuthority::pem(authority.f9_der()).unwrap()
    );
    // Existing files are never overwritten.
    let run = hm(&s, &args).expect(2);
    assert!(
        run.stderr
            .starts_with("error: att/attestation-9c.pem already exists"),
        "{}",
        run.stderr
    );
    // Anyone can check them without the device, against the key they were given...
    let mut check = vec![
        "--json",
        "key",
        "verify-attestation",
        "--device",
        "att/f9.pem",
        "--key-cert",
        "att/attestation-9c.pem",
        "--key",
        public.as_str(),
    ];
    check.extend(TEST_ROOT);
    let report = hm(&s, &check).expect(0).json();
    assert_eq!(report["verdict"], "holds");
    assert_eq!(report["report"]["serial"], SERIAL);
    assert_eq!(report["report"]["expectedKey"], "matches");
    // ...and so can OpenSSL: test root → intermediate → F9 → per-key.
    s.write(
        "chain.pem",
        s.read("vyk-intermediate.pem") + &s.read("att/f9.pem"),
    );
    let openssl = tool(
        &s,
        "openssl",
        &[
            "verify",
            "-CAfile",
            "vyk-root.pem",
            "-untrusted",
            "chain.pem",
            "att/attestation-9c.pem",
        ],
        None,
    )
    .expect(0);
    assert_eq!(openssl.stdout, "att/attestation-9c.pem: OK\n");
    // Attesting needs no PIN.
    assert_eq!(card.card().counters.pin_attempts, attempts);
    // Only YubiKey keys can be attested.
    let run = hm(&s, &["key", "attest", "file:x.key"]).expect(2);
    assert_eq!(
        run.stderr,
        "error: file:x.key is not a YubiKey key: only keys generated on a YubiKey can be attested \
         (give yubikey:serial=…;slot=…)\n"
    );
}

// --- signing -------------------------------------------------------------------------------------

#[test]
fn sign_one_pin_a_touch_per_signature_and_the_attestation_in_every_bundle() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    let public = generate(&s, "9c", &[]);
    let before = card.card().counters.clone();
    for i in 1..=3 {
        s.write(&format!("a{i}.bin"), format!("artifact {i}\n"));
    }
    let key = yk("9c");
    let run = hm(
        &s,
        &[
            "sign",
            "--key",
            &key,
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "a1.bin",
            "a2.bin",
            "a3.bin",
        ],
    )
    .expect(0);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
    let after = card.card().counters.clone();
    assert_eq!(after.pin_attempts - before.pin_attempts, 1, "PIN once");
    assert_eq!(after.signatures - before.signatures, 3);
    for i in 1..=3 {
        assert!(
            run.stderr.contains(&format!(
                "touch your YubiKey (serial 12345678) to sign ({i} of 3)\n"
            )),
            "{}",
            run.stderr
        );
    }
    let id = hm(&s, &["--json", "key", "show", &key]).expect(0).json()["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        run.stderr.contains(&format!(
            "bundles carry the hardware attestation of key {} (yubikey:serial=12345678;slot=9c)\n",
            &id[..16]
        )),
        "{}",
        run.stderr
    );
    // Each bundle carries the per-key certificate and the F9 certificate.
    let authority = virtual_yubikey::test_authority().unwrap();
    let bundle: serde_json::Value = serde_json::from_str(&s.read("a1.bin.hallmark.json")).unwrap();
    let attestation = &bundle["attestations"][0];
    assert_eq!(attestation["key"], id.as_str());
    assert_eq!(attestation["format"], "yubikey-piv");
    let certificates = attestation["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2);
    assert_eq!(
        certificates[1],
        Base64::encode_string(authority.f9_der()).as_str()
    );
    let run = hm(
        &s,
        &[
            "verify",
            "--public-key",
            &public,
            "a1.bin",
            "a2.bin",
            "a3.bin",
        ],
    )
    .expect(0);
    assert_eq!(
        run.stdout
            .matches(": trusted: org.example.tool@1.0.0")
            .count(),
        3
    );
}

#[test]
fn minisign_and_ssh_keygen_accept_signatures_made_on_the_card() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    hallmark_signs_peers_verify(&s, &yk("9c"));
}

// --- identities, policy, registry ----------------------------------------------------------------

#[test]
fn a_pin_requiring_attestation_accepts_yubikey_releases_and_refuses_file_keys() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &[]);
    generate(&s, "9a", &["--touch-policy", "never"]);
    let (key, next) = (yk("9c"), yk("9a"));
    hm(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            &key,
            "--next-key",
            &next,
            "--namespace",
            "org.example",
            "--out",
            "org.example.kel",
        ],
    )
    .expect(0);
    // The inception carries the key's attestation; the transcript names the device.
    let kel: serde_json::Value = serde_json::from_str(&s.read("org.example.kel")).unwrap();
    let inception = payload(&kel["events"][0]);
    assert_eq!(inception["attestations"][0]["format"], "yubikey-piv");
    let transcript: serde_json::Value =
        serde_json::from_str(&s.read("org.example.kel.0-init.transcript.json")).unwrap();
    let participant = &payload(&transcript)["participants"][0];
    assert_eq!(participant["backend"], "yubikey");
    assert_eq!(participant["reference"], "yubikey:serial=12345678;slot=9c");
    assert_eq!(
        participant["device"][0],
        serde_json::json!(["serial", "12345678"])
    );
    assert_eq!(participant["attestations"][0]["format"], "yubikey-piv");

    // A file key identity for another namespace.
    s.file_key("files.key");
    s.file_key("files-next.key");
    hm(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:files.key",
            "--next-key",
            "file:files-next.key",
            "--namespace",
            "org.files",
            "--passphrase-file",
            "pw",
            "--out",
            "org.files.kel",
        ],
    )
    .expect(0);
    for (namespace, kel) in [
        ("org.example", "org.example.kel"),
        ("org.files", "org.files.kel"),
    ] {
        hm(
            &s,
            &[
                "keyring",
                "pin",
                namespace,
                "--identity",
                kel,
                "--require-attestation",
                "--keyring",
                "trust",
            ],
        )
        .expect(0);
    }
    s.write("tool.tar", "tool\n");
    s.write("files.tar", "files\n");
    hm(
        &s,
        &[
            "sign",
            "--key",
            &key,
            "--identity",
            "org.example.kel",
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "tool.tar",
        ],
    )
    .expect(0);
    hm(
        &s,
        &[
            "sign",
            "--key",
            "file:files.key",
            "--passphrase-file",
            "pw",
            "--identity",
            "org.files.kel",
            "--name",
            "org.files.tool",
            "--version",
            "1.0.0",
            "files.tar",
        ],
    )
    .expect(0);
    let id = |reference: &str| {
        hm(&s, &["--json", "key", "show", reference])
            .expect(0)
            .json()["keyId"]
            .as_str()
            .unwrap()[..16]
            .to_owned()
    };
    let (yk_id, file_id) = (id(&key), id("file:files.key"));

    let verify = |artifact: &str, code: i32, test_root: bool| {
        let mut args = vec!["verify", "--keyring", "trust", "--no-record"];
        if test_root {
            args.extend(TEST_ROOT);
        }
        args.push(artifact);
        hm(&s, &args).expect(code).stdout
    };
    // The YubiKey release is trusted when its attestation chains to a trusted root.
    let out = verify("tool.tar", 0, true);
    assert!(
        out.starts_with(&format!(
            "tool.tar: trusted: org.example.tool@1.0.0 signed by key {yk_id} of identity hid:"
        )),
        "{out}"
    );
    // The file key has no attestation: refused, with the verdict saying so.
    let out = verify("files.tar", 1, true);
    assert_eq!(
        out,
        format!(
            "files.tar: rejected: bad-signature: the policy for org.files requires hardware \
             attestation, and signing key {file_id} of org.files.tool@1.0.0 has none\n"
        )
    );
    // The virtual card's root is never trusted by default.
    let out = verify("tool.tar", 1, false);
    assert!(
        out.starts_with(&format!(
            "tool.tar: rejected: bad-signature: the policy for org.example requires hardware \
             attestation, and signing key {yk_id} of org.example.tool@1.0.0 has an attestation \
             that does not verify: device certificate (slot F9) \"CN=YubiKey PIV Attestation\""
        )),
        "{out}"
    );
    // Without the bundle's copy, the attestation in the identity's inception still counts.
    let mut bundle: serde_json::Value =
        serde_json::from_str(&s.read("tool.tar.hallmark.json")).unwrap();
    bundle.as_object_mut().unwrap().remove("attestations");
    s.write("tool.tar.hallmark.json", bundle.to_string());
    verify("tool.tar", 0, true);
}

/// The decoded payload of an envelope.
fn payload(envelope: &serde_json::Value) -> serde_json::Value {
    let bytes = Base64::decode_vec(envelope["payload"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_registry_signs_with_a_yubikey() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    generate(&s, "9a", &["--touch-policy", "never"]);
    s.file_key("pub.key");
    s.file_key("pub-next.key");
    hm(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:pub.key",
            "--next-key",
            "file:pub-next.key",
            "--namespace",
            "org.acme",
            "--passphrase-file",
            "pw",
            "--out",
            "org.acme.kel",
        ],
    )
    .expect(0);
    hm(
        &s,
        &[
            "registry",
            "init",
            "--registry",
            "reg",
            "--key",
            &yk("9c"),
            "--next-key",
            &yk("9a"),
        ],
    )
    .expect(0);
    s.write("tool.tar", "tool\n");
    hm(
        &s,
        &[
            "sign",
            "--key",
            "file:pub.key",
            "--passphrase-file",
            "pw",
            "--identity",
            "org.acme.kel",
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "tool.tar",
        ],
    )
    .expect(0);
    let run = hm(&s, &["registry", "accept", "--registry", "reg", "tool.tar"]).expect(0);
    assert!(run.stdout.contains("accepted"), "{}", run.stdout);
    let bundle: serde_json::Value =
        serde_json::from_str(&s.read("tool.tar.hallmark.json")).unwrap();
    assert_eq!(bundle["receipts"].as_array().unwrap().len(), 1);
    hm(&s, &["registry", "verify-log", "--registry", "reg"]).expect(0);
    // The transparency log's checkpoint is signed on the YubiKey too: a consumer verifies it
    // with the registry's key from its key event log.
    let cp = s.read("reg/checkpoint");
    assert!(cp.contains("\n3\n"), "{cp}");
    hm(
        &s,
        &[
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "reg/registry.kel",
            "--location",
            "reg",
            "--keyring",
            "trust",
        ],
    )
    .expect(0);
    let run = hm(&s, &["keyring", "refresh", "--keyring", "trust"]).expect(0);
    assert_eq!(
        run.stdout,
        "registry `main`: checkpoint of 3 entries verified (held: 0); 0 key event log(s) extended\n"
    );
}

/// The user journey (see `hallmark_tests::journey`) with every key in a slot of one virtual
/// YubiKey.
fn yubikey_keys(s: &Scratch) -> Journey<'_> {
    Journey {
        scratch: s,
        keys: JourneyKeys {
            alice: yk("9c"),
            alice_next: yk("9a"),
            alice_next2: yk("9d"),
            mallory: yk("82"),
            mallory_next: yk("83"),
        },
        generate_args: Vec::new(),
        unlock_args: Vec::new(),
    }
}

#[test]
fn journey_pin_sign_verify_rotate_verify() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    yubikey_keys(&s).pin_sign_verify_rotate_verify();
}

#[test]
fn journey_after_a_compromised_rotation_the_old_key_is_revoked() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    yubikey_keys(&s).after_a_compromised_rotation_the_old_key_is_revoked();
}

// --- errors an operator acts on ------------------------------------------------------------------

/// Signs `a.bin` with `key`, as JSON; asserts the exit code, the error's code and message, and
/// that no bundle was written.
fn sign_fails(s: &Scratch, key: &str, exit: i32, code: &str, message: &str) -> Run {
    s.write("a.bin", "artifact\n");
    let run = hm(
        s,
        &[
            "--json",
            "sign",
            "--key",
            key,
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "a.bin",
        ],
    )
    .expect(exit);
    let json = json_error(&run);
    assert_eq!(json["error"]["code"], code, "{json}");
    assert_eq!(json["error"]["message"], message, "{json}");
    assert_eq!(json["exitCode"], exit);
    assert!(!s.join("a.bin.hallmark.json").exists());
    run
}

#[test]
fn no_yubikey() {
    let _guard = exclusive();
    for reader in [Reader::First, Reader::Second] {
        virtual_yubikey::vpcd::wait_for_reader(reader, false).unwrap_or_else(|e| panic!("{e}"));
    }
    let s = scratch();
    sign_fails(
        &s,
        &yk("9c"),
        4,
        "yubikey-not-connected",
        "no YubiKey with serial 12345678 is connected (connected: none)",
    );
    let run = sign_fails(
        &s,
        "yubikey:slot=9c",
        4,
        "yubikey-no-device",
        "no YubiKey found: plug one in",
    );
    assert!(
        run.stderr.ends_with(
            "error: no YubiKey found: plug one in\nhint: `hallmark key list` shows the YubiKeys \
             this machine sees\n"
        ),
        "{}",
        run.stderr
    );
    let run = hm(&s, &["key", "list"]).expect(0);
    assert_eq!(run.stdout, "no YubiKey connected\n");
}

#[test]
fn several_yubikeys_and_no_serial() {
    let _guard = exclusive();
    let _first = insert(CardConfig::new(SERIAL));
    let _second = VirtualYubiKey::insert(CardConfig::new(111), Reader::Second).unwrap();
    let s = scratch();
    sign_fails(
        &s,
        "yubikey:slot=9c",
        2,
        "yubikey-several-devices",
        "several YubiKeys are connected (serials 111, 12345678): name one in the key reference, \
         e.g. yubikey:serial=111;slot=9c",
    );
    // Naming one reaches that one; both are listed.
    generate(&s, "9c", &["--touch-policy", "never"]);
    let json = hm(&s, &["--json", "key", "list"]).expect(0).json();
    let serials: Vec<u64> = json["yubikeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials, [111, u64::from(SERIAL)]);
}

#[test]
fn firmware_before_5_7() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL).version(5, 4, 3));
    let s = scratch();
    let run = hm(&s, &["--json", "key", "generate", "--out", &yk("9c")]).expect(4);
    let json = run.json();
    assert_eq!(json["error"]["code"], "yubikey-firmware-too-old");
    assert_eq!(
        json["error"]["message"],
        "YubiKey 12345678 has firmware 5.4.3; Ed25519 keys need firmware 5.7.0 or later \
         (firmware cannot be upgraded: use a newer YubiKey)"
    );
    assert_eq!(card.card().counters.generate_requests, 0);
    let run = hm(&s, &["key", "list"]).expect(0);
    assert_eq!(
        run.stdout,
        "YubiKey 12345678  firmware 5.4.3  reader \"Virtual PCD 00 00\"\n  firmware 5.4.3 \
         cannot hold Ed25519 keys (5.7.0 or later needed)\n"
    );
}

#[test]
fn an_empty_slot() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    let run = sign_fails(
        &s,
        &yk("9d"),
        2,
        "yubikey-slot-empty",
        "slot 9d of YubiKey 12345678 holds no key: create one with `hallmark key generate --out \
         yubikey:serial=12345678;slot=9d`",
    );
    assert!(
        run.stderr
            .ends_with("hint: `hallmark key list` shows the keys each connected YubiKey holds\n"),
        "{}",
        run.stderr
    );
    assert_eq!(card.card().counters.pin_attempts, 0);
}

#[test]
fn a_wrong_pin_then_the_final_try_then_a_blocked_pin() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    s.write("wrong.pin", "654321\n");
    let wrong = format!("yubikey:serial={SERIAL};slot=9c?pin-source=file:wrong.pin");
    let attempts = || card.card().counters.pin_attempts;
    let start = attempts();
    for left in ["2 retries", "1 retry"] {
        let run = sign_fails(
            &s,
            &wrong,
            4,
            "yubikey-wrong-pin",
            &format!("wrong PIN for YubiKey 12345678: {left} left before the PIN is blocked"),
        );
        assert!(!run.stderr.contains("654321") && !run.stdout.contains("654321"));
    }
    assert_eq!(attempts() - start, 2, "one PIN per run, never retried");
    // The last retry is not spent unless asked for.
    let run = sign_fails(
        &s,
        &wrong,
        4,
        "yubikey-pin-final-try",
        "the PIN of YubiKey 12345678 has only ONE retry left; no PIN was sent, because a wrong \
         one would block it. Make sure the PIN source is right, then allow the final try \
         explicitly",
    );
    assert_eq!(
        run.json()["error"]["hint"],
        "once you are sure of the PIN, run the command again with --allow-final-pin-try"
    );
    assert_eq!(attempts() - start, 2);
    let run = hm(
        &s,
        &[
            "sign",
            "--key",
            &wrong,
            "--allow-final-pin-try",
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "a.bin",
        ],
    )
    .expect(4);
    assert!(
        run.stderr.ends_with(
            "error: the PIN of YubiKey 12345678 is blocked (that was the last retry): unblock \
             it with the PUK (`ykman piv access unblock-pin`)\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(attempts() - start, 3);
    // Blocked: even the right PIN is not sent.
    sign_fails(
        &s,
        &yk("9c"),
        4,
        "yubikey-pin-blocked",
        "the PIN of YubiKey 12345678 is blocked; no PIN was sent: unblock it with the PUK \
         (`ykman piv access unblock-pin`)",
    );
    assert_eq!(attempts() - start, 3);
    assert_eq!(card.card().pin_retries_left, 0);
}

#[test]
fn management_key_errors() {
    let _guard = exclusive();
    let custom = "00112233445566778899aabbccddeeff0011223344556677";
    let bytes: Vec<u8> = (0..24)
        .map(|i| u8::from_str_radix(&custom[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let card = insert(CardConfig::new(SERIAL).management_key(ManagementAlgorithm::Aes192, &bytes));
    let s = scratch();
    let generate_with = |reference: &str, exit: i32| {
        hm(
            &s,
            &[
                "--json",
                "key",
                "generate",
                "--out",
                reference,
                "--touch-policy",
                "never",
            ],
        )
        .expect(exit)
    };
    // Not the default, and none given.
    let run = generate_with(&yk("9c"), 2);
    assert_eq!(
        run.json()["error"]["code"],
        "yubikey-management-key-required"
    );
    assert_eq!(
        run.json()["error"]["message"],
        "YubiKey 12345678 does not use the default management key: give yours with \
         management-key-source=file:PATH, env:NAME or prompt in the key reference"
    );
    // Wrong: the device rejects it; nothing is generated.
    s.write("wrong.mgm", "01".repeat(24));
    let run = generate_with(
        &format!("{}&management-key-source=file:wrong.mgm", yk("9c")),
        4,
    );
    let json = run.json();
    assert_eq!(json["error"]["code"], "yubikey-management-key-rejected");
    assert_eq!(
        json["error"]["message"],
        "YubiKey 12345678 rejected the management key from file wrong.mgm: it is not the \
         management key set on this YubiKey"
    );
    assert!(!run.stdout.contains(&"01".repeat(24)) && !run.stderr.contains(&"01".repeat(24)));
    assert_eq!(card.card().counters.generate_requests, 0);
    // Right: from a file.
    s.write("right.mgm", format!("{custom}\n"));
    let run = generate_with(
        &format!("{}&management-key-source=file:right.mgm", yk("9c")),
        0,
    );
    assert!(!run.stdout.contains(custom) && !run.stderr.contains(custom));
    assert_eq!(card.card().counters.generate_requests, 1);
}

#[test]
fn removed_in_the_middle_of_a_batch() {
    let _guard = exclusive();
    let mut card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    {
        let mut state = card.card();
        state.faults.remove_at_signature = Some(state.counters.signature_requests + 3);
    }
    let names: Vec<String> = (1..=5).map(|i| format!("a{i}.bin")).collect();
    for name in &names {
        s.write(name, name.as_bytes());
    }
    let key = yk("9c");
    let mut args = vec![
        "--json",
        "sign",
        "--key",
        key.as_str(),
        "--name",
        "org.example.tool",
        "--version",
        "1.0.0",
    ];
    args.extend(names.iter().map(String::as_str));
    let run = hm(&s, &args).expect(4);
    let json = run.json();
    assert_eq!(json["error"]["code"], "yubikey-removed");
    assert_eq!(
        json["error"]["message"],
        "YubiKey 12345678 was removed while signing\n  signed (bundle written): a1.bin, \
         a2.bin\n  not signed: a3.bin, a4.bin, a5.bin"
    );
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            s.join(&format!("{name}.hallmark.json")).exists(),
            i < 2,
            "{name}"
        );
    }
    card.wait_removed().unwrap();
}

#[test]
fn a_touch_that_never_comes() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    generate(&s, "9a", &[]);
    card.card().faults.touch = virtual_yubikey::Touch::TimesOut;
    let run = sign_fails(
        &s,
        &yk("9a"),
        4,
        "yubikey-touch-timeout",
        "YubiKey 12345678 was not touched in time (slot 9a needs a touch to sign): run again \
         and touch the YubiKey when it blinks\n  signed (bundle written): none\n  not signed: \
         a.bin",
    );
    assert!(
        run.stderr
            .contains("touch your YubiKey (serial 12345678) to sign (1 of 1)\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_imported_key_signs_from_its_slot_and_is_never_attested() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    // RFC 8032 §7.1 TEST 1.
    let seed: Vec<u8> = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                    [2 * i..2 * i + 2],
                16,
            )
            .unwrap()
        })
        .collect();
    s.write("seed.bin", &seed);
    let public = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    let key = yk("9a");
    let json = hm(
        &s,
        &[
            "--json",
            "key",
            "import",
            "seed.bin",
            "--out",
            &key,
            "--pin-policy",
            "once",
            "--touch-policy",
            "never",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(json["publicKey"], public);
    assert_eq!(json["device"]["origin"], "imported");
    assert_eq!(json["device"]["pinPolicy"], "once");
    // The card holds the seed's key, marked imported, with the policies asked for.
    assert_eq!(public_key_of(&card, 0x9a), public);
    {
        let held = card.card();
        let slot = &held.slots[&0x9a];
        assert_eq!(slot.origin, virtual_yubikey::piv::Origin::Imported);
        assert_eq!((slot.pin_policy, slot.touch_policy), (2, 1));
    }

    // It signs from the slot.
    s.write("a.tar", "a\n");
    hm(
        &s,
        &[
            "sign",
            "--key",
            &key,
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "a.tar",
        ],
    )
    .expect(0);
    let run = hm(&s, &["verify", "--public-key", public, "a.tar"]).expect(0);
    assert!(run.stdout.starts_with("a.tar: trusted: "), "{}", run.stdout);

    // An occupied slot is not replaced without --force; the key never leaves the card.
    let run = hm(&s, &["key", "import", "seed.bin", "--out", &key]).expect(2);
    assert!(run.stderr.contains("slot 9a"), "{}", run.stderr);
    hm(
        &s,
        &[
            "key", "export", &key, "--format", "raw", "--out", "x.bin", "--yes",
        ],
    )
    .expect(5);
    // The YubiKey refuses to attest an imported key, and Hallmark says why.
    let run = hm(&s, &["key", "attest", &key, "--out-dir", "att"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("its key was imported, and a YubiKey attests only keys it generated"),
        "{}",
        run.stderr
    );
}

// --- the ceremony runbook --------------------------------------------------------------------------

/// The YubiKey variants of docs/ceremony.md (its ```` ```sh yubikey ```` blocks), run in order
/// as written against the two YubiKeys they name, each PIN in the file named after its serial.
/// Its rotation signs with keys on both YubiKeys: opening the second one selects the first
/// one's PIV application, which cleared the PIN verified for it until the ceremony learnt to
/// open every key before verifying any PIN.
#[test]
fn ceremony_runbook_yubikey_variants_run_as_written() {
    let _guard = exclusive();
    let _first = insert(CardConfig::new(SERIAL));
    let _second = VirtualYubiKey::insert(CardConfig::new(87654321), Reader::Second)
        .unwrap_or_else(|e| panic!("{e}"));
    let s = scratch();
    for serial in [SERIAL, 87654321] {
        s.write(&format!("{serial}.pin"), "123456\n");
    }
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ceremony.md");
    let printed = hallmark_tests::docs::run_doc_examples(
        &doc,
        s.path(),
        std::path::Path::new(env!("CARGO_BIN_EXE_hallmark")),
        hallmark_tests::docs::Blocks::Variant("yubikey"),
    );
    let mut rest = printed.as_str();
    for promised in [
        "committed to yk/org.example.kel",
        "yk/tool-1.2.0.tar: trusted: org.example.tool@1.2.0",
        "event #1 rotation ",
        "yk/tool-1.3.0.tar: trusted-after-rotation: org.example.tool@1.3.0",
    ] {
        match rest.find(promised) {
            Some(at) => rest = &rest[at + promised.len()..],
            None => panic!("{promised:?} (in order) in:\n{printed}"),
        }
    }
    // The inception carries the attestation of the key made on the first YubiKey, and the
    // rotation's transcript names both devices.
    let kel: serde_json::Value = serde_json::from_str(&s.read("yk/org.example.kel")).unwrap();
    assert_eq!(
        payload(&kel["events"][0])["attestations"][0]["format"],
        "yubikey-piv"
    );
    let transcript = s.read("yk/org.example.kel.1-rotate.transcript.json");
    let transcript = payload(&serde_json::from_str(&transcript).unwrap());
    let references: Vec<&str> = transcript["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        references,
        [
            "yubikey:serial=87654321;slot=9c",
            "yubikey:serial=12345678;slot=9c"
        ]
    );
}

/// Without a terminal, a YubiKey PIN that has no source says how to give one, whether a plain
/// signature or a ceremony needs it — and nothing is signed or written.
#[test]
fn a_yubikey_pin_needed_without_a_terminal_names_pin_source() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let s = scratch();
    generate(&s, "9c", &["--touch-policy", "never"]);
    s.file_key("next.key");
    s.write("a.tar", "a\n");
    let no_source = format!("yubikey:serial={SERIAL};slot=9c");
    let expected = "error: PIN for YubiKey 12345678 is needed but there is no terminal to ask on; \
                    give it in a file or an environment variable instead\nhint: name the PIN's \
                    source in the reference: yubikey:…?pin-source=file:PATH (or \
                    pin-source=env:NAME)\n";
    let run = hm(
        &s,
        &[
            "sign",
            "--key",
            &no_source,
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "a.tar",
        ],
    )
    .expect(2);
    assert!(run.stderr.ends_with(expected), "{}", run.stderr);
    assert!(!s.join("a.tar.hallmark.json").exists());
    let run = hm(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            &no_source,
            "--next-key",
            "file:next.key",
            "--namespace",
            "org.acme",
            "--out",
            "org.acme.kel",
        ],
    )
    .expect(2);
    assert!(run.stderr.ends_with(expected), "{}", run.stderr);
    assert!(!s.join("org.acme.kel").exists());
}
