//! `hallmark quickstart`: a tour of the main job on a throwaway file key.
//!
//! Every step runs the real `hallmark` command (this executable) and shows it, so what the tour
//! prints is exactly what a user would see typing the same commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use hallmark_keyring::encoding::hex_encode;

use crate::cli::QuickstartArgs;
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

const PASSPHRASE_VAR: &str = "HALLMARK_QUICKSTART_PASSPHRASE";

/// The scrypt work factor (log2 N) of the tour's throwaway keys unless --work-factor says
/// otherwise: about a millisecond per unlock instead of age's second, so that the tour's dozen
/// unlocks take no time. Real keys keep age's default.
const TOUR_WORK_FACTOR: u8 = 10;

struct Tour {
    exe: PathBuf,
    dir: PathBuf,
    passphrase: String,
    step: usize,
    /// `-q`: print nothing but the outcome (and, on failure, what the failing step printed).
    quiet: bool,
}

impl Tour {
    fn heading(&mut self, text: &str) {
        self.step += 1;
        if !self.quiet {
            outln!("\n== {}. {text}", self.step);
        }
    }

    fn say(&self, text: &str) {
        if !self.quiet {
            outln!("{text}");
        }
    }

    /// Runs `hallmark ARGS` in the tour directory and checks its exit code.
    fn hallmark(&self, args: &[&str], expect: u8) -> Result<(), Failure> {
        let shown = args.join(" ");
        self.say(&format!("$ hallmark {shown}"));
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .current_dir(&self.dir)
            .env(PASSPHRASE_VAR, &self.passphrase);
        let (code, captured) = if self.quiet {
            let output = command
                .output()
                .with_context(|| format!("cannot run {}", self.exe.display()))
                .map_err(Failure::usage)?;
            let mut captured = String::from_utf8_lossy(&output.stdout).into_owned();
            captured.push_str(&String::from_utf8_lossy(&output.stderr));
            (output.status.code().unwrap_or(-1), captured)
        } else {
            let status = command
                .status()
                .with_context(|| format!("cannot run {}", self.exe.display()))
                .map_err(Failure::usage)?;
            (status.code().unwrap_or(-1), String::new())
        };
        if code != i32::from(expect) {
            return Err(Failure::usage(anyhow!(
                "the tour expected `hallmark {shown}` to exit with {expect}, it exited with \
                 {code}{}{}",
                if captured.is_empty() { "" } else { ":\n" },
                captured.trim_end()
            )));
        }
        if expect != 0 {
            self.say(&format!("(exit code {code}, as expected)"));
        }
        Ok(())
    }
}

fn write_sample_package(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("bin"))?;
    std::fs::create_dir_all(root.join("share/doc"))?;
    std::fs::write(root.join("README.md"), "# hello\n\nPrints a greeting.\n")?;
    std::fs::write(root.join("share/doc/LICENSE"), "Apache-2.0 OR MIT\n")?;
    let tool = root.join("bin/hello");
    std::fs::write(&tool, "#!/bin/sh\necho \"hello, world\"\n")?;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

