//! What a new user follows: `hallmark quickstart`, and the decisions of
//! `scripts/quickstart.sh` on a fresh machine (which toolchain it installs, and what it says
//! when it cannot install packages).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hallmark_tests::docs::{self, Blocks, shown_as};
use hallmark_tests::{Run, Scratch};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn quickstart_runs_with_a_low_work_factor_and_says_so() {
    let s = scratch();
    let run = s.run(["quickstart", "--dir", "tour"]).expect(0);
    assert!(
        run.stdout.contains(
            "The keys are throwaway: they use a low scrypt work factor (--work-factor 10)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("$ hallmark key generate --out file:release.key --passphrase-env HALLMARK_QUICKSTART_PASSPHRASE --work-factor 10"),
        "{}",
        run.stdout
    );
}

#[test]
fn quickstart_quiet_prints_only_the_outcome() {
    let s = scratch();
    let run = s.run(["-q", "quickstart"]).expect(0);
    assert_eq!(
        run.stdout,
        "Done: the tampered package and the impostor's release were refused (exit code 1); the \
         release signed after the rotation was trusted, linked to the pinned key by the rotation.\n"
    );
    assert_eq!(run.stderr, "");
}

/// A directory standing in for a fresh machine's PATH: the few tools the script needs, linked
/// from the real system, plus stubs written by the test.
struct FreshPath {
    dir: tempfile::TempDir,
}

impl FreshPath {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for tool in [
            "bash", "sed", "sort", "head", "awk", "grep", "dirname", "cat", "printf",
        ] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{tool} is not installed"));
            std::os::unix::fs::symlink(real, dir.path().join(tool)).unwrap();
        }
        FreshPath { dir }
    }

    fn stub(&self, name: &str, script: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs scripts/quickstart.sh with only this PATH and an empty home directory.
    fn run_quickstart(&self, home: &Path) -> Run {
        let out = Command::new("/bin/bash")
            .arg(repo().join("scripts/quickstart.sh"))
            .env_clear()
            .env("PATH", self.dir.path())
            .env("HOME", home)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[test]
fn quickstart_script_replaces_a_too_old_distribution_cargo_with_rustup_and_the_pinned_toolchain_only()
 {
    let fresh = FreshPath::new();
    let home = tempfile::tempdir().unwrap();
    let record = home.path().join("rustup-init-args");
    fresh.stub("dpkg-query", "echo 'install ok installed'");
    fresh.stub("id", "echo 0");
    // Debian 12's own cargo.
    fresh.stub("cargo", "echo 'cargo 1.65.0'");
    // The rustup installer that `curl … | sh` runs: it records its arguments and stops the
    // script (nothing is downloaded).
    fresh.stub(
        "curl",
        &format!("echo 'echo \"$@\" > {}; exit 7'", record.display()),
    );
    fresh.stub("sh", "exec /bin/sh \"$@\"");
    let run = fresh.run_quickstart(home.path());
    assert_eq!(run.code, 7, "{run:?}");
    assert!(
        run.stdout.contains(
            "cargo 1.65.0 is older than the Rust 1.95.0 this project pins; installing rustup beside it"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "-y --profile minimal --default-toolchain none\n"
    );
}

#[test]
fn quickstart_script_says_what_to_do_without_root_or_sudo() {
    let fresh = FreshPath::new();
    let home = tempfile::tempdir().unwrap();
    fresh.stub("dpkg-query", "echo 'unknown ok not-installed'");
    fresh.stub("id", "echo 1000");
    let run = fresh.run_quickstart(home.path()).expect(2);
    assert_eq!(
        run.stderr,
        "error: the build needs these Debian packages: pkg-config libpcsclite-dev \
         build-essential ca-certificates curl\nInstall them as root (apt-get install pkg-config \
         libpcsclite-dev build-essential ca-certificates curl) or install sudo, then run this \
         again.\n"
    );
}

/// The shell blocks of the README's tour, in order.
fn readme_tour() -> String {
    shell_blocks("README.md", "\n## A short tour\n", "\n## Documentation\n")
}

/// The ```` ```sh ```` blocks of the document `doc` between the lines `from` and `to` (a
/// heading; `to` may be the next heading at that level), joined in order.
fn shell_blocks(doc: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo().join(doc)).unwrap();
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("{doc} has no {from:?}"));
    let end = start + 1 + text[start + 1..].find(to).unwrap_or(text.len() - start - 1);
    let mut script = String::new();
    let mut in_block = false;
    for line in text[start..end].lines() {
        match (in_block, line) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

/// Runs a documented script with `bash -euo pipefail` in a new directory, with the built
/// `hallmark` first on PATH and no terminal; it must succeed.
fn run_documented(script: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_documented_in(script, dir.path())
}

fn run_documented_in(script: &str, dir: &Path) -> Run {
    docs::run_documented_in(script, dir, Path::new(env!("CARGO_BIN_EXE_hallmark")))
}

#[test]
fn readme_tour_runs_as_written() {
    let script = readme_tour();
    assert!(script.contains("hallmark ceremony rotate"), "{script}");
    let run = run_documented(&script);
    // What the tour promises, in order.
    let mut rest = run.stdout.as_str();
    for promised in [
        "dist/tool-1.2.0.tar: trusted: org.acme.tool@1.2.0",
        "dist/tool-1.2.0.tar: trusted: org.acme.tool@1.2.0",
        "dist/tool-1.2.0.tar: trusted: org.acme.tool@1.2.0",
        "re-encrypted file:release.key (key id ",
        "dist/tool-1.2.0.tar: rejected: digest-mismatch: ",
        "tool-1.0.0.tar: trusted: org.example.tool@1.0.0 signed by key ",
        "tool-2.0.0.tar: trusted-after-rotation: org.example.tool@2.0.0 signed by key ",
        "tool-2.0.1.tar: rejected: unlinked-signer-change: ",
        "audit log verified",
        "tool-2.0.0.tar: accepted org.example.tool@2.0.0",
        "registry log verified: ",
    ] {
        match rest.find(promised) {
            Some(at) => rest = &rest[at + promised.len()..],
            None => panic!(
                "the tour did not print {promised:?} (in order):\n{}",
                run.stdout
            ),
        }
    }
}

/// The shell script of the step named `step` of a GitHub Actions workflow: its `run: |` block,
/// or its one-line `run:`.
fn workflow_step(workflow: &str, step: &str) -> String {
    let start = workflow
        .find(&format!("- name: {step}\n"))
        .unwrap_or_else(|| panic!("no step {step:?}"));
    let mut lines = workflow[start..].lines().skip(1);
    let mut script = String::new();
    for line in lines.by_ref() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("run:") {
            if rest.trim() != "|" {
                return format!("{}\n", rest.trim());
            }
            break;
        }
        assert!(!trimmed.starts_with("- "), "step {step:?} has no run:");
    }
    let mut indent = None;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let width = line.len() - line.trim_start().len();
        let indent = *indent.get_or_insert(width);
        if width < indent {
            break;
        }
        script.push_str(&line[indent..]);
        script.push('\n');
    }
    script
}

#[test]
fn github_actions_example_signs_and_verifies_as_written() {
    let workflow = std::fs::read_to_string(repo().join("docs/ci/github-actions.yml")).unwrap();
    let s = scratch();
    // What the repository and its secrets hold.
    s.file_key("release.key");
    s.file_key("release-next.key");
    s.run([
        "ceremony",
        "init",
        "--key",
        "file:release.key",
        "--next-key",
        "file:release-next.key",
        "--namespace",
        "org.acme",
        "--passphrase-file",
        "pw",
        "--out",
        "org.acme.kel",
    ])
    .expect(0);
    s.run([
        "keyring",
        "pin",
        "org.acme",
        "--identity",
        "org.acme.kel",
        "--keyring",
        ".hallmark/trust",
    ])
    .expect(0);
    s.write("dist/tool-1.2.0.tar.gz", b"tool\n");
    let runner_temp = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_hallmark")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let key = s.read("release.key");
    let passphrase = hallmark_tests::PASSPHRASE;
    let step = |name: &str| {
        let out = Command::new("bash")
            .args(["-eo", "pipefail", "-c", &workflow_step(&workflow, name)])
            .current_dir(s.path())
            .env("PATH", &path)
            .env("RUNNER_TEMP", runner_temp.path())
            .env("GITHUB_REF_NAME", "v1.2.0")
            .env("HALLMARK_RELEASE_KEY", &key)
            .env("HALLMARK_RELEASE_PASSPHRASE", passphrase)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    step("Sign").expect(0);
    // The key file did not outlive the step.
    assert_eq!(std::fs::read_dir(runner_temp.path()).unwrap().count(), 0);
    let audit_before = s.read(".hallmark/trust/audit.log");
    let run = step("Verify against the pinned identity").expect(0);
    let verdicts = &run.json()["results"];
    assert_eq!(verdicts[0]["artifact"], "dist/tool-1.2.0.tar.gz");
    assert!(
        verdicts[0]["verdict"]
            .as_str()
            .is_some_and(|v| v == "trusted"),
        "{verdicts}"
    );
    assert_eq!(s.read(".hallmark/trust/audit.log"), audit_before);
}

#[test]
fn interop_key_import_and_export_run_as_written() {
    let script = shell_blocks(
        "docs/interop.md",
        "\n## Bringing keys in and out\n",
        "\n## ",
    );
    assert!(script.contains("hallmark key import"), "{script}");
    let run = run_documented(&script);
    assert!(
        run.stdout
            .contains("Signature and comment signature verified"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("imported a minisign secret key from minisign.key")
    );
    assert!(
        run.stdout.ends_with(" file:release.key\n"),
        "ssh-keygen -y prints the key with its comment: {}",
        run.stdout
    );
}

/// Runs the plain examples of `doc` (see [`docs::run_doc_examples`]) in `dir`, prepared by the
/// caller; returns the output of its `sh` blocks.
fn run_doc_examples(doc: &str, dir: &Path) -> String {
    docs::run_doc_examples(
        &repo().join(doc),
        dir,
        Path::new(env!("CARGO_BIN_EXE_hallmark")),
        Blocks::Plain,
    )
}

#[test]
fn documented_output_matches_with_elisions() {
    assert!(shown_as(
        "pinned org.example to hid:fb05… (policy: none)",
        "pinned org.example to hid:7f93d0d9c8d6 (policy: none)"
    ));
    assert!(!shown_as(
        "pinned org.example to hid:fb05… (policy: none)",
        "pinned org.example to hid:7f93d0d9c8d6 (policy: hardware attestation)"
    ));
    assert!(!shown_as("a: trusted", "a: trusted-after-rotation"));
    assert!(shown_as("a: trusted", "a: trusted"));
}

#[test]
fn verifying_guide_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // What the guide's examples assume: a publisher's identity and a release of it, a release
    // served under another version's name, a registry's identity, and a CI checkout with its
    // trust store, its recorded audit head, its artifacts and a vendored package of a publisher
    // nobody pinned.
    run_documented_in(
        r#"
printf 'correct horse battery staple\n' > pw
for k in alice alice-next registry registry-next bob bob-next; do
  hallmark -q key generate --out file:$k.key --passphrase-file pw --work-factor 10
done
hallmark ceremony init --key file:alice.key --next-key file:alice-next.key \
  --namespace org.example --passphrase-file pw --out org.example.kel
printf 'tool 1.0.0\n' > tool-1.0.0.tar
hallmark sign --key file:alice.key --identity org.example.kel --passphrase-file pw \
  --name org.example.tool --version 1.0.0 tool-1.0.0.tar
cp tool-1.0.0.tar tool-2.0.0.tar && cp tool-1.0.0.tar.hallmark.json tool-2.0.0.tar.hallmark.json
hallmark registry init --registry reg --key file:registry.key \
  --next-key file:registry-next.key --passphrase-file pw
cp reg/registry.kel registry.kel
mkdir -p dist vendor .hallmark
cp tool-1.0.0.tar tool-1.0.0.tar.hallmark.json dist/
hallmark keyring pin org.example --identity org.example.kel --keyring .hallmark/trust
hallmark ceremony init --key file:bob.key --next-key file:bob-next.key \
  --namespace org.other --passphrase-file pw --out org.other.kel
printf 'other 1.0\n' > vendor/other-1.0.tar.gz
hallmark sign --key file:bob.key --identity org.other.kel --passphrase-file pw \
  --name org.other.lib --version 1.0.0 vendor/other-1.0.tar.gz
hallmark --json keyring log --verify --keyring .hallmark/trust | jq -r .head > .hallmark/audit-head
"#,
        dir.path(),
    );
    let printed = run_doc_examples("docs/verifying.md", dir.path());
    assert!(
        printed.contains("dist/tool-1.0.0.tar: trusted\n"),
        "{printed}"
    );
    assert!(printed.contains("audit log verified: "), "{printed}");
}

/// Fails, saying what to install, when a tool a document's example runs is missing.
fn require_tools(doc: &str, tools: &[(&str, &str)]) {
    for (tool, package) in tools {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()));
        assert!(
            found,
            "{doc} runs `{tool}`: install the Debian package {package} (`bash scripts/test.sh` \
             installs it)"
        );
    }
}

