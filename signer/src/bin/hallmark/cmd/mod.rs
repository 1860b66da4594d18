//! Command handlers.

pub mod ceremony;
mod hash;
mod interop;
mod key;
mod keyring;
mod quickstart;
mod registry;
mod sign;
mod verify;

use std::path::PathBuf;

use clap::CommandFactory;
use hallmark_hsm::secret::SecretSource;
use hallmark_signer::keyref::UnlockOptions;
use hallmark_signer::release;

use crate::cli::{Command, UnlockArgs};
use crate::exit::{CmdResult, Failure};
use crate::ui::Output;

pub fn run(command: Command, out: &Output) -> CmdResult {
    match command {
        Command::Key(cmd) => key::run(cmd, out),
        Command::Hash(args) => hash::run(args, out),
        Command::Sign(args) => sign::run(args, out),
        Command::Verify(args) => verify::run(args, out),
        Command::Ceremony(cmd) => ceremony::run(*cmd, out),
        Command::Keyring(cmd) => keyring::run(cmd, out),
        Command::Registry(cmd) => registry::run(cmd, out),
        Command::Quickstart(args) => quickstart::run(args, out),
        Command::SshKeygen(args) => interop::ssh_keygen(args, out),
        Command::Completions { shell } => {
            let mut command = crate::cli::Cli::command();
            // clap_complete panics when a write fails; into memory, none can.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "hallmark", &mut script);
            hallmark_signer::cmdline::write_stdout_bytes(&script);
            Ok(crate::exit::Exit::Success)
        }
    }
}

/// The passphrase source the flags name, if any (otherwise the terminal is asked).
pub fn passphrase_source(args: &UnlockArgs) -> Option<SecretSource> {
    if let Some(path) = &args.passphrase_file {
        Some(SecretSource::File(path.clone()))
    } else {
        args.passphrase_env
            .as_ref()
            .map(|name| SecretSource::Env(name.clone()))
    }
}

pub fn unlock_options(args: &UnlockArgs) -> UnlockOptions {
    UnlockOptions {
        passphrase: passphrase_source(args),
        age_identities: args.age_identities.clone(),
        allow_final_pin_try: args.allow_final_pin_try,
    }
}

/// The artifacts among `paths`, with signature files given beside their artifacts left out (a
/// note says so) and a lone bundle refused: see [`release::without_signature_files`]. `verb`
/// names the command's action for the error when nothing is left ("sign", "verify").
pub fn artifacts_only(
    paths: &[PathBuf],
    verb: &str,
    out: &Output,
) -> Result<Vec<PathBuf>, Failure> {
    let given = release::without_signature_files(paths).map_err(Failure::usage)?;
    if let Some(note) = given.note() {
        out.note(&note);
    }
    if given.artifacts.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "nothing to {verb}: every path given is the signature of another path given"
        )));
    }
    Ok(given.artifacts)
}
