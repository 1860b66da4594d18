//! The `hallmark` command with keys in AWS KMS, against ministack (a real AWS API emulator) on
//! loopback: generate, show, list, batch sign, verify with `hallmark verify` and with the
//! emulator's own Verify, the peer formats checked by minisign and ssh-keygen, the ceremony
//! journey with every key in KMS, a rotation from a file key to a KMS key, and the errors an
//! operator sees (exit code 4, or 2 for a bad reference).
//! Each test starts its own emulator; nothing reaches AWS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../hsm-adapters/tests/awskms/emulator.rs"]
mod emulator;

use emulator::{Emulator, REGION};
use hallmark_keyring::Bundle;
use hallmark_tests::Scratch;
use hallmark_tests::journey::{Journey, JourneyKeys};
use serde_json::json;

/// Variables of the AWS chain that must not leak in from the environment the tests run in.
const INHERITED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_KMS",
    "HALLMARK_AWSKMS_CONCURRENCY",
];

/// A scratch directory whose `hallmark` runs talk to a fresh emulator with its root
/// credentials.
fn setup() -> (Scratch, Emulator) {
    let mut s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    let emulator = Emulator::start(s.path(), true);
    for name in INHERITED {
        s.unset_env(name);
    }
    let config = s.join("aws-config").display().to_string();
    let credentials = s.join("aws-credentials").display().to_string();
    for (name, value) in [
        ("AWS_ENDPOINT_URL", emulator.endpoint().as_str()),
        ("AWS_ACCESS_KEY_ID", emulator::ROOT_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", emulator::ROOT_SECRET_KEY),
        ("AWS_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
    ] {
        s.set_env(name, value);
    }
    (s, emulator)
}

/// Writes `count` small artifacts `a0.bin`, `a1.bin`, … and returns their names.
fn artifacts(s: &Scratch, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("a{i}.bin")).collect();
    for (i, n) in names.iter().enumerate() {
        s.write(n, format!("artifact {i}"));
    }
    names
}

fn sign_args<'a>(key: &'a str, names: &'a [String]) -> Vec<&'a str> {
    let mut args = vec![
        "sign",
        "--key",
        key,
        "--name",
        "org.acme.tool",
        "--version",
        "1.0.0",
    ];
    args.extend(names.iter().map(String::as_str));
    args
}

#[test]
fn generate_show_list_sign_and_verify_with_hallmark_and_kms() {
    let (s, emulator) = setup();
    let run = s
        .run(["--json", "key", "generate", "--out", "awskms:alias/release"])
        .expect(0);
    let generated = run.json();
    let reference = format!("awskms:alias/release?region={REGION}");
    assert_eq!(generated["reference"], reference.as_str());
    let public = generated["publicKey"].as_str().unwrap().to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    let arn = generated["device"]["arn"].as_str().unwrap().to_owned();
    assert_eq!(generated["device"]["keySpec"], "ECC_NIST_EDWARDS25519");

    // The text form says what was made and how to sign with it.
    let run = s
        .run(["key", "generate", "--out", "awskms:alias/spare"])
        .expect(0);
    assert!(
        run.stdout.starts_with(&format!(
            "created awskms:alias/spare?region={REGION}\n  public key: ed25519:"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "  sign with:  hallmark sign --key 'awskms:alias/spare?region={REGION}' …\n"
        )),
        "{}",
        run.stdout
    );

    for shown in [
        "awskms:alias/release",
        reference.as_str(),
        &format!("awskms:{arn}"),
    ] {
        let run = s.run(["--json", "key", "show", shown]).expect(0);
        assert_eq!(run.json()["publicKey"], public.as_str(), "{shown}");
    }

    let run = s.run(["key", "list", "awskms:"]).expect(0);
    assert!(
        run.stdout
            .starts_with(&format!("AWS KMS {REGION} ({})\n", emulator.endpoint())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  alias/release  key ") && run.stdout.contains(", tagged by Hallmark"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("    {public}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("    {reference}\n")),
        "{}",
        run.stdout
    );
    let run = s.run(["--json", "key", "list", "awskms:"]).expect(0);
    let keys = &run.json()["awskms"][0]["keys"];
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
    assert_eq!(keys[0]["alias"], "alias/release");
    assert_eq!(keys[0]["publicKey"], public.as_str());
    assert_eq!(keys[0]["hallmarkTag"], true);
    let run = s.run(["key", "list", "awskms:?region=eu-west-1"]).expect(0);
    assert!(
        run.stdout.starts_with("AWS KMS eu-west-1 (")
            && run.stdout.contains("no aliases name Ed25519 signing keys"),
        "{}",
        run.stdout
    );
    let run = s.run(["key", "list", "awskms:alias/release"]).expect(2);
    assert!(
        run.stderr.contains("to list AWS KMS keys give awskms:"),
        "{}",
        run.stderr
    );

    // Many artifacts in one run, each with its bundle; hallmark verify trusts every one.
    let names = artifacts(&s, 30);
    let run = s.run(sign_args(&reference, &names)).expect(0);
    assert_eq!(run.stdout.lines().count(), 30, "{}", run.stdout);
    let mut args = vec!["verify", "--public-key", &public];
    args.extend(names.iter().map(String::as_str));
    let run = s.run(&args).expect(0);
    assert_eq!(
        run.stdout.matches(": trusted: org.acme.tool@1.0.0").count(),
        30,
        "{}",
        run.stdout
    );

    // KMS's own Verify accepts the signature over the statement's signing input, and refuses
    // it over anything else.
    let bundle = Bundle::from_json(s.read("a0.bin.hallmark.json").as_bytes()).unwrap();
    let input = bundle.statement.signing_input();
    let signature = bundle.statement.signatures()[0].sig;
    let admin = emulator.admin();
    let verdict = admin.kms_verify(&arn, &input, &signature);
    assert_eq!(verdict["ok"]["SignatureValid"], true, "{verdict}");
    let verdict = admin.kms_verify(&arn, &input[1..], &signature);
    assert_eq!(
        verdict["error"]["code"], "KMSInvalidSignatureException",
        "{verdict}"
    );
}

/// The user journey (see `hallmark_tests::journey`) with every key in AWS KMS: identity with a
/// pre-committed KMS key, pin, sign, verify, rotate to that key in a ceremony, sign, verify the
/// linked change.
fn kms_keys(s: &Scratch) -> Journey<'_> {
    Journey {
        scratch: s,
        keys: JourneyKeys {
            alice: "awskms:alias/alice".to_owned(),
            alice_next: "awskms:alias/alice-next".to_owned(),
            alice_next2: "awskms:alias/alice-next2".to_owned(),
            mallory: "awskms:alias/mallory".to_owned(),
            mallory_next: "awskms:alias/mallory-next".to_owned(),
        },
        generate_args: Vec::new(),
        unlock_args: Vec::new(),
    }
}

