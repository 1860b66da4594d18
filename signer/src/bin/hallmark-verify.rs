//! `hallmark-verify`: checks release artifacts against public keys, and does nothing else.
//!
//! The same verification, output and exit codes as `hallmark verify --public-key`, in a small
//! program that links no hardware support (no PC/SC, no PKCS#11 loader, no key files' secrets).
//! It suits the places that only verify: install hooks and CI gates that start one process per
//! artifact (it starts about as fast as `minisign -V`), and machines that should carry as
//! little code as possible. Pins, policies and the audit log are `hallmark verify --keyring`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use hallmark_keyring::PublicKey;
use hallmark_keyring::bundle::Bundle;
use hallmark_signer::filekey;
use hallmark_signer::keyref::KeyRef;
use hallmark_signer::release::{self, VerifyReport};
use rayon::prelude::*;

/// `eprintln!` that does not panic when standard error is closed.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

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

    /// Print machine-readable JSON on standard output instead of text.
    #[arg(long)]
    json: bool,

    /// Artifacts: files or directory trees, each with its PATH.hallmark.json.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Exit codes, as `hallmark verify` uses them.
const TRUSTED: u8 = 0;
const REFUSED: u8 = 1;
const USAGE: u8 = 2;
const UNKNOWN_PUBLISHER: u8 = 3;

/// The worse of two exit codes: input errors, then refusals, then unknown publishers.
fn worst(a: u8, b: u8) -> u8 {
    let rank = |code| match code {
        TRUSTED => 0,
        UNKNOWN_PUBLISHER => 1,
        REFUSED => 2,
        _ => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A usage error with an optional hint, printed as `hallmark` prints its errors.
struct Usage {
    error: String,
    hint: Option<&'static str>,
}

fn public_key(text: &str) -> Result<PublicKey, Usage> {
    if text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        return text.parse().map_err(|e| Usage {
            error: format!("public key {text:?}: {e}"),
            hint: None,
        });
    }
    let (read, hint) = match text.parse::<KeyRef>() {
        Ok(KeyRef::File(path)) => (filekey::read_public_key(&path), None),
        Ok(hardware) => {
            return Err(Usage {
                error: format!(
                    "{hardware}: hallmark-verify reads public keys from text and files only"
                ),
                hint: Some(
                    "print the key's public key with `hallmark key show REF` and give that, or \
                     use `hallmark verify`",
                ),
            });
        }
        Err(_) => (
            filekey::read_public_key_file(Path::new(text)),
            Some("give a public key as ed25519:<base64>, file:KEY (reads KEY.pub) or a .pub file"),
        ),
    };
    read.map_err(|e| Usage {
        error: with_causes(&e),
        hint,
    })
}

/// An error and its causes, `: `-separated, leaving out a cause the text already includes (as
/// `hallmark` prints errors).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = source.source();
    }
    text
}

/// Command output. A reader that goes away ends the output, not the command; any other write
/// error is reported at the end.
#[derive(Default)]
struct Stdout {
    gone: bool,
    error: Option<std::io::Error>,
}

impl Stdout {
    fn line(&mut self, text: &str) {
        if self.gone {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out
            .write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
        {
            self.gone = true;
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                self.error = Some(e);
            }
        }
    }

    fn finish(mut self) -> Option<std::io::Error> {
        if !self.gone
            && let Err(e) = std::io::stdout().flush()
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            self.error = Some(e);
        }
        self.error
    }
}

fn fail(usage: Usage, json: bool) -> ExitCode {
    if json {
        let value = serde_json::json!({
            "error": usage.error,
            "exit": USAGE,
            "hint": usage.hint,
        });
        if let Ok(text) = serde_json::to_string_pretty(&value) {
            let mut out = Stdout::default();
            out.line(&text);
            let _ = out.finish();
        }
    }
    errln!("error: {}", usage.error);
    if let Some(hint) = usage.hint {
        errln!("hint: {hint}");
    }
    ExitCode::from(USAGE)
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // clap prints help/version with exit 0 and usage errors with exit 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { USAGE } else { 0 });
        }
    };
    if args.bundle.is_some() && args.paths.len() != 1 {
        let usage = Usage {
            error: "--bundle names the bundle of a single artifact".to_owned(),
            hint: None,
        };
        return fail(usage, args.json);
    }
    let keys = match args
        .public_keys
        .iter()
        .map(|k| public_key(k))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(keys) => keys,
        Err(usage) => return fail(usage, args.json),
    };
    let verify_one = |artifact: &PathBuf| {
        let bundle = args
            .bundle
            .clone()
            .unwrap_or_else(|| Bundle::path_for(artifact));
        release::verify_with_keys(artifact, &bundle, &keys)
    };
    // A single artifact is verified without starting a thread pool.
    let results: Vec<_> = if args.paths.len() == 1 {
        args.paths.iter().map(verify_one).collect()
    } else {
        args.paths.par_iter().map(verify_one).collect()
    };

    let mut out = Stdout::default();
    let mut code = TRUSTED;
    let mut reports = Vec::with_capacity(results.len());
    for (artifact, result) in args.paths.iter().zip(results) {
        let shown = artifact.display().to_string();
        match result {
            Ok(decision) => {
                code = worst(
                    code,
                    match decision.verdict.exit_code() {
                        0 => TRUSTED,
                        3 => UNKNOWN_PUBLISHER,
                        _ => REFUSED,
                    },
                );
                if !args.json {
                    out.line(&format!("{shown}: {decision}"));
                }
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: Some(decision),
                    error: None,
                });
            }
            Err(err) => {
                code = worst(code, USAGE);
                errln!("error: {err}");
                reports.push(VerifyReport {
                    artifact: shown,
                    decision: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&reports) {
            Ok(text) => out.line(&text),
            Err(e) => errln!("error: cannot encode output: {e}"),
        }
    }
    match out.finish() {
        Some(error) => {
            errln!("error: cannot write to standard output: {error}");
            ExitCode::from(if code == TRUSTED { USAGE } else { code })
        }
        None => ExitCode::from(code),
    }
}
