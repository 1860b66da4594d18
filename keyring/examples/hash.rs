//! Prints the content digest of each path given, as `hallmark hash` does.
//!
//! `cargo run --release -p hallmark-keyring --example hash -- [--manifest] PATH...`
//!
//! With `--manifest`, prints a directory's canonical manifest instead of its digest.
//! The number of hashing threads follows `RAYON_NUM_THREADS` (default: one per core).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hallmark_keyring::digest::{DigestOptions, Manifest, digest_path};

fn main() -> ExitCode {
    let mut manifest = false;
    let mut paths = Vec::new();
    for arg in std::env::args_os().skip(1) {
        if arg == "--manifest" {
            manifest = true;
        } else {
            paths.push(arg);
        }
    }
    if paths.is_empty() {
        eprintln!("usage: hash [--manifest] PATH...");
        return ExitCode::from(2);
    }
    let options = DigestOptions::new();
    let mut stdout = std::io::stdout().lock();
    for path in paths {
        let path = Path::new(&path);
        let result = if manifest {
            Manifest::build(path, &options).map(|m| m.to_bytes())
        } else {
            digest_path(path, &options).map(|d| format!("{d}  {}\n", path.display()).into_bytes())
        };
        match result {
            Ok(bytes) => {
                if stdout.write_all(&bytes).is_err() {
                    return ExitCode::from(2);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
