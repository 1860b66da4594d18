//! What a person typing at a terminal meets: `hallmark` runs under `script(1)`, which gives it a
//! real pseudo-terminal as its controlling terminal and types the test's input into it, so the
//! prompts read from `/dev/tty` exactly as they do for a person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// Quotes an argument for `sh -c`.
fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Runs `hallmark ARGS` on a pseudo-terminal in `s`'s directory, typing `typed` into it.
fn on_terminal(s: &Scratch, args: &[&str], typed: &str) -> Run {
    let mut command_line = quote(env!("CARGO_BIN_EXE_hallmark"));
    for arg in args {
        command_line.push(' ');
        command_line.push_str(&quote(arg));
    }
    // `script -e` returns the child's exit status; the transcript goes to /dev/null and the
    // terminal's output (prompts, messages) to script's standard output.
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command_line, "/dev/null"])
        .current_dir(s.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs the terminal tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn key_generate_refuses_an_empty_passphrase_typed_at_the_terminal() {
    let s = scratch();
    let run = on_terminal(
        &s,
        &[
            "key",
            "generate",
            "--out",
            "file:k.key",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        "\n\n",
    )
    .expect(2);
    assert!(
        run.stdout
            .contains("error: new passphrase for k.key from the terminal prompt is empty"),
        "{}",
        run.stdout
    );
    // Refused at the first entry: the second prompt never appears, and nothing is written.
    assert!(!run.stdout.contains("(again)"), "{}", run.stdout);
    assert!(!s.join("k.key").exists() && !s.join("k.key.pub").exists());
}

#[test]
fn key_generate_takes_a_passphrase_typed_twice_at_the_terminal() {
    let s = scratch();
    on_terminal(
        &s,
        &[
            "key",
            "generate",
            "--out",
            "file:k.key",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        "correct horse battery staple\ncorrect horse battery staple\n",
    )
    .expect(0);
    // The passphrase typed at the terminal is the one that unlocks the key.
    s.write("a.txt", b"artifact\n");
    s.run([
        "sign",
        "--key",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--name",
        "org.acme.tool",
        "--version",
        "1.0.0",
        "a.txt",
    ])
    .expect(0);
}

#[test]
fn ceremony_init_refuses_an_empty_passphrase_for_a_created_next_key() {
    let s = scratch();
    s.file_key("a.key");
    let run = on_terminal(
        &s,
        &[
            "ceremony",
            "init",
            "--key",
            "file:a.key",
            "--passphrase-file",
            "pw",
            "--create-next",
            "file:b.key",
            "--work-factor",
            TEST_WORK_FACTOR,
            "--namespace",
            "org.example",
            "--out",
            "org.example.kel",
        ],
        "\n\n",
    )
    .expect(2);
    assert!(
        run.stdout
            .contains("new passphrase for the next key from the terminal prompt is empty"),
        "{}",
        run.stdout
    );
    // Neither the next key nor a log committing to it exists.
    assert!(!s.join("b.key").exists());
    assert!(!s.join("org.example.kel").exists());
}

#[test]
fn key_export_asks_before_writing_a_secret_and_key_import_asks_for_passphrases() {
    let s = scratch();
    let public = s.file_key("k.key");
    let export = [
        "key",
        "export",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--format",
        "raw",
        "--out",
        "seed.bin",
    ];
    // Anything but yes cancels, and nothing is written.
    let run = on_terminal(&s, &export, "n\n");
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Write the secret key of file:k.key (key id ")
            && run
                .stdout
                .contains("to seed.bin as a raw 32-byte Ed25519 seed? [y/N]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("export cancelled; nothing was written"),
        "{}",
        run.stdout
    );
    assert!(!s.join("seed.bin").exists());
    let run = on_terminal(&s, &export, "y\n");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(std::fs::read(s.join("seed.bin")).unwrap().len(), 32);

    // Importing an encrypted OpenSSH key: its passphrase, then the new one twice.
    let exported = on_terminal(
        &s,
        &[
            "key",
            "export",
            "file:k.key",
            "--passphrase-file",
            "pw",
            "--format",
            "openssh",
            "--out",
            "id_ed25519",
            "--yes",
        ],
        "ssh pass\nssh pass\n",
    );
    assert_eq!(exported.code, 0, "{}", exported.stdout);
    let run = on_terminal(
        &s,
        &[
            "--json",
            "key",
            "import",
            "id_ed25519",
            "--out",
            "file:back.key",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        "ssh pass\nnew pass\nnew pass\n",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    for prompt in [
        "passphrase for id_ed25519: ",
        "new passphrase for back.key: ",
        "new passphrase for back.key (again): ",
    ] {
        assert!(run.stdout.contains(prompt), "{prompt}: {}", run.stdout);
    }
    assert!(run.stdout.contains(&public), "{}", run.stdout);
}
