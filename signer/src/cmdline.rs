//! What the `hallmark` and `hallmark-verify` commands share, so that they behave alike: the
//! documented exit codes, command output that outlives a reader going away, error text with its
//! causes, and the printing of verdicts.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use hallmark_keyring::verdict::Advice;
use hallmark_keyring::{Decision, Verdict};

use crate::release::VerifyInputError;
use serde::Serialize;

const STANDALONE_VERIFY_AFTER_HELP: &str = "\
Exit codes: 0 trusted, 1 verification refused (the verdict says why), 2 usage or input error.

For pinned publishers, rotation chains and an audit log, use `hallmark verify --keyring DIR`.";

/// Verify release artifacts against public keys.
///
/// Checks each artifact's bundle (PATH.hallmark.json): the content digest of the file or tree,
/// and a signature by one of the given keys. Prints one verdict per artifact, like `hallmark
/// verify --public-key`.
#[derive(Debug, clap::Parser)]
#[command(name = "hallmark-verify", version, after_help = STANDALONE_VERIFY_AFTER_HELP)]
pub struct StandaloneVerifyArgs {
    /// The public key expected to have signed: `ed25519:…`, an OpenSSH line or a minisign
    /// key (`RW…`), file:PATH (reads PATH.pub), or a file holding a key in any form `hallmark
    /// key show` prints (.pub, minisign .pub, PEM, JWK). Repeat to accept any of several keys.
    #[arg(long = "public-key", value_name = "KEY", required = true)]
    pub public_keys: Vec<String>,

    /// The bundle to use, when verifying a single artifact whose bundle is not beside it.
    #[arg(long, value_name = "PATH")]
    pub bundle: Option<PathBuf>,

    /// The release the artifact must be, as NAME@VERSION: a bundle for any other release is
    /// refused (`rejected: digest-mismatch`). Once for every PATH, or once per PATH in order.
    #[arg(long = "expect", value_name = "NAME@VERSION")]
    pub expect: Vec<String>,

    /// Print JSON on standard output instead of text, each document named by its `schema`
    /// (hallmark.COMMAND/v1; fields in docs/json.md), errors included.
    #[arg(long)]
    pub json: bool,

    /// Artifacts: files or directory trees, each with its PATH.hallmark.json.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Trusted, or the command succeeded.
    Success = 0,
    /// Verification refused an artifact; the verdict says why.
    Refused = 1,
    /// Usage or input error: bad flags, unreadable or malformed files, wrong passphrase.
    Usage = 2,
    /// Unknown publisher under a policy that requires a pin.
    UnknownPublisher = 3,
    /// Hardware or token error.
    Hardware = 4,
    /// A key asked to leave its device (`key export` of a PKCS#11, YubiKey or AWS KMS key).
    NotExportable = 5,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code a verdict calls for.
    pub fn of(verdict: Verdict) -> Exit {
        match verdict.exit_code() {
            0 => Exit::Success,
            3 => Exit::UnknownPublisher,
            _ => Exit::Refused,
        }
    }

    /// The worse of two outcomes, for commands that decide about many artifacts: hardware
    /// and input errors first, then refusals, then unknown publishers.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Success => 0,
                Exit::UnknownPublisher => 1,
                Exit::Refused => 2,
                Exit::Usage | Exit::NotExportable => 3,
                Exit::Hardware => 4,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Set once standard output cannot be written to; later output is dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Set when standard output was closed when the command started.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write error on standard output other than a closed pipe.
static STDOUT_ERROR: OnceLock<String> = OnceLock::new();

/// Call first thing in `main`: notes whether standard output was closed when the command
/// started (`hallmark hash FILE >&-`), so that output to it fails (exit 2, "cannot write to
/// standard output") instead of vanishing.
///
/// Before `main`, Rust's runtime opens `/dev/null` read-write on a standard stream that is
/// closed (so that no file the program opens takes its number); a shell's `>/dev/null` opens
/// it write-only. A standard output that is `/dev/null` opened read-write is taken as closed.
pub fn guard_standard_streams() {
    use rustix::fs::{FileType, OFlags};
    use std::os::fd::AsFd;
    let out = io::stdout();
    let closed = match rustix::fs::fcntl_getfl(out.as_fd()) {
        // Still closed (a runtime that did not reopen it).
        Err(_) => true,
        Ok(flags) if flags & OFlags::RWMODE == OFlags::RDWR => {
            match (
                rustix::fs::fstat(out.as_fd()),
                rustix::fs::stat("/dev/null"),
            ) {
                (Ok(stdout), Ok(null)) => {
                    FileType::from_raw_mode(stdout.st_mode) == FileType::CharacterDevice
                        && stdout.st_rdev == null.st_rdev
                }
                _ => false,
            }
        }
        Ok(_) => false,
    };
    STDOUT_CLOSED.store(closed, Ordering::Relaxed);
}

/// Writes command output. When the reader has gone away (`hallmark hash … | head`) the rest of
/// the output is dropped and the command carries on, so that its exit code still says what it
/// decided; any other error is kept for [`stdout_error`].
pub fn write_stdout(args: fmt::Arguments<'_>) {
    write_stdout_with(|out| out.write_fmt(args));
}

/// Writes bytes as command output, like [`write_stdout`].
pub fn write_stdout_bytes(bytes: &[u8]) {
    write_stdout_with(|out| out.write_all(bytes));
}

fn write_stdout_with(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        let _ = STDOUT_ERROR.set("it was closed when the command started".to_owned());
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = write(&mut out) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            let _ = STDOUT_ERROR.set(e.to_string());
        }
    }
}

