//! The EXAMPLES section of every subcommand's help (and man page).
//!
//! Kept as a table beside the command definitions rather than in them, so that building the
//! command tree for an ordinary run costs nothing: the examples are attached only when help or
//! a man page is asked for. A test checks that every subcommand has examples and that every
//! example parses with the current flags.

use clap::Command;

/// Subcommand path (names below `hallmark`) and its examples: `hallmark …` lines, each with a
/// `#` comment line before it.
pub const EXAMPLES: &[(&[&str], &str)] = &[
    (
        &["key", "generate"],
        "# A key in an age-encrypted file (asks for the passphrase twice):
hallmark key generate --out file:release.key
# A key inside a PKCS#11 token, PIN from a file:
hallmark key generate --out 'pkcs11:token=ci;object=release?module-name=softhsm2&pin-source=file:/run/secrets/pin'
# A key inside a YubiKey, PIN once per run, a touch per signature:
hallmark key generate --out yubikey:slot=9c --pin-policy once --touch-policy always",
    ),
    (
        &["key", "show"],
        "# The public key and key id (no passphrase needed):
hallmark key show file:release.key
# As an OpenSSH line, e.g. for git's allowed_signers:
hallmark key show file:release.key --format ssh
# Re-create a lost .pub from the key itself:
hallmark key show file:release.key --passphrase-file pw > release.key.pub",
    ),
    (
        &["key", "passwd"],
        "# A new passphrase, asked twice on the terminal:
hallmark key passwd file:release.key
# From files, for scripts:
hallmark key passwd file:release.key --passphrase-file old-pw --new-passphrase-file new-pw
# Into escrow: encrypt to two custodians' age recipients:
hallmark key passwd file:next.key --recipient age1examplecustodianone --recipient age1examplecustodiantwo",
    ),
    (
        &["key", "import"],
        "# A minisign key into a key file (asks for both passphrases on the terminal):
hallmark key import ~/.minisign/minisign.key --out file:release.key
# An OpenSSH key into a PKCS#11 token, where it can no longer be read back (asks for the
# OpenSSH key's passphrase, if it has one):
hallmark key import id_ed25519 --out 'pkcs11:token=ci;object=release?module-name=softhsm2&pin-source=file:pin'
# A raw seed into a YubiKey slot:
hallmark key import seed.bin --out yubikey:slot=9c --pin-policy once --touch-policy always",
    ),
    (
        &["key", "export"],
        "# Back to minisign (asks to confirm, and for the new passphrase twice):
hallmark key export file:release.key --format minisign --out minisign.key
# An unencrypted OpenSSH key, from a script:
hallmark key export file:release.key --format openssh --no-passphrase --yes --passphrase-file pw --out id_ed25519",
    ),
    (
        &["key", "list"],
        "# Connected YubiKeys, and the tokens of $HALLMARK_PKCS11_MODULE:
hallmark key list
# The slots and Ed25519 keys of a PKCS#11 module:
hallmark key list /usr/lib/softhsm/libsofthsm2.so",
    ),
    (
        &["key", "attest"],
        "# Export and check the proof that a YubiKey key was made on the device:
hallmark key attest yubikey:slot=9c --out-dir attestation/",
    ),
    (
        &["key", "verify-attestation"],
        "# Check a maintainer's attestation files against the public key they gave you:
hallmark key verify-attestation --device f9.pem --key-cert attestation-9c.pem --key alice.pub",
    ),
    (
        &["registry", "add-witness"],
        "# Have a witness cosign every new checkpoint (its key from `hallmark witness vkey`):
hallmark registry add-witness --registry reg --vkey 'witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs' --url https://witness.example/w1",
    ),
    (
        &["monitor"],
        "# Alert within seconds on any change to the namespaces pinned in a trust store:
hallmark monitor --registry https://registry.example/log --keyring .hallmark/trust --state monitor-state --interval 1s
# Watch a namespace, page someone for each alert, check once (for cron):
hallmark monitor --registry reg --watch org.example --state monitor-state --exec 'page-oncall' --once",
    ),
    (
        &["witness", "serve"],
        "# Serve the witness configured in witness.json (until stopped):
hallmark witness serve --config witness.json --passphrase-file witness-pw
# On any free loopback port (the address is printed first):
hallmark witness serve --config witness.json --listen 127.0.0.1:0",
    ),
    (
        &["witness", "vkey"],
        "# The verifier key that registries and consumers configure for this witness:
hallmark witness vkey --config witness.json",
    ),
    (
        &["hash"],
        "# The digest of a file (sha256:…) and of a directory tree (sha256-tree:…):
hallmark hash dist/tool-1.2.0.tar pkg/",
    ),
    (
        &["sign"],
        "# Sign every tarball with one unlock; ARTIFACT.hallmark.json is written beside each:
hallmark sign --key file:release.key --name org.acme.tool --version 1.2.0 dist/tool-1.2.0.tar dist/tool-1.2.0-src.tar
# In an identity's name, so that consumers follow its rotations:
hallmark sign --key file:release.key --identity org.acme.kel --name org.acme.tool --version 1.2.0 dist/tool-1.2.0.tar
# A signature minisign -V verifies:
hallmark sign --format minisign --key file:release.key dist/tool-1.2.0.tar",
    ),
    (
        &["verify"],
        "# Against the key you expect:
hallmark verify --public-key release.key.pub dist/tool-1.2.0.tar
# Against a trust store's pins and policy (the CI gate; exit 1 on any refusal):
hallmark verify --keyring .hallmark/trust dist/tool-1.2.0.tar
# Machine-readable verdicts, recording nothing:
hallmark --json verify --no-record --keyring .hallmark/trust dist/tool-1.2.0.tar",
    ),
    (
        &["ceremony", "init"],
        "# An identity for org.acme, committing now to the key that will replace this one:
hallmark ceremony init --key file:alice.key --next-key file:alice-next.key --namespace org.acme --out org.acme.kel",
    ),
    (
        &["ceremony", "rotate"],
        "# Reveal the committed key and commit to the next one:
hallmark ceremony rotate --identity org.acme.kel --key file:alice-next.key --next-key file:alice-next2.key --reason scheduled",
    ),
    (
        &["ceremony", "transfer"],
        "# Hand org.acme.tool to another identity (it then accepts):
hallmark ceremony transfer --identity org.acme.kel --to org.bob.kel --name org.acme.tool --key file:alice.key",
    ),
    (
        &["ceremony", "accept"],
        "# Accept what org.acme.kel handed over:
hallmark ceremony accept --identity org.bob.kel --from org.acme.kel --key file:bob.key",
    ),
    (
        &["ceremony", "revoke"],
        "# Retire a key whose signatures are void from a point in time:
hallmark ceremony revoke --identity org.acme.kel --revoke alice.key.pub --reason compromised --since 2026-11-01T00:00:00Z --key file:alice-next.key",
    ),
    (
        &["ceremony", "cosign"],
        "# A co-signer adds their signature to a pending event:
hallmark ceremony cosign --identity org.acme.kel --key file:carol.key rotation.pending.json",
    ),
    (
        &["ceremony", "commit"],
        "# Append a pending event once it has its threshold of signatures:
hallmark ceremony commit --identity org.acme.kel rotation.pending.json",
    ),
    (
        &["ceremony", "verify-transcript"],
        "# Check a ceremony's signed transcript:
hallmark ceremony verify-transcript org.acme.kel.1-rotate.transcript.json",
    ),
    (
        &["ceremony", "backup"],
        "# Split the next key among three custodians, any two of whom rebuild it:
hallmark ceremony backup --key file:alice-next.key --identity org.acme.kel --shares 3 --threshold 2 --recipient age1examplecustodianone --recipient age1examplecustodiantwo --recipient age1examplecustodianthree --out shares/",
    ),
    (
        &["ceremony", "restore"],
        "# Two custodians rebuild the key from their shares:
hallmark ceremony restore --identity org.acme.kel --share shares/1.age --share shares/2.age --age-identity custodian1.txt --age-identity custodian2.txt --out file:alice-next.key",
    ),
    (
        &["keyring", "pin"],
        "# Trust org.acme packages only from this identity:
hallmark keyring pin org.acme --identity org.acme.kel --keyring .hallmark/trust
# ... and only with keys proven to be made on a YubiKey:
hallmark keyring pin org.acme --identity org.acme.kel --require-attestation --keyring .hallmark/trust",
    ),
    (
        &["keyring", "pin-registry"],
        "# Pin a registry, so that pins can require its receipts:
hallmark keyring pin-registry main --identity registry.kel --keyring .hallmark/trust
# ... and where its log is served, refusing to verify once its checkpoint is a day old:
hallmark keyring pin-registry main --identity registry.kel --location https://registry.example/hallmark --max-age 24h --keyring .hallmark/trust
# Require its checkpoints to be cosigned by a witness:
hallmark keyring pin-registry main --identity registry.kel --keyring .hallmark/trust --witness 'witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs'",
    ),
    (
        &["keyring", "refresh"],
        "# Fetch the registry's latest checkpoint, prove it, learn the key events logged since:
hallmark keyring refresh main --keyring .hallmark/trust
# From a mirror or the registry's directory (recorded for next time):
hallmark keyring refresh main --registry /srv/hallmark --keyring .hallmark/trust",
    ),
    (
        &["keyring", "unpin"],
        "# Remove a pin (recorded in the audit log):
hallmark keyring unpin org.acme --keyring .hallmark/trust",
    ),
    (
        &["keyring", "import"],
        "# Take a publisher's newer key event log after a rotation:
hallmark keyring import org.acme.kel --keyring .hallmark/trust",
    ),
    (
        &["keyring", "show"],
        "# Pins, registries and stored logs:
hallmark keyring show --keyring .hallmark/trust",
    ),
    (
        &["keyring", "log"],
        "# Check that nobody rewrote the audit log:
hallmark keyring log --verify --keyring .hallmark/trust",
    ),
    (
        &["registry", "init"],
        "# A registry with its own identity and pre-committed next key:
hallmark registry init --registry reg --key file:registry.key --next-key file:registry-next.key",
    ),
    (
        &["registry", "accept"],
        "# Check, log and countersign uploads (a receipt goes into each bundle):
hallmark registry accept --registry reg dist/tool-1.2.0.tar",
    ),
    (
        &["registry", "receipt"],
        "# Write the receipt of an already-accepted release into its bundle again:
hallmark registry receipt --registry reg dist/tool-1.2.0.tar",
    ),
    (
        &["registry", "verify-log"],
        "# Verify a registry's whole log:
hallmark registry verify-log --registry reg
# A downloaded copy, against the registry identity you pinned:
hallmark registry verify-log --log log.jsonl --expect-identity hid:0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        &["registry", "yank"],
        "# Withdraw a release (it stays in the log; consumers see it yanked):
hallmark registry yank --registry reg --reason 'build from a compromised runner' org.acme.tool@1.2.0",
    ),
    (
        &["registry", "rebuild-state"],
        "# Rebuild the state database from the log (after restoring a backup without it):
hallmark registry rebuild-state --registry reg",
    ),
    (
        &["quickstart"],
        "# The tour, in a temporary directory:
hallmark quickstart
# Keep its files:
hallmark quickstart --dir tour",
    ),
    (
        &["ssh-keygen"],
        "# What git runs to sign a commit with a hardware key (gpg.ssh.program):
hallmark ssh-keygen -Y sign -n git -f release.key.ssh.pub commit.txt",
    ),
    (
        &["completions"],
        "# Bash completion for the current user:
hallmark completions bash > ~/.local/share/bash-completion/completions/hallmark",
    ),
];