#[test]
fn journey_pin_sign_verify_rotate_verify() {
    let (s, _emulator) = setup();
    kms_keys(&s).pin_sign_verify_rotate_verify();
}

#[test]
fn journey_after_a_compromised_rotation_the_old_key_is_revoked() {
    let (s, _emulator) = setup();
    kms_keys(&s).after_a_compromised_rotation_the_old_key_is_revoked();
}

/// A publisher moves from a file key to a key in KMS: the identity pre-commits the KMS key,
/// the ceremony rotates to it, and releases signed through KMS verify as a linked change.
#[test]
fn rotate_from_a_file_key_to_a_kms_key() {
    let (s, _emulator) = setup();
    s.file_key("laptop.key");
    s.run(["key", "generate", "--out", "awskms:alias/release"])
        .expect(0);
    s.run(["key", "generate", "--out", "awskms:alias/release-next"])
        .expect(0);
    s.run([
        "ceremony",
        "init",
        "--key",
        "file:laptop.key",
        "--next-key",
        "awskms:alias/release",
        "--namespace",
        "org.example",
        "--out",
        "org.example.kel",
        "--passphrase-file",
        "pw",
    ])
    .expect(0);
    s.run([
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "org.example.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    s.run([
        "ceremony",
        "rotate",
        "--identity",
        "org.example.kel",
        "--key",
        "awskms:alias/release",
        "--next-key",
        "awskms:alias/release-next",
    ])
    .expect(0);
    s.write("tool-2.0.0.tar", b"tool 2.0.0\n");
    s.run([
        "sign",
        "--key",
        "awskms:alias/release",
        "--identity",
        "org.example.kel",
        "--name",
        "org.example.tool",
        "--version",
        "2.0.0",
        "tool-2.0.0.tar",
    ])
    .expect(0);
    let run = s
        .run(["verify", "--keyring", "trust", "tool-2.0.0.tar"])
        .expect(0);
    assert!(
        run.stdout.contains("trusted-after-rotation"),
        "{}",
        run.stdout
    );
}

