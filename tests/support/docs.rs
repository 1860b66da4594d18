//! Documents that run as written: the fenced blocks of a Markdown document, run in order in a
//! directory with the built `hallmark` first on PATH, so that a guide cannot drift from what the
//! tool does.
//!
//! A block's info string says what it is: ```` ```sh ```` runs with `bash -euo pipefail` and
//! must succeed (a command meant to be refused ends in `|| test $? -eq N`); ```` ```console ````
//! shows `$ ` commands with the lines they print, an `error: ` line on standard error; the `run:` lines of ```` ```yaml ```` blocks run
//! as shell commands. A word after the language marks a variant for one kind of hardware
//! (```` ```sh yubikey ````): it runs only when the caller asks for that kind. ```` ```text ````
//! never runs.

use std::path::Path;
use std::process::Command;

use crate::Run;

/// Which blocks of a document to run: the plain ones, or the variants for one kind of hardware
/// (`"yubikey"` runs the ```` ```sh yubikey ```` blocks only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocks<'a> {
    /// `sh`, `console` and `yaml` blocks.
    Plain,
    /// `sh KIND` blocks.
    Variant(&'a str),
}

/// The fenced blocks of a document's text, in order: (info string, body).
pub fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(lang) = trimmed.strip_prefix("```") {
                    open = Some((lang.to_owned(), indent, String::new()));
                }
            }
            Some((lang, at, body)) => {
                if trimmed == "```" {
                    blocks.push((std::mem::take(lang), std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line.get(*at..).unwrap_or(trimmed));
                    body.push('\n');
                }
            }
        }
    }
    blocks
}

/// Whether an output line is the documented one, where `…` stands for anything and an elided
/// hex id (`hid:fb05…`, `key 8e02…`) for any id.
pub fn shown_as(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    let last = parts.len() - 1;
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        let part = if i < last {
            part.trim_end_matches(|c: char| c.is_ascii_hexdigit())
        } else {
            part
        };
        if i == 0 {
            if !actual.starts_with(part) {
                return false;
            }
            at = part.len();
        } else if i == last {
            return actual.len() >= at + part.len() && actual[at..].ends_with(part);
        } else {
            match actual[at..].find(part) {
                Some(found) => at += found + part.len(),
                None => return false,
            }
        }
    }
    actual.len() == at
}

/// Lines that show a refusal by a check rather than an unreadable input: a command that prints
/// one exits 1. A verifier's verdict (`: rejected: `), a registry's refusal of a submission
/// (`: refused (CHECK): `), and `registry verify-log`'s findings.
const REFUSALS: &[&str] = &[
    ": rejected: ",
    ": refused (",
    "registry log broken at ",
    "registry log does not end at ",
    "registry checkpoint refused: ",
];

/// Runs `script` with `bash` and `flags` in `dir`, with the directory of `hallmark` (the built
/// binary) first on PATH and no terminal.
pub fn run_shell(script: &str, flags: &[&str], dir: &Path, hallmark: &Path) -> Run {
    run_shell_with(script, flags, dir, hallmark, &[])
}

/// [`run_shell`] with the variables `env` set for the script.
fn run_shell_with(
    script: &str,
    flags: &[&str],
    dir: &Path,
    hallmark: &Path,
    env: &[(&str, &str)],
) -> Run {
    let bin = hallmark.parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .args(flags)
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a documented script with `bash -euo pipefail` in `dir`; it must succeed.
#[track_caller]
pub fn run_documented_in(script: &str, dir: &Path, hallmark: &Path) -> Run {
    run_documented_with(script, dir, hallmark, &[])
}

/// [`run_documented_in`] with the variables `env` set for the script.
#[track_caller]
fn run_documented_with(script: &str, dir: &Path, hallmark: &Path, env: &[(&str, &str)]) -> Run {
    let run = run_shell_with(script, &["-euo", "pipefail"], dir, hallmark, env);
    assert_eq!(
        run.code, 0,
        "this documented script failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Runs the examples of the document `doc` (its path) chosen by `which`, in order, in `dir`
/// (prepared by the caller): `sh` blocks and the `run:` lines of `yaml` blocks must succeed as
/// written; each `$ ` command of a `console` block must print the lines shown under it (with
/// `…` as in [`shown_as`]) and succeed — or exit 1 when what it shows is a refusal by a check
/// (a verdict `: rejected: `, a registry's `: refused (CHECK): `, a fault `registry verify-log`
/// finds), or 2 when it shows an `error: ` line, which it must print on standard error. Returns
/// the output of the `sh` blocks.
pub fn run_doc_examples(doc: &Path, dir: &Path, hallmark: &Path, which: Blocks<'_>) -> String {
    run_doc_examples_with(doc, dir, hallmark, which, &[])
}

/// [`run_doc_examples`] with the variables `env` set for every command, for what a document
/// lets its reader choose (`${PORT:-8080}`) and a test must choose otherwise.
pub fn run_doc_examples_with(
    doc: &Path,
    dir: &Path,
    hallmark: &Path,
    which: Blocks<'_>,
    env: &[(&str, &str)],
) -> String {
    let text = std::fs::read_to_string(doc)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", doc.display()));
    let mut shell_output = String::new();
    for (info, body) in fenced_blocks(&text) {
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or_default();
        let variant = words.next();
        match (which, lang, variant) {
            (Blocks::Plain, "sh", None) => {
                shell_output.push_str(&run_documented_with(&body, dir, hallmark, env).stdout);
            }
            (Blocks::Variant(kind), "sh", Some(variant)) if variant == kind => {
                shell_output.push_str(&run_documented_with(&body, dir, hallmark, env).stdout);
            }
            (Blocks::Plain, "yaml", None) => {
                for line in body.lines() {
                    if let Some(command) = line.trim_start().strip_prefix("run: ") {
                        run_documented_with(command, dir, hallmark, env);
                    }
                }
            }
            (Blocks::Plain, "console", None) => run_console(&body, doc, dir, hallmark, env),
            _ => {}
        }
    }
    shell_output
}

/// Runs the `$ ` commands of a `console` block, checking what each prints.
fn run_console(body: &str, doc: &Path, dir: &Path, hallmark: &Path, env: &[(&str, &str)]) {
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in body.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            commands.push((command.to_owned(), Vec::new()));
        } else if continued {
            let (command, _) = commands.last_mut().unwrap();
            command.push('\n');
            command.push_str(line);
        } else {
            commands.last_mut().unwrap().1.push(line.to_owned());
        }
        continued = line.ends_with('\\');
    }
    for (command, shown) in commands {
        // An error shown is one on standard error, with the exit code of a refused input.
        let (errors, output): (Vec<&String>, Vec<&String>) =
            shown.iter().partition(|l| l.starts_with("error: "));
        let code = if !errors.is_empty() {
            2
        } else if output
            .iter()
            .any(|l| REFUSALS.iter().any(|refusal| l.contains(refusal)))
        {
            1
        } else {
            0
        };
        let run = run_shell_with(&command, &[], dir, hallmark, env).expect(code);
        for (expected, printed) in [(output, &run.stdout), (errors, &run.stderr)] {
            let printed: Vec<&str> = printed.lines().collect();
            let mut rest = printed.as_slice();
            for expected in expected {
                match rest.iter().position(|line| shown_as(expected, line)) {
                    Some(found) => rest = &rest[found + 1..],
                    None => panic!(
                        "{}: `{command}` did not print {expected:?}:\n{}",
                        doc.display(),
                        printed.join("\n")
                    ),
                }
            }
        }
    }
}
