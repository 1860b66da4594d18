//! Terminal interaction, progress bars and output.

use std::io::IsTerminal;
use std::time::Duration;

use hallmark_hsm::interact::Interaction;
use hallmark_hsm::secret::{Secret, SecretError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Prompts on the controlling terminal; notices and warnings on standard error.
pub struct TerminalUi;

impl Interaction for TerminalUi {
    fn request_secret(&self, what: &str) -> Result<Secret, SecretError> {
        // rpassword reads from /dev/tty, so a prompt works even when stdin is a pipe, and fails
        // cleanly where there is no terminal at all (CI).
        if !std::io::stderr().is_terminal() && !std::io::stdin().is_terminal() {
            return Err(SecretError::NoTerminal {
                what: what.to_owned(),
            });
        }
        match rpassword::prompt_password(format!("{what}: ")) {
            Ok(text) => Ok(Secret::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(6) => {
                Err(SecretError::NoTerminal {
                    what: what.to_owned(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(SecretError::Cancelled {
                what: what.to_owned(),
            }),
            Err(source) => Err(SecretError::Terminal {
                what: what.to_owned(),
                source,
            }),
        }
    }

    fn notify(&self, message: &str) {
        errln!("{message}");
    }

    fn warn(&self, message: &str) {
        errln!("warning: {message}");
    }
}

impl TerminalUi {
    /// Asks a yes/no question on the controlling terminal (`/dev/tty`, so that it works with
    /// standard input and output redirected); only `y` or `yes` says yes. Without a terminal
    /// it fails with `Err(())`: the caller names the flag that answers it for scripts.
    pub fn confirm(&self, question: &str) -> Result<bool, ()> {
        use std::io::{BufRead, Write};
        let no_terminal = || ();
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|_| no_terminal())?;
        write!(tty, "{question} [y/N] ")
            .and_then(|()| tty.flush())
            .map_err(|_| no_terminal())?;
        let mut answer = String::new();
        std::io::BufReader::new(tty)
            .read_line(&mut answer)
            .map_err(|_| no_terminal())?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

/// Where results go: text for people, or one JSON document for machines.
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    /// A progress bar on standard error, hidden when it is not a terminal, in quiet mode and in
    /// JSON mode.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A byte-counting progress bar for hashing, or `None` when it would not be shown (then
    /// the digest walk is spared a `stat` per file).
    pub fn hash_progress(&self, what: &str) -> Option<HashBar> {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(HashBar(bar))
    }

    /// A note for people on standard error (suppressed by --quiet and --json).
    pub fn note(&self, text: &str) {
        if !self.quiet && !self.json {
            errln!("{text}");
        }
    }

    /// Prints the JSON document of `command` (`"key.show"` for `hallmark key show`) on standard
    /// output: `value`, an object, with its `schema` (docs/json.md).
    pub fn json<T: Serialize + ?Sized>(&self, command: &str, value: &T) {
        hallmark_signer::cmdline::print_json(command, value);
    }

    /// Prints one document of a line-delimited JSON stream, with its `schema`.
    pub fn json_line<T: Serialize + ?Sized>(&self, command: &str, value: &T) {
        hallmark_signer::cmdline::print_json_line(command, value);
    }
}

/// A progress bar fed by the content digest walk.
pub struct HashBar(ProgressBar);

impl HashBar {
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl hallmark_keyring::digest::Progress for HashBar {
    fn start(&self, _files: u64, bytes: u64) {
        self.0.inc_length(bytes);
    }

    fn advance(&self, _files: u64, bytes: u64) {
        self.0.inc(bytes);
    }
}