/// Fails when `doc` has a fenced block whose info string is none of `known`: a block that
/// nothing would run.
fn require_known_blocks(doc: &str, known: &[&str]) {
    let text = std::fs::read_to_string(repo().join(doc)).unwrap();
    for (info, body) in docs::fenced_blocks(&text) {
        assert!(
            known.contains(&info.as_str()),
            "{doc}: a ```{info} block, which nothing runs:\n{body}"
        );
    }
}

#[test]
fn ceremony_runbook_runs_as_written() {
    let doc = "docs/ceremony.md";
    require_tools(doc, &[("age-keygen", "age"), ("softhsm2-util", "softhsm2")]);
    // Every block is one the runner knows: run here, run against a YubiKey, or only shown.
    require_known_blocks(doc, &["sh", "sh yubikey", "console", "text"]);
    let dir = tempfile::tempdir().unwrap();
    let printed = run_doc_examples(doc, dir.path());
    // The steps the runbook promises happened, and left what it says they leave.
    for promised in [
        "committed to org.example.kel",
        "committed to org.team.kel",
        "backup ",
        "restored key ",
        "event #5 transfer ",
        "event #6 rotation ",
    ] {
        assert!(printed.contains(promised), "{promised:?} in:\n{printed}");
    }
    for left in [
        "org.example.kel.0-init.transcript.json",
        "org.example.kel.3-rotate.transcript.json",
        "org.example.kel.4-revoke.transcript.json",
        "next-key-shares/backup.transcript.json",
        "safe/restored.key",
        "safe/next5.key",
    ] {
        assert!(dir.path().join(left).exists(), "{left}");
    }
    assert!(
        !dir.path().join("safe/x.key").exists(),
        "the refused rotation wrote nothing"
    );
}