/// Flushes standard output and returns the first error writing to it, other than a reader
/// that went away.
pub fn stdout_error() -> Option<&'static str> {
    // Nothing was written to a standard output that was closed from the start, nothing lost.
    if !STDOUT_GONE.load(Ordering::Relaxed) && !STDOUT_CLOSED.load(Ordering::Relaxed) {
        write_stdout_with(|out| out.flush());
    }
    STDOUT_ERROR.get().map(String::as_str)
}

/// Writes to standard error; if that fails there is nowhere left to say so.
pub fn write_stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Prints an error that ends a command, with what to do about it: `error: …` and `hint: …` on
/// standard error and, with `json`, the error document `hallmark.error/v1` on standard output
/// (`code`: a stable name for a device error, when there is one; see docs/json.md).
pub fn print_error(exit: Exit, error: &str, hint: Option<&str>, code: Option<&str>, json: bool) {
    if json {
        print_error_document(exit, error, hint, code);
    }
    write_stderr(format_args!("error: {error}\n"));
    if let Some(hint) = hint {
        write_stderr(format_args!("hint: {hint}\n"));
    }
}

/// Prints the error document `hallmark.error/v1` on standard output, and nothing else.
pub fn print_error_document(exit: Exit, error: &str, hint: Option<&str>, code: Option<&str>) {
    print_json(
        "error",
        &ErrorDocument {
            error: ErrorReport {
                code: code.map(str::to_owned),
                message: error.to_owned(),
                hint: hint.map(str::to_owned),
            },
            exit_code: exit.code(),
        },
    );
}

/// Prints a command-line parsing error the way clap words it, on standard error, and with
/// `--json` among the arguments (before any `--`) the error document too: a script that asked
/// for JSON gets JSON even when its flags were wrong. Returns the exit code: 0 for `--help`
/// and `--version`, else 2.
pub fn print_parse_error(error: &clap::Error, args: &[std::ffi::OsString]) -> Exit {
    let wants_json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    if !error.use_stderr() {
        let _ = error.print();
        return Exit::Success;
    }
    if wants_json {
        let text = error.to_string();
        // The error without the usage lines that follow it, on one line.
        let text = text.split("\n\nUsage:").next().unwrap_or_default();
        let text = text.strip_prefix("error: ").unwrap_or(text);
        let message = text.split_whitespace().collect::<Vec<_>>().join(" ");
        print_error_document(
            Exit::Usage,
            &message,
            Some("see --help for the command's flags"),
            Some("usage"),
        );
    }
    let _ = error.print();
    Exit::Usage
}

/// An error in JSON output: the whole document when a command fails, or one item's outcome in
/// a command that handles many.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorReport {
    /// A stable name for the kind of error, when it has one (`yubikey-pin-blocked`).
    pub code: Option<String>,
    /// What went wrong, for people.
    pub message: String,
    /// What to do about it, when that is known.
    pub hint: Option<String>,
}

impl ErrorReport {
    /// An error with its message only.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorReport {
            code: None,
            message: message.into(),
            hint: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDocument {
    error: ErrorReport,
    exit_code: u8,
}

/// The process exit code for a command's outcome, after flushing standard output: a write
/// error other than a reader going away is reported, and turns success into a usage error
/// (any other outcome keeps its code).
pub fn exit_code(exit: Exit) -> std::process::ExitCode {
    let exit = match stdout_error() {
        Some(error) => {
            write_stderr(format_args!(
                "error: cannot write to standard output: {error}\n"
            ));
            if exit == Exit::Success {
                Exit::Usage
            } else {
                exit
            }
        }
        None => exit,
    };
    std::process::ExitCode::from(exit.code())
}

/// An error and its causes, `: `-separated; a cause whose text the message already includes
/// (library errors often say their source inline) is not repeated.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    add_command_hint(&mut text, error);
    let mut cause = error.source();
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        add_command_hint(&mut text, source);
        cause = source.source();
    }
    text
}