pub fn run(args: QuickstartArgs, out: &Output) -> CmdResult {
    if out.json {
        return Err(Failure::usage(anyhow!(
            "the quickstart is a tour for people; it has no --json output"
        )));
    }
    let exe = std::env::current_exe()
        .context("cannot find the hallmark executable")
        .map_err(Failure::usage)?;
    let (dir, _temp) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
                .map_err(Failure::usage)?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("hallmark-quickstart-")
                .tempdir()
                .context("cannot create a temporary directory")
                .map_err(Failure::usage)?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| Failure::usage(anyhow!("no randomness: {e}")))?;
    let mut tour = Tour {
        exe,
        dir: dir.clone(),
        passphrase: hex_encode(&secret),
        step: 0,
        quiet: out.quiet,
    };

    let work_factor = args.work_factor.unwrap_or(TOUR_WORK_FACTOR);
    tour.say(&format!(
        "Hallmark quickstart, working in {}",
        dir.display()
    ));
    tour.say(&format!(
        "Every key's passphrase is random and passed in the environment variable \
         {PASSPHRASE_VAR}.\nThe keys are throwaway: they use a low scrypt work factor \
         (--work-factor {work_factor}) so that the tour runs in seconds. Real keys keep age's \
         default of about one second per unlock, which is what slows down guessing a stolen \
         key file's passphrase."
    ));
    let pass = ["--passphrase-env", PASSPHRASE_VAR];
    let work_factor = work_factor.to_string();
    let generate_flags: Vec<&str> = vec![
        "--passphrase-env",
        PASSPHRASE_VAR,
        "--work-factor",
        &work_factor,
    ];

    tour.heading("Generate the signing key and, now already, the key that will replace it");
    for key in ["release.key", "release-next.key"] {
        let out = format!("file:{key}");
        tour.hallmark(
            &[&["key", "generate", "--out", &out][..], &generate_flags].concat(),
            0,
        )?;
    }

    tour.heading(
        "Create the publisher's identity: its key, its namespace, and a commitment to the next key",
    );
    tour.hallmark(
        &[
            &[
                "ceremony",
                "init",
                "--key",
                "file:release.key",
                "--next-key",
                "file:release-next.key",
                "--namespace",
                "org.example",
                "--out",
                "org.example.kel",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;

    tour.heading("Hash a package tree: the digest covers every path, byte and executable bit");
    write_sample_package(&dir.join("hello-1.0.0"))
        .context("cannot write the sample package")
        .map_err(Failure::usage)?;
    tour.hallmark(&["hash", "hello-1.0.0"], 0)?;

    tour.heading("Sign it in the identity's name: hello-1.0.0.hallmark.json is written beside it");
    tour.hallmark(
        &[
            &[
                "sign",
                "--key",
                "file:release.key",
                "--identity",
                "org.example.kel",
                "--name",
                "org.example.hello",
                "--version",
                "1.0.0",
                "hello-1.0.0",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;

    tour.heading("As a consumer, pin the publisher for org.example, then verify");
    tour.hallmark(
        &[
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "org.example.kel",
            "--keyring",
            "trust",
        ],
        0,
    )?;
    tour.hallmark(&["verify", "--keyring", "trust", "hello-1.0.0"], 0)?;

    tour.heading("Tamper with one byte of the package and verify again");
    let target = dir.join("hello-1.0.0/bin/hello");
    let original = std::fs::read(&target)
        .context("cannot read the sample")
        .map_err(Failure::usage)?;
    let mut bytes = original.clone();
    if let Some(last) = bytes.iter_mut().rev().nth(1) {
        *last ^= 0x01;
    }
    std::fs::write(&target, &bytes)
        .context("cannot modify the sample")
        .map_err(Failure::usage)?;
    tour.say("(changed one byte of hello-1.0.0/bin/hello)");
    tour.hallmark(&["verify", "--keyring", "trust", "hello-1.0.0"], 1)?;
    std::fs::write(&target, &original)
        .context("cannot restore the sample")
        .map_err(Failure::usage)?;

    tour.heading("Rotate to the pre-committed key, committing to the one after it");
    tour.hallmark(
        &[
            &["key", "generate", "--out", "file:release-next2.key"][..],
            &generate_flags,
        ]
        .concat(),
        0,
    )?;
    tour.hallmark(
        &[
            &[
                "ceremony",
                "rotate",
                "--identity",
                "org.example.kel",
                "--key",
                "file:release-next.key",
                "--next-key",
                "file:release-next2.key",
                "--reason",
                "scheduled",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;

    tour.heading("Sign the next release with the new key; the consumer sees a linked change");
    write_sample_package(&dir.join("hello-1.1.0"))
        .context("cannot write the sample package")
        .map_err(Failure::usage)?;
    tour.hallmark(
        &[
            &[
                "sign",
                "--key",
                "file:release-next.key",
                "--identity",
                "org.example.kel",
                "--name",
                "org.example.hello",
                "--version",
                "1.1.0",
                "hello-1.1.0",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;
    tour.hallmark(
        &["verify", "--keyring", "trust", "hello-1.1.0", "hello-1.0.0"],
        0,
    )?;

    tour.heading("An impostor's new identity claims org.example: the change is not linked");
    for key in ["impostor.key", "impostor-next.key"] {
        let out = format!("file:{key}");
        tour.hallmark(
            &[&["key", "generate", "--out", &out][..], &generate_flags].concat(),
            0,
        )?;
    }
    tour.hallmark(
        &[
            &[
                "ceremony",
                "init",
                "--key",
                "file:impostor.key",
                "--next-key",
                "file:impostor-next.key",
                "--namespace",
                "org.example",
                "--out",
                "impostor.kel",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;
    write_sample_package(&dir.join("hello-2.0.0"))
        .context("cannot write the sample package")
        .map_err(Failure::usage)?;
    tour.hallmark(
        &[
            &[
                "sign",
                "--key",
                "file:impostor.key",
                "--identity",
                "impostor.kel",
                "--name",
                "org.example.hello",
                "--version",
                "2.0.0",
                "hello-2.0.0",
            ][..],
            &pass,
        ]
        .concat(),
        0,
    )?;
    tour.hallmark(&["verify", "--keyring", "trust", "hello-2.0.0"], 1)?;

    outln!(
        "{}Done: the tampered package and the impostor's release were refused (exit code 1); the \
         release signed after the rotation was trusted, linked to the pinned key by the rotation.",
        if tour.quiet { "" } else { "\n" }
    );
    if args.dir.is_some() {
        tour.say(&format!("The files are kept in {}.", dir.display()));
    }
    Ok(Exit::Success)
}
