//! `hallmark hash`.

use hallmark_keyring::digest::{DigestOptions, digest_path};
use serde::Serialize;

use crate::cli::HashArgs;
use crate::exit::{CmdResult, Exit};
use crate::ui::Output;

#[derive(Serialize)]
struct HashResult {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
                    path: shown,
                    digest: Some(digest.to_string()),
                    error: None,
                });
            }
            Err(err) => {
                errln!("error: {err}");
                exit = exit.worst(Exit::Usage);
                results.push(HashResult {
                    path: shown,
                    digest: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    if out.json {
        out.json(&results);
    }
    Ok(exit)
}