/// The error's own text (no causes) with the command to run about it, as [`error_text`]
/// words it.
pub fn error_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    add_command_hint(&mut text, error);
    text
}

/// Puts the command-line advice for `error` right after its text in `text`. The libraries
/// name no commands; these are the errors whose remedy is a `hallmark` command or flag.
fn add_command_hint(text: &mut String, error: &(dyn std::error::Error + 'static)) {
    let Some(hint) = command_hint(error) else {
        return;
    };
    let own = error.to_string();
    if text.contains(&hint) {
        return;
    }
    if let Some(at) = text.rfind(&own) {
        text.insert_str(at + own.len(), &hint);
    }
}

fn command_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use hallmark_hsm::{awskms, yubikey};
    use hallmark_keyring::registry::RegistryError;
    use hallmark_keyring::trust::registries::RefreshError;
    use hallmark_keyring::trust::{PinError, TrustError};

    use crate::keyref::{OpenError, SignerFailure};
    use crate::release::VerifyInputError;

    if let Some(e) = error.downcast_ref::<RegistryError>() {
        return match e {
            RegistryError::NotARegistry { path } => Some(format!(
                " with `hallmark registry init --registry {}`",
                path.display()
            )),
            RegistryError::Log { .. } => Some("; see `hallmark registry verify-log`".to_owned()),
            RegistryError::State { dir, .. } => Some(format!(
                " with `hallmark registry rebuild-state --registry {}`",
                dir.display()
            )),
            _ => None,
        };
    }
    if let Some(RefreshError::NotPinned(_)) = error.downcast_ref::<RefreshError>() {
        return Some(" with `hallmark keyring pin-registry`".to_owned());
    }
    let empty_slot = |e: &yubikey::Error| match e {
        yubikey::Error::SlotEmpty { serial, slot } => Some(format!(
            " with `hallmark key generate --out yubikey:serial={serial};slot={slot}`"
        )),
        _ => None,
    };
    if let Some(e) = error.downcast_ref::<yubikey::Error>() {
        return empty_slot(e);
    }

    let pin = |e: &PinError| match e {
        PinError::Conflict { namespace, .. } => Some(format!(
            ": remove the old pin with `hallmark keyring unpin {namespace}` first if the \
             publisher really changed"
        )),
        PinError::UnknownRegistry(name) => Some(format!(
            "; pin it first with `hallmark keyring pin-registry {name} --identity REGISTRY.kel`"
        )),
        _ => None,
    };
    let kms = |e: &awskms::Error| match e {
        awskms::Error::WrongKeySpec { .. } => {
            Some(". Create one with `hallmark key generate --out awskms:alias/NAME`".to_owned())
        }
        _ => None,
    };
    if let Some(e) = error.downcast_ref::<TrustError>() {
        return match e {
            TrustError::NotAStore { path } => Some(format!(
                ": create one with `hallmark keyring pin NAMESPACE --identity KEL --keyring {}`",
                path.display()
            )),
            TrustError::Audit { .. } => Some("; see `hallmark keyring log --verify`".to_owned()),
            TrustError::Pin(e) => pin(e),
            TrustError::RegistryNotPinned(_) => {
                Some(" with `hallmark keyring pin-registry`".to_owned())
            }
            _ => None,
        };
    }
    if let Some(e) = error.downcast_ref::<PinError>() {
        return pin(e);
    }
    if let Some(VerifyInputError::NoBundle { .. }) = error.downcast_ref::<VerifyInputError>() {
        return Some("; sign it with `hallmark sign`, or name the bundle with --bundle".to_owned());
    }
    if let Some(e) = error.downcast_ref::<awskms::Error>() {
        return kms(e);
    }
    // Transparent wrappers hide the backend's error from the source chain.
    match error.downcast_ref::<OpenError>() {
        Some(OpenError::AwsKms(e)) => return kms(e),
        Some(OpenError::YubiKey(e)) => return empty_slot(e),
        _ => {}
    }
    match error.downcast_ref::<SignerFailure>() {
        Some(SignerFailure::AwsKms(e)) => kms(e),
        Some(SignerFailure::YubiKey(e)) => empty_slot(e),
        _ => None,
    }
}