/// Runs `hallmark sign` of one artifact with `key` and returns the run; nothing may be written.
fn sign_one(s: &Scratch, key: &str, code: i32) -> hallmark_tests::Run {
    s.write("a.bin", "x");
    let run = s
        .run([
            "sign",
            "--key",
            key,
            "--name",
            "org.acme.tool",
            "--version",
            "1",
            "a.bin",
        ])
        .expect(code);
    assert!(!s.join("a.bin.hallmark.json").exists());
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    run
}

#[test]
fn kms_errors_exit_4_with_what_to_do() {
    let (mut s, emulator) = setup();
    let admin = emulator.admin();
    s.run(["key", "generate", "--out", "awskms:alias/release"])
        .expect(0);

    // Disabled, then pending deletion.
    admin.admin_ok("kms", "disable_key", json!({"KeyId": "alias/release"}));
    let run = sign_one(&s, "awskms:alias/release", 4);
    assert!(
        run.stderr.contains("is disabled; enable it"),
        "{}",
        run.stderr
    );
    admin.admin_ok(
        "kms",
        "schedule_key_deletion",
        json!({"KeyId": "alias/release", "PendingWindowInDays": 7}),
    );
    let run = sign_one(&s, "awskms:alias/release", 4);
    assert!(run.stderr.contains("is pending deletion"), "{}", run.stderr);

    // Not an Ed25519 key.
    let (p256, _) = admin.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let run = sign_one(&s, &format!("awskms:{p256}"), 4);
    assert!(
        run.stderr
            .contains("has key spec ECC_NIST_P256; Hallmark signs only with Ed25519 keys"),
        "{}",
        run.stderr
    );

    // The wrong region.
    let run = sign_one(&s, "awskms:alias/release?region=eu-west-1", 4);
    assert!(
        run.stderr
            .contains("no AWS KMS key alias/release in region eu-west-1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: `hallmark key list awskms:?region=REGION`"),
        "{}",
        run.stderr
    );

    // Access denied, naming the permission.
    s.run(["key", "generate", "--out", "awskms:alias/ci"])
        .expect(0);
    let (access, secret) = admin.iam_user("reader", &["kms:GetPublicKey"]);
    let run = s.run_env(
        [
            "sign",
            "--key",
            "awskms:alias/ci",
            "--name",
            "org.acme.tool",
            "--version",
            "1",
            "a.bin",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &access),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    let run = run.expect(4);
    assert!(
        run.stderr.contains("needs the IAM permission kms:Sign"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&secret), "{}", run.stderr);

    // Nothing listening.
    let closed = emulator::free_port();
    let run = s
        .run_env(
            ["key", "show", "awskms:alias/ci"],
            &[("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{closed}"))],
        )
        .expect(4);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach AWS KMS at http://127.0.0.1:{closed}"
        )),
        "{}",
        run.stderr
    );

    // No credentials at all.
    s.unset_env("AWS_ACCESS_KEY_ID");
    s.unset_env("AWS_SECRET_ACCESS_KEY");
    let run = sign_one(&s, "awskms:alias/ci", 4);
    assert!(
        run.stderr.starts_with("error: no AWS credentials"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_references_and_settings_are_usage_errors() {
    let (s, _emulator) = setup();
    let run = sign_one(&s, "awskms:release", 2);
    assert!(
        run.stderr
            .starts_with("error: \"release\" is not an AWS KMS key name"),
        "{}",
        run.stderr
    );
    let run = sign_one(&s, "awskms:alias/release?profile=prod", 2);
    assert!(
        run.stderr
            .contains("profile is not accepted in a key reference"),
        "{}",
        run.stderr
    );
    let run = s
        .run([
            "key",
            "generate",
            "--out",
            "awskms:1234abcd-12ab-34cd-56ef-1234567890ab",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("a new key is named by its alias"),
        "{}",
        run.stderr
    );
    s.run(["key", "generate", "--out", "awskms:alias/release"])
        .expect(0);
    let run = s
        .run(["key", "generate", "--out", "awskms:alias/release"])
        .expect(2);
    assert!(
        run.stderr
            .contains("the alias alias/release already exists"),
        "{}",
        run.stderr
    );
    let run = s
        .run_env(
            [
                "sign",
                "--key",
                "awskms:alias/release",
                "--name",
                "org.acme.tool",
                "--version",
                "1",
                "a.bin",
            ],
            &[("HALLMARK_AWSKMS_CONCURRENCY", "0")],
        )
        .expect(2);
    assert!(
        run.stderr
            .contains("HALLMARK_AWSKMS_CONCURRENCY=\"0\" is not a number of concurrent requests"),
        "{}",
        run.stderr
    );
}

/// The peer formats through KMS: `minisign -V` and `ssh-keygen -Y verify` accept the
/// signatures, and refuse a tampered file and another key.
#[test]
fn peer_formats_sign_through_kms() {
    let (s, _emulator) = setup();
    s.run(["key", "generate", "--out", "awskms:alias/release"])
        .expect(0);
    hallmark_tests::peers::hallmark_signs_peers_verify(&s, "awskms:alias/release");
}

/// KMS starts throttling in the middle of a run (a fault injector in front of the emulator
/// forwards the check signature and four signatures, then throttles every request): the run
/// retries, gives up, keeps the bundles of the artifacts signed before the failure, and lists
/// what was and was not signed.
#[test]
fn a_batch_throttled_part_way_reports_what_was_signed() {
    let (s, emulator) = setup();
    let public = s
        .run(["--json", "key", "generate", "--out", "awskms:alias/release"])
        .expect(0)
        .json()["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let throttler = emulator::Throttler::start_after(emulator.port(), 1 + 4, usize::MAX);
    let names = artifacts(&s, 10);
    let run = s
        .run_env(
            sign_args("awskms:alias/release", &names),
            &[
                ("AWS_ENDPOINT_URL", &throttler.endpoint()),
                ("HALLMARK_AWSKMS_CONCURRENCY", "1"),
            ],
        )
        .expect(4);
    assert!(
        run.stderr
            .contains("AWS KMS throttled Sign on arn:aws:kms:us-east-1:")
            && run.stderr.contains(" 8 times in a row (Rate exceeded)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "  signed (bundle written): a0.bin, a1.bin, a2.bin, a3.bin\n  not signed: a4.bin, \
             a5.bin, a6.bin, a7.bin, a8.bin, a9.bin"
        ),
        "{}",
        run.stderr
    );
    for (i, name) in names.iter().enumerate() {
        let bundle = s.join(&format!("{name}.hallmark.json"));
        assert_eq!(bundle.exists(), i < 4, "{name}");
    }
    let mut args = vec!["verify", "--public-key", &public];
    args.extend(names[..4].iter().map(String::as_str));
    s.run(&args).expect(0);
}