/// The width examples are laid out for: an 80-column terminal, where help would otherwise wrap
/// a long command in the middle, and a copied first line would run without the rest.
const WIDTH: usize = 80;

/// The examples section for a subcommand path, as help shows it: each command after `$ `, long
/// ones continued on the next lines with ` \`, so that every line fits in [`WIDTH`] columns
/// (a single word longer than that keeps its own line) and pastes into a shell as it is.
fn section(text: &str) -> String {
    let mut out = String::from("Examples:\n");
    let mut comment: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(text) = line.strip_prefix('#') {
            // A comment may take several lines of the table: one paragraph.
            comment.extend(words(text));
            continue;
        }
        if !comment.is_empty() {
            lay_out(&mut out, &comment, "  # ", "  # ", "");
            comment.clear();
        }
        lay_out(
            &mut out,
            &flags_with_values(&words(line)),
            "  $ ",
            "      ",
            " \\",
        );
    }
    if !comment.is_empty() {
        lay_out(&mut out, &comment, "  # ", "  # ", "");
    }
    out
}

/// The words of a command, an option kept with its value (`--out PATH`) so that a line never
/// ends between the two.
fn flags_with_values(words: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut words = words.iter().peekable();
    while let Some(word) = words.next() {
        let mut unit = (*word).to_owned();
        if word.starts_with("--")
            && let Some(value) = words.next_if(|w| !w.starts_with('-') && !w.starts_with('>'))
        {
            unit.push(' ');
            unit.push_str(value);
        }
        out.push(unit);
    }
    out
}

