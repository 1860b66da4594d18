//! Keys come in from minisign, OpenSSH and raw seeds (`hallmark key import`) and go out again
//! (`hallmark key export`), checked against the real `minisign` and `ssh-keygen`: a key imported
//! from minisign keeps its key id, so Hallmark's minisign signatures verify under the original
//! public key and equal minisign's own byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use hallmark_tests::peers::tool;
use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// RFC 8032 §7.1 TEST 1: the seed and its public key.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `hallmark key import FILE --out file:OUT` with the new passphrase from `pw`.
fn import_to_file(s: &Scratch, file: &str, out: &str, extra: &[&str]) -> Run {
    let out = format!("file:{out}");
    let mut args = vec![
        "--json",
        "key",
        "import",
        file,
        "--out",
        &out,
        "--new-passphrase-file",
        "pw",
        "--work-factor",
        TEST_WORK_FACTOR,
    ];
    args.extend_from_slice(extra);
    s.run(args)
}

/// A minisign key pair made by minisign itself, unencrypted (`-W`): `m.key`, `m.pub`.
fn minisign_key(s: &Scratch) {
    tool(
        s,
        "minisign",
        &["-G", "-W", "-p", "m.pub", "-s", "m.key"],
        None,
    )
    .expect(0);
}

#[test]
fn a_minisign_key_keeps_its_id_and_signs_byte_for_byte_as_minisign() {
    let s = scratch();
    minisign_key(&s);
    let run = import_to_file(&s, "m.key", "k.key", &[]).expect(0);
    let json = run.json();
    assert_eq!(json["format"], "minisign");
    let original = s.read("m.pub");
    let id = original
        .lines()
        .next()
        .unwrap()
        .strip_prefix("untrusted comment: minisign public key ")
        .unwrap();
    // minisign's comment drops leading zeros; Hallmark always gives the id's 16 digits.
    let id = format!("{id:0>16}");
    assert_eq!(json["minisignKeyId"], id.as_str());
    // The id is kept beside the key, and `key show` prints minisign's public key file.
    assert_eq!(
        s.read("k.key.pub"),
        format!(
            "{}\nminisign key id: {id}\n",
            json["publicKey"].as_str().unwrap()
        )
    );
    let shown = s
        .run(["key", "show", "file:k.key", "--format", "minisign"])
        .expect(0);
    assert_eq!(shown.stdout.trim_end(), original.trim_end());
    // `key show > KEY.pub` keeps the id too.
    let shown = s.run(["key", "show", "file:k.key"]).expect(0);
    assert!(
        shown
            .stdout
            .ends_with(&format!("\nminisign key id: {id}\n")),
        "{}",
        shown.stdout
    );
    let mode = std::fs::metadata(s.join("k.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // minisign signs; Hallmark signs with the same comments: the same four lines.
    s.write("release.tar", "release contents\n");
    let trusted = "timestamp:1700000000\tfile:release.tar\thashed";
    tool(
        &s,
        "minisign",
        &[
            "-S",
            "-s",
            "m.key",
            "-m",
            "release.tar",
            "-x",
            "by-minisign.minisig",
            "-t",
            trusted,
        ],
        None,
    )
    .expect(0);
    let run = s
        .run([
            "sign",
            "--format",
            "minisign",
            "--key",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--trusted-comment",
            trusted,
            "--untrusted-comment",
            "signature from minisign secret key",
            "release.tar",
        ])
        .expect(0);
    assert!(run.stdout.contains(&format!("key {id})")), "{}", run.stdout);
    assert_eq!(s.read("release.tar.minisig"), s.read("by-minisign.minisig"));
    // minisign verifies Hallmark's signature with the original public key.
    let verified = tool(
        &s,
        "minisign",
        &[
            "-V",
            "-p",
            "m.pub",
            "-m",
            "release.tar",
            "-x",
            "release.tar.minisig",
        ],
        None,
    )
    .expect(0);
    assert!(
        verified
            .stdout
            .contains("Signature and comment signature verified"),
        "{}",
        verified.stdout
    );
    // And Hallmark verifies it with the key file's reference or minisign's public key.
    for key in ["file:k.key", "m.pub"] {
        s.run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            key,
            "release.tar",
        ])
        .expect(0);
    }
}

