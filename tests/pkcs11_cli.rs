//! The `hallmark` command with keys inside PKCS#11 tokens, against the real SoftHSM2 module (or
//! the module named by `HALLMARK_TEST_PKCS11_MODULE`): generate, list, batch sign, verify, and
//! the errors an operator sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hallmark_tests::journey::{Journey, JourneyKeys};
use hallmark_tests::{Scratch, pkcs11_ref, softhsm_tokens};

fn scratch_with_token() -> Scratch {
    let mut s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    softhsm_tokens(&mut s, &["ci"]);
    s
}

fn generate(s: &Scratch, object: &str) -> String {
    let run = s
        .run([
            "--json",
            "key",
            "generate",
            "--out",
            &pkcs11_ref(s, "ci", object),
        ])
        .expect(0);
    run.json()["publicKey"].as_str().unwrap().to_owned()
}

#[test]
fn generate_list_show() {
    let s = scratch_with_token();
    let public = generate(&s, "release");
    assert!(public.starts_with("ed25519:"));

    let run = s
        .run([
            "key",
            "list",
            &format!("{}&pin-source=file:token.pin", pkcs11_ref_module(&s)),
        ])
        .expect(0);
    assert!(run.stdout.contains("token \"ci\""), "{}", run.stdout);
    assert!(run.stdout.contains(&public), "{}", run.stdout);
    assert!(run.stdout.contains("object=release"), "{}", run.stdout);

    let run = s
        .run(["--json", "key", "show", &pkcs11_ref(&s, "ci", "release")])
        .expect(0);
    assert_eq!(run.json()["publicKey"], public.as_str());

    // The same label twice is refused.
    let run = s
        .run(["key", "generate", "--out", &pkcs11_ref(&s, "ci", "release")])
        .expect(2);
    assert!(run.stderr.contains("release"), "{}", run.stderr);
}

fn pkcs11_ref_module(_s: &Scratch) -> String {
    format!("pkcs11:?module-path={}", hallmark_tests::pkcs11_module())
}

/// Writes `count` small artifacts `a0.bin`, `a1.bin`, … and returns their names.
fn artifacts(s: &Scratch, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("a{i}.bin")).collect();
    for (i, n) in names.iter().enumerate() {
        s.write(n, format!("artifact {i}"));
    }
    names
}

/// `hallmark sign` of every artifact with `key`, in one run.
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

/// How many of the artifacts `hallmark verify` finds trusted under `public`.
fn trusted(s: &Scratch, public: &str, names: &[String]) -> usize {
    let mut args = vec!["verify", "--public-key", public];
    args.extend(names.iter().map(String::as_str));
    let run = s.run(&args).expect(0);
    run.stdout.matches(": trusted: org.acme.tool@1.0.0").count()
}

#[test]
fn batch_sign_and_verify() {
    let s = scratch_with_token();
    let public = generate(&s, "release");
    let names = artifacts(&s, 50);
    let key = pkcs11_ref(&s, "ci", "release");
    let run = s.run(sign_args(&key, &names)).expect(0);
    assert_eq!(run.stdout.lines().count(), 50, "{}", run.stdout);
    assert_eq!(trusted(&s, &public, &names), 50);
}

#[test]
fn sessions_are_chosen_by_environment_and_a_bad_count_is_a_usage_error() {
    let s = scratch_with_token();
    let public = generate(&s, "release");
    let names = artifacts(&s, 20);
    let key = pkcs11_ref(&s, "ci", "release");
    let args = sign_args(&key, &names);

    for bad in ["0", "many"] {
        let run = s
            .run_env(&args, &[("HALLMARK_PKCS11_SESSIONS", bad)])
            .expect(2);
        assert_eq!(
            run.stderr,
            format!(
                "error: HALLMARK_PKCS11_SESSIONS=\"{bad}\" is not a number of sessions: give a \
                 whole number from 1 to 16 (1 signs through a single session), or unset it to \
                 let Hallmark choose\n"
            )
        );
        assert!(!s.join("a0.bin.hallmark.json").exists());
    }

    for sessions in ["1", "4"] {
        s.run_env(
            args.iter().copied().chain(["--force"]),
            &[("HALLMARK_PKCS11_SESSIONS", sessions)],
        )
        .expect(0);
        assert_eq!(trusted(&s, &public, &names), 20, "{sessions} sessions");
    }
}

