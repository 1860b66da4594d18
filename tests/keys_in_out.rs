//! Keys move in and out as with minisign and ssh-keygen: every form `key show` prints is a
//! public key Hallmark reads back, a lost `.pub` is derived from the key, and `key passwd`
//! changes a key file's protection without ever leaving it unreadable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use age::secrecy::ExposeSecret;
use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// `k.key` and a release `a.tar` signed with it.
fn signed() -> Scratch {
    let s = scratch();
    s.file_key("k.key");
    s.write("a.tar", b"a\n");
    sign(&s, "k.key", &["--passphrase-file", "pw"]).expect(0);
    s
}

fn sign(s: &Scratch, key: &str, unlock: &[&str]) -> Run {
    let key = format!("file:{key}");
    let mut args = vec!["sign", "--force", "--key", &key];
    args.extend_from_slice(unlock);
    args.extend(["--name", "org.acme.tool", "--version", "1.0.0", "a.tar"]);
    s.run(args)
}

#[test]
fn every_form_key_show_prints_is_read_back_as_a_public_key() {
    let s = signed();
    for format in ["hallmark", "ssh", "minisign", "pem", "jwk"] {
        let shown = s
            .run(["key", "show", "file:k.key", "--format", format])
            .expect(0);
        let file = format!("k.{format}");
        s.write(&file, &shown.stdout);
        let run = s.run(["verify", "--public-key", &file, "a.tar"]).expect(0);
        assert!(
            run.stdout.starts_with("a.tar: trusted: "),
            "{format}: {}",
            run.stdout
        );
        s.run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            ["--public-key", file.as_str(), "a.tar"],
            &[],
        )
        .expect(0);
        // And key show reads it back as the same key.
        let again = s.run(["key", "show", &file]).expect(0);
        assert_eq!(
            again.stdout,
            s.run(["key", "show", "file:k.key"]).expect(0).stdout,
            "{format}"
        );
    }
}

#[test]
fn a_public_key_written_out_in_a_peer_form_is_read_as_given() {
    let s = signed();
    // What people paste from other tools: an OpenSSH line (as in allowed_signers) and a
    // minisign key (as `minisign -P` takes it).
    let ssh = s
        .run(["key", "show", "file:k.key", "--format", "ssh"])
        .expect(0)
        .stdout;
    let minisign = s
        .run(["key", "show", "file:k.key", "--format", "minisign"])
        .expect(0)
        .stdout;
    let minisign = minisign.lines().nth(1).unwrap().to_owned();
    assert!(minisign.starts_with("RW"), "{minisign}");
    for inline in [ssh.trim_end(), minisign.as_str()] {
        let run = s.run(["verify", "--public-key", inline, "a.tar"]).expect(0);
        assert!(run.stdout.starts_with("a.tar: trusted: "), "{}", run.stdout);
        s.run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            ["--public-key", inline, "a.tar"],
            &[],
        )
        .expect(0);
    }
    // A next key given that way to a ceremony.
    s.file_key("next.key");
    let next_ssh = s
        .run(["key", "show", "file:next.key", "--format", "ssh"])
        .expect(0)
        .stdout;
    s.run([
        "ceremony",
        "init",
        "--key",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--next-public-key",
        next_ssh.trim_end(),
        "--namespace",
        "org.acme",
        "--out",
        "org.acme.kel",
    ])
    .expect(0);
    // A damaged one says what is wrong with it, not that no file has that name.
    let run = s
        .run(["verify", "--public-key", "ssh-ed25519 AAAAbad", "a.tar"])
        .expect(2);
    assert_eq!(
        run.stderr,
        "error: public key \"ssh-ed25519 AAAAbad\": SSH public key: not canonical base64 \
         (standard alphabet with padding)\n"
    );
}