/// Appends `words` as lines of at most [`WIDTH`] columns: the first after `first`, the others
/// after `then`, each line but the last ending with `carry`.
fn lay_out(out: &mut String, words: &[impl AsRef<str>], first: &str, then: &str, carry: &str) {
    let mut line = String::from(first);
    let mut empty = true;
    for word in words {
        let word = word.as_ref();
        let width = line.chars().count() + 1 + word.chars().count() + carry.chars().count();
        if !empty && width > WIDTH {
            out.push_str(&line);
            out.push_str(carry);
            out.push('\n');
            line = String::from(then);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// The words of an example line, split at spaces outside single quotes.
fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '\'' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            ' ' if !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    out
}

/// Attaches every subcommand's examples (after the help, keeping any text already there).
pub fn attach(mut command: Command) -> Command {
    for (path, text) in EXAMPLES {
        command = attach_at(command, path, text);
    }
    command
}

fn attach_at(command: Command, path: &[&str], text: &str) -> Command {
    match path {
        [] => {
            let mut help = section(text);
            if let Some(existing) = command.get_after_help() {
                help = format!("{existing}\n\n{help}");
            }
            command.after_help(help)
        }
        [first, rest @ ..] => command.mut_subcommand(*first, |sub| attach_at(sub, rest, text)),
    }
}

/// Whether the command line asks for help, so that examples are worth attaching.
pub fn wants_help(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a == "--help" || a == "-h" || a == "help")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::Cli;

    /// Every visible leaf subcommand, as a path of names.
    fn leaves(command: &Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let subs: Vec<&Command> = command
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .collect();
        if subs.is_empty() && !path.is_empty() {
            out.push(path.clone());
        }
        for sub in subs {
            path.push(sub.get_name().to_owned());
            leaves(sub, path, out);
            path.pop();
        }
    }

    /// Splits a shell line into words: plain words and single-quoted strings, as the examples
    /// write them (a redirection ends the command).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = line.trim();
        while !rest.is_empty() {
            if let Some(quoted) = rest.strip_prefix('\'') {
                let end = quoted.find('\'').expect("closing quote");
                out.push(quoted[..end].to_owned());
                rest = quoted[end + 1..].trim_start();
            } else {
                let end = rest.find(' ').unwrap_or(rest.len());
                if rest[..end].starts_with('>') {
                    break;
                }
                out.push(rest[..end].to_owned());
                rest = rest[end..].trim_start();
            }
        }
        out
    }

    #[test]
    fn every_subcommand_has_examples() {
        let mut all = Vec::new();
        leaves(&Cli::command(), &mut Vec::new(), &mut all);
        let documented: Vec<Vec<String>> = EXAMPLES
            .iter()
            .map(|(path, _)| path.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        for leaf in &all {
            assert!(
                documented.contains(leaf),
                "no examples for `hallmark {}`",
                leaf.join(" ")
            );
        }
        for path in &documented {
            assert!(
                all.contains(path),
                "examples for unknown `hallmark {}`",
                path.join(" ")
            );
        }
    }

    #[test]
    fn every_example_parses_with_the_current_flags() {
        for (path, text) in EXAMPLES {
            let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
            assert!(!commands.is_empty(), "{path:?}");
            for line in commands {
                let words = words(line);
                assert_eq!(words[0], "hallmark", "{line}");
                // The example names its own subcommand, after any global flag.
                let named: Vec<&str> = words[1..]
                    .iter()
                    .map(String::as_str)
                    .filter(|w| !w.starts_with('-'))
                    .take(path.len())
                    .collect();
                assert_eq!(named, *path, "{line}");
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("example `{line}` does not parse: {e}");
                }
            }
        }
    }

    #[test]
    fn every_example_fits_80_columns_and_pastes_as_written() {
        for (path, text) in EXAMPLES {
            let shown = section(text);
            for line in shown.lines() {
                let content = line.trim_start().trim_end_matches(" \\");
                let content = content
                    .strip_prefix("$ ")
                    .or_else(|| content.strip_prefix("# "))
                    .unwrap_or(content);
                assert!(
                    line.chars().count() <= WIDTH
                        || flags_with_values(&super::words(content)).len() == 1,
                    "{path:?}: {line:?} is wider than {WIDTH} columns"
                );
            }
            // Joined again at the continuations, the commands are the table's.
            let commands: Vec<String> = shown
                .replace(" \\\n      ", " ")
                .lines()
                .filter_map(|l| l.strip_prefix("  $ "))
                .map(str::to_owned)
                .collect();
            let expected: Vec<String> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| super::words(l).join(" "))
                .collect();
            assert_eq!(commands, expected, "{path:?}");
        }
        assert_eq!(
            section(
                "# One:\n# two.\nhallmark key import id_ed25519 --pin-policy once --touch-policy always --out 'pkcs11:token=ci;object=release?module-name=softhsm2&pin-source=file:pin'"
            ),
            "Examples:\n  # One: two.\n  $ hallmark key import id_ed25519 --pin-policy once \
             --touch-policy always \\\n      \
             --out 'pkcs11:token=ci;object=release?module-name=softhsm2&pin-source=file:pin'\n"
        );
    }

    #[test]
    fn help_shows_the_examples_after_what_was_there() {
        let mut command = attach(Cli::command());
        let help = command
            .find_subcommand_mut("key")
            .unwrap()
            .find_subcommand_mut("generate")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Examples:\n  # A key in an age-encrypted file (asks for the passphrase twice):\n  $ hallmark key generate --out file:release.key\n"),
            "{help}"
        );
        // The top level keeps its own text and has no examples of its own.
        let top = attach(Cli::command()).render_long_help().to_string();
        assert!(top.contains("Try `hallmark quickstart`"), "{top}");
    }
}
