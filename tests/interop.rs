//! Peer formats against the real peer tools: `minisign` and `ssh-keygen` (installed by
//! `scripts/test.sh`), and `git` signing commits and tags through `hallmark-ssh-keygen`.
//!
//! Every direction is exercised: Hallmark signs and the peer verifies, the peer signs and
//! Hallmark verifies, and both refuse a tampered file and a wrong key. Keys come from files and
//! from SoftHSM2 through its real PKCS#11 module.
//!
//! Known answers: with the RFC 8032 §7.1 TEST 1 key and fixed inputs, Hallmark's `.minisig` and
//! `.sig` must equal the committed files in `tests/data/interop/` byte for byte (Ed25519 is
//! deterministic). The same bytes are produced on every run by the peers themselves from the
//! same seed — minisign from a minisign secret key file and ssh-keygen from an OpenSSH private
//! key, both built here from the seed (see `minisign_secret_key` and `openssh_private_key`) —
//! so the expected files are the peers' answers, not Hallmark's.
//!
//! The "Hallmark signs, the peers verify" half runs on every backend through
//! `hallmark_tests::peers::hallmark_signs_peers_verify`: here with a file key and a SoftHSM2
//! key, and in `yubikey_cli.rs` (which shares pcscd with the other YubiKey tests, so runs in
//! nextest's `pcscd` group) with a key on the virtual YubiKey.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64ct::{Base64, Encoding};
use blake2::Digest;
use ed25519_dalek::SigningKey;
use hallmark_hsm::secret::Secret;
use hallmark_signer::filekey::{Protection, write_key};
use hallmark_tests::peers::{hallmark_sign, hallmark_signs_peers_verify, tool, tool_env};
use hallmark_tests::{PASSPHRASE, Run, Scratch, pkcs11_ref, softhsm_tokens};

/// RFC 8032 §7.1 TEST 1.
const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

const KAT_MESSAGE: &str = "Hallmark interop known answer\n";
const KAT_TRUSTED_COMMENT: &str = "timestamp:1700000000\tfile:message.txt\thashed";

fn data(name: &str) -> String {
    format!(
        "{}/../tests/data/interop/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&SEED_HEX[2 * i..2 * i + 2], 16).unwrap();
    }
    seed
}

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// Writes the RFC 8032 TEST 1 key as a Hallmark key file `name` (and `name.pub`).
fn rfc_file_key(s: &Scratch, name: &str) {
    write_key(
        &s.join(name),
        &SigningKey::from_bytes(&seed()),
        &Protection::Passphrase {
            passphrase: Secret::new(PASSPHRASE.to_owned()),
            work_factor: Some(10),
        },
    )
    .unwrap();
}

