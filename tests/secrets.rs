//! A PIN written into a key reference (`pin-value=`) is never echoed and never written down:
//! every command that takes a key reference runs with one — a `pkcs11:` reference to a real
//! SoftHSM2 token, and `yubikey:` references (refused, no device needed) — in text and `--json`
//! mode, with `RUST_BACKTRACE=1` and `RUST_LOG=trace`; then standard output, standard error
//! and every file under the scratch directory are searched for the PIN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use hallmark_tests::{Run, Scratch, pkcs11_module};

/// The token's user PIN: distinctive, so that finding it anywhere is no coincidence.
const PIN: &str = "58203917";
const SO_PIN: &str = "11223344";

/// A scratch directory with a SoftHSM2 token `sec` whose user PIN is [`PIN`]. The PIN is
/// given to `softhsm2-util` on its command line (the test's, not Hallmark's) and to Hallmark only
/// inside key references or through the environment variable `SEC_PIN`.
fn scratch_with_token() -> Scratch {
    let mut s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    let module = pkcs11_module();
    assert!(
        Path::new(&module).exists(),
        "PKCS#11 module {module} is missing: run `bash scripts/test.sh`, which installs SoftHSM2"
    );
    let tokens = s.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = s.write(
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    );
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "sec"])
        .args(["--so-pin", SO_PIN, "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util: run `bash scripts/test.sh`, which installs SoftHSM2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.set_env("SOFTHSM2_CONF", conf.to_str().unwrap());
    s.set_env("RUST_BACKTRACE", "1");
    s.set_env("RUST_LOG", "trace");
    s.set_env("SEC_PIN", PIN);
    s
}

/// A reference to `object` on the token, carrying the PIN itself.
fn with_pin(object: &str) -> String {
    format!(
        "pkcs11:token=sec;object={object}?module-path={}&pin-value={PIN}",
        pkcs11_module()
    )
}

/// The same key, with the PIN from the environment.
fn with_source(object: &str) -> String {
    format!(
        "pkcs11:token=sec;object={object}?module-path={}&pin-source=env:SEC_PIN",
        pkcs11_module()
    )
}

/// Every run's output, checked at the end.
struct Runs<'a> {
    s: &'a Scratch,
    seen: Vec<(String, Run)>,
}

impl<'a> Runs<'a> {
    fn run(&mut self, args: &[&str], code: i32) -> &Run {
        self.run_program(env!("CARGO_BIN_EXE_hallmark"), args, code)
    }

    fn run_program(&mut self, exe: &str, args: &[&str], code: i32) -> &Run {
        let run = self.s.run_program(exe, args, &[]);
        assert_eq!(
            run.code, code,
            "{args:?}\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        );
        self.seen.push((format!("{args:?}"), run));
        &self.seen.last().unwrap().1
    }

    /// The same command in text and `--json` mode.
    fn both(&mut self, args: &[&str], code: i32) {
        self.run(args, code);
        let json: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        self.run(&json, code);
    }

    /// No output and no file holds the PIN.
    fn check(&self) {
        for (args, run) in &self.seen {
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !text.contains(PIN),
                    "the PIN is in the {stream} of {args}:\n{text}"
                );
            }
        }
        let mut files = 0;
        let mut stack = vec![self.s.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() {
                    files += 1;
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        !bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()),
                        "the PIN is written in {}",
                        path.display()
                    );
                }
            }
        }
        // Keys, bundles, logs, transcripts, the registry and the token's own files.
        assert!(files > 15, "only {files} files were written");
    }
}

