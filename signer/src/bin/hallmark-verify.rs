//! `hallmark-verify`: checks release artifacts against public keys, and does nothing else.
//!
//! The same verification, output and exit codes as `hallmark verify --public-key`, in a small
//! program that links no hardware support (no PC/SC, no PKCS#11 loader, no key files' secrets).
//! It suits the places that only verify: install hooks and CI gates that start one process per
//! artifact (it starts about as fast as `minisign -V`), and machines that should carry as
//! little code as possible. Pins, policies and the audit log are `hallmark verify --keyring`.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hallmark_signer::cmdline::{
    Exit, error_text, exit_code, print_error, print_parse_error, print_verdicts,
};
use hallmark_signer::keyref::{self, PublicKeyArg};
use hallmark_signer::release;

const AFTER_HELP: &str = "\
Exit codes: 0 trusted, 1 verification refused (the verdict says why), 2 usage or input error.

For pinned publishers, rotation chains and an audit log, use `hallmark verify --keyring DIR`.";

/// Verify release artifacts against public keys.
///
/// Checks each artifact's bundle (PATH.hallmark.json): the content digest of the file or tree,
/// and a signature by one of the given keys. Prints one verdict per artifact, like `hallmark
/// verify --public-key`.
#[derive(Debug, Parser)]
#[command(name = "hallmark-verify", version, after_help = AFTER_HELP)]
struct Args {
    /// The public key expected to have signed: `ed25519:…`, file:PATH (reads PATH.pub), or a
    /// path to a .pub file. Repeat to accept any of several keys.
    #[arg(long = "public-key", value_name = "KEY", required = true)]
    public_keys: Vec<String>,

    /// The bundle to use, when verifying a single artifact whose bundle is not beside it.
    #[arg(long, value_name = "PATH")]
    bundle: Option<PathBuf>,

    /// The release the artifact must be, as NAME@VERSION: a bundle for any other release is
    /// refused (`rejected: digest-mismatch`). Once for every PATH, or once per PATH in order.
    #[arg(long = "expect", value_name = "NAME@VERSION")]
    expect: Vec<String>,

    /// Print JSON on standard output instead of text, each document named by its `schema`
    /// (hallmark.COMMAND/v1; fields in docs/json.md), errors included.
    #[arg(long)]
    json: bool,

    /// Artifacts: files or directory trees, each with its PATH.hallmark.json.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// An error before any artifact is looked at, printed as `hallmark` prints its errors.
fn fail(error: &str, hint: Option<&str>, json: bool) -> ExitCode {
    print_error(Exit::Usage, error, hint, None, json);
    exit_code(Exit::Usage)
}

fn main() -> ExitCode {
    hallmark_signer::cmdline::guard_standard_streams();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match Args::try_parse_from(&argv) {
        Ok(args) => args,
        // clap prints help/version with exit 0 and usage errors with exit 2.
        Err(err) => return exit_code(print_parse_error(&err, &argv)),
    };
    if args.bundle.is_some() && args.paths.len() != 1 {
        return fail(
            "--bundle names the bundle of a single artifact",
            None,
            args.json,
        );
    }
    // `hallmark-verify dist/*` matches the bundles beside the artifacts too: the same rule as
    // `hallmark verify`.
    let given = match release::without_signature_files(&args.paths) {
        Ok(given) => given,
        Err(e) => return fail(&e.to_string(), None, args.json),
    };
    if let (Some(note), false) = (given.note(), args.json) {
        // A closed standard error is no reason to stop (eprintln! would panic).
        let _ = writeln!(std::io::stderr(), "{note}");
    }
    let paths = given.artifacts;
    let expected = match release::expectations(&args.expect, paths.len()) {
        Ok(expected) => expected,
        Err(e) => return fail(&e.to_string(), None, args.json),
    };
    let mut keys = Vec::with_capacity(args.public_keys.len());
    for text in &args.public_keys {
        match keyref::parse_public_key_arg(text) {
            Ok(PublicKeyArg::Key(key)) => keys.push(key),
            Ok(PublicKeyArg::Device(reference)) => {
                return fail(
                    &format!(
                        "{reference}: hallmark-verify reads public keys from text and files only"
                    ),
                    Some(
                        "print the key's public key with `hallmark key show REF` and give that, \
                         or use `hallmark verify`",
                    ),
                    args.json,
                );
            }
            Err(e) => return fail(&error_text(&e), e.hint(), args.json),
        }
    }
    let results = release::verify_all_with_keys_expecting(
        &paths,
        args.bundle.as_deref(),
        &keys,
        &expected,
        &|| {},
    );
    let outcomes = paths.iter().map(PathBuf::as_path).zip(results);
    exit_code(print_verdicts(outcomes, args.json))
}