/// An OpenSSH private key file (`openssh-key-v1`, unencrypted) for a seed, as `ssh-keygen`
/// writes one (PROTOCOL.key).
fn openssh_private_key(seed: &[u8; 32], comment: &str) -> String {
    fn string(out: &mut Vec<u8>, v: &[u8]) {
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    let key = SigningKey::from_bytes(seed);
    let pk = key.verifying_key().to_bytes();
    let mut public = Vec::new();
    string(&mut public, b"ssh-ed25519");
    string(&mut public, &pk);
    let mut private = Vec::new();
    private.extend_from_slice(&[0x48, 0x4d, 0x4b, 0x31, 0x48, 0x4d, 0x4b, 0x31]);
    string(&mut private, b"ssh-ed25519");
    string(&mut private, &pk);
    let mut sk = seed.to_vec();
    sk.extend_from_slice(&pk);
    string(&mut private, &sk);
    string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut blob = b"openssh-key-v1\0".to_vec();
    string(&mut blob, b"none");
    string(&mut blob, b"none");
    string(&mut blob, b"");
    blob.extend_from_slice(&1u32.to_be_bytes());
    string(&mut blob, &public);
    string(&mut blob, &private);
    let b64 = Base64::encode_string(&blob);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(70)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A minisign secret key file without a password (`minisign -G -W`) for a seed and key id:
/// `Ed`, no KDF, `B2`, zero salt and limits, then key id, secret key and the BLAKE2b-256
/// checksum of `Ed || key id || secret key` (minisign.c, `seckey_compute_chk`).
fn minisign_secret_key(seed: &[u8; 32], key_id: &[u8; 8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let mut sk = seed.to_vec();
    sk.extend_from_slice(&key.verifying_key().to_bytes());
    let mut chk = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    chk.update(b"Ed");
    chk.update(key_id);
    chk.update(&sk);
    let chk = chk.finalize();
    let mut blob = b"Ed\0\0B2".to_vec();
    blob.extend_from_slice(&[0u8; 32 + 8 + 8]);
    blob.extend_from_slice(key_id);
    blob.extend_from_slice(&sk);
    blob.extend_from_slice(&chk);
    format!(
        "untrusted comment: minisign secret key\n{}\n",
        Base64::encode_string(&blob)
    )
}

/// The public key forms of the RFC 8032 TEST 1 key. Cross-checked with the peers: the PEM is
/// what `openssl pkey -in sk.pem -pubout` prints for the PKCS#8 key
/// `302e020100300506032b657004220420 || seed` (checked once by hand; `openssl pkey -pubin -in
/// pub.pem -text` shows the key bytes d75a9801…); the OpenSSH line is what `ssh-keygen -y`
/// prints for `openssh_private_key(seed)` (checked on every run, below); the minisign key is
/// the one `minisign -V` verifies the known-answer signature with (every run, below); the
/// JWK's `x` is `basenc --base64url` of the key bytes, padding removed (by hand).
const RFC_SSH: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const RFC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
-----END PUBLIC KEY-----";
const RFC_JWK: &str =
    r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

#[test]
fn known_answers_for_the_rfc8032_test1_key() {
    let s = scratch();
    rfc_file_key(&s, "rfc.key");
    s.write("message.txt", KAT_MESSAGE);

    // Public key forms.
    let show = |format: &str, extra: &[&str]| {
        let mut args = vec!["key", "show", "file:rfc.key", "--format", format];
        args.extend_from_slice(extra);
        s.run(&args).expect(0).stdout
    };
    assert_eq!(
        show("hallmark", &[]).lines().next().unwrap(),
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    );
    assert_eq!(
        show("ssh", &["--comment", "rfc8032-test1"]),
        format!("{RFC_SSH} rfc8032-test1\n")
    );
    assert_eq!(show("pem", &[]), format!("{RFC_PEM}\n"));
    assert_eq!(show("jwk", &[]), format!("{RFC_JWK}\n"));
    let minisign_pub = show("minisign", &[]);
    assert_eq!(
        minisign_pub,
        std::fs::read_to_string(data("rfc8032-test1.minisign.pub")).unwrap()
    );
    // The default SSH comment is the key reference, with the path made absolute.
    assert_eq!(
        show("ssh", &[]),
        format!("{RFC_SSH} file:{}\n", s.join("rfc.key").display())
    );

    // minisign: Hallmark's signature is exactly the committed file...
    s.run([
        "sign",
        "--format",
        "minisign",
        "--key",
        "file:rfc.key",
        "--passphrase-file",
        "pw",
        "--trusted-comment",
        KAT_TRUSTED_COMMENT,
        "message.txt",
    ])
    .expect(0);
    let expected = std::fs::read(data("message.txt.minisig")).unwrap();
    assert_eq!(
        std::fs::read(s.join("message.txt.minisig")).unwrap(),
        expected
    );
    // ...which is what minisign itself signs with the same key.
    s.write("minisign.pub", &minisign_pub);
    let key_id = key_id_of(&minisign_pub);
    s.write("rfc.minisign.key", minisign_secret_key(&seed(), &key_id));
    let untrusted = std::str::from_utf8(&expected)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .strip_prefix("untrusted comment: ")
        .unwrap()
        .to_owned();
    s.write("peer/message.txt", KAT_MESSAGE);
    tool(
        &s,
        "minisign",
        &[
            "-S",
            "-s",
            "rfc.minisign.key",
            "-m",
            "peer/message.txt",
            "-c",
            &untrusted,
            "-t",
            KAT_TRUSTED_COMMENT,
        ],
        Some(b""),
    )
    .expect(0);
    assert_eq!(
        std::fs::read(s.join("peer/message.txt.minisig")).unwrap(),
        expected
    );
    let run = tool(
        &s,
        "minisign",
        &["-V", "-p", "minisign.pub", "-m", "message.txt"],
        None,
    )
    .expect(0);
    assert!(run.stdout.contains(KAT_TRUSTED_COMMENT), "{}", run.stdout);

    // SSH signatures, sha512 and sha256: exactly the committed files, and what ssh-keygen
    // signs with the same key.
    s.write("rfc.ssh.key", openssh_private_key(&seed(), "rfc8032-test1"));
    std::fs::set_permissions(
        s.join("rfc.ssh.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let run = tool(&s, "ssh-keygen", &["-y", "-f", "rfc.ssh.key"], None).expect(0);
    assert_eq!(run.stdout, format!("{RFC_SSH} rfc8032-test1\n"));
    for (hash, committed) in [
        ("sha512", "message.txt.sig"),
        ("sha256", "message.txt.sha256.sig"),
    ] {
        let _ = std::fs::remove_file(s.join("message.txt.sig"));
        s.run([
            "sign",
            "--format",
            "ssh",
            "--namespace",
            "file",
            "--hash",
            hash,
            "--key",
            "file:rfc.key",
            "--passphrase-file",
            "pw",
            "message.txt",
        ])
        .expect(0);
        let expected = std::fs::read(data(committed)).unwrap();
        assert_eq!(
            std::fs::read(s.join("message.txt.sig")).unwrap(),
            expected,
            "{hash}"
        );
        let _ = std::fs::remove_file(s.join("peer/message.txt.sig"));
        tool(
            &s,
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-n",
                "file",
                "-f",
                "rfc.ssh.key",
                "-O",
                &format!("hashalg={hash}"),
                "peer/message.txt",
            ],
            None,
        )
        .expect(0);
        assert_eq!(
            std::fs::read(s.join("peer/message.txt.sig")).unwrap(),
            expected,
            "{hash}"
        );
    }
}

/// The key id in a minisign public key file.
fn key_id_of(public_key_file: &str) -> [u8; 8] {
    let b64 = public_key_file.lines().nth(1).unwrap();
    let bytes = Base64::decode_vec(b64).unwrap();
    bytes[2..10].try_into().unwrap()
}

#[test]
fn file_key_signs_and_the_peers_verify() {
    let s = scratch();
    s.file_key("release.key");
    hallmark_signs_peers_verify(&s, "file:release.key");
}

#[test]
fn softhsm_key_in_both_formats() {
    let mut s = scratch();
    softhsm_tokens(&mut s, &["ci"]);
    let key = pkcs11_ref(&s, "ci", "release");
    s.run(["key", "generate", "--out", &key]).expect(0);
    hallmark_signs_peers_verify(&s, &key);
}

#[test]
fn minisign_signs_and_hallmark_verifies() {
    let s = scratch();
    tool(
        &s,
        "minisign",
        &["-G", "-W", "-p", "peer.pub", "-s", "peer.key"],
        None,
    )
    .expect(0);
    tool(
        &s,
        "minisign",
        &["-G", "-W", "-p", "other.pub", "-s", "other.key"],
        None,
    )
    .expect(0);
    s.write("release.tar", "release contents\n");
    s.write("tampered.tar", "release contents!\n");
    tool(
        &s,
        "minisign",
        &[
            "-S",
            "-s",
            "peer.key",
            "-m",
            "release.tar",
            "-t",
            "release 1.0",
        ],
        None,
    )
    .expect(0);
    std::fs::copy(
        s.join("release.tar.minisig"),
        s.join("tampered.tar.minisig"),
    )
    .unwrap();

    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "peer.pub",
            "release.tar",
        ])
        .expect(0);
    assert!(
        run.stdout.contains("trusted comment: release 1.0"),
        "{}",
        run.stdout
    );
    // The bare -P form, given inline.
    let p = s.read("peer.pub").lines().nth(1).unwrap().to_owned();
    s.run([
        "verify",
        "--format",
        "minisign",
        "--public-key",
        &p,
        "release.tar",
    ])
    .expect(0);
    s.run([
        "verify",
        "--format",
        "minisign",
        "--public-key",
        "peer.pub",
        "tampered.tar",
    ])
    .expect(1);
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "other.pub",
            "release.tar",
        ])
        .expect(1);
    assert!(
        run.stdout.contains("which is not a given key"),
        "{}",
        run.stdout
    );
    // A changed trusted comment is refused.
    let sig = s.read("release.tar.minisig");
    s.write(
        "release.tar.minisig",
        sig.replace(
            "trusted comment: release 1.0",
            "trusted comment: release 2.0",
        ),
    );
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "peer.pub",
            "release.tar",
        ])
        .expect(1);
    assert!(run.stdout.contains("trusted comment"), "{}", run.stdout);

    // A legacy (non-prehashed) signature is refused as input, with the reason.
    s.write("legacy.txt", "x\n");
    tool(
        &s,
        "minisign",
        &["-S", "-l", "-s", "peer.key", "-m", "legacy.txt"],
        None,
    )
    .expect(0);
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "peer.pub",
            "legacy.txt",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("legacy minisign signature"),
        "{}",
        run.stderr
    );
}