#[test]
fn a_lost_pub_of_a_minisign_key_is_derived_again_with_its_minisign_id() {
    let s = scratch();
    minisign_key(&s);
    let run = import_to_file(&s, "m.key", "k.key", &[]).expect(0);
    let id = run.json()["minisignKeyId"].as_str().unwrap().to_owned();
    std::fs::remove_file(s.join("k.key.pub")).unwrap();

    // `key show` unlocks the key to derive its public key, the id read from the key file: what
    // it prints is what it prints for minisign's own public key file.
    let derived = s
        .run(["key", "show", "file:k.key", "--passphrase-file", "pw"])
        .expect(0);
    assert!(
        derived.stderr.contains("k.key.pub is missing or empty"),
        "{}",
        derived.stderr
    );
    assert!(
        derived
            .stdout
            .ends_with(&format!("\nminisign key id: {id}\n")),
        "{}",
        derived.stdout
    );
    assert_eq!(
        derived.stdout,
        s.run(["key", "show", "m.pub"]).expect(0).stdout
    );
    // What the note advises: save it as the `.pub`; it is the file the import wrote.
    s.write("k.key.pub", &derived.stdout);
    let shown = s
        .run(["key", "show", "file:k.key", "--format", "minisign"])
        .expect(0);
    assert_eq!(shown.stdout.trim_end(), s.read("m.pub").trim_end());

    // Lost again: the minisign form derived from the key file alone is minisign's public key,
    // and a signature made without the `.pub` verifies under it with minisign itself.
    std::fs::remove_file(s.join("k.key.pub")).unwrap();
    let derived = s
        .run([
            "key",
            "show",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--format",
            "minisign",
        ])
        .expect(0);
    s.write("derived.pub", &derived.stdout);
    assert_eq!(derived.stdout.trim_end(), s.read("m.pub").trim_end());
    s.write("release.tar", "release contents\n");
    s.run([
        "sign",
        "--format",
        "minisign",
        "--key",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "release.tar",
    ])
    .expect(0);
    let verified = tool(
        &s,
        "minisign",
        &[
            "-V",
            "-p",
            "derived.pub",
            "-m",
            "release.tar",
            "-x",
            "release.tar.minisig",
        ],
        None,
    )
    .expect(0);
    assert!(
        verified
            .stdout
            .contains("Signature and comment signature verified"),
        "{}",
        verified.stdout
    );
}

