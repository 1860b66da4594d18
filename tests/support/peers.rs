//! The peer tools — `minisign`, `ssh-keygen` — against Hallmark's signatures, for any backend.

use std::process::{Command, Stdio};

use crate::{Run, Scratch};

/// Runs a peer tool in the scratch directory; fails loudly when it is not installed.
pub fn tool(s: &Scratch, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    tool_env(s, program, args, stdin, &[])
}

pub fn tool_env(
    s: &Scratch,
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(s.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): run `bash scripts/test.sh`, which installs minisign, \
             openssh-client and git"
        )
    });
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `hallmark sign --format FORMAT --key KEY EXTRA FILE` (with the passphrase file for file keys).
pub fn hallmark_sign(s: &Scratch, key: &str, format: &str, extra: &[&str], file: &str) -> Run {
    let mut args = vec!["sign", "--format", format, "--key", key];
    if key.starts_with("file:") {
        args.extend_from_slice(&["--passphrase-file", "pw"]);
    }
    args.extend_from_slice(extra);
    args.push(file);
    s.run(&args)
}

/// Hallmark signs with `key` in both peer formats, `minisign -V` and `ssh-keygen -Y verify`
/// accept the signatures, and both — and Hallmark — refuse a tampered file and another key.
pub fn hallmark_signs_peers_verify(s: &Scratch, key: &str) {
    s.write("release.tar", "release contents\n");
    s.write("tampered.tar", "release contents!\n");
    hallmark_sign(s, key, "minisign", &[], "release.tar").expect(0);
    hallmark_sign(s, key, "ssh", &["--namespace", "file"], "release.tar").expect(0);
    std::fs::copy(
        s.join("release.tar.minisig"),
        s.join("tampered.tar.minisig"),
    )
    .unwrap();
    std::fs::copy(s.join("release.tar.sig"), s.join("tampered.tar.sig")).unwrap();

    let minisign_pub = s
        .run(["key", "show", key, "--format", "minisign"])
        .expect(0);
    s.write("hallmark.minisign.pub", &minisign_pub.stdout);
    let ssh_pub = s.run(["key", "show", key, "--format", "ssh"]).expect(0);
    s.write(
        "allowed_signers",
        format!("release@example.org {}", ssh_pub.stdout),
    );

    // Another key, for the wrong-key cases.
    s.file_key("other.key");
    let other_minisign = s
        .run(["key", "show", "file:other.key", "--format", "minisign"])
        .expect(0);
    s.write("other.minisign.pub", &other_minisign.stdout);
    let other_ssh = s
        .run(["key", "show", "file:other.key", "--format", "ssh"])
        .expect(0);
    s.write(
        "other_signers",
        format!("release@example.org {}", other_ssh.stdout),
    );

    // minisign accepts, and refuses a tampered file and another key.
    let run = tool(
        s,
        "minisign",
        &["-V", "-p", "hallmark.minisign.pub", "-m", "release.tar"],
        None,
    )
    .expect(0);
    assert!(run.stdout.contains("file:release.tar"), "{}", run.stdout);
    let run = tool(
        s,
        "minisign",
        &["-V", "-p", "hallmark.minisign.pub", "-m", "tampered.tar"],
        None,
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("Signature verification failed"),
        "{}",
        run.stderr
    );
    let run = tool(
        s,
        "minisign",
        &["-V", "-p", "other.minisign.pub", "-m", "release.tar"],
        None,
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("key id"), "{}", run.stderr);
    // The -P form works too.
    let p = minisign_pub.stdout.lines().nth(1).unwrap().to_owned();
    tool(s, "minisign", &["-V", "-P", &p, "-m", "release.tar"], None).expect(0);

    // ssh-keygen accepts, and refuses a tampered file, another key and another namespace.
    let verify = |allowed: &str, ns: &str, file: &str| {
        let message = std::fs::read(s.join(file)).unwrap();
        let sig = format!("{file}.sig");
        tool(
            s,
            "ssh-keygen",
            &[
                "-Y",
                "verify",
                "-f",
                allowed,
                "-I",
                "release@example.org",
                "-n",
                ns,
                "-s",
                &sig,
            ],
            Some(&message),
        )
    };
    let run = verify("allowed_signers", "file", "release.tar").expect(0);
    assert!(
        run.stdout.starts_with(
            "Good \"file\" signature for release@example.org with ED25519 key SHA256:"
        ),
        "{}",
        run.stdout
    );
    assert_ne!(verify("allowed_signers", "file", "tampered.tar").code, 0);
    assert_ne!(verify("other_signers", "file", "release.tar").code, 0);
    assert_ne!(verify("allowed_signers", "git", "release.tar").code, 0);
    let message = std::fs::read(s.join("release.tar")).unwrap();
    tool(
        s,
        "ssh-keygen",
        &[
            "-Y",
            "check-novalidate",
            "-n",
            "file",
            "-s",
            "release.tar.sig",
        ],
        Some(&message),
    )
    .expect(0);

    // Hallmark agrees on all of it.
    s.run([
        "verify",
        "--format",
        "minisign",
        "--public-key",
        key,
        "release.tar",
    ])
    .expect(0);
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            key,
            "tampered.tar",
        ])
        .expect(1);
    assert!(
        run.stdout
            .contains("tampered.tar: refused: the signature does not verify")
    );
    let run = s
        .run([
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "other.minisign.pub",
            "release.tar",
        ])
        .expect(1);
    assert!(
        run.stdout.contains("which is not a given key"),
        "{}",
        run.stdout
    );
    s.run([
        "verify",
        "--format",
        "ssh",
        "-n",
        "file",
        "--allowed-signers",
        "allowed_signers",
        "--principal",
        "release@example.org",
        "release.tar",
    ])
    .expect(0);
    s.run([
        "verify",
        "--format",
        "ssh",
        "-n",
        "file",
        "--public-key",
        key,
        "release.tar",
    ])
    .expect(0);
    s.run([
        "verify",
        "--format",
        "ssh",
        "-n",
        "file",
        "--public-key",
        key,
        "tampered.tar",
    ])
    .expect(1);
    let run = s
        .run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "file",
            "--allowed-signers",
            "other_signers",
            "release.tar",
        ])
        .expect(1);
    assert!(
        run.stdout.contains("no allowed signer lists this key"),
        "{}",
        run.stdout
    );
    let run = s
        .run([
            "verify",
            "--format",
            "ssh",
            "-n",
            "git",
            "--public-key",
            key,
            "release.tar",
        ])
        .expect(1);
    assert!(
        run.stdout
            .contains("the signature is for namespace \"file\", not \"git\""),
        "{}",
        run.stdout
    );
}
