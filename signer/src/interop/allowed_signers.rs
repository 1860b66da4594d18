//! OpenSSH allowed-signers files (`ssh-keygen(1)`, ALLOWED SIGNERS): which keys may sign as
//! which principals, for which namespaces and when.
//!
//! ```text
//! # comment
//! alice@example.org,ci@example.org namespaces="git,file" ssh-ed25519 AAAA… [comment]
//! bob@example.org valid-after="20260101Z",valid-before="20270101Z" ssh-ed25519 AAAA…
//! ```
//!
//! Each line: principals (a comma-separated pattern list, `*` and `?` wildcards, `!` negation,
//! optionally in double quotes), optional options, a key. Options: `cert-authority`,
//! `namespaces="pattern-list"`, `valid-after="time"`, `valid-before="time"`, where a time is
//! `YYYYMMDD[HHMM[SS]]` followed by `Z` or `UTC`.
//!
//! The whole file is parsed before it is used, and any malformed line is an error naming it
//! (ssh-keygen reads lines until one matches). Lines with keys of other types (RSA, ECDSA,
//! security keys) are read and never match; `cert-authority` lines never match a plain key
//! (Hallmark makes no certificates). Times in local time (without `Z`) are refused: Hallmark
//! does not guess a time zone.

use hallmark_keyring::encoding::base64_decode;
use hallmark_keyring::key::PublicKey;
use hallmark_keyring::time::Timestamp;

use super::pubkey::{PublicKeyError, SSH_ED25519, parse_ssh_key_blob};

/// Largest allowed-signers file read, in bytes.
pub const MAX_FILE: usize = 1024 * 1024;

/// Why an allowed-signers file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowedSignersError {
    /// Larger than allowed.
    #[error("allowed signers: {len} bytes, more than the {MAX_FILE} allowed")]
    TooLarge {
        /// The length found.
        len: usize,
    },
    /// A malformed line.
    #[error("allowed signers, line {line}: {problem}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Why no allowed signer accepts a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAllowed {
    /// No line lists the key for the principal.
    #[error("no allowed signer lists this key for principal {0:?}")]
    NoMatch(String),
    /// No line lists the key at all.
    #[error("no allowed signer lists this key")]
    UnknownKey,
    /// The key is listed, but not for the namespace.
    #[error("line {line}: the key is not allowed to sign in namespace {namespace:?}")]
    Namespace {
        /// The line.
        line: usize,
        /// The signature's namespace.
        namespace: String,
    },
    /// The key is listed, but not valid at the time of verification.
    #[error("line {line}: the key is not valid at the verification time ({why})")]
    Time {
        /// The line.
        line: usize,
        /// `not yet valid` or `expired`.
        why: &'static str,
    },
}

/// The key of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKey {
    /// An Ed25519 key.
    Ed25519(PublicKey),
    /// A key of another type, named; it never matches.
    Other(String),
}

/// One line of an allowed-signers file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSigner {
    /// The line number, from 1.
    pub line: usize,
    /// The principals pattern list, as written (without quotes).
    pub principals: String,
    /// `cert-authority`.
    pub cert_authority: bool,
    /// `namespaces=` pattern list.
    pub namespaces: Option<String>,
    /// `valid-after=`, Unix seconds.
    pub valid_after: Option<u64>,
    /// `valid-before=`, Unix seconds.
    pub valid_before: Option<u64>,
    /// The key.
    pub key: EntryKey,
}

impl AllowedSigner {
    fn is_key(&self, key: &PublicKey) -> bool {
        !self.cert_authority && self.key == EntryKey::Ed25519(*key)
    }

    fn time_ok(&self, time: u64) -> Result<(), NotAllowed> {
        if self.valid_after.is_some_and(|after| time < after) {
            return Err(NotAllowed::Time {
                line: self.line,
                why: "not yet valid",
            });
        }
        if self.valid_before.is_some_and(|before| time > before) {
            return Err(NotAllowed::Time {
                line: self.line,
                why: "expired",
            });
        }
        Ok(())
    }

