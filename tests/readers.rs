//! Every file Hallmark reads from an untrusted place — bundles, key event logs, trust-store and
//! registry files, key files, public keys, peer signatures, ceremony files — is opened without
//! blocking and read only if it is a regular file, within a limit. A FIFO an attacker places
//! beside an artifact, `/dev/zero` or an endless pipe named as a log: each is refused with exit
//! 2 and a message naming what it is, never waited on or read into memory without end.
//!
//! Each command runs under a guard: if it has not finished after a minute it is killed and the
//! test fails (a blocking `open` of a FIFO would otherwise hang the test forever). The
//! assertions are on exit codes and messages, not on time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hallmark_tests::{Run, Scratch};

const HALLMARK: &str = env!("CARGO_BIN_EXE_hallmark");
const HALLMARK_VERIFY: &str = env!("CARGO_BIN_EXE_hallmark-verify");

/// What every refused FIFO's message says.
const FIFO: &str = "it is a FIFO (named pipe), not a regular file; refusing to read it";

fn scratch() -> Scratch {
    Scratch::new(HALLMARK)
}

/// Waits for `child`, killing it (and failing) if it is still running after a minute: a hang
/// guard, so that a command blocked on a FIFO fails the test instead of hanging it.
fn finish(mut child: Child, what: &str) -> Run {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish: it blocked (on a FIFO?) and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs `exe ARGS` in the scratch directory under the hang guard, with `stdin` as standard
/// input (default: nothing).
fn run_guarded(s: &Scratch, exe: &str, args: &[&str], stdin: Option<Stdio>) -> Run {
    let child = Command::new(exe)
        .args(args)
        .current_dir(s.path())
        .stdin(stdin.unwrap_or_else(Stdio::null))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &format!("{exe} {args:?}"))
}

fn run(s: &Scratch, args: &[&str]) -> Run {
    run_guarded(s, HALLMARK, args, None)
}

/// Replaces whatever is at `path` with a FIFO that nobody ever writes to.
fn fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Asserts exit 2 and an error naming `path` as a FIFO.
#[track_caller]
fn refused_fifo(run: Run, path: &str) {
    let run = run.expect(2);
    assert!(
        run.stderr.contains(path) && run.stderr.contains(FIFO),
        "expected a refusal of FIFO {path}:\n{}",
        run.stderr
    );
}

/// A scratch dir with file key `k.key` and `tool.tar` signed by it, in all three formats.
fn signed() -> Scratch {
    let s = scratch();
    s.file_key("k.key");
    s.write("tool.tar", b"release\n");
    let sign = ["sign", "--key", "file:k.key", "--passphrase-file", "pw"];
    for format in [
        &["--name", "org.example.tool", "--version", "1.0.0"][..],
        &["--format", "minisign"],
        &["--format", "ssh", "-n", "file"],
    ] {
        let args: Vec<&str> = sign
            .iter()
            .chain(format)
            .chain(&["tool.tar"])
            .copied()
            .collect();
        run(&s, &args).expect(0);
    }
    s
}

#[test]
fn a_fifo_beside_an_artifact_does_not_hang_the_verifier() {
    let s = signed();
    run(&s, &["verify", "--public-key", "k.key.pub", "tool.tar"]).expect(0);
    fifo(&s.join("tool.tar.hallmark.json"));
    refused_fifo(
        run(&s, &["verify", "--public-key", "k.key.pub", "tool.tar"]),
        "cannot read bundle tool.tar.hallmark.json",
    );
    refused_fifo(
        run_guarded(
            &s,
            HALLMARK_VERIFY,
            &["--public-key", "k.key.pub", "tool.tar"],
            None,
        ),
        "cannot read bundle tool.tar.hallmark.json",
    );
    // --json says the same.
    let run = run(
        &s,
        &["--json", "verify", "--public-key", "k.key.pub", "tool.tar"],
    )
    .expect(2);
    assert!(run.stdout.contains(FIFO), "{}", run.stdout);
}

#[test]
fn fifos_as_public_keys_and_key_files_are_refused() {
    let s = signed();
    fifo(&s.join("fifo.pub"));
    refused_fifo(
        run(&s, &["verify", "--public-key", "fifo.pub", "tool.tar"]),
        "fifo.pub",
    );
    refused_fifo(
        run_guarded(
            &s,
            HALLMARK_VERIFY,
            &["--public-key", "fifo.pub", "tool.tar"],
            None,
        ),
        "fifo.pub",
    );
    // file:KEY reads KEY.pub.
    fifo(&s.join("other.key.pub"));
    refused_fifo(run(&s, &["key", "show", "file:other.key"]), "other.key.pub");
    // The key file itself.
    fifo(&s.join("fifo.key"));
    refused_fifo(
        run(
            &s,
            &[
                "sign",
                "--key",
                "file:fifo.key",
                "--passphrase-file",
                "pw",
                "--name",
                "org.example.tool",
                "--version",
                "1.0.1",
                "--force",
                "tool.tar",
            ],
        ),
        "cannot read key file fifo.key",
    );
}

