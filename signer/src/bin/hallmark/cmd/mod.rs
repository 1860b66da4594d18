//! Command handlers.

pub mod ceremony;
mod hash;
mod interop;
mod key;
mod keyio;
mod keyring;
mod monitor;
mod quickstart;
mod registry;
mod sign;
mod verify;
mod witness;

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
        Command::Witness(cmd) => witness::run(cmd, out),
        Command::Monitor(args) => monitor::run(args, out),
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
        Command::Manpages { dir } => manpages(&dir, out),
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
/// note says so) and a lone bundle refused: see [`release::without_signature_files`]. At least
/// one path is always left: a signature is left out only for a shorter path given with it.
pub fn artifacts_only(paths: &[PathBuf], out: &Output) -> Result<Vec<PathBuf>, Failure> {
    let given = release::without_signature_files(paths).map_err(Failure::usage)?;
    if let Some(note) = given.note() {
        out.note(&note);
    }
    Ok(given.artifacts)
}

/// A page with its examples (the `Examples:` part of the text after the options, which
/// clap_mangen puts in a section `EXTRA`) in a section `EXAMPLES` of their own, set line by line
/// as help shows them: filling would join and re-wrap the commands, breaking their ` \`
/// continuations. Text before the examples (or without examples) is in a section `NOTES`.
fn examples_section(page: &str) -> String {
    let Some(extra) = page.find(".SH EXTRA\n") else {
        return page.to_owned();
    };
    let body = extra + ".SH EXTRA\n".len();
    let end = page[body..]
        .find("\n.SH ")
        .map_or(page.len(), |at| body + at + 1);
    let section = &page[body..end];
    let Some(examples) = section
        .strip_prefix("Examples:\n")
        .map(|rest| (0, rest))
        .or_else(|| {
            section
                .find("\nExamples:\n")
                .map(|at| (at + 1, &section[at + "\nExamples:\n".len()..]))
        })
    else {
        return page.replacen(".SH EXTRA\n", ".SH NOTES\n", 1);
    };
    let (notes_len, lines) = examples;
    let mut out = String::from(&page[..extra]);
    if notes_len > 0 {
        out.push_str(".SH NOTES\n");
        out.push_str(&section[..notes_len]);
    }
    out.push_str(".SH EXAMPLES\n.nf\n");
    out.push_str(lines);
    if !lines.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(".fi\n");
    out.push_str(&page[end..]);
    out
}

/// The program whose name the `hallmark verify` command's page has: that one page documents both.
const STANDALONE_VERIFY: &str = "hallmark-verify";

/// Appends to the page of `hallmark verify` (`hallmark-verify.1`, as `man hallmark-verify`
/// finds it) the section of the `hallmark-verify` program: one page for the one name, as git and
/// cargo name a subcommand's page, documenting the program too rather than hiding it.
fn standalone_verify_section(page: &mut Vec<u8>) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    let man = clap_mangen::Man::new(hallmark_signer::cmdline::StandaloneVerifyArgs::command());
    let mut section = Vec::new();
    man.render_synopsis_section(&mut section)?;
    man.render_description_section(&mut section)?;
    man.render_options_section(&mut section)?;
    man.render_extra_section(&mut section)?;
    let section = String::from_utf8_lossy(&section)
        .replace(".SH SYNOPSIS\n", ".SS Synopsis\n")
        .replace(".SH DESCRIPTION\n", ".SS Description\n")
        .replace(".SH OPTIONS\n", ".SS Options\n")
        .replace(".SH EXTRA\n", ".SS \"Exit codes\"\n");
    page.extend_from_slice(
        b".SH \"THE HALLMARK-VERIFY PROGRAM\"\n\
          The program \\fBhallmark\\-verify\\fR gives the verdicts of \\fBhallmark verify \\-\\-public\\-key\\fR \
          with the same output and exit codes, and links no hardware support: it suits install \
          hooks and CI gates that only verify. Pins, policies and the audit log are \
          \\fBhallmark verify \\-\\-keyring\\fR (above).\n",
    );
    page.extend_from_slice(section.as_bytes());
    Ok(())
}

/// Writes a man page per command and subcommand: `hallmark.1`, `hallmark-key.1`,
/// `hallmark-key-generate.1`, … (hidden subcommands have none). `hallmark-verify.1` documents
/// the `hallmark verify` command and the `hallmark-verify` program.
fn manpages(dir: &std::path::Path, out: &Output) -> CmdResult {
    let write_failure = |path: &std::path::Path, e: std::io::Error| {
        Failure::usage(anyhow::anyhow!("cannot write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| write_failure(dir, e))?;
    let mut command = crate::examples::attach(crate::cli::Cli::command());
    command.build();
    let mut written = Vec::new();
    let mut pending = vec![(String::from("hallmark"), command)];
    while let Some((name, command)) = pending.pop() {
        // The page is named after the whole command (`hallmark-key-generate`), as man(1)
        // finds it. clap keeps names as &'static str without its `string` feature; this
        // one-shot packaging command leaks the few dozen it makes.
        let page: &'static str = Box::leak(name.clone().into_boxed_str());
        let path = dir.join(format!("{page}.1"));
        if written.contains(&path) {
            return Err(Failure::usage(anyhow::anyhow!(
                "two commands would share the man page {page}.1"
            )));
        }
        let mut bytes = Vec::new();
        clap_mangen::Man::new(command.clone().name(page))
            .render(&mut bytes)
            .map_err(|e| write_failure(dir, e))?;
        let mut bytes = examples_section(&String::from_utf8_lossy(&bytes)).into_bytes();
        if page == STANDALONE_VERIFY {
            standalone_verify_section(&mut bytes).map_err(|e| write_failure(dir, e))?;
        }
        hallmark_keyring::fsutil::write_replace(&path, &bytes, 0o644)
            .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
        written.push(path);
        for sub in command.get_subcommands() {
            if !sub.is_hide_set() && sub.get_name() != "help" {
                pending.push((format!("{name}-{}", sub.get_name()), sub.clone()));
            }
        }
    }
    written.sort();
    if out.json {
        out.json("manpages", &serde_json::json!({ "written": written }));
    } else if !out.quiet {
        for path in &written {
            outln!("wrote {}", path.display());
        }
    }
    Ok(crate::exit::Exit::Success)
}