    /// Whether the line restricts validity in time.
    pub fn has_validity(&self) -> bool {
        self.valid_after.is_some() || self.valid_before.is_some()
    }
}

/// A parsed allowed-signers file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AllowedSigners {
    /// The entries, in file order.
    pub entries: Vec<AllowedSigner>,
}

impl AllowedSigners {
    /// Parses a whole file.
    pub fn parse(text: &str) -> Result<Self, AllowedSignersError> {
        if text.len() > MAX_FILE {
            return Err(AllowedSignersError::TooLarge { len: text.len() });
        }
        let mut entries = Vec::new();
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let entry =
                parse_line(trimmed, n + 1).map_err(|problem| AllowedSignersError::Line {
                    line: n + 1,
                    problem,
                })?;
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    /// Whether any entry restricts validity in time.
    pub fn has_validity(&self) -> bool {
        self.entries.iter().any(AllowedSigner::has_validity)
    }

    /// The principals of the first line that lists `key` and is valid at `time` (as
    /// `ssh-keygen -Y find-principals`, which ignores namespaces).
    pub fn find_principals(&self, key: &PublicKey, time: u64) -> Option<&AllowedSigner> {
        self.entries
            .iter()
            .find(|e| e.is_key(key) && e.time_ok(time).is_ok())
    }

    /// The first line that allows `key` to sign in `namespace` at `time`, as `principal` when
    /// one is given (as `ssh-keygen -Y verify -I`), or as any principal when none is.
    pub fn check(
        &self,
        key: &PublicKey,
        principal: Option<&str>,
        namespace: &str,
        time: u64,
    ) -> Result<&AllowedSigner, NotAllowed> {
        let mut refusal = match principal {
            Some(p) => NotAllowed::NoMatch(p.to_owned()),
            None => NotAllowed::UnknownKey,
        };
        for entry in &self.entries {
            if !entry.is_key(key)
                || principal.is_some_and(|p| !match_pattern_list(p, &entry.principals))
            {
                continue;
            }
            if let Some(namespaces) = &entry.namespaces
                && !match_pattern_list(namespace, namespaces)
            {
                refusal = NotAllowed::Namespace {
                    line: entry.line,
                    namespace: namespace.to_owned(),
                };
                continue;
            }
            if let Err(e) = entry.time_ok(time) {
                refusal = e;
                continue;
            }
            return Ok(entry);
        }
        Err(refusal)
    }
}

fn take_field(rest: &str) -> (&str, &str) {
    match rest.find([' ', '\t']) {
        Some(i) => (&rest[..i], rest[i..].trim_start_matches([' ', '\t'])),
        None => (rest, ""),
    }
}

fn parse_line(line: &str, number: usize) -> Result<AllowedSigner, String> {
    // Principals, possibly quoted.
    let (principals, rest) = if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or("the quoted principals have no closing quote")?;
        let after = &quoted[end + 1..];
        if !after.is_empty() && !after.starts_with([' ', '\t']) {
            return Err("text follows the closing quote of the principals".into());
        }
        (&quoted[..end], after.trim_start_matches([' ', '\t']))
    } else {
        take_field(line)
    };
    if principals.is_empty() {
        return Err("no principals".into());
    }
    if rest.is_empty() {
        return Err("principals but no key".into());
    }
    let mut entry = AllowedSigner {
        line: number,
        principals: principals.to_owned(),
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: EntryKey::Other(String::new()),
    };
    let rest = if looks_like_key_type(take_field(rest).0) {
        rest
    } else {
        let after = parse_options(rest, &mut entry)?;
        if after.is_empty() {
            return Err("options but no key".into());
        }
        after
    };
    let (kind, rest) = take_field(rest);
    let (b64, _comment) = take_field(rest);
    if b64.is_empty() {
        return Err(format!("the key type {kind} is not followed by a key"));
    }
    let blob = base64_decode("key", b64, 16 * 1024).map_err(|e| e.to_string())?;
    entry.key = if kind == SSH_ED25519 {
        EntryKey::Ed25519(parse_ssh_key_blob(&blob).map_err(|e: PublicKeyError| e.to_string())?)
    } else {
        EntryKey::Other(kind.to_owned())
    };
    Ok(entry)
}