#[test]
fn an_edited_key_id_line_is_refused() {
    let s = signed();
    let shown = s.run(["key", "show", "file:k.key"]).expect(0).stdout;
    let (key_line, _) = shown.split_once('\n').unwrap();
    s.write(
        "edited.pub",
        format!("{key_line}\nkey id: {}\n", "ab".repeat(32)),
    );
    let run = s
        .run(["verify", "--public-key", "edited.pub", "a.tar"])
        .expect(2);
    assert!(
        run.stderr.contains(&format!(
            "its key id line names {}, but the key's id is ",
            "ab".repeat(32)
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_lost_public_key_file_is_derived_from_the_key() {
    let s = signed();
    let original = s.read("k.key.pub");
    std::fs::remove_file(s.join("k.key.pub")).unwrap();
    // Without the passphrase there is nothing to derive it from.
    s.run(["key", "show", "file:k.key"]).expect(2);
    // The shell creates k.key.pub (empty) before hallmark runs, as in the hint.
    std::fs::write(s.join("k.key.pub"), b"").unwrap();
    let run = s
        .run(["key", "show", "file:k.key", "--passphrase-file", "pw"])
        .expect(0);
    assert!(
        run.stderr.contains(
            "k.key.pub is missing or empty: unlocking k.key to derive its public key (save it \
             with `hallmark key show file:k.key > k.key.pub`)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with(original.trim()), "{}", run.stdout);
    s.write("k.key.pub", &run.stdout);
    s.run(["verify", "--public-key", "file:k.key", "a.tar"])
        .expect(0);
}

#[test]
fn passwd_changes_the_passphrase_and_keeps_the_key() {
    let s = signed();
    let key_before = s.read("k.key.pub");
    s.write("pw2", "a new passphrase\n");
    let run = s
        .run([
            "key",
            "passwd",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--new-passphrase-file",
            "pw2",
            "--work-factor",
            TEST_WORK_FACTOR,
        ])
        .expect(0);
    assert!(
        run.stdout.starts_with("re-encrypted file:k.key (key id "),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::metadata(s.join("k.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(s.read("k.key.pub"), key_before);
    // The old passphrase no longer opens it; the new one does, and signs with the same key.
    let run = sign(&s, "k.key", &["--passphrase-file", "pw"]).expect(2);
    assert!(run.stderr.contains("wrong passphrase"), "{}", run.stderr);
    sign(&s, "k.key", &["--passphrase-file", "pw2"]).expect(0);
    s.run(["verify", "--public-key", "file:k.key", "a.tar"])
        .expect(0);
}

#[test]
fn passwd_refusals_change_nothing() {
    let s = signed();
    let before = std::fs::read(s.join("k.key")).unwrap();
    s.write("wrong", "not the passphrase\n");
    // A wrong current passphrase.
    let run = s
        .run([
            "key",
            "passwd",
            "file:k.key",
            "--passphrase-file",
            "wrong",
            "--new-passphrase-file",
            "wrong",
        ])
        .expect(2);
    assert!(run.stderr.contains("wrong passphrase"), "{}", run.stderr);
    // The same passphrase again.
    let run = s
        .run([
            "key",
            "passwd",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--new-passphrase-file",
            "pw",
        ])
        .expect(2);
    assert!(
        run.stderr.contains(
            "error: the new passphrase for k.key is its current one; nothing was changed"
        ),
        "{}",
        run.stderr
    );
    // An empty new passphrase.
    s.write("empty", "");
    let run = s
        .run([
            "key",
            "passwd",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--new-passphrase-file",
            "empty",
        ])
        .expect(2);
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
    // A hardware key has a PIN, not a passphrase.
    let run = s.run(["key", "passwd", "yubikey:slot=9c"]).expect(2);
    assert!(
        run.stderr.contains("only key files have a passphrase"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(s.join("k.key")).unwrap(), before);
    assert!(
        std::fs::read_dir(s.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")),
        "no temporary file is left behind"
    );
}

#[test]
fn passwd_re_encrypts_to_age_recipients() {
    let s = signed();
    let identity = age::x25519::Identity::generate();
    s.write(
        "custodian.txt",
        format!("{}\n", identity.to_string().expose_secret()),
    );
    s.run([
        "key",
        "passwd",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--recipient",
        &identity.to_public().to_string(),
    ])
    .expect(0);
    sign(&s, "k.key", &["--passphrase-file", "pw"]).expect(2);
    sign(&s, "k.key", &["--age-identity", "custodian.txt"]).expect(0);
    // And back to a passphrase, unlocked by the custodian.
    s.write("pw3", "back to a passphrase\n");
    s.run([
        "key",
        "passwd",
        "file:k.key",
        "--age-identity",
        "custodian.txt",
        "--new-passphrase-file",
        "pw3",
        "--work-factor",
        TEST_WORK_FACTOR,
    ])
    .expect(0);
    sign(&s, "k.key", &["--passphrase-file", "pw3"]).expect(0);
}

#[test]
fn a_bare_path_given_as_a_key_suggests_its_reference() {
    let s = signed();
    let run = s
        .run([
            "sign",
            "--key",
            "k.key",
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "a.tar",
        ])
        .expect(2);
    assert!(
        run.stderr.starts_with(
            "error: \"k.key\" is not a key reference: for the key file, write file:k.key\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_token_pin_needed_without_a_terminal_names_pin_source() {
    let mut s = scratch();
    hallmark_tests::softhsm_tokens(&mut s, &["ci"]);
    let reference = format!(
        "pkcs11:token=ci;object=release?module-path={}",
        hallmark_tests::pkcs11_module()
    );
    let run = s.run(["key", "generate", "--out", &reference]).expect(2);
    assert_eq!(
        run.stderr,
        "error: PIN for token 'ci' is needed but there is no terminal to ask on; give it in a \
         file or an environment variable instead\nhint: name the PIN's source in the URI: \
         pkcs11:…?pin-source=file:PATH (or pin-source=env:NAME); a file is safer than a \
         variable\n"
    );
}