/// The clause that words `advice` as a `hallmark` command, in place of the library's words.
pub fn advice_clause(advice: &Advice) -> String {
    match advice {
        Advice::PinPublisher => {
            "; pin its publisher with `hallmark keyring pin NAMESPACE --identity KEL`".to_owned()
        }
        Advice::PinOneClaimant => "; pin the right one with `hallmark keyring pin`".to_owned(),
        Advice::RepinRegistry { .. } => {
            "; re-pin it with `hallmark keyring pin-registry`".to_owned()
        }
        Advice::RefreshRegistry {
            name,
            location_pinned,
        } => {
            let from = if *location_pinned {
                ""
            } else {
                " --registry DIR|URL"
            };
            format!(": run `hallmark keyring refresh {name}{from}` and verify again")
        }
        Advice::SignAsIdentity => " (hallmark sign --identity KEL)".to_owned(),
        _ => advice.words().to_owned(),
    }
}

/// `message`, which ends with `advice`'s words, with the advice worded as a command.
pub fn advised_message(message: &str, advice: Option<&Advice>) -> String {
    advice
        .and_then(|advice| advice.reword(message, &advice_clause(advice)))
        .unwrap_or_else(|| message.to_owned())
}

/// A decision as the commands show it: its advice worded as a `hallmark` command.
pub fn advised(mut decision: Decision) -> Decision {
    decision.message = advised_message(&decision.message, decision.advice.as_ref());
    decision
}

/// One artifact in the JSON output of `verify` (`hallmark.verify/v1`): its verdict, or why it
/// could not be verified.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReport {
    artifact: String,
    /// `trusted`, `rejected`, …; null when the artifact could not be verified.
    verdict: Option<&'static str>,
    /// Why a rejected artifact was rejected (`revoked`, `digest-mismatch`, …).
    reason: Option<&'static str>,
    message: String,
    release: Option<String>,
    chain: Vec<String>,
    identity: Option<String>,
    pin: Option<String>,
    error: Option<ErrorReport>,
    exit_code: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyDocument {
    results: Vec<VerifyReport>,
    exit_code: u8,
}

/// Prints the outcome of verifying each artifact, in order: a verdict line on standard output,
/// or the reason it could not be verified on standard error; with `json`, the document
/// `hallmark.verify/v1` of both on standard output instead of the verdict lines. Returns the
/// worst outcome (an artifact that could not be verified is a usage or input error).
pub fn print_verdicts<'a, E: fmt::Display + 'static>(
    outcomes: impl IntoIterator<Item = (&'a Path, Result<Decision, E>)>,
    json: bool,
) -> Exit {
    let mut exit = Exit::Success;
    let mut texts = Vec::new();
    let mut decisions = Vec::new();
    for (artifact, outcome) in outcomes {
        let shown = artifact.display().to_string();
        match outcome {
            Ok(decision) => {
                let decision = advised(decision);
                exit = exit.worst(Exit::of(decision.verdict));
                if !json {
                    write_stdout(format_args!("{shown}: {decision}\n"));
                }
                decisions.push((shown, Ok(decision)));
            }
            Err(err) => {
                exit = exit.worst(Exit::Usage);
                let text = match (&err as &dyn std::any::Any).downcast_ref::<VerifyInputError>() {
                    Some(err) => error_message(err),
                    None => err.to_string(),
                };
                write_stderr(format_args!("error: {text}\n"));
                texts.push(text);
                decisions.push((shown, Err(texts.len() - 1)));
            }
        }
    }
    if json {
        let results = decisions
            .into_iter()
            .map(|(artifact, outcome)| match outcome {
                Ok(decision) => VerifyReport {
                    artifact,
                    verdict: Some(decision.verdict.kind()),
                    reason: decision.verdict.rejection().map(|r| r.as_str()),
                    exit_code: decision.verdict.exit_code(),
                    message: decision.message,
                    release: decision.release,
                    chain: decision.chain,
                    identity: decision.identity.map(|i| i.to_string()),
                    pin: decision.pin.map(|p| p.to_string()),
                    error: None,
                },
                Err(at) => VerifyReport {
                    artifact,
                    verdict: None,
                    reason: None,
                    message: texts[at].clone(),
                    release: None,
                    chain: Vec::new(),
                    identity: None,
                    pin: None,
                    error: Some(ErrorReport::new(texts[at].clone())),
                    exit_code: Exit::Usage.code(),
                },
            })
            .collect();
        print_json(
            "verify",
            &VerifyDocument {
                results,
                exit_code: exit.code(),
            },
        );
    }
    exit
}

/// The version of the shape of every JSON document; see docs/json.md.
pub const JSON_VERSION: &str = "v1";

/// The `schema` of a command's JSON document: `hallmark.verify/v1` for `"verify"`.
pub fn json_schema(command: &str) -> String {
    format!("hallmark.{command}/{JSON_VERSION}")
}

/// A JSON document: its `schema`, then the command's fields.
#[derive(Serialize)]
struct Document<'a, T: ?Sized> {
    schema: String,
    #[serde(flatten)]
    body: &'a T,
}