#[test]
fn wrong_pin_is_a_token_error_and_writes_nothing() {
    let s = scratch_with_token();
    generate(&s, "release");
    s.write("wrong.pin", "654321\n");
    s.write("a.bin", "x");
    let key = pkcs11_ref(&s, "ci", "release").replace("token.pin", "wrong.pin");
    let run = s
        .run([
            "sign",
            "--key",
            &key,
            "--name",
            "org.acme.tool",
            "--version",
            "1",
            "a.bin",
        ])
        .expect(4);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.to_lowercase().contains("pin"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("654321") && !run.stdout.contains("654321"),
        "the PIN leaked: {}",
        run.stderr
    );
    assert!(!s.join("a.bin.hallmark.json").exists());
}

#[test]
fn missing_key_and_missing_token_are_clear() {
    let s = scratch_with_token();
    s.write("a.bin", "x");
    let run = s
        .run([
            "sign",
            "--key",
            &pkcs11_ref(&s, "ci", "nope"),
            "--name",
            "org.acme.tool",
            "--version",
            "1",
            "a.bin",
        ])
        .expect(2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    let run = s
        .run([
            "sign",
            "--key",
            &pkcs11_ref(&s, "absent", "release"),
            "--name",
            "org.acme.tool",
            "--version",
            "1",
            "a.bin",
        ])
        .expect(4);
    assert!(
        run.stderr.contains("absent") && run.stderr.contains("ci"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_uri_is_a_usage_error() {
    let s = scratch_with_token();
    let run = s
        .run(["key", "generate", "--out", "pkcs11:token=ci;object=%zz"])
        .expect(2);
    assert!(
        run.stderr.starts_with("error: invalid PKCS#11 URI"),
        "{}",
        run.stderr
    );
}

/// The user journey (see `hallmark_tests::journey`) with every key in a SoftHSM2 token.
fn token_keys(s: &Scratch) -> Journey<'_> {
    Journey {
        scratch: s,
        keys: JourneyKeys {
            alice: pkcs11_ref(s, "ci", "alice"),
            alice_next: pkcs11_ref(s, "ci", "alice-next"),
            alice_next2: pkcs11_ref(s, "ci", "alice-next2"),
            mallory: pkcs11_ref(s, "ci", "mallory"),
            mallory_next: pkcs11_ref(s, "ci", "mallory-next"),
        },
        generate_args: Vec::new(),
        unlock_args: Vec::new(),
    }
}

#[test]
fn journey_pin_sign_verify_rotate_verify() {
    let s = scratch_with_token();
    token_keys(&s).pin_sign_verify_rotate_verify();
}

#[test]
fn journey_after_a_compromised_rotation_the_old_key_is_revoked() {
    let s = scratch_with_token();
    token_keys(&s).after_a_compromised_rotation_the_old_key_is_revoked();
}

/// `key generate` killed before each of a sample of its writes (SIGKILL injected by `strace`)
/// never leaves a key under the label asked for without its private key: the remains are under
/// the pending label, `key list` marks them as orphans, `key list --remove-orphans` removes
/// them, and the label can then be generated again.
#[test]
fn a_killed_key_generation_leaves_no_half_pair_under_its_label() {
    let s = scratch_with_token();
    let module = hallmark_tests::pkcs11_module();
    let list_uri = format!(
        "pkcs11:token=ci?module-path={module}&pin-source=file:{}",
        s.join("token.pin").display()
    );
    let keys = |s: &Scratch| -> Vec<serde_json::Value> {
        let run = s.run(["--json", "key", "list", &list_uri]).expect(0);
        run.json()["pkcs11"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|slot| slot["token"]["keys"].as_array().cloned())
            .flatten()
            .collect()
    };
    // Count the writes of a clean generation (module, token files, output).
    let trace = s.join("trace.txt");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=write", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_hallmark"))
        .args(["key", "generate", "--out", &pkcs11_ref(&s, "ci", "clean")])
        .env("SOFTHSM2_CONF", s.join("softhsm2.conf"))
        .output()
        .expect("strace is needed (scripts/test.sh installs it)");
    assert!(out.status.success());
    let writes = std::fs::read_to_string(&trace).unwrap().lines().count();
    let points: Vec<usize> = (1..=writes).step_by((writes / 12).max(1)).collect();
    for &n in &points {
        let out = std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null"])
            .arg(format!("-einject=write:signal=KILL:when={n}"))
            .arg(env!("CARGO_BIN_EXE_hallmark"))
            .args([
                "key",
                "generate",
                "--out",
                &pkcs11_ref(&s, "ci", &format!("w{n}")),
            ])
            .env("SOFTHSM2_CONF", s.join("softhsm2.conf"))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "write #{n} of {writes} was not reached"
        );
    }
    let labelled = |k: &serde_json::Value| {
        k["label"]
            .as_str()
            .is_some_and(|l| l.starts_with('w') || l == "clean")
    };
    for key in keys(&s).iter().filter(|k| labelled(k)) {
        assert!(
            key["orphan"].is_null() && key["publicKey"].is_string(),
            "a half key pair under its label: {key}"
        );
    }
    let orphans = keys(&s).iter().filter(|k| !k["orphan"].is_null()).count();
    assert!(orphans > 0, "no kill left anything to clean up");
    let run = s
        .run(["key", "list", "--remove-orphans", &list_uri])
        .expect(0);
    // A pending pair is one entry of the list and two objects removed.
    assert!(
        run.stderr.matches("removed ").count() + run.stderr.matches("finished ").count() >= orphans,
        "{}",
        run.stderr
    );
    let after = keys(&s);
    assert!(after.iter().all(|k| k["orphan"].is_null()), "{after:?}");
    // Every label either holds a complete key (a second generation is refused) or nothing
    // (generating it again works).
    for &n in &points {
        let label = format!("w{n}");
        let exists = after.iter().any(|k| k["label"] == label.as_str());
        let run = s.run(["key", "generate", "--out", &pkcs11_ref(&s, "ci", &label)]);
        assert_eq!(
            run.code,
            if exists { 2 } else { 0 },
            "{label}: {}",
            run.stderr
        );
    }
    // Without a PIN source nothing can be removed: a clear usage error.
    let run = s
        .run([
            "key",
            "list",
            "--remove-orphans",
            &format!("pkcs11:token=ci?module-path={module}"),
        ])
        .expect(2);
    assert!(
        run.stderr.contains("--remove-orphans needs"),
        "{}",
        run.stderr
    );
}

