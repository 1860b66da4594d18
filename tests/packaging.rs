//! The Debian package: built by scripts/package-deb.sh from the binaries under test, then
//! installed by dpkg into an alternative root (no root privileges and nothing on the machine
//! touched), run from there, and removed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `dpkg` acting on the alternative root `root`.
fn dpkg(root: &Path, args: &[&str]) -> Output {
    Command::new("dpkg")
        .args([
            "--force-not-root",
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
        ])
        .arg(format!("--root={}", root.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_debian_package_installs_runs_and_removes() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_hallmark")).parent().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let deb = ok(Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap());
    let deb = PathBuf::from(deb.trim());
    assert!(deb.exists(), "{}", deb.display());

    let info = ok(Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .output()
        .unwrap());
    assert!(info.contains(" Package: hallmark\n"), "{info}");
    assert!(
        info.contains("libpcsclite1"),
        "Depends names the PC/SC library: {info}"
    );

    let root = tempfile::tempdir().unwrap();
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::write(root.path().join("var/lib/dpkg/status"), b"").unwrap();
    ok(dpkg(root.path(), &["--install", deb.to_str().unwrap()]));

    let installed = |path: &str| root.path().join(path.trim_start_matches('/'));
    let version = ok(Command::new(installed("/usr/bin/hallmark"))
        .arg("--version")
        .output()
        .unwrap());
    assert_eq!(version, format!("hallmark {}\n", env!("CARGO_PKG_VERSION")));
    ok(Command::new(installed("/usr/bin/hallmark-verify"))
        .arg("--help")
        .output()
        .unwrap());
    let listed = ok(dpkg(root.path(), &["--listfiles", "hallmark"]));
    for expected in [
        "/usr/share/man/man1/hallmark.1.gz",
        "/usr/share/man/man1/hallmark-key-generate.1.gz",
        "/usr/share/man/man1/hallmark-verify.1.gz",
        "/usr/share/bash-completion/completions/hallmark",
        "/usr/share/zsh/vendor-completions/_hallmark",
        "/usr/share/fish/vendor_completions.d/hallmark.fish",
        "/usr/share/doc/hallmark/copyright",
    ] {
        assert!(
            listed.lines().any(|l| l == expected),
            "{expected} in:\n{listed}"
        );
    }
    // The man page carries the command's examples.
    let page = ok(Command::new("gzip")
        .arg("-dc")
        .arg(installed("/usr/share/man/man1/hallmark-key-generate.1.gz"))
        .output()
        .unwrap());
    assert!(
        page.contains("hallmark key generate \\-\\-out file:release.key"),
        "{page}"
    );
    // Set line by line, as help shows them: filling would join the commands' continuations.
    assert!(
        page.contains("\n.SH EXAMPLES\n.nf\n  # A key in an age\\-encrypted file"),
        "{page}"
    );

    // One page per command, each its own: the page names of every command, found by walking
    // the installed binary's help, are distinct and are exactly the pages installed.
    let mut commands = Vec::new();
    command_pages(&installed("/usr/bin/hallmark"), &mut vec![], &mut commands);
    let mut expected: Vec<String> = commands.iter().map(|c| format!("{c}.1.gz")).collect();
    expected.sort();
    let count = expected.len();
    expected.dedup();
    assert_eq!(
        expected.len(),
        count,
        "two commands share a page: {commands:?}"
    );
    let mut pages: Vec<String> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("/usr/share/man/man1/"))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    pages.sort();
    assert_eq!(pages, expected);
    // Every program installed has its page: `hallmark-verify.1` is the page of the `hallmark
    // verify` command and of the `hallmark-verify` program.
    for program in ["hallmark", "hallmark-verify"] {
        assert!(listed.lines().any(|l| l == format!("/usr/bin/{program}")));
        assert!(pages.contains(&format!("{program}.1.gz")), "{pages:?}");
    }
    let verify = ok(Command::new("gzip")
        .arg("-dc")
        .arg(installed("/usr/share/man/man1/hallmark-verify.1.gz"))
        .output()
        .unwrap());
    for documented in [
        "\\fBhallmark verify\\fR",
        "\\fB\\-\\-keyring\\fR",
        ".SH \"THE HALLMARK-VERIFY PROGRAM\"\n",
        ".SS Synopsis\n\\fBhallmark\\-verify\\fR [\\fB\\-\\-bundle\\fR]",
    ] {
        assert!(verify.contains(documented), "{documented:?} in:\n{verify}");
    }
    // man(1) renders each page, without a warning, under its own name.
    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(installed(&format!("/usr/share/man/man1/{page}")))
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "man -l {page}: {stderr}"
        );
        let name = page.trim_end_matches(".1.gz");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .skip_while(|l| *l != "NAME")
                .nth(1)
                .is_some_and(|l| l.trim_start().starts_with(&format!("{name} "))),
            "man -l {page}:\n{text}"
        );
    }

    ok(dpkg(root.path(), &["--remove", "hallmark"]));
    assert!(!installed("/usr/bin/hallmark").exists());
}

/// The man page name of the command `hallmark PATH…` (`hallmark-key-generate`) and of each of
/// its visible subcommands, read from `--help`.
fn command_pages(hallmark: &Path, path: &mut Vec<String>, out: &mut Vec<String>) {
    out.push(
        std::iter::once("hallmark")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-"),
    );
    let help = ok(Command::new(hallmark)
        .args(path.iter())
        .arg("--help")
        .output()
        .unwrap());
    let Some((_, listed)) = help.split_once("\nCommands:\n") else {
        return;
    };
    let names: Vec<String> = listed
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    for name in names {
        path.push(name);
        command_pages(hallmark, path, out);
        path.pop();
    }
}