#[test]
fn ssh_keygen_signs_and_hallmark_verifies() {
    let s = scratch();
    tool(
        &s,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", "peer", "-f", "peer"],
        None,
    )
    .expect(0);
    s.write("release.tar", "release contents\n");
    s.write("tampered.tar", "release contents!\n");
    for hash in ["sha512", "sha256"] {
        let _ = std::fs::remove_file(s.join("release.tar.sig"));
        tool(
            &s,
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-n",
                "file",
                "-f",
                "peer",
                "-O",
                &format!("hashalg={hash}"),
                "release.tar",
            ],
            None,
        )
        .expect(0);
        std::fs::copy(s.join("release.tar.sig"), s.join("tampered.tar.sig")).unwrap();
        let public = s.read("peer.pub");
        s.write("allowed", format!("alice@example.org {public}"));
        s.run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "file",
            "--public-key",
            "peer.pub",
            "release.tar",
        ])
        .expect(0);
        let run = s
            .run([
                "verify",
                "--format",
                "ssh",
                "-n",
                "file",
                "--allowed-signers",
                "allowed",
                "--principal",
                "alice@example.org",
                "release.tar",
            ])
            .expect(0);
        assert!(
            run.stdout
                .contains("good ssh signature by alice@example.org")
        );
        s.run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "file",
            "--public-key",
            "peer.pub",
            "tampered.tar",
        ])
        .expect(1);
        s.run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "file",
            "--allowed-signers",
            "allowed",
            "--principal",
            "bob@example.org",
            "release.tar",
        ])
        .expect(1);
        s.run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "git",
            "--public-key",
            "peer.pub",
            "release.tar",
        ])
        .expect(1);
    }
    // A wrong key: Hallmark's own key.
    s.file_key("mine.key");
    s.run([
        "verify",
        "--format",
        "ssh",
        "-n",
        "file",
        "--public-key",
        "file:mine.key",
        "release.tar",
    ])
    .expect(1);
}

