//! `hallmark verify`.

use std::path::PathBuf;

use hallmark_keyring::Decision;
use hallmark_keyring::bundle::Bundle;
use hallmark_signer::release;
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::{VerifyArgs, VerifyFormat};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::Output;

#[derive(Serialize)]
struct Report {
    artifact: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: VerifyArgs, out: &Output) -> CmdResult {
    if args.peer.format != VerifyFormat::Hallmark {
        return super::interop::verify(args, out);
    }
    if args.bundle.is_some() && args.paths.len() != 1 {
        return Err(Failure::usage(anyhow::anyhow!(
            "--bundle names the bundle of a single artifact"
        )));
    }
    let keys = args
        .public_keys
        .iter()
        .map(|k| super::key::parse_public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs: Vec<(PathBuf, PathBuf)> = args
        .paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                args.bundle.clone().unwrap_or_else(|| Bundle::path_for(p)),
            )
        })
        .collect();
    let bar = out.progress(jobs.len() as u64, "verifying");
    let results: Vec<_> = jobs
        .par_iter()
        .map(|(artifact, bundle)| {
            let result = release::verify_with_keys(artifact, bundle, &keys);
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();

    let mut exit = Exit::Success;
    let mut reports = Vec::with_capacity(results.len());
    for ((artifact, _), result) in jobs.iter().zip(results) {
        let shown = artifact.display().to_string();
        match result {
            Ok(decision) => {
                exit = exit.worst(match decision.verdict.exit_code() {
                    0 => Exit::Success,
                    3 => Exit::UnknownPublisher,
                    _ => Exit::Refused,
                });
                if !out.json {
                    println!("{shown}: {decision}");
                }
                reports.push(Report {
                    artifact: shown,
                    decision: Some(decision),
                    error: None,
                });
            }
            Err(err) => {
                exit = exit.worst(Exit::Usage);
                eprintln!("error: {err}");
                reports.push(Report {
                    artifact: shown,
                    decision: None,
                    error: Some(err.to_string()),
                });
            }
        }
    }
    if out.json {
        out.json(&reports);
    }
    Ok(exit)
}
