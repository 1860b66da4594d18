//! The `hallmark` command end to end on file keys: generate, hash, sign, verify, and every kind
//! of bad input — each with its exact message and exit code, and nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use hallmark_tests::{Run, Scratch};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// A scratch dir with key `alice.key` and a signed `tool-1.2.0.tar`.
fn signed() -> Scratch {
    let s = scratch();
    s.file_key("alice.key");
    s.write("tool-1.2.0.tar", b"release contents\n");
    sign(&s, "alice.key", "tool-1.2.0.tar").expect(0);
    s
}

fn sign(s: &Scratch, key: &str, artifact: &str) -> Run {
    s.run([
        "sign",
        "--key",
        &format!("file:{key}"),
        "--passphrase-file",
        "pw",
        "--name",
        "org.acme.tool",
        "--version",
        "1.2.0",
        artifact,
    ])
}

fn verify(s: &Scratch, key: &str, artifact: &str) -> Run {
    s.run(["verify", "--public-key", &format!("file:{key}"), artifact])
}

fn sha256_hex(bytes: &[u8]) -> String {
    // An independent implementation: coreutils.
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn generate_writes_private_0600_and_public_and_never_overwrites() {
    let s = scratch();
    let public = s.file_key("alice.key");
    assert!(public.starts_with("ed25519:"), "{public}");
    let mode = std::fs::metadata(s.join("alice.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        s.read("alice.key")
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );

    let before = s.read("alice.key");
    let run = s
        .run([
            "key",
            "generate",
            "--out",
            "file:alice.key",
            "--passphrase-file",
            "pw",
        ])
        .expect(2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: {} already exists; refusing to overwrite it",
            "alice.key"
        )
    );
    assert_eq!(s.read("alice.key"), before);
}

#[test]
fn key_show_prints_key_and_id() {
    let s = scratch();
    let public = s.file_key("alice.key");
    let run = s.run(["key", "show", "file:alice.key"]).expect(0);
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next().unwrap(), public);
    assert!(lines.next().unwrap().starts_with("key id: "));
    let json = s
        .run(["--json", "key", "show", "alice.key.pub"])
        .expect(0)
        .json();
    assert_eq!(json["publicKey"], public.as_str());
    assert_eq!(json["keyId"].as_str().unwrap().len(), 64);
}

#[test]
fn hash_of_a_file_matches_sha256sum() {
    let s = scratch();
    s.write("a.bin", b"hallmark\n");
    let run = s.run(["hash", "a.bin"]).expect(0);
    assert_eq!(
        run.stdout,
        format!("sha256:{}  a.bin\n", sha256_hex(b"hallmark\n"))
    );
    let json = s.run(["hash", "--json", "a.bin"]).expect(0).json();
    assert_eq!(
        json["results"][0]["digest"],
        format!("sha256:{}", sha256_hex(b"hallmark\n"))
    );
}

#[test]
fn sign_and_verify_trusted() {
    let s = signed();
    let bundle: serde_json::Value =
        serde_json::from_str(&s.read("tool-1.2.0.tar.hallmark.json")).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.hallmark.bundle.v1+json"
    );
    assert_eq!(
        bundle["statement"]["payloadType"],
        "application/vnd.hallmark.statement.v1+json"
    );

    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(0);
    assert!(
        run.stdout
            .starts_with("tool-1.2.0.tar: trusted: org.acme.tool@1.2.0 (sha256:"),
        "{}",
        run.stdout
    );
    let json = s
        .run([
            "verify",
            "--json",
            "--public-key",
            "file:alice.key",
            "tool-1.2.0.tar",
        ])
        .expect(0)
        .json();
    assert_eq!(json["results"][0]["verdict"], "trusted");
    assert_eq!(json["results"][0]["release"], "org.acme.tool@1.2.0");
}

#[test]
fn sign_many_artifacts_in_one_run() {
    let s = scratch();
    s.file_key("alice.key");
    let names: Vec<String> = (0..20).map(|i| format!("a{i}.bin")).collect();
    for (i, n) in names.iter().enumerate() {
        s.write(n, format!("artifact {i}"));
    }
    let mut args = vec![
        "sign",
        "--key",
        "file:alice.key",
        "--passphrase-file",
        "pw",
        "--name",
        "org.acme.tool",
        "--version",
        "1.0.0",
    ];
    args.extend(names.iter().map(String::as_str));
    let run = s.run(&args).expect(0);
    assert_eq!(run.stdout.lines().count(), 20);
    let mut vargs = vec!["verify", "--public-key", "file:alice.key"];
    vargs.extend(names.iter().map(String::as_str));
    let run = s.run(&vargs).expect(0);
    assert_eq!(
        run.stdout.matches(": trusted: org.acme.tool@1.0.0").count(),
        20
    );
}