#[test]
fn malformed_signatures_and_usage_are_exit_2() {
    let s = scratch();
    s.file_key("k");
    s.write("f", "x");
    s.write("f.minisig", "untrusted comment: x\nnot base64\n");
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "file:k",
            "f",
        ])
        .expect(2);
    assert!(run.stderr.contains("minisign signature"), "{}", run.stderr);
    s.write(
        "f.sig",
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
    );
    let run = s
        .run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "file",
            "--public-key",
            "file:k",
            "f",
        ])
        .expect(2);
    assert!(run.stderr.contains("SSH signature"), "{}", run.stderr);
    let run = s
        .run(["verify", "--format", "ssh", "--public-key", "file:k", "f"])
        .expect(2);
    assert!(run.stderr.contains("--namespace"), "{}", run.stderr);
    let run = hallmark_sign(&s, "file:k", "ssh", &[], "f").expect(2);
    assert!(run.stderr.contains("--namespace"), "{}", run.stderr);
    // An existing signature is not replaced without --force, and nothing is unlocked.
    let run = hallmark_sign(&s, "file:k", "minisign", &[], "f").expect(2);
    assert!(
        run.stderr.contains("f.minisig already exists"),
        "{}",
        run.stderr
    );
    let run = hallmark_sign(
        &s,
        "file:k",
        "minisign",
        &["--trusted-comment", "a\nb"],
        "g",
    )
    .expect(2);
    assert!(run.stderr.contains("control character"), "{}", run.stderr);
    let run = s
        .run(["key", "show", "not-a-key", "--format", "jwk"])
        .expect(2);
    assert!(
        run.stderr.contains("cannot read public key file"),
        "{}",
        run.stderr
    );
}

