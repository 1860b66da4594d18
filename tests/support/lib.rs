//! Shared helpers for Hallmark's end-to-end tests: a scratch directory per test and a runner
//! for the `hallmark` binary that captures exit code, standard output and standard error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

    /// Parses standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A scratch directory with a passphrase file, in which `hallmark` runs.
pub struct Scratch {
    dir: tempfile::TempDir,
    exe: PathBuf,
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
        }
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
        let mut cmd = Command::new(&self.exe);
        cmd.args(args).current_dir(self.path()).stdin(Stdio::null());
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
