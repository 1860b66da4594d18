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

    ok(dpkg(root.path(), &["--remove", "hallmark"]));
    assert!(!installed("/usr/bin/hallmark").exists());
}
