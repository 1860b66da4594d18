//! `hallmark hash`.

use hallmark_keyring::digest::{DigestOptions, digest_path};
use hallmark_signer::cmdline::ErrorReport;
use serde::Serialize;

use crate::cli::HashArgs;
use crate::exit::{CmdResult, Exit};
use crate::ui::Output;

/// One artifact in `hallmark.hash/v1`: its digest, or why it has none.
#[derive(Serialize)]
struct HashResult {
    artifact: String,
    digest: Option<String>,
    error: Option<ErrorReport>,
}

pub fn run(args: HashArgs, out: &Output) -> CmdResult {
    let mut exit = Exit::Success;
    let mut results = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let shown = path.display().to_string();
        let bar = out.hash_progress("hashing");
        let options = match &bar {
            Some(bar) => DigestOptions::new().with_progress(bar),
            None => DigestOptions::new(),
        };
        let result = digest_path(path, &options);
        if let Some(bar) = &bar {
            bar.finish();
        }
        match result {
            Ok(digest) => {
                if !out.json {
                    outln!("{digest}  {shown}");
                }
                results.push(HashResult {
                    artifact: shown,
                    digest: Some(digest.to_string()),
                    error: None,
                });
            }
            Err(err) => {
                errln!("error: {err}");
                exit = exit.worst(Exit::Usage);
                results.push(HashResult {
                    artifact: shown,
                    digest: None,
                    error: Some(ErrorReport::new(err.to_string())),
                });
            }
        }
    }
    if out.json {
        out.json("hash", &serde_json::json!({ "results": results }));
    }
    Ok(exit)
}