#[test]
fn an_encrypted_minisign_key_needs_its_password() {
    let s = scratch();
    // minisign reads the password (twice) from standard input when it is not a terminal.
    tool(
        &s,
        "minisign",
        &["-G", "-p", "e.pub", "-s", "e.key"],
        Some(b"minisign password\nminisign password\n"),
    )
    .expect(0);
    // Without a terminal and without a source, the error says how to give it.
    let run = import_to_file(&s, "e.key", "k.key", &[]).expect(2);
    assert!(
        run.stderr
            .contains("passphrase for e.key is needed but there is no terminal"),
        "{}",
        run.stderr
    );

    let run = s.run_env(
        [
            "--json",
            "key",
            "import",
            "e.key",
            "--out",
            "file:k.key",
            "--passphrase-env",
            "MPW",
            "--new-passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        &[("MPW", "minisign password")],
    );
    let json = run.expect(0).json();
    let shown = s
        .run(["key", "show", "file:k.key", "--format", "minisign"])
        .expect(0);
    assert_eq!(shown.stdout.trim_end(), s.read("e.pub").trim_end());
    assert!(json["minisignKeyId"].is_string());
}

#[test]
fn an_openssh_key_passphrase_protected_or_not() {
    let s = scratch();
    for (name, passphrase) in [("plain", ""), ("locked", "ssh passphrase")] {
        tool(
            &s,
            "ssh-keygen",
            &[
                "-q", "-t", "ed25519", "-N", passphrase, "-C", "me@host", "-f", name,
            ],
            None,
        )
        .expect(0);
        s.write(&format!("{name}.pw"), format!("{passphrase}\n"));
        let mut extra = vec![];
        let pw_file = format!("{name}.pw");
        if !passphrase.is_empty() {
            extra = vec!["--passphrase-file", pw_file.as_str()];
        }
        let out = format!("{name}.hm");
        let json = import_to_file(&s, name, &out, &extra).expect(0).json();
        assert_eq!(json["format"], "openssh");
        assert!(json["minisignKeyId"].is_null());
        // The same public key as ssh-keygen's .pub.
        let shown = s
            .run([
                "key",
                "show",
                &format!("file:{out}"),
                "--format",
                "ssh",
                "--comment",
                "me@host",
            ])
            .expect(0);
        assert_eq!(shown.stdout, s.read(&format!("{name}.pub")));
    }
    // A wrong passphrase, and an RSA key, are refused with what they are.
    s.write("bad.pw", "nope\n");
    let run = import_to_file(&s, "locked", "x.hm", &["--passphrase-file", "bad.pw"]).expect(2);
    assert!(
        run.stderr
            .contains("wrong passphrase for an OpenSSH private key"),
        "{}",
        run.stderr
    );
    tool(
        &s,
        "ssh-keygen",
        &["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", "rsa"],
        None,
    )
    .expect(0);
    let run = import_to_file(&s, "rsa", "x.hm", &[]).expect(2);
    assert!(
        run.stderr
            .contains("rsa: an OpenSSH private key of type ssh-rsa; Hallmark keys are Ed25519"),
        "{}",
        run.stderr
    );
    assert!(!s.join("x.hm").exists());
}

#[test]
fn a_raw_seed_is_the_rfc_8032_key() {
    let s = scratch();
    s.write("seed.bin", hex(RFC8032_SEED));
    let json = import_to_file(&s, "seed.bin", "k.key", &[])
        .expect(0)
        .json();
    assert_eq!(json["format"], "raw");
    assert_eq!(json["publicKey"], RFC8032_PUBLIC);
    // Not a key at all: the error lists what is imported.
    s.write("notes.txt", "hello\n");
    let run = import_to_file(&s, "notes.txt", "n.key", &[]).expect(2);
    assert!(
        run.stderr.contains(
            "notes.txt: not a key Hallmark imports: expected a minisign secret key, an OpenSSH \
             Ed25519 private key or a raw 32-byte seed"
        ),
        "{}",
        run.stderr
    );
    // An existing key file is never overwritten.
    let before = s.read("k.key");
    import_to_file(&s, "seed.bin", "k.key", &[]).expect(2);
    assert_eq!(s.read("k.key"), before);
}

fn export(s: &Scratch, format: &str, out: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "key",
        "export",
        "file:k.key",
        "--format",
        format,
        "--out",
        out,
        "--passphrase-file",
        "pw",
    ];
    args.extend_from_slice(extra);
    s.run(args)
}