fn git(s: &Scratch, repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut full = vec!["-C", repo.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut all_env = vec![
        ("HOME", s.path().to_str().unwrap()),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
        ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
    ];
    all_env.extend_from_slice(env);
    tool_env(s, "git", &full, None, &all_env)
}

/// git signs a commit and a tag with `key` through `hallmark-ssh-keygen`, and verifies them
/// both with Hallmark and with ssh-keygen as the program.
fn git_signs_with(s: &Scratch, key: &str, env: &[(&str, &str)]) {
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_hallmark"),
        s.join("hallmark-ssh-keygen"),
    )
    .unwrap();
    let line = s
        .run(["key", "show", key, "--format", "ssh"])
        .expect(0)
        .stdout;
    s.write("signing.pub", &line);
    s.write("allowed_signers", format!("dev@example.org {line}"));
    let repo = s.join("repo");
    tool(s, "git", &["init", "-q", repo.to_str().unwrap()], None).expect(0);
    let program = s.join("hallmark-ssh-keygen");
    let config = [
        ("user.name", "Dev"),
        ("user.email", "dev@example.org"),
        ("gpg.format", "ssh"),
        ("gpg.ssh.program", program.to_str().unwrap()),
        (
            "user.signingkey",
            s.join("signing.pub").to_str().unwrap().to_owned().leak(),
        ),
        (
            "gpg.ssh.allowedSignersFile",
            s.join("allowed_signers")
                .to_str()
                .unwrap()
                .to_owned()
                .leak(),
        ),
    ];
    for (k, v) in config {
        git(s, &repo, &["config", k, v], &[]).expect(0);
    }
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    git(s, &repo, &["add", "a.txt"], &[]).expect(0);
    git(s, &repo, &["commit", "-q", "-S", "-m", "signed"], env).expect(0);
    git(s, &repo, &["tag", "-s", "v1", "-m", "v1"], env).expect(0);

    let run = git(s, &repo, &["verify-commit", "HEAD"], env).expect(0);
    assert!(
        run.stderr
            .contains("Good \"git\" signature for dev@example.org with ED25519 key SHA256:"),
        "{}",
        run.stderr
    );
    git(s, &repo, &["verify-tag", "v1"], env).expect(0);
    // ssh-keygen itself accepts what Hallmark signed.
    let run = git(
        s,
        &repo,
        &["-c", "gpg.ssh.program=ssh-keygen", "verify-commit", "HEAD"],
        &[],
    )
    .expect(0);
    assert!(
        run.stderr.contains("Good \"git\" signature"),
        "{}",
        run.stderr
    );
    git(
        s,
        &repo,
        &["-c", "gpg.ssh.program=ssh-keygen", "verify-tag", "v1"],
        &[],
    )
    .expect(0);
    // A signer not in the allowed signers file is refused by both.
    s.write("allowed_signers", format!("dev@example.org {RFC_SSH}\n"));
    git(s, &repo, &["verify-commit", "HEAD"], env).expect(1);
    git(
        s,
        &repo,
        &["-c", "gpg.ssh.program=ssh-keygen", "verify-commit", "HEAD"],
        &[],
    )
    .expect(1);
}

#[test]
fn git_signs_commits_and_tags_with_a_file_key() {
    let s = scratch();
    s.file_key("release.key");
    let pw = s.join("pw");
    git_signs_with(
        &s,
        "file:release.key",
        &[("HALLMARK_PASSPHRASE_FILE", pw.to_str().unwrap())],
    );
}

#[test]
fn git_signs_commits_and_tags_with_a_softhsm_key() {
    let mut s = scratch();
    softhsm_tokens(&mut s, &["ci"]);
    let key = pkcs11_ref(&s, "ci", "git");
    s.run(["key", "generate", "--out", &key]).expect(0);
    let conf = s.join("softhsm2.conf");
    git_signs_with(&s, &key, &[("SOFTHSM2_CONF", conf.to_str().unwrap())]);
}
