//! Bundles and peer signatures are never taken for artifacts: `hallmark sign dist/*` and
//! `hallmark verify dist/*` (the CI recipe of docs/verifying.md) match the files written beside
//! the artifacts too, and must neither sign them nor verify them as artifacts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hallmark_tests::{Run, Scratch};

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// `dist/` with two artifacts and the key `k.key`.
fn dist() -> Scratch {
    let s = scratch();
    s.file_key("k.key");
    s.write("dist/a.tar", b"a\n");
    s.write("dist/b.tar", b"b\n");
    s
}

/// The sorted file names in `dist/`, as a shell glob `dist/*` would list them.
fn glob(s: &Scratch) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.join("dist"))
        .unwrap()
        .map(|e| format!("dist/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    names
}

fn sign(s: &Scratch, extra: &[&str], paths: &[String]) -> Run {
    let mut args = vec![
        "sign",
        "--key",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--name",
        "org.acme.tool",
        "--version",
        "1.0.0",
    ];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(String::as_str));
    s.run(args)
}

/// A minisign signature (`FILE.minisig`) of each path.
fn sign_minisign(s: &Scratch, extra: &[&str], paths: &[String]) -> Run {
    let mut args = vec![
        "sign",
        "--format",
        "minisign",
        "--key",
        "file:k.key",
        "--passphrase-file",
        "pw",
    ];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(String::as_str));
    s.run(args)
}

/// The artifacts named by verdict lines (`PATH: verdict…`; indented lines are details).
fn verdict_paths(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| !line.starts_with(' '))
        .map(|line| line.split(": ").next().unwrap())
        .collect()
}

fn verify(s: &Scratch, extra: &[&str], paths: &[String]) -> Run {
    let mut args = vec!["verify", "--public-key", "file:k.key"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(String::as_str));
    s.run(args)
}

#[test]
fn sign_force_over_a_glob_signs_only_the_artifacts() {
    let s = dist();
    sign(&s, &[], &glob(&s)).expect(0);
    // The second run's glob includes the first run's bundles.
    let run = sign(&s, &["--force"], &glob(&s)).expect(0);
    assert!(
        run.stderr.contains(
            "skipped 2 signature files given beside their artifacts (dist/a.tar.hallmark.json, …)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        glob(&s),
        [
            "dist/a.tar",
            "dist/a.tar.hallmark.json",
            "dist/b.tar",
            "dist/b.tar.hallmark.json"
        ]
    );
}

#[test]
fn verify_over_a_glob_verifies_only_the_artifacts() {
    let s = dist();
    sign(&s, &[], &glob(&s)).expect(0);
    let run = verify(&s, &[], &glob(&s)).expect(0);
    assert_eq!(verdict_paths(&run.stdout), ["dist/a.tar", "dist/b.tar"]);
    assert!(
        run.stdout.starts_with("dist/a.tar: trusted: "),
        "{}",
        run.stdout
    );

    let run = verify(&s, &["--json"], &glob(&s)).expect(0);
    let artifacts: Vec<String> = run.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["artifact"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(artifacts, ["dist/a.tar", "dist/b.tar"]);
    // JSON mode keeps standard error free of notes.
    assert_eq!(run.stderr, "");

    // hallmark-verify applies the same rule.
    let mut args = vec!["--public-key".to_owned(), "file:k.key".to_owned()];
    args.extend(glob(&s));
    let run = s
        .run_program(env!("CARGO_BIN_EXE_hallmark-verify"), &args, &[])
        .expect(0);
    assert_eq!(verdict_paths(&run.stdout), ["dist/a.tar", "dist/b.tar"]);
    assert!(
        run.stderr
            .contains("skipped 2 signature files given beside their artifacts"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_lone_bundle_is_refused_with_a_hint() {
    let s = dist();
    sign(&s, &[], &glob(&s)).expect(0);
    let expected = "error: dist/a.tar.hallmark.json is a Hallmark bundle, not an artifact: give \
                    its artifact dist/a.tar (the bundle beside it is found by name), or give the \
                    artifact with --bundle dist/a.tar.hallmark.json";
    let run = verify(&s, &[], &["dist/a.tar.hallmark.json".to_owned()]).expect(2);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    let run = s
        .run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            ["--public-key", "file:k.key", "dist/a.tar.hallmark.json"],
            &[],
        )
        .expect(2);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    // Signing a bundle is refused the same way, and writes nothing.
    let run = sign(&s, &[], &["dist/a.tar.hallmark.json".to_owned()]).expect(2);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    assert!(!s.join("dist/a.tar.hallmark.json.hallmark.json").exists());
}

#[test]
fn peer_signatures_beside_their_files_are_skipped() {
    let s = dist();
    sign_minisign(&s, &[], &glob(&s)).expect(0);
    let run = sign_minisign(&s, &["--force"], &glob(&s)).expect(0);
    assert!(
        run.stderr
            .contains("skipped 2 signature files given beside their artifacts"),
        "{}",
        run.stderr
    );
    assert!(!s.join("dist/a.tar.minisig.minisig").exists());
    let run = verify(&s, &["--format", "minisign"], &glob(&s)).expect(0);
    assert_eq!(verdict_paths(&run.stdout), ["dist/a.tar", "dist/b.tar"]);
}

#[test]
fn a_signature_file_without_its_artifact_is_an_artifact() {
    // Anything may be signed, a detached signature received from elsewhere included.
    let s = dist();
    s.write("upstream/tool.tar.sig", b"-----BEGIN SSH SIGNATURE-----\n");
    let run = sign(&s, &[], &["upstream/tool.tar.sig".to_owned()]).expect(0);
    assert!(!run.stderr.contains("skipped"), "{}", run.stderr);
    assert!(s.join("upstream/tool.tar.sig.hallmark.json").exists());
}
