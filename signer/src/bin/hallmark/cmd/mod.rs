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

use clap::CommandFactory;
use hallmark_hsm::secret::SecretSource;
use hallmark_signer::keyref::UnlockOptions;

use crate::cli::{Command, UnlockArgs};
use crate::exit::CmdResult;
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