fn looks_like_key_type(field: &str) -> bool {
    field.starts_with("ssh-")
        || field.starts_with("ecdsa-")
        || field.starts_with("sk-")
        || field.starts_with("rsa-")
}

/// Parses `opt[,opt…]` up to the whitespace that ends it; returns what follows.
fn parse_options<'a>(mut s: &'a str, entry: &mut AllowedSigner) -> Result<&'a str, String> {
    loop {
        if let Some(after) = s.strip_prefix("cert-authority") {
            if entry.cert_authority {
                return Err("cert-authority given twice".into());
            }
            entry.cert_authority = true;
            s = after;
        } else {
            let (name, after) = s
                .split_once('=')
                .ok_or_else(|| format!("unknown option in {:?}", first_chars(s)))?;
            let value_text = after
                .strip_prefix('"')
                .ok_or_else(|| format!("the value of {name} must be in double quotes"))?;
            let end = value_text
                .find('"')
                .ok_or_else(|| format!("the value of {name} has no closing quote"))?;
            let value = &value_text[..end];
            s = &value_text[end + 1..];
            match name {
                "namespaces" => {
                    if entry.namespaces.replace(value.to_owned()).is_some() {
                        return Err("namespaces given twice".into());
                    }
                }
                "valid-after" => {
                    if entry
                        .valid_after
                        .replace(parse_time(value).map_err(|e| e.to_string())?)
                        .is_some()
                    {
                        return Err("valid-after given twice".into());
                    }
                }
                "valid-before" => {
                    if entry
                        .valid_before
                        .replace(parse_time(value).map_err(|e| e.to_string())?)
                        .is_some()
                    {
                        return Err("valid-before given twice".into());
                    }
                }
                other => {
                    return Err(format!(
                        "unknown option {:?} (known: cert-authority, namespaces, valid-after, valid-before)",
                        first_chars(other)
                    ));
                }
            }
        }
        if s.is_empty() || s.starts_with([' ', '\t']) {
            break;
        }
        s = s
            .strip_prefix(',')
            .ok_or_else(|| format!("unknown option text {:?}", first_chars(s)))?;
        if s.is_empty() {
            return Err("options end with a comma".into());
        }
    }
    if let (Some(after), Some(before)) = (entry.valid_after, entry.valid_before)
        && before <= after
    {
        return Err("valid-before is not after valid-after".into());
    }
    Ok(s.trim_start_matches([' ', '\t']))
}

fn first_chars(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Why an OpenSSH time does not parse; each carries the first 40 characters of the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// No `Z` or `UTC` suffix: a local time, which a verifier elsewhere would read otherwise.
    #[error("time {0:?} is in local time; write it in UTC with a final Z (e.g. 20260101Z)")]
    LocalTime(String),
    /// Not 8, 12 or 14 digits.
    #[error("time {0:?} is not YYYYMMDD[HHMM[SS]] followed by Z")]
    Malformed(String),
    /// Digits of a date that does not exist.
    #[error("time {0:?} is not a valid date")]
    InvalidDate(String),
}

/// Parses an OpenSSH absolute time in UTC: `YYYYMMDD[HHMM[SS]]` then `Z` or `UTC`.
/// Returns Unix seconds.
pub fn parse_time(text: &str) -> Result<u64, TimeError> {
    let digits = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("UTC"))
        .ok_or_else(|| TimeError::LocalTime(first_chars(text)))?;
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeError::Malformed(first_chars(text)));
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        digits
            .get(r)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    };
    let (year, month, day) = (i64::from(num(0..4)), num(4..6), num(6..8));
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10), num(10..12), 0),
        _ => (num(8..10), num(10..12), num(12..14)),
    };
    Timestamp::from_utc(year, month, day, hour, minute, second)
        .map(|t| t.unix())
        .ok_or_else(|| TimeError::InvalidDate(first_chars(text)))
}