#[test]
fn tampered_artifact_is_a_digest_mismatch() {
    let s = signed();
    let original = sha256_hex(b"release contents\n");
    s.write("tool-1.2.0.tar", b"release contents!\n");
    let tampered = sha256_hex(b"release contents!\n");
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "tool-1.2.0.tar: rejected: digest-mismatch: digest mismatch for org.acme.tool@1.2.0: \
             expected sha256:{original}, got sha256:{tampered}; this artifact may have been tampered with\n"
        )
    );
}

/// Starts `hallmark ARGS` in the scratch directory with standard output on a pipe.
fn spawn_piped(s: &Scratch, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_hallmark"))
        .args(args)
        .current_dir(s.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_reader_that_goes_away_ends_the_output_not_the_command() {
    use std::io::BufRead;
    // `hallmark hash … | head -1`: 2,000 lines (about 150 KB, more than a pipe holds) into a
    // reader that stops after the first.
    let s = scratch();
    let names: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        s.write(name, i.to_string());
    }
    let expected_first = s.run(["hash", "f0"]).expect(0).stdout;
    let mut args = vec!["hash"];
    args.extend(names.iter().map(String::as_str));
    let mut child = spawn_piped(&s, &args);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(first, expected_first);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // A verdict still decides the exit code when nobody reads it.
    let s = signed();
    s.write("tool-1.2.0.tar", b"release contents!\n");
    let mut child = spawn_piped(
        &s,
        &["verify", "--public-key", "file:alice.key", "tool-1.2.0.tar"],
    );
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // Any other write error is one: output that was lost is not a success.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallmark"))
        .args(["hash", "tool-1.2.0.tar"])
        .current_dir(s.path())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn bundle_for_another_artifact_is_a_digest_mismatch() {
    let s = signed();
    s.write("other.tar", b"something else\n");
    std::fs::copy(
        s.join("tool-1.2.0.tar.hallmark.json"),
        s.join("other.tar.hallmark.json"),
    )
    .unwrap();
    let run = verify(&s, "alice.key", "other.tar").expect(1);
    assert!(
        run.stdout.starts_with(
            "other.tar: rejected: digest-mismatch: digest mismatch for org.acme.tool@1.2.0"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn signature_from_another_key_is_an_unlinked_signer_change() {
    let s = signed();
    s.file_key("mallory.key");
    let alice = s
        .run(["--json", "key", "show", "file:alice.key"])
        .expect(0)
        .json();
    let mallory = s
        .run(["--json", "key", "show", "file:mallory.key"])
        .expect(0)
        .json();
    let short = |v: &serde_json::Value| v["keyId"].as_str().unwrap()[..16].to_owned();
    let run = verify(&s, "mallory.key", "tool-1.2.0.tar").expect(1);
    assert_eq!(
        run.stdout,
        format!(
            "tool-1.2.0.tar: rejected: unlinked-signer-change: org.acme.tool@1.2.0 is signed by key {}, \
             not by the expected key {}, and nothing links them\n",
            short(&alice),
            short(&mallory)
        )
    );
}

#[test]
fn forged_signature_is_a_bad_signature() {
    let s = signed();
    let text = s.read("tool-1.2.0.tar.hallmark.json");
    let mut bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sig = bundle["statement"]["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    // Flip a bit in the signature's base64 while keeping it canonical.
    let mut chars: Vec<char> = sig.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    bundle["statement"]["signatures"][0]["sig"] = chars.into_iter().collect::<String>().into();
    s.write(
        "tool-1.2.0.tar.hallmark.json",
        serde_json::to_vec_pretty(&bundle).unwrap(),
    );
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(1);
    assert!(
        run.stdout
            .contains(": rejected: bad-signature: the signature by key ")
            && run.stdout.contains(
                " on org.acme.tool@1.2.0 does not verify; the bundle was altered or is corrupt"
            ),
        "{}",
        run.stdout
    );
}

#[test]
fn truncated_and_garbage_bundles_are_input_errors() {
    let s = signed();
    let text = s.read("tool-1.2.0.tar.hallmark.json");
    s.write("tool-1.2.0.tar.hallmark.json", &text[..text.len() / 2]);
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(2);
    assert!(
        run.stderr.starts_with(
            "error: bundle tool-1.2.0.tar.hallmark.json is damaged or not a Hallmark bundle: bundle is malformed: EOF while parsing"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");

    s.write("tool-1.2.0.tar.hallmark.json", b"\x00\xffgarbage");
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(2);
    assert!(run.stderr.contains("is damaged or not a Hallmark bundle: bundle is malformed: expected value at line 1 column 1"), "{}", run.stderr);

    std::fs::remove_file(s.join("tool-1.2.0.tar.hallmark.json")).unwrap();
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: no bundle for tool-1.2.0.tar: expected tool-1.2.0.tar.hallmark.json; sign it with `hallmark sign`, or name the bundle with --bundle"
    );
}

#[test]
fn envelope_of_the_wrong_payload_type_is_refused() {
    let s = signed();
    let text = s.read("tool-1.2.0.tar.hallmark.json");
    s.write(
        "tool-1.2.0.tar.hallmark.json",
        text.replace(
            "application/vnd.hallmark.statement.v1+json",
            "application/vnd.hallmark.key-event.v1+json",
        ),
    );
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: bundle tool-1.2.0.tar.hallmark.json is damaged or not a Hallmark bundle: expected a package statement envelope, found a key event envelope"
    );
}

#[test]
fn unknown_fields_and_non_canonical_payloads_are_refused() {
    let s = signed();
    let text = s.read("tool-1.2.0.tar.hallmark.json");
    let mut bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    bundle["extra"] = 1.into();
    s.write(
        "tool-1.2.0.tar.hallmark.json",
        serde_json::to_vec(&bundle).unwrap(),
    );
    let run = verify(&s, "alice.key", "tool-1.2.0.tar").expect(2);
    assert!(
        run.stderr.contains("unknown field `extra`"),
        "{}",
        run.stderr
    );
}

#[test]
fn wrong_passphrase_writes_nothing() {
    let s = scratch();
    s.file_key("alice.key");
    s.write("tool.tar", b"x");
    s.write("wrong", b"not the passphrase\n");
    let run = s
        .run([
            "sign",
            "--key",
            "file:alice.key",
            "--passphrase-file",
            "wrong",
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "tool.tar",
        ])
        .expect(2);
    assert_eq!(run.stderr.trim(), "error: wrong passphrase for alice.key");
    assert!(!s.join("tool.tar.hallmark.json").exists());
}

#[test]
fn missing_passphrase_sources_are_clear() {
    let s = scratch();
    s.file_key("alice.key");
    s.write("tool.tar", b"x");
    let base = [
        "sign",
        "--key",
        "file:alice.key",
        "--name",
        "org.acme.tool",
        "--version",
        "1.0.0",
    ];
    let run = s
        .run(
            base.iter()
                .copied()
                .chain(["--passphrase-env", "HALLMARK_NO_SUCH_VAR", "tool.tar"]),
        )
        .expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: passphrase for alice.key: environment variable HALLMARK_NO_SUCH_VAR is not set"
    );
    let run = s.run(base.iter().copied().chain(["tool.tar"])).expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: passphrase for alice.key is needed but there is no terminal to ask on; give it in a file or an environment variable instead"
    );
    let run = s
        .run(
            base.iter()
                .copied()
                .chain(["--passphrase-file", "nope", "tool.tar"]),
        )
        .expect(2);
    assert!(
        run.stderr
            .starts_with("error: cannot read passphrase for alice.key from nope: No such file"),
        "{}",
        run.stderr
    );
    // The passphrase is read from the environment variable when it is set.
    s.run_env(
        base.iter()
            .copied()
            .chain(["--passphrase-env", "PW", "tool.tar"]),
        &[("PW", hallmark_tests::PASSPHRASE)],
    )
    .expect(0);
}

#[test]
fn passphrase_is_never_a_flag_value() {
    let s = scratch();
    let run = s
        .run([
            "key",
            "generate",
            "--out",
            "file:k",
            "--passphrase",
            "secret",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("unexpected argument '--passphrase'"),
        "{}",
        run.stderr
    );
}

#[test]
fn existing_bundles_are_not_overwritten_unless_forced() {
    let s = signed();
    let before = s.read("tool-1.2.0.tar.hallmark.json");
    s.write("new.tar", b"new");
    let run = s
        .run([
            "sign",
            "--key",
            "file:alice.key",
            "--passphrase-file",
            "pw",
            "--name",
            "org.acme.tool",
            "--version",
            "1.2.0",
            "new.tar",
            "tool-1.2.0.tar",
        ])
        .expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: a bundle already exists: tool-1.2.0.tar.hallmark.json; nothing was signed. Use --force to replace them"
    );
    assert_eq!(s.read("tool-1.2.0.tar.hallmark.json"), before);
    assert!(!s.join("new.tar.hallmark.json").exists());

    s.write("tool-1.2.0.tar", b"rebuilt");
    s.run([
        "sign",
        "--key",
        "file:alice.key",
        "--passphrase-file",
        "pw",
        "--name",
        "org.acme.tool",
        "--version",
        "1.2.0",
        "--force",
        "tool-1.2.0.tar",
    ])
    .expect(0);
    verify(&s, "alice.key", "tool-1.2.0.tar").expect(0);
}

#[test]
fn missing_and_special_artifacts_are_input_errors() {
    let s = scratch();
    s.file_key("alice.key");
    let run = sign(&s, "alice.key", "missing.tar").expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: cannot sign missing.tar: No such file or directory (os error 2)"
    );
    let run = s.run(["hash", "missing.tar"]).expect(2);
    assert!(run.stderr.contains("missing.tar"), "{}", run.stderr);
}

#[test]
fn bad_names_and_versions_are_usage_errors() {
    let s = scratch();
    s.file_key("alice.key");
    s.write("t", b"x");
    let run = s
        .run([
            "sign",
            "--key",
            "file:alice.key",
            "--passphrase-file",
            "pw",
            "--name",
            "Acme",
            "--version",
            "1",
            "t",
        ])
        .expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: invalid package name \"Acme\": use reverse-domain form with at least two labels, e.g. org.acme"
    );
    let run = s
        .run([
            "sign",
            "--key",
            "file:alice.key",
            "--passphrase-file",
            "pw",
            "--name",
            "org.acme.t",
            "--version",
            "1 beta",
            "t",
        ])
        .expect(2);
    assert_eq!(
        run.stderr.trim(),
        "error: invalid version \"1 beta\": use only letters, digits and . + ~ : _ -"
    );
    let run = s
        .run([
            "sign",
            "--key",
            "alice.key",
            "--passphrase-file",
            "pw",
            "--name",
            "org.acme.t",
            "--version",
            "1",
            "t",
        ])
        .expect(2);
    assert!(
        run.stderr.starts_with(
            "error: \"alice.key\" is not a key reference: for the key file, write file:alice.key"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn help_teaches_and_completions_generate() {
    let s = scratch();
    let run = s.run(["--help"]).expect(0);
    assert!(
        run.stdout
            .contains("Exit codes: 0 trusted/success, 1 verification refused"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("file:./release.key"));
    let run = s.run(["sign", "--help"]).expect(0);
    assert!(run.stdout.contains("one unlock"), "{}", run.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let run = s.run(["completions", shell]).expect(0);
        assert!(run.stdout.contains("hallmark"), "{shell}");
    }
    let run = s.run(["no-such-command"]).expect(2);
    assert!(
        run.stderr.contains("unrecognized subcommand"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_errors_are_machine_readable() {
    let s = scratch();
    let run = s.run(["--json", "key", "show", "file:none.key"]).expect(2);
    let json = run.json();
    assert_eq!(json["schema"], "hallmark.error/v1");
    assert_eq!(json["exitCode"], 2);
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read key file none.key.pub"),
        "{json}"
    );
    // The same document when the command line itself is wrong.
    let run = s.run(["--json", "key", "show"]).expect(2);
    let json = run.json();
    assert_eq!(json["error"]["code"], "usage");
    assert_eq!(
        json["error"]["message"],
        "the following required arguments were not provided: <REF>"
    );
    assert!(
        run.stderr.starts_with("error: the following required"),
        "{}",
        run.stderr
    );
}

fn chain_file(chain: &str, file: &str) -> String {
    format!(
        "{}/../hsm-adapters/tests/data/yubikey/chains/{chain}/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn verify_attestation_from_files() {
    let s = scratch();
    let (f9, key) = (
        chain_file("ovh-yk5.7.4-root1", "f9.pem"),
        chain_file("ovh-yk5.7.4-root1", "attestation-9a.pem"),
    );
    let run = s
        .run([
            "key",
            "verify-attestation",
            "--device",
            &f9,
            "--key-cert",
            &key,
        ])
        .expect(0);
    assert!(
        run.stdout.starts_with(
            "attestation holds: the key in slot 9a was generated on YubiKey serial 32718477\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  firmware      5.7.4\n")
            && run.stdout.contains("  PIN policy    always\n"),
        "{}",
        run.stdout
    );
    let json = s
        .run([
            "--json",
            "key",
            "verify-attestation",
            "--device",
            &f9,
            "--key-cert",
            &key,
        ])
        .expect(0)
        .json();
    assert_eq!(
        (&json["verdict"], &json["reason"], &json["exitCode"]),
        (&"holds".into(), &serde_json::Value::Null, &0.into())
    );

    // A per-key certificate from another device does not hold: exit 1 with the reason.
    let other_f9 = chain_file("tmc-5-7-2", "f9.pem");
    let run = s
        .run([
            "key",
            "verify-attestation",
            "--device",
            &other_f9,
            "--key-cert",
            &key,
        ])
        .expect(1);
    assert!(
        run.stdout
            .contains("the two certificates do not come from the same device"),
        "{}",
        run.stdout
    );
    let json = s
        .run([
            "--json",
            "key",
            "verify-attestation",
            "--device",
            &other_f9,
            "--key-cert",
            &key,
        ])
        .expect(1)
        .json();
    assert_eq!(
        (&json["verdict"], &json["reason"], &json["exitCode"]),
        (
            &"does-not-hold".into(),
            &"key-cert-issuer-mismatch".into(),
            &1.into()
        )
    );

    // An attested RSA key is not the Ed25519 key being enrolled.
    let public = s.file_key("alice.key");
    let run = s
        .run([
            "key",
            "verify-attestation",
            "--device",
            &f9,
            "--key-cert",
            &key,
            "--key",
            &public,
        ])
        .expect(1);
    assert!(
        run.stdout.starts_with("attestation does not hold: "),
        "{}",
        run.stdout
    );

    // Files that are not certificates are input errors.
    s.write(
        "junk.pem",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let run = s
        .run([
            "key",
            "verify-attestation",
            "--device",
            "junk.pem",
            "--key-cert",
            &key,
        ])
        .expect(2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    s.run([
        "key",
        "verify-attestation",
        "--device",
        "missing.pem",
        "--key-cert",
        &key,
    ])
    .expect(2);
}

#[test]
fn quickstart_tour_runs_to_the_end() {
    let s = scratch();
    let run = s
        .run(["quickstart", "--dir", "tour", "--work-factor", "10"])
        .expect(0);
    for expected in [
        "hello-1.0.0: trusted: org.example.hello@1.0.0 signed by key ",
        "hello-1.0.0: rejected: digest-mismatch: digest mismatch for org.example.hello@1.0.0",
        "hello-1.1.0: trusted-after-rotation: org.example.hello@1.1.0 signed by key ",
        "hello-2.0.0: rejected: unlinked-signer-change: org.example.hello@2.0.0 is signed by identity ",
        "\nDone: ",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            run.stdout
        );
    }
    assert!(s.join("tour/org.example.kel").exists());
}

#[test]
fn an_artifact_given_twice_is_refused_before_anything_is_signed() {
    let s = scratch();
    s.file_key("alice.key");
    s.write("a.tar", b"a");
    s.write("b.tar", b"b");
    let run = s
        .run([
            "sign",
            "--key",
            "file:alice.key",
            "--passphrase-file",
            "pw",
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "a.tar",
            "b.tar",
            ".//a.tar",
        ])
        .expect(2);
    assert_eq!(run.stderr.trim(), "error: .//a.tar is given more than once");
    assert!(!s.join("a.tar.hallmark.json").exists());
    assert!(!s.join("b.tar.hallmark.json").exists());
}

/// `hallmark-verify` is `hallmark verify --public-key` in a small program: for every case it
/// handles — trusted, tampered, another key, several keys, trees, missing, garbage and
/// misdirected bundles, bad keys, text and JSON — its output and exit code are byte for byte
/// those of `hallmark verify`.
#[test]
fn hallmark_verify_agrees_with_hallmark_verify() {
    let s = scratch();
    let public = s.file_key("k.key");
    let other = s.file_key("other.key");
    s.write("a.bin", "release a\n");
    s.write("tree/bin/tool", "#!/bin/sh\necho tool\n");
    s.write("tree/README", "read me\n");
    s.write("tampered.bin", "as signed\n");
    s.write("garbage.bin", "g\n");
    s.write("unsigned.bin", "u\n");
    for artifact in ["a.bin", "tree", "tampered.bin", "garbage.bin"] {
        sign(&s, "k.key", artifact).expect(0);
    }
    s.write("tampered.bin", "as shipped\n");
    s.write("garbage.bin.hallmark.json", "{\"payload\": ");

    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["--public-key", &public, "a.bin"], 0),
        (vec!["--public-key", "k.key.pub", "a.bin", "tree"], 0),
        (vec!["--public-key", "file:k.key", "tree"], 0),
        (
            vec!["--public-key", &other, "--public-key", &public, "a.bin"],
            0,
        ),
        (vec!["--public-key", &other, "a.bin"], 1),
        (vec!["--public-key", &public, "tampered.bin"], 1),
        (
            vec![
                "--public-key",
                &public,
                "--bundle",
                "a.bin.hallmark.json",
                "tree",
            ],
            1,
        ),
        (vec!["--public-key", &public, "unsigned.bin"], 2),
        (vec!["--public-key", &public, "garbage.bin"], 2),
        (
            vec![
                "--public-key",
                &public,
                "a.bin",
                "tampered.bin",
                "unsigned.bin",
            ],
            2,
        ),
        (
            vec![
                "--public-key",
                &public,
                "--bundle",
                "a.bin.hallmark.json",
                "a.bin",
                "tree",
            ],
            2,
        ),
        (vec!["--public-key", "ed25519:AAAA", "a.bin"], 2),
        (vec!["--public-key", "missing.pub", "a.bin"], 2),
        (vec!["--public-key", "file:missing.key", "a.bin"], 2),
    ];
    let lean = env!("CARGO_BIN_EXE_hallmark-verify");
    for (args, code) in &cases {
        for json in [false, true] {
            let mut args = args.clone();
            if json {
                args.insert(0, "--json");
            }
            let full = s.run(std::iter::once("verify").chain(args.iter().copied()));
            let small = s.run_program(lean, &args, &[]);
            assert_eq!(
                full.code, *code,
                "hallmark verify {args:?}\n{}",
                full.stderr
            );
            assert_eq!(
                (small.code, &small.stdout, &small.stderr),
                (full.code, &full.stdout, &full.stderr),
                "hallmark-verify {args:?}"
            );
        }
    }

    // Keys inside hardware are for `hallmark verify`, which can open a token.
    let run = s
        .run_program(
            lean,
            ["--public-key", "pkcs11:token=ci;object=release", "a.bin"],
            &[],
        )
        .expect(2);
    assert_eq!(
        run.stderr,
        "error: pkcs11:token=ci;object=release: hallmark-verify reads public keys from text and \
         files only\nhint: print the key's public key with `hallmark key show REF` and give \
         that, or use `hallmark verify`\n"
    );
    // A PIN in the reference is never repeated.
    let run = s
        .run_program(
            lean,
            [
                "--public-key",
                "pkcs11:token=ci;object=k?pin-value=024681",
                "a.bin",
            ],
            &[],
        )
        .expect(2);
    assert!(
        run.stderr.starts_with("error: pkcs11:token=ci;object=k: "),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("024681"), "{}", run.stderr);
}

/// `hallmark-verify` carries no hardware support: the dynamic loader never loads the PC/SC
/// library that `hallmark` needs for YubiKeys.
#[test]
fn hallmark_verify_loads_no_hardware_library() {
    let s = scratch();
    let loaded = |exe: &str| {
        s.run_program(exe, ["--version"], &[("LD_DEBUG", "files")])
            .expect(0)
            .stderr
    };
    assert!(loaded(env!("CARGO_BIN_EXE_hallmark")).contains("libpcsclite"));
    let lean = loaded(env!("CARGO_BIN_EXE_hallmark-verify"));
    assert!(lean.contains("libc.so"), "{lean}");
    assert!(!lean.contains("libpcsclite"), "{lean}");
}