/// Set, with `SOFTHSM2_CONF`, when this test binary runs itself again to look into the token:
/// the label of the imported private key. SoftHSM2 reads `SOFTHSM2_CONF` once, at
/// `C_Initialize`, so the check runs in a process started with it.
const READ_BACK_LABEL: &str = "HALLMARK_TEST_READ_BACK_LABEL";

/// In the process started by [`an_imported_key_signs_and_its_value_cannot_be_read_back`]: the
/// token says the imported key's value is sensitive, and its template held.
fn check_not_readable(label: &str) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    let ctx = Pkcs11::new(hallmark_tests::pkcs11_module()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| ctx.get_token_info(*slot).unwrap().label() == "ci")
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(
            UserType::User,
            Some(&hallmark_tests::TOKEN_PIN.to_owned().into()),
        )
        .unwrap();
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1, "one private key labelled {label}");
    let info = session
        .get_attribute_info(found[0], &[AttributeType::Value])
        .unwrap();
    assert!(
        matches!(info.as_slice(), [AttributeInfo::Sensitive]),
        "the key's CKA_VALUE: {info:?}"
    );
    let attributes = session
        .get_attributes(
            found[0],
            &[
                AttributeType::Value,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
                AttributeType::Sign,
            ],
        )
        .unwrap();
    assert_eq!(
        attributes,
        [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Token(true),
            Attribute::Sign(true),
        ]
    );
}

#[test]
fn an_imported_key_signs_and_its_value_cannot_be_read_back() {
    if let Ok(label) = std::env::var(READ_BACK_LABEL) {
        check_not_readable(&label);
        return;
    }
    let s = scratch_with_token();
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
    let reference = pkcs11_ref(&s, "ci", "imported");
    let json = s
        .run(["--json", "key", "import", "seed.bin", "--out", &reference])
        .expect(0)
        .json();
    let public = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    assert_eq!(json["publicKey"], public);
    assert_eq!(json["format"], "raw");
    // File-key flags do not apply, and an existing label is never replaced.
    let run = s
        .run(["key", "import", "seed.bin", "--out", &reference])
        .expect(2);
    assert!(
        run.stderr
            .contains("already has an object labelled 'imported'"),
        "{}",
        run.stderr
    );
    let run = s
        .run([
            "key",
            "import",
            "seed.bin",
            "--out",
            &pkcs11_ref(&s, "ci", "other"),
            "--new-passphrase-file",
            "pw",
        ])
        .expect(2);
    assert!(
        run.stderr
            .contains("--new-passphrase-file applies to imports into a key file"),
        "{}",
        run.stderr
    );

    // The token signs with it: a release verifies under the seed's public key.
    let names = artifacts(&s, 1);
    let args = sign_args(json["reference"].as_str().unwrap(), &names);
    s.run(&args).expect(0);
    assert_eq!(trusted(&s, public, &names), 1);
    // And exporting it is refused.
    s.run([
        "key", "export", &reference, "--format", "raw", "--out", "x.bin", "--yes",
    ])
    .expect(5);

    let checked = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_imported_key_signs_and_its_value_cannot_be_read_back",
            "--nocapture",
        ])
        .env(READ_BACK_LABEL, "imported")
        .env("SOFTHSM2_CONF", s.join("softhsm2.conf"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
