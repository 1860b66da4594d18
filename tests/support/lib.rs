//! Shared helpers for Hallmark's end-to-end tests: a scratch directory per test and a runner
//! for the `hallmark` binary that captures exit code, standard output and standard error;
//! throwaway SoftHSM2 tokens; what every backend must pass: the user journey ([`journey`])
//! and the peer tools' checks of its signatures ([`peers`]); and documents whose examples run
//! as written ([`docs`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod docs;
pub mod http;
pub mod journey;
pub mod json_doc;
pub mod peers;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The passphrase every test key file uses; tests pass it through a file, never argv.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The low scrypt work factor test keys use, so that each unlock costs milliseconds.
pub const TEST_WORK_FACTOR: &str = "10";

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams on failure.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Parses standard output as one JSON document, and checks that it is what docs/json.md
    /// says it is ([`json_doc::check`]).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout));
        json_doc::assert_documented(&value);
        value
    }

    /// Parses standard output as a stream of JSON documents, one a line, each checked as
    /// [`Run::json`] checks one.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                let value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a line is not JSON ({e}):\n{line}"));
                json_doc::assert_documented(&value);
                value
            })
            .collect()
    }
}

/// A scratch directory with a passphrase file, in which `hallmark` runs.
pub struct Scratch {
    dir: tempfile::TempDir,
    exe: PathBuf,
    env: Vec<(String, String)>,
    unset: Vec<String>,
}

impl Scratch {
    /// A new scratch directory; `exe` is the `hallmark` binary.
    pub fn new(exe: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hallmark-test-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("pw"), format!("{PASSPHRASE}\n")).unwrap();
        Scratch {
            dir,
            exe: PathBuf::from(exe),
            env: Vec::new(),
            unset: Vec::new(),
        }
    }

    /// Sets an environment variable for every later run.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Removes an environment variable (inherited or set) for every later run.
    pub fn unset_env(&mut self, name: &str) {
        self.env.retain(|(k, _)| k != name);
        self.unset.push(name.to_owned());
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Reads a file as text.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap()
    }

    /// Runs `hallmark ARGS` in the directory, with no terminal and a clean environment.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_env(args, &[])
    }

    /// Runs `hallmark ARGS` with extra environment variables.
    pub fn run_env<I, S>(&self, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_program(&self.exe, args, env)
    }

    /// Runs another program (e.g. `hallmark-verify`) the way [`Scratch::run_env`] runs
    /// `hallmark`.
    pub fn run_program<I, S>(&self, exe: impl AsRef<OsStr>, args: I, env: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(exe);
        cmd.args(args).current_dir(self.path()).stdin(Stdio::null());
        for k in &self.unset {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Generates a passphrase-protected file key `name` (with `name.pub`) and returns its
    /// public key text.
    pub fn file_key(&self, name: &str) -> String {
        self.run([
            "key",
            "generate",
            "--out",
            &format!("file:{name}"),
            "--passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
        ])
        .expect(0);
        self.read(&format!("{name}.pub")).trim().to_owned()
    }
}

/// The PKCS#11 module under test: `HALLMARK_TEST_PKCS11_MODULE`, by default SoftHSM2.
pub fn pkcs11_module() -> String {
    std::env::var("HALLMARK_TEST_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".to_owned())
}

/// The user PIN of test tokens, and their security officer PIN.
pub const TOKEN_PIN: &str = "123456";
const SO_PIN: &str = "12345678";

/// Throwaway SoftHSM2 tokens for one test: a configuration and token directory inside the
/// scratch directory, selected for the `hallmark` runs through `SOFTHSM2_CONF`, and a PIN file
/// `token.pin`. Fails (never skips) when SoftHSM2 is not installed.
pub fn softhsm_tokens(scratch: &mut Scratch, labels: &[&str]) {
    let module = pkcs11_module();
    assert!(
        Path::new(&module).exists(),
        "PKCS#11 module {module} is missing: run `bash scripts/test.sh`, which installs SoftHSM2"
    );
    let tokens = scratch.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = scratch.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    for label in labels {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", TOKEN_PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| panic!("softhsm2-util failed to start ({e}): run `bash scripts/test.sh`, which installs SoftHSM2"));
        assert!(
            out.status.success(),
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    scratch.write("token.pin", format!("{TOKEN_PIN}\n"));
    let conf = conf.display().to_string();
    scratch.set_env("SOFTHSM2_CONF", &conf);
}

/// A `pkcs11:` reference to key `object` on token `token`, with the module and the PIN file.
pub fn pkcs11_ref(scratch: &Scratch, token: &str, object: &str) -> String {
    format!(
        "pkcs11:token={token};object={object}?module-path={}&pin-source=file:{}",
        pkcs11_module(),
        scratch.join("token.pin").display()
    )
}