#[test]
fn a_pin_in_a_key_reference_is_never_echoed_or_stored() {
    let s = scratch_with_token();
    let mut r = Runs {
        s: &s,
        seen: Vec::new(),
    };
    let release = with_pin("release");
    let next = with_pin("next");
    let reg = with_pin("reg");

    // Keys on the token, through references that carry the PIN.
    for object in [&release, &next, &reg, &with_pin("reg-next")] {
        r.run(&["key", "generate", "--out", object], 0);
    }
    r.run(
        &["--json", "key", "generate", "--out", &with_pin("json")],
        0,
    );
    r.run(&["key", "generate", "--out", &release], 2);
    r.both(&["key", "show", &release], 0);
    for format in ["ssh", "minisign", "pem", "jwk"] {
        r.run(&["key", "show", &release, "--format", format], 0);
    }
    r.both(&["key", "list", &release], 0);

    // Signing and verifying.
    s.write("a.bin", b"artifact\n");
    s.write("b.bin", b"artifact b\n");
    r.both(
        &[
            "sign",
            "--key",
            &release,
            "--name",
            "org.example.tool",
            "--version",
            "1.0.0",
            "--force",
            "a.bin",
        ],
        0,
    );
    r.both(&["verify", "--public-key", &release, "a.bin"], 0);
    r.run_program(
        env!("CARGO_BIN_EXE_hallmark-verify"),
        &["--public-key", &release, "a.bin"],
        2,
    );
    r.run(
        &[
            "sign", "--key", &release, "--format", "minisign", "--force", "b.bin",
        ],
        0,
    );
    r.run(
        &[
            "sign", "--key", &release, "--format", "ssh", "-n", "file", "--force", "b.bin",
        ],
        0,
    );
    r.run(
        &[
            "verify",
            "--format",
            "minisign",
            "--public-key",
            &release,
            "b.bin",
        ],
        0,
    );
    s.write("key.ref", format!("{release}\n"));
    r.run(
        &[
            "ssh-keygen",
            "-Y",
            "sign",
            "-n",
            "file",
            "-f",
            "key.ref",
            "a.bin",
        ],
        0,
    );

    // A ceremony: inception, a release in the identity's name, a rotation.
    r.run(
        &[
            "ceremony",
            "init",
            "--key",
            &release,
            "--next-key",
            &next,
            "--namespace",
            "org.example",
            "--out",
            "id.kel",
        ],
        0,
    );
    r.run(
        &[
            "sign",
            "--key",
            &release,
            "--identity",
            "id.kel",
            "--name",
            "org.example.tool",
            "--version",
            "1.0.1",
            "b.bin",
        ],
        0,
    );
    r.run(
        &[
            "ceremony",
            "rotate",
            "--identity",
            "id.kel",
            "--key",
            &next,
            "--next-key",
            &with_pin("json"),
        ],
        0,
    );
    r.run(
        &[
            "ceremony",
            "verify-transcript",
            "id.kel.1-rotate.transcript.json",
        ],
        0,
    );

    // A 2-of-2 inception gathered on a pending file: its signing steps, transcripts and the
    // pending file itself name the keys without their PIN.
    for object in ["c1", "c2", "cn"] {
        r.run(&["key", "generate", "--out", &with_pin(object)], 0);
    }
    r.run(
        &[
            "ceremony",
            "init",
            "--key",
            &with_pin("c1"),
            "--cosigner-key",
            &with_pin("c2"),
            "--threshold",
            "2",
            "--next-key",
            &with_pin("cn"),
            "--namespace",
            "org.multi",
            "--pending",
            "p0.json",
        ],
        0,
    );
    r.run(
        &["ceremony", "cosign", "p0.json", "--key", &with_pin("c2")],
        0,
    );
    r.run(&["ceremony", "commit", "p0.json", "--out", "multi.kel"], 0);
    r.run(
        &[
            "ceremony",
            "verify-transcript",
            "multi.kel.0-commit.transcript.json",
            "--identity",
            "multi.kel",
        ],
        0,
    );

    // A registry does not store a reference with a PIN: refused, nothing written.
    let run = r.run(
        &[
            "registry",
            "init",
            "--registry",
            "reg",
            "--key",
            &reg,
            "--next-key",
            &with_pin("reg-next"),
        ],
        2,
    );
    assert!(
        run.stderr.contains("pin-value= would be stored with it"),
        "{}",
        run.stderr
    );
    assert!(!s.join("reg/registry.json").exists());
    r.run(
        &[
            "registry",
            "init",
            "--registry",
            "reg",
            "--key",
            &with_source("reg"),
            "--next-key",
            &with_pin("reg-next"),
        ],
        0,
    );
    r.run(&["registry", "accept", "--registry", "reg", "id.kel"], 0);

    // References that do not parse: both pin-source and pin-value, a PIN in a YubiKey
    // reference, an unknown scheme. No device is needed to refuse them.
    let both = format!("{release}&pin-source=env:SEC_PIN");
    let yubikey = format!("yubikey:slot=9c?pin-value={PIN}");
    let typo = format!("pkcs12:token=sec?pin-value={PIN}");
    for bad in [&both, &yubikey, &typo] {
        r.both(&["key", "show", bad], 2);
        r.run(&["key", "generate", "--out", bad], 2);
        r.run(&["key", "list", bad], 2);
        r.run(&["key", "attest", bad], 2);
        r.both(&["verify", "--public-key", bad, "a.bin"], 2);
        r.run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            &["--public-key", bad, "a.bin"],
            2,
        );
        r.run(
            &[
                "sign",
                "--key",
                bad,
                "--name",
                "org.example.tool",
                "--version",
                "9.0.0",
                "a.bin",
            ],
            2,
        );
        r.run(
            &[
                "ceremony",
                "init",
                "--key",
                bad,
                "--next-public-key",
                "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                "--namespace",
                "org.other",
                "--out",
                "other.kel",
            ],
            2,
        );
        r.run(
            &[
                "registry",
                "init",
                "--registry",
                "reg2",
                "--key",
                bad,
                "--next-key",
                bad,
            ],
            2,
        );
        s.write("bad.ref", format!("{bad}\n"));
        r.run(
            &[
                "ssh-keygen",
                "-Y",
                "sign",
                "-n",
                "file",
                "-f",
                "bad.ref",
                "a.bin",
            ],
            2,
        );
    }
    // The test's own files holding the PIN-carrying references go; everything else is
    // Hallmark's (and the token's).
    for own in ["key.ref", "bad.ref"] {
        std::fs::remove_file(s.join(own)).unwrap();
    }
    r.check();
}