/// Stops the HTTP server a document started in the background (its pid in `http.pid`), also
/// when the test fails before the document stops it.
struct BackgroundServer<'a>(&'a Path);

impl Drop for BackgroundServer<'_> {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("http.pid")) {
            // Harmless when the document stopped it already.
            let _ = std::process::Command::new("kill")
                .arg(pid.trim())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[test]
fn registry_guide_runs_as_written() {
    let doc = "docs/registry.md";
    require_tools(doc, &[("jq", "jq"), ("python3", "python3")]);
    require_known_blocks(doc, &["sh", "console", "text"]);
    let dir = tempfile::tempdir().unwrap();
    let _server = BackgroundServer(dir.path());
    // A port nobody listens on, for the document's `${PORT:-8080}`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    docs::run_doc_examples_with(
        &repo().join(doc),
        dir.path(),
        Path::new(env!("CARGO_BIN_EXE_hallmark")),
        Blocks::Plain,
        &[("PORT", &port)],
    );
    // What the example says it leaves: a registry whose log holds its inception, the
    // publisher's key event log, the release and its yank; the release's receipt in its bundle;
    // and a consumer's store that verified the served checkpoint.
    let log = std::fs::read_to_string(dir.path().join("registry/log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "{log}");
    // The root verify-log reports (elided in the guide) is the one the checkpoint signs.
    let checkpoint = std::fs::read_to_string(dir.path().join("registry/checkpoint")).unwrap();
    let root = checkpoint.lines().nth(2).unwrap();
    let verified = run_documented_in(
        "hallmark registry verify-log --registry registry",
        dir.path(),
    );
    assert!(
        verified.stdout.contains(&format!(
            "\ncheckpoint verified: 4 entries, root {root}, signed by key "
        )),
        "{}",
        verified.stdout
    );
    let bundle =
        std::fs::read_to_string(dir.path().join("uploads/tool-1.2.0.tar.hallmark.json")).unwrap();
    assert!(bundle.contains("\"receipts\""), "{bundle}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("swapped/tool-1.2.0.tar.hallmark.json")).unwrap(),
        bundle,
        "the refused submission's bundle is the copy, untouched"
    );
    let held: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("trust/registries/main.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(held["checkpoint"].as_str(), Some(checkpoint.as_str()));
}
