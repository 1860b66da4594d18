//! `hallmark witness serve|vkey`.

use std::sync::Arc;

use hallmark_keyring::tlog::witness::Witness;
use hallmark_keyring::tlog::{KeyType, VerifierKey};
use hallmark_signer::keyref::{self, KeyRef};
use hallmark_signer::witness::{Served, ServerOptions, WitnessConfig};
use serde_json::json;

use crate::cli::{WitnessCommand, WitnessServeArgs, WitnessVkeyArgs};
use crate::exit::{CmdResult, Exit, Failure};
use crate::ui::{Output, TerminalUi};

pub fn run(cmd: WitnessCommand, out: &Output) -> CmdResult {
    match cmd {
        WitnessCommand::Serve(args) => serve(args, out),
        WitnessCommand::Vkey(args) => vkey(&args, out),
    }
}

fn read_config(
    path: &std::path::Path,
) -> Result<(WitnessConfig, Vec<VerifierKey>, KeyRef), Failure> {
    let (config, logs) = WitnessConfig::read(path).map_err(Failure::usage)?;
    let reference: KeyRef = config.key.parse().map_err(Failure::usage)?;
    Ok((config, logs, reference))
}

fn vkey(args: &WitnessVkeyArgs, out: &Output) -> CmdResult {
    let (config, _, reference) = read_config(&args.config)?;
    let key = keyref::public_key(&reference, &hallmark_hsm::interact::Headless)?;
    let vkey = VerifierKey::new(&config.name, KeyType::Cosignature, key).map_err(Failure::usage)?;
    if out.json {
        out.json(
            "witness.vkey",
            &json!({ "name": config.name, "vkey": vkey.to_string() }),
        );
    } else {
        outln!("{vkey}");
    }
    Ok(Exit::Success)
}

fn serve(args: WitnessServeArgs, out: &Output) -> CmdResult {
    let (config, logs, reference) = read_config(&args.config)?;
    let address = args.listen.unwrap_or(config.listen);
    let listener = std::net::TcpListener::bind(address).map_err(|e| {
        Failure::usage(anyhow::anyhow!("cannot listen on {address}: {e}"))
            .with_hint("choose a free address with --listen or in the configuration's \"listen\"")
    })?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::usage(anyhow::anyhow!("cannot listen on {address}: {e}")))?;
    let handle = keyref::open(
        &reference,
        &super::unlock_options(&args.passphrase),
        &TerminalUi,
        None,
    )?;
    let witness = Witness::open(&config.name, handle, &logs, &config.state)
        .map_err(|e| Failure::usage(anyhow::Error::from(e)))?;
    let url = format!("http://{address}{}/add-checkpoint", config.prefix);
    if out.json {
        // A line-delimited stream: this line, then one per request served.
        out.json_line(
            "witness.serve",
            &json!({
                "listening": url,
                "vkey": witness.verifier_key().to_string(),
                "logs": witness.origins(),
            }),
        );
    } else {
        outln!("witness {} listening on {url}", config.name);
        outln!("cosigning as {}", witness.verifier_key());
        for origin in witness.origins() {
            outln!("following {origin}");
        }
    }
    let json = out.json;
    let report = Arc::new(move |served: Served| {
        if json {
            hallmark_signer::cmdline::print_json_line(
                "witness.request",
                &json!({
                    "peer": served.peer.to_string(),
                    "status": served.status,
                    "detail": served.detail,
                }),
            );
        } else {
            outln!("{} {} {}", served.status, served.peer, served.detail);
        }
    });
    let options = ServerOptions {
        prefix: config.prefix.clone(),
        header_timeout: std::time::Duration::from_secs(config.request_timeout_seconds),
        body_timeout: std::time::Duration::from_secs(config.request_timeout_seconds),
        ..ServerOptions::default()
    };
    hallmark_signer::witness::serve(Arc::new(witness), listener, options, report)
        .map_err(|e| Failure::usage(anyhow::anyhow!("the witness server stopped: {e}")))?;
    Ok(Exit::Success)
}