fn document<T: Serialize + ?Sized>(
    command: &str,
    body: &T,
) -> serde_json::Result<serde_json::Value> {
    let value = serde_json::to_value(Document {
        schema: json_schema(command),
        body,
    })?;
    Ok(value)
}

/// Prints a command's JSON document on standard output, pretty, with a final newline: the
/// object `body` with the field `schema` naming `command` (see [`json_schema`]). `body` must
/// serialise to an object.
pub fn print_json<T: Serialize + ?Sized>(command: &str, body: &T) {
    match document(command, body).and_then(|v| serde_json::to_string_pretty(&v)) {
        Ok(text) => write_stdout(format_args!("{text}\n")),
        Err(e) => write_stderr(format_args!("error: cannot encode output: {e}\n")),
    }
}

/// One document of a line-delimited JSON stream, without its newline: like [`print_json`], on
/// one line.
pub fn json_line<T: Serialize + ?Sized>(command: &str, body: &T) -> serde_json::Result<String> {
    document(command, body).and_then(|v| serde_json::to_string(&v))
}

/// Prints one document of a line-delimited JSON stream (`monitor --json`): [`json_line`].
pub fn print_json_line<T: Serialize + ?Sized>(command: &str, body: &T) {
    match json_line(command, body) {
        Ok(text) => write_stdout(format_args!("{text}\n")),
        Err(e) => write_stderr(format_args!("error: cannot encode output: {e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_hardware_input_refused_unknown_success() {
        let order = [
            Exit::Success,
            Exit::UnknownPublisher,
            Exit::Refused,
            Exit::Usage,
            Exit::Hardware,
        ];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.worst(*b), order[i.max(j)]);
            }
        }
    }

    #[test]
    fn documents_carry_their_schema_first_and_refuse_lists() {
        let value = document("key.show", &serde_json::json!({ "keyId": "x" })).unwrap();
        assert_eq!(
            value,
            serde_json::json!({ "schema": "hallmark.key.show/v1", "keyId": "x" })
        );
        assert!(document("hash", &[1, 2]).is_err());
    }

    #[test]
    fn error_text_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read key.pub")]
        struct Outer(#[source] io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read key.pub: gone")]
        struct Inline(#[source] io::Error);
        let gone = || io::Error::other("gone");
        assert_eq!(error_text(&Outer(gone())), "cannot read key.pub: gone");
        assert_eq!(error_text(&Inline(gone())), "cannot read key.pub: gone");
    }

    #[test]
    fn library_advice_becomes_a_command() {
        use hallmark_keyring::trust::TrustError;
        use hallmark_keyring::trust::registries::RefreshError;
        let pinned = "no registry `main` is pinned; pin it with `hallmark keyring pin-registry`";
        assert_eq!(error_text(&RefreshError::NotPinned("main".into())), pinned);
        assert_eq!(
            error_text(&TrustError::RegistryNotPinned("main".into())),
            pinned
        );
        let decision = Decision::new(
            Verdict::Rejected(hallmark_keyring::Rejection::BadSignature),
            "the keyring holds no key event log for registry `main`",
            None,
        )
        .advise(Advice::RepinRegistry {
            name: "main".into(),
        });
        assert_eq!(
            decision.message,
            "the keyring holds no key event log for registry `main`; re-pin it"
        );
        assert_eq!(
            advised(decision).message,
            "the keyring holds no key event log for registry `main`; re-pin it with \
             `hallmark keyring pin-registry`"
        );
        let refresh = Advice::RefreshRegistry {
            name: "main".into(),
            location_pinned: false,
        };
        assert_eq!(
            advised_message("stale: refresh it and verify again", Some(&refresh)),
            "stale: run `hallmark keyring refresh main --registry DIR|URL` and verify again"
        );
        // A message that does not end with the advice's words is shown as it is.
        assert_eq!(advised_message("other", Some(&refresh)), "other");
    }
}
