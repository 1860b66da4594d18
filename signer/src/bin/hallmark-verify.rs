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
    Exit, StandaloneVerifyArgs as Args, error_text, exit_code, print_error, print_parse_error,
    print_verdicts,
};
use hallmark_signer::keyref::{self, PublicKeyArg};
use hallmark_signer::release;

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