#[test]
fn fifos_as_peer_signatures_are_refused() {
    let s = signed();
    run(
        &s,
        &[
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "k.key.pub",
            "tool.tar",
        ],
    )
    .expect(0);
    fifo(&s.join("tool.tar.minisig"));
    refused_fifo(
        run(
            &s,
            &[
                "verify",
                "--format",
                "minisign",
                "--public-key",
                "k.key.pub",
                "tool.tar",
            ],
        ),
        "cannot read signature tool.tar.minisig",
    );
    fifo(&s.join("tool.tar.sig"));
    refused_fifo(
        run(
            &s,
            &[
                "verify",
                "--format",
                "ssh",
                "-n",
                "file",
                "--public-key",
                "k.key.pub",
                "tool.tar",
            ],
        ),
        "cannot read signature tool.tar.sig",
    );
    // The signed file itself, for the peer formats (Hallmark's own tree hashing refuses
    // special files already).
    fifo(&s.join("data.bin"));
    let run = run(
        &s,
        &[
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "k.key.pub",
            "--signature",
            "tool.tar.sig",
            "data.bin",
        ],
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
}

/// A scratch dir with identity `p.kel` (seed 1, next 2, claiming org.example), a release signed
/// in its name, and a trust store `trust/` pinning it.
fn pinned() -> (Scratch, Id) {
    let s = scratch();
    let id = Id::incept(1, 2, &["org.example"], t(0));
    id.write(&s.join("p.kel"));
    write_release(
        s.path(),
        "tool.tar",
        b"one\n",
        &id.bundle("org.example.tool", "1.0.0", b"one\n", t(10), &[1]),
    );
    run(
        &s,
        &[
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "p.kel",
            "--keyring",
            "trust",
        ],
    )
    .expect(0);
    run(&s, &["verify", "--keyring", "trust", "tool.tar"]).expect(0);
    (s, id)
}

#[test]
fn fifos_as_key_event_logs_are_refused() {
    let (s, _) = pinned();
    fifo(&s.join("fifo.kel"));
    for args in [
        &["keyring", "import", "fifo.kel", "--keyring", "trust"][..],
        &["verify", "--identity", "fifo.kel", "tool.tar"],
        &[
            "keyring",
            "pin",
            "org.other",
            "--identity",
            "fifo.kel",
            "--keyring",
            "trust",
        ],
    ] {
        refused_fifo(run(&s, args), "fifo.kel");
    }
}

#[test]
fn fifos_in_a_trust_store_are_refused() {
    let (s, _) = pinned();
    let kels: Vec<String> = std::fs::read_dir(s.join("trust/kels"))
        .unwrap()
        .map(|e| format!("trust/kels/{}", e.unwrap().file_name().to_str().unwrap()))
        .collect();
    assert_eq!(kels.len(), 1, "{kels:?}");
    for (file, args) in [
        (
            "trust/pins.json",
            &["keyring", "show", "--keyring", "trust"][..],
        ),
        (
            kels[0].as_str(),
            &["verify", "--keyring", "trust", "tool.tar"],
        ),
        ("trust/audit.log", &["keyring", "log", "--keyring", "trust"]),
        (
            "trust/audit.log",
            &["verify", "--keyring", "trust", "tool.tar"],
        ),
    ] {
        let saved = std::fs::read(s.join(file)).unwrap();
        fifo(&s.join(file));
        refused_fifo(run(&s, args), file);
        std::fs::remove_file(s.join(file)).unwrap();
        std::fs::write(s.join(file), saved).unwrap();
    }
    run(&s, &["verify", "--keyring", "trust", "tool.tar"]).expect(0);
}

/// A scratch dir with a registry in `reg/`.
fn with_registry() -> Scratch {
    let s = scratch();
    s.file_key("reg.key");
    s.file_key("reg-next.key");
    run(
        &s,
        &[
            "registry",
            "init",
            "--registry",
            "reg",
            "--key",
            "file:reg.key",
            "--next-key",
            "file:reg-next.key",
            "--passphrase-file",
            "pw",
        ],
    )
    .expect(0);
    s
}

#[test]
fn fifos_in_a_registry_are_refused() {
    let s = with_registry();
    run(&s, &["registry", "verify-log", "--registry", "reg"]).expect(0);
    for file in ["reg/registry.json", "reg/log.jsonl"] {
        let saved = std::fs::read(s.join(file)).unwrap();
        fifo(&s.join(file));
        refused_fifo(
            run(&s, &["registry", "verify-log", "--registry", "reg"]),
            file,
        );
        refused_fifo(
            run(
                &s,
                &[
                    "registry",
                    "accept",
                    "--registry",
                    "reg",
                    "--passphrase-file",
                    "pw",
                    "nothing.kel",
                ],
            ),
            file,
        );
        std::fs::remove_file(s.join(file)).unwrap();
        std::fs::write(s.join(file), saved).unwrap();
    }
    fifo(&s.join("sub.kel"));
    let run = run(
        &s,
        &[
            "registry",
            "accept",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
            "sub.kel",
        ],
    );
    assert!(run.stderr.contains(FIFO), "{}", run.stderr);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn fifos_as_ceremony_files_are_refused() {
    let s = scratch();
    s.file_key("a.key");
    s.file_key("a-next.key");
    for (file, args) in [
        (
            "pending.json",
            &[
                "ceremony",
                "cosign",
                "--key",
                "file:a.key",
                "--passphrase-file",
                "pw",
                "pending.json",
            ][..],
        ),
        ("t.json", &["ceremony", "verify-transcript", "t.json"]),
        (
            "id.kel",
            &[
                "ceremony",
                "rotate",
                "--identity",
                "id.kel",
                "--key",
                "file:a-next.key",
                "--next-public-key",
                "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                "--passphrase-file",
                "pw",
            ],
        ),
    ] {
        fifo(&s.join(file));
        refused_fifo(run(&s, args), file);
    }
}

/// `/dev/zero`, a file without end, and an endless pipe named as logs are refused at once, and
/// a log line longer than the limit is refused without being read into memory.
#[test]
fn logs_from_devices_and_pipes_are_refused_and_lines_are_bounded() {
    let s = with_registry();
    let run_log = |log: &str, stdin: Option<Stdio>| {
        run_guarded(
            &s,
            HALLMARK,
            &["registry", "verify-log", "--log", log],
            stdin,
        )
    };
    let zero = run_log("/dev/zero", None).expect(2);
    assert_eq!(
        zero.stderr,
        "error: cannot read log /dev/zero: it is a character device, not a regular file; \
         refusing to read it\n"
    );
    // An endless pipe: `yes` writing into standard input, named as /dev/stdin.
    let mut yes = Command::new("yes")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pipe = Stdio::from(yes.stdout.take().unwrap());
    let piped = run_log("/dev/stdin", Some(pipe)).expect(2);
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(
        piped.stderr,
        format!("error: cannot read log /dev/stdin: {FIFO}\n")
    );
    // A missing log is an input error, not a broken log.
    let missing = run_log("missing.jsonl", None).expect(2);
    assert!(
        missing
            .stderr
            .starts_with("error: cannot read missing.jsonl: "),
        "{}",
        missing.stderr
    );

    // One line of 2 MiB without a newline: refused at the line limit.
    let long = s.join("long.jsonl");
    std::fs::write(&long, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let run = run_log("long.jsonl", None).expect(2);
    assert_eq!(
        run.stderr,
        "error: cannot read log long.jsonl: line 1 is longer than the limit of 1048576 bytes\n"
    );

    // The audit log of a trust store, as a link to /dev/zero.
    let (t, _) = pinned();
    std::fs::remove_file(t.join("trust/audit.log")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.join("trust/audit.log")).unwrap();
    let run = run_guarded(
        &t,
        HALLMARK,
        &["keyring", "log", "--keyring", "trust"],
        None,
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("it is a character device, not a regular file; refusing to read it"),
        "{}",
        run.stderr
    );
}

/// Standard input is read for `ssh-keygen -Y sign`; an endless stream is cut off at the limit.
#[test]
fn standard_input_is_bounded() {
    let s = signed();
    s.write("k.ref", "file:k.key\n");
    let mut zeros = Command::new("cat")
        .arg("/dev/zero")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = Stdio::from(zeros.stdout.take().unwrap());
    let run = run_guarded(
        &s,
        HALLMARK,
        &[
            "ssh-keygen",
            "-Y",
            "sign",
            "-n",
            "file",
            "-f",
            "k.ref",
            "--passphrase-file",
            "pw",
        ],
        Some(pipe),
    );
    let _ = zeros.kill();
    let _ = zeros.wait();
    let run = run.expect(2);
    assert!(
        run.stderr.contains(
            "cannot read the message from standard input: it is larger than the limit of \
             67108864 bytes"
        ),
        "{}",
        run.stderr
    );
}

// Input errors are input errors (exit 2), and output that cannot be written is one too.

#[test]
fn a_file_where_the_store_keeps_its_logs_is_an_input_error() {
    let (s, _) = pinned();
    std::fs::remove_dir_all(s.join("trust/kels")).unwrap();
    s.write("trust/kels", b"not a directory\n");
    let run = run(&s, &["keyring", "show", "--keyring", "trust"]).expect(2);
    assert_eq!(
        run.stderr,
        "error: cannot use directory trust/kels: it is not a directory, but must be the \
         directory of key event logs; move it away\n"
    );
}

#[test]
fn a_tree_nested_beyond_the_path_limit_says_so() {
    use rustix::fs::{Mode, OFlags};
    let s = scratch();
    std::fs::create_dir(s.join("deep")).unwrap();
    // 2,100 levels of `d/`: deeper than PATH_MAX (4,096 bytes) allows to name.
    let mut dir = rustix::fs::open(s.join("deep"), OFlags::DIRECTORY, Mode::empty()).unwrap();
    for _ in 0..2100 {
        rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).unwrap();
        dir = rustix::fs::openat(&dir, "d", OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let run = run(&s, &["hash", "deep"]).expect(2);
    assert!(
        run.stderr.contains(
            "File name too long (os error 36); the path is longer than the operating system \
             allows (4096 bytes): the tree is nested too deeply to hash; flatten it, or hash a \
             subdirectory"
        ),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(400)..]
    );
}

#[test]
fn output_to_a_closed_standard_output_is_an_error() {
    let s = scratch();
    s.write("f", b"x\n");
    let closed = |args: &[&str]| {
        let mut full = vec!["-c", "exec \"$@\" >&-", "sh", HALLMARK];
        full.extend_from_slice(args);
        s.run_program("sh", &full, &[])
    };
    let hashed = closed(&["hash", "f"]).expect(2);
    assert_eq!(
        hashed.stderr,
        "error: cannot write to standard output: it was closed when the command started\n"
    );
    // A failure keeps its own exit code.
    closed(&["hash", "missing"]).expect(2);
    // Output sent to /dev/null on purpose is not an error.
    let mut full = vec!["-c", "exec \"$@\" >/dev/null", "sh", HALLMARK, "hash", "f"];
    s.run_program("sh", &full, &[]).expect(0);
    full[1] = "exec \"$@\" >&-";
    full[3] = HALLMARK_VERIFY;
    full.truncate(4);
    s.file_key("k.key");
    run(
        &s,
        &[
            "sign",
            "--key",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "f",
        ],
    )
    .expect(0);
    full.extend(["--public-key", "k.key.pub", "f"]);
    let verified = s.run_program("sh", &full, &[]).expect(2);
    assert_eq!(
        verified.stderr,
        "error: cannot write to standard output: it was closed when the command started\n"
    );
}

#[test]
fn a_resubmitted_statement_with_other_signatures_is_not_already_accepted() {
    use hallmark_keyring::bundle::Bundle;
    use hallmark_keyring::{Statement, Timestamp};
    let s = with_registry();
    let past = Timestamp::from_unix(Timestamp::now().unix() - 100_000).unwrap();
    let id = Id::incept(1, 2, &["org.example"], past);
    let bundle = id.bundle("org.example.tool", "1.0.0", b"one\n", past, &[1]);
    write_release(s.path(), "tool.tar", b"one\n", &bundle);
    let accept = |s: &Scratch| {
        run(
            s,
            &[
                "registry",
                "accept",
                "--registry",
                "reg",
                "--passphrase-file",
                "pw",
                "tool.tar",
            ],
        )
    };
    accept(&s).expect(0);
    accept(&s).expect(0);
    // The same payload with an added signature, and with its signature replaced.
    let mut added = bundle.clone();
    added.statement.sign(&sk(9)).unwrap();
    let mut replaced = bundle.clone();
    replaced.statement = Statement::from_envelope(&bundle.statement)
        .unwrap()
        .to_envelope()
        .unwrap();
    replaced.statement.sign(&sk(9)).unwrap();
    for altered in [added, replaced] {
        let json = altered.to_json();
        std::fs::write(s.join("tool.tar.hallmark.json"), &json).unwrap();
        let run = accept(&s).expect(1);
        assert!(
            run.stdout.contains(
                "org.example.tool@1.0.0 was accepted in log entry #2 with other signatures"
            ) || run.stderr.contains(
                "org.example.tool@1.0.0 was accepted in log entry #2 with other signatures"
            ),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        // No receipt is written into the altered bundle.
        assert_eq!(
            std::fs::read(s.join("tool.tar.hallmark.json")).unwrap(),
            json
        );
        assert!(
            Bundle::from_json(&json).unwrap().receipts.is_empty(),
            "the altered bundle had no receipt"
        );
    }
}

/// SoftHSM2's file store is not crash-safe (docs/hardware/pkcs11.md): `key generate` killed at
/// various points can leave half a key pair or empty `token.object`. Whatever it left, Hallmark
/// reports it with its documented exit codes: the listing works, and a token that is gone is
/// "no token matching" (exit 4), never a panic.
#[test]
fn softhsm2_killed_during_key_generation() {
    use hallmark_tests::{pkcs11_module, pkcs11_ref, softhsm_tokens};
    let mut s = scratch();
    softhsm_tokens(&mut s, &["ci"]);
    let conf = s.join("softhsm2.conf");
    let token_object = std::fs::read_dir(s.join("softhsm-tokens"))
        .unwrap()
        .map(|e| e.unwrap().path().join("token.object"))
        .find(|p| p.is_file())
        .unwrap();
    let mut truncated = false;
    for i in 0..60u64 {
        let mut child = Command::new(HALLMARK)
            .args([
                "key",
                "generate",
                "--out",
                &pkcs11_ref(&s, "ci", &format!("k{i}")),
            ])
            .current_dir(s.path())
            .env("SOFTHSM2_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill points spread over the run; only where the kill lands varies.
        std::thread::sleep(Duration::from_millis(10 * (i % 9)));
        let _ = child.kill();
        let _ = child.wait();
        if std::fs::metadata(&token_object).unwrap().len() == 0 {
            truncated = true;
            break;
        }
    }
    let module = format!("pkcs11:?module-path={}", pkcs11_module());
    let list = s.run(["key", "list", &module]).expect(0);
    assert!(!list.stderr.contains("panicked"), "{}", list.stderr);
    s.write("a.bin", b"x\n");
    let sign = s.run([
        "sign",
        "--key",
        &pkcs11_ref(&s, "ci", "k0"),
        "--name",
        "org.example.tool",
        "--version",
        "1.0.0",
        "a.bin",
    ]);
    assert!(!sign.stderr.contains("panicked"), "{}", sign.stderr);
    if truncated {
        assert!(list.stdout.contains("(not initialized)"), "{}", list.stdout);
        let sign = sign.expect(4);
        assert!(
            sign.stderr.contains("no token matching pkcs11:token=ci")
                && sign.stderr.contains("tokens present: none"),
            "{}",
            sign.stderr
        );
    } else {
        assert!(list.stdout.contains("token \"ci\""), "{}", list.stdout);
        // k0 may be whole, half or absent: signing succeeds or fails with an input or token
        // error, never anything else.
        assert!([0, 2, 4].contains(&sign.code), "{}", sign.stderr);
    }
}

#[test]
fn fifos_as_other_inputs_are_refused() {
    let s = signed();
    Id::incept(1, 2, &["org.example"], t(0)).write(&s.join("id.kel"));
    for fifo_name in ["fifo.signers", "fifo.identity", "fifo.age", "fifo.pem"] {
        fifo(&s.join(fifo_name));
    }
    for (args, path) in [
        (
            &[
                "verify",
                "--format",
                "ssh",
                "-n",
                "file",
                "--allowed-signers",
                "fifo.signers",
                "--principal",
                "me",
                "tool.tar",
            ][..],
            "fifo.signers",
        ),
        (
            &[
                "ceremony",
                "restore",
                "--share",
                "fifo.age",
                "--age-identity",
                "fifo.identity",
                "--identity",
                "id.kel",
                "--out",
                "file:restored.key",
                "--passphrase-file",
                "pw",
            ],
            "fifo.",
        ),
        (
            &[
                "key",
                "verify-attestation",
                "--device",
                "fifo.pem",
                "--key-cert",
                "fifo.pem",
            ],
            "fifo.pem",
        ),
    ] {
        refused_fifo(run(&s, args), path);
    }
}