#[test]
fn export_round_trips_through_the_peer_tools() {
    let s = scratch();
    let public = s.file_key("k.key");
    s.write("new.pw", "exported passphrase\n");

    // Raw: read back by `key import`.
    export(&s, "raw", "seed.bin", &["--yes"]).expect(0);
    let mode = std::fs::metadata(s.join("seed.bin"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read(s.join("seed.bin")).unwrap().len(), 32);
    let json = import_to_file(&s, "seed.bin", "back.key", &[])
        .expect(0)
        .json();
    assert_eq!(json["publicKey"], public.as_str());

    // OpenSSH, encrypted: ssh-keygen derives the same public key with the passphrase.
    export(
        &s,
        "openssh",
        "id_ed25519",
        &[
            "--yes",
            "--new-passphrase-file",
            "new.pw",
            "--comment",
            "me@host",
        ],
    )
    .expect(0);
    let derived = tool(
        &s,
        "ssh-keygen",
        &["-y", "-P", "exported passphrase", "-f", "id_ed25519"],
        None,
    )
    .expect(0);
    let shown = s
        .run([
            "key",
            "show",
            "file:k.key",
            "--format",
            "ssh",
            "--comment",
            "me@host",
        ])
        .expect(0);
    assert_eq!(derived.stdout, shown.stdout);

    // minisign, encrypted at a low work factor: minisign signs with it (password on standard
    // input), and the signature verifies under the key's minisign public key.
    export(
        &s,
        "minisign",
        "minisign.key",
        &[
            "--yes",
            "--new-passphrase-file",
            "new.pw",
            "--work-factor",
            "10",
        ],
    )
    .expect(0);
    s.write("release.tar", "release contents\n");
    tool(
        &s,
        "minisign",
        &["-S", "-s", "minisign.key", "-m", "release.tar"],
        Some(b"exported passphrase\n"),
    )
    .expect(0);
    s.run([
        "verify",
        "--format",
        "minisign",
        "--public-key",
        "file:k.key",
        "release.tar",
    ])
    .expect(0);
    let json = import_to_file(
        &s,
        "minisign.key",
        "again.key",
        &["--passphrase-file", "new.pw"],
    )
    .expect(0)
    .json();
    assert_eq!(json["publicKey"], public.as_str());
    // A wrong password is refused, and nothing is written.
    s.write("wrong", "not it\n");
    let run = import_to_file(
        &s,
        "minisign.key",
        "k2.key",
        &["--passphrase-file", "wrong"],
    )
    .expect(2);
    assert!(
        run.stderr.contains(
            "minisign.key: wrong passphrase for a minisign secret key (or the file is corrupted)"
        ),
        "{}",
        run.stderr
    );
    assert!(!s.join("k2.key").exists() && !s.join("k2.key.pub").exists());

    // Never overwritten, never without confirmation when no terminal can ask.
    let before = std::fs::read(s.join("seed.bin")).unwrap();
    let run = export(&s, "raw", "seed.bin", &["--yes"]).expect(2);
    assert!(
        run.stderr.contains("seed.bin already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(s.join("seed.bin")).unwrap(), before);
    let run = export(&s, "raw", "other.bin", &[]).expect(2);
    assert!(
        run.stderr.contains(
            "exporting a secret key needs a confirmation, and there is no terminal to ask on: \
             give --yes to confirm from a script"
        ),
        "{}",
        run.stderr
    );
    assert!(!s.join("other.bin").exists());
}

#[test]
fn hardware_keys_are_never_exported() {
    let s = scratch();
    for (reference, device) in [
        ("pkcs11:token=ci;object=release", "a PKCS#11 token"),
        ("yubikey:slot=9c", "a YubiKey"),
        ("awskms:alias/release?region=eu-west-1", "AWS KMS"),
    ] {
        let run = s
            .run([
                "key", "export", reference, "--format", "raw", "--out", "seed.bin", "--yes",
            ])
            .expect(5);
        assert!(
            run.stderr.contains(&format!(
                "is a key in {device}: it never leaves the device, so it cannot be exported"
            )),
            "{}",
            run.stderr
        );
        assert!(!s.join("seed.bin").exists());
    }
}

#[test]
fn a_foreign_private_key_given_as_a_key_says_how_to_import_it() {
    let s = scratch();
    minisign_key(&s);
    tool(
        &s,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", "id_ed25519"],
        None,
    )
    .expect(0);
    s.write("a.tar", "a\n");
    for (given, what, file) in [
        ("file:m.key", "a minisign secret key", "m.key"),
        ("m.key", "a minisign secret key", "m.key"),
        ("file:id_ed25519", "an OpenSSH private key", "id_ed25519"),
        ("id_ed25519", "an OpenSSH private key", "id_ed25519"),
    ] {
        let run = s
            .run([
                "sign",
                "--key",
                given,
                "--name",
                "org.acme.tool",
                "--version",
                "1.0.0",
                "a.tar",
            ])
            .expect(2);
        assert!(
            run.stderr
                .contains(&format!("{file} is {what}, not a Hallmark key")),
            "{given}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!(
                "hint: {}import it with `hallmark key import {file} --out file:{file}.hallmark`",
                if given.starts_with("file:") {
                    String::new()
                } else {
                    format!("{file} is {what}, not a Hallmark key: ")
                }
            )),
            "{given}: {}",
            run.stderr
        );
        assert!(!s.join("a.tar.hallmark.json").exists());
    }
}
