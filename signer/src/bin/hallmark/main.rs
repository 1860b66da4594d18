//! The `hallmark` command.
//!
//! A thin layer over the library crates: it parses arguments, resolves key references, asks
//! for secrets on the terminal, draws progress bars, prints verdicts, and maps outcomes to the
//! documented exit codes (0 trusted/success, 1 refused, 2 usage or input error, 3 unknown
//! publisher, 4 hardware/token error).
#![forbid(unsafe_code)]
// Items are `pub` for the modules of this binary; none is reachable from outside it.
#![allow(unreachable_pub)]

/// `println!` for command output. A reader that goes away (`hallmark hash … | head`) ends the
/// output, not the command: it still finishes and exits with its verdict's code. Any other
/// write error is reported when the command ends.
macro_rules! outln {
    ($($arg:tt)*) => {
        ::hallmark_signer::cmdline::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output; see `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {
        ::hallmark_signer::cmdline::write_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` for notes, warnings and errors; a standard error that cannot be written to is
/// not a reason to stop.
macro_rules! errln {
    ($($arg:tt)*) => {
        ::hallmark_signer::cmdline::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
mod cmd;
mod examples;
mod exit;
mod ui;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use hallmark_signer::cmdline;

/// The name under which the binary acts as `hallmark ssh-keygen` (a link for git's
/// `gpg.ssh.program`, which takes a program, not a command line).
const SSH_KEYGEN_NAME: &str = "hallmark-ssh-keygen";

fn main() -> ExitCode {
    cmdline::guard_standard_streams();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n == SSH_KEYGEN_NAME)
        .unwrap_or(false);
    if invoked_as {
        args.insert(1, "ssh-keygen".into());
    }
    let mut command = cli::Cli::command();
    if examples::wants_help(&args) {
        command = examples::attach(command);
    }
    let parsed = command
        .try_get_matches_from_mut(&args)
        .and_then(|mut matches| cli::Cli::from_arg_matches_mut(&mut matches))
        .map_err(|err| err.format(&mut command));
    // The command tree names and describes every subcommand; freeing it would cost about 3% of
    // a one-file verify, and the process ends soon after. The operating system takes the
    // memory back.
    std::mem::forget(command);
    let cli = match parsed {
        Ok(cli) => cli,
        // clap prints help/version with exit 0 and usage errors with exit 2.
        Err(err) => return cmdline::exit_code(cmdline::print_parse_error(&err, &args)),
    };
    let out = ui::Output {
        json: cli.json,
        quiet: cli.quiet,
    };
    let exit = match cmd::run(cli.command, &out) {
        Ok(exit) => exit,
        Err(failure) => {
            let hint = failure.hint();
            cmdline::print_error(
                failure.exit,
                &failure.to_string(),
                hint.as_deref(),
                failure.code(),
                out.json,
            );
            failure.exit
        }
    };
    cmdline::exit_code(exit)
}
