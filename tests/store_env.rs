//! A committed trust store in CI: verifying against a read-only store, leaving `git status`
//! clean, and `HALLMARK_KEYRING` / `HALLMARK_REGISTRY` in place of the flags.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// An identity `org.example.kel` (keys a.key, b.key), a release `tool.tar` signed in its name,
/// and a trust store `trust` pinning it.
fn pinned() -> Scratch {
    let s = scratch();
    s.file_key("a.key");
    s.file_key("b.key");
    s.run([
        "ceremony",
        "init",
        "--key",
        "file:a.key",
        "--next-key",
        "file:b.key",
        "--namespace",
        "org.example",
        "--passphrase-file",
        "pw",
        "--out",
        "org.example.kel",
    ])
    .expect(0);
    s.write("tool.tar", b"tool\n");
    s.run([
        "sign",
        "--key",
        "file:a.key",
        "--identity",
        "org.example.kel",
        "--passphrase-file",
        "pw",
        "--name",
        "org.example.tool",
        "--version",
        "1.0.0",
        "tool.tar",
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
    s
}

/// Runs `hallmark ARGS` in `s` with the directory `ro` read-only: a read-only bind mount in a
/// private mount namespace when running as root (root ignores file modes), else its modes.
fn with_read_only(s: &Scratch, ro: &str, args: &[&str]) -> Run {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap();
    let out = if root {
        let mut script = format!(
            "mount --bind -o ro {ro} {ro} && exec '{}'",
            env!("CARGO_BIN_EXE_hallmark")
        );
        for arg in args {
            script.push_str(&format!(" '{arg}'"));
        }
        Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .current_dir(s.path())
            .output()
            .unwrap()
    } else {
        Command::new("chmod")
            .args(["-R", "a-w", ro])
            .current_dir(s.path())
            .status()
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hallmark"))
            .args(args)
            .current_dir(s.path())
            .output()
            .unwrap();
        Command::new("chmod")
            .args(["-R", "u+w", ro])
            .current_dir(s.path())
            .status()
            .unwrap();
        out
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_read_only_store_is_verified_against_without_recording() {
    let s = pinned();
    let audit_before = s.read("trust/audit.log");
    let run = with_read_only(&s, "trust", &["verify", "--keyring", "trust", "tool.tar"]).expect(0);
    assert!(
        run.stdout
            .starts_with("tool.tar: trusted: org.example.tool@1.0.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("note: trust store trust cannot be written (")
            && run.stderr.contains(
                "): verifying without recording (--no-record says so quietly, --record makes it \
                 an error)"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(s.read("trust/audit.log"), audit_before);

    // --no-record: the same, quietly.
    let run = with_read_only(
        &s,
        "trust",
        &["verify", "--no-record", "--keyring", "trust", "tool.tar"],
    )
    .expect(0);
    assert_eq!(run.stderr, "");

    // --record: recording is required, so a read-only store is an error.
    let run = with_read_only(
        &s,
        "trust",
        &["verify", "--record", "--keyring", "trust", "tool.tar"],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("error: cannot lock trust store trust/.lock: "),
        "{}",
        run.stderr
    );
    // First use needs to write the pin.
    with_read_only(
        &s,
        "trust",
        &[
            "verify",
            "--trust-on-first-use",
            "--keyring",
            "trust",
            "tool.tar",
        ],
    )
    .expect(2);
}

#[test]
fn a_committed_store_stays_clean_in_ci() {
    let s = pinned();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(s.path())
            .env("GIT_AUTHOR_NAME", "ci")
            .env("GIT_AUTHOR_EMAIL", "ci@example.org")
            .env("GIT_COMMITTER_NAME", "ci")
            .env("GIT_COMMITTER_EMAIL", "ci@example.org")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["add", "trust"]);
    git(&["commit", "-q", "-m", "trust store"]);
    // The recipe of docs/verifying.md, on a writable checkout and on a read-only one.
    s.run(["verify", "--no-record", "--keyring", "trust", "tool.tar"])
        .expect(0);
    with_read_only(&s, "trust", &["verify", "--keyring", "trust", "tool.tar"]).expect(0);
    assert_eq!(git(&["status", "--porcelain", "trust"]), "");
}

#[test]
fn hallmark_keyring_stands_in_for_keyring_flags() {
    let s = pinned();
    let env = [("HALLMARK_KEYRING", "trust")];
    let run = s.run_env(["verify", "tool.tar"], &env).expect(0);
    assert!(
        run.stdout.starts_with("tool.tar: trusted: "),
        "{}",
        run.stdout
    );
    s.run_env(["verify", "--no-record", "tool.tar"], &env)
        .expect(0);
    // An explicit key source wins over the variable, without a conflict.
    let run = s
        .run_env(["verify", "--public-key", "file:a.key", "tool.tar"], &env)
        .expect(0);
    assert!(run.stdout.contains("signed by key"), "{}", run.stdout);
    s.run_env(["keyring", "show"], &env).expect(0);
    s.run_env(["keyring", "log", "--verify"], &env).expect(0);

    // Without the variable, verify says what it needs.
    let run = s.run(["verify", "tool.tar"]).expect(2);
    assert!(
        run.stderr.contains(
            "error: say what to verify against: --keyring DIR (or $HALLMARK_KEYRING), \
             --public-key KEY, --identity KEL or --allowed-signers FILE"
        ),
        "{}",
        run.stderr
    );
    let run = s
        .run([
            "verify",
            "--no-record",
            "--public-key",
            "file:a.key",
            "tool.tar",
        ])
        .expect(2);
    assert!(
        run.stderr.contains(
            "error: --no-record applies to a trust store: give --keyring DIR (or \
             $HALLMARK_KEYRING)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn hallmark_registry_stands_in_for_registry_flags() {
    let s = pinned();
    for key in ["r.key", "r-next.key"] {
        s.run([
            "key",
            "generate",
            "--out",
            &format!("file:{key}"),
            "--passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
        ])
        .expect(0);
    }
    let env = [("HALLMARK_REGISTRY", "reg")];
    s.run_env(
        [
            "registry",
            "init",
            "--key",
            "file:r.key",
            "--next-key",
            "file:r-next.key",
            "--passphrase-file",
            "pw",
        ],
        &env,
    )
    .expect(0);
    s.run_env(
        ["registry", "accept", "--passphrase-file", "pw", "tool.tar"],
        &env,
    )
    .expect(0);
    let run = s.run_env(["registry", "verify-log"], &env).expect(0);
    assert!(
        run.stdout.starts_with("registry log verified: "),
        "{}",
        run.stdout
    );
    // --log still works with the variable set.
    s.run_env(["registry", "verify-log", "--log", "reg/log.jsonl"], &env)
        .expect(0);
    let run = s.run(["registry", "verify-log"]).expect(2);
    assert!(
        run.stderr
            .contains("give --registry DIR (or $HALLMARK_REGISTRY) or --log FILE"),
        "{}",
        run.stderr
    );
}