/// OpenSSH's `match_pattern_list`: a comma-separated list of patterns, each possibly negated
/// with `!`; true if some pattern matches and no negated one does. Case-sensitive.
pub fn match_pattern_list(text: &str, list: &str) -> bool {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if match_pattern(text.as_bytes(), pattern.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// A glob match with `*` (any run) and `?` (any one byte), iterative.
fn match_pattern(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::pubkey::{KeyFormat, render};

    fn key() -> PublicKey {
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
            .parse()
            .unwrap()
    }

    #[test]
    fn patterns() {
        assert!(match_pattern_list("alice@example.org", "*@example.org"));
        assert!(match_pattern_list("a", "b,a"));
        assert!(!match_pattern_list(
            "alice@example.org",
            "*@example.org,!alice@*"
        ));
        assert!(match_pattern_list("git", "g?t"));
        assert!(!match_pattern_list("git", "gi"));
        assert!(match_pattern_list("", "*"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("19700101Z"), Ok(0));
        assert_eq!(parse_time("20000301000000Z"), Ok(951_868_800));
        assert_eq!(parse_time("200003010000UTC"), Ok(951_868_800));
        assert_eq!(
            parse_time("20000301"),
            Err(TimeError::LocalTime("20000301".to_owned()))
        );
        assert!(parse_time("20230229Z").is_err());
    }

    #[test]
    fn lines_and_matching() {
        let ssh = render(&key(), KeyFormat::Ssh, Some("a comment"));
        let text = format!(
            "# team\n\n\
             other@example.org ssh-rsa AAAAB3NzaC1yc2E=\n\
             \"alice@example.org,!mallory@*\" namespaces=\"git\",valid-after=\"20200101Z\" {ssh}\n\
             ci@example.org cert-authority {ssh}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        assert_eq!(signers.entries.len(), 3);
        assert_eq!(signers.entries[0].key, EntryKey::Other("ssh-rsa".into()));
        let now = parse_time("20260101Z").unwrap();
        let entry = signers
            .check(&key(), Some("alice@example.org"), "git", now)
            .unwrap();
        assert_eq!(entry.line, 4);
        assert_eq!(
            signers.check(&key(), Some("alice@example.org"), "file", now),
            Err(NotAllowed::Namespace {
                line: 4,
                namespace: "file".into()
            })
        );
        assert!(matches!(
            signers.check(&key(), Some("alice@example.org"), "git", 0),
            Err(NotAllowed::Time { line: 4, .. })
        ));
        // The cert-authority line never matches a plain key.
        assert_eq!(
            signers.check(&key(), Some("ci@example.org"), "git", now),
            Err(NotAllowed::NoMatch("ci@example.org".into()))
        );
        assert_eq!(signers.check(&key(), None, "git", now).unwrap().line, 4);
        assert_eq!(
            signers.find_principals(&key(), now).unwrap().principals,
            "alice@example.org,!mallory@*"
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let ssh = render(&key(), KeyFormat::Ssh, None);
        for (text, needle) in [
            (format!("a bogus=\"x\" {ssh}"), "unknown option"),
            (format!("a namespaces=git {ssh}"), "double quotes"),
            ("a".to_owned(), "no key"),
            (format!("a valid-after=\"20260101\" {ssh}"), "local time"),
            ("a ssh-ed25519 !!!!".to_owned(), "base64"),
        ] {
            let err = AllowedSigners::parse(&format!("# x\n{text}\n")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("line 2") && msg.contains(needle), "{msg}");
        }
    }
}
