//! Helpers shared by the content-digest tests: building trees and reading the worked examples
//! in `docs/formats.md`.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use hallmark_keyring::digest::{ContentDigest, DigestOptions, Manifest, digest_path};

/// One entry of a tree to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A regular file with its permission bits.
    File {
        path: String,
        mode: u32,
        content: Vec<u8>,
    },
    /// A directory with its permission bits.
    Dir { path: String, mode: u32 },
    /// A symbolic link and its target.
    Link { path: String, target: String },
}

impl Spec {
    pub fn path(&self) -> &str {
        match self {
            Spec::File { path, .. } | Spec::Dir { path, .. } | Spec::Link { path, .. } => path,
        }
    }
}

pub fn file(path: &str, mode: u32, content: &[u8]) -> Spec {
    Spec::File {
        path: path.into(),
        mode,
        content: content.into(),
    }
}

pub fn dir(path: &str) -> Spec {
    Spec::Dir {
        path: path.into(),
        mode: 0o755,
    }
}

pub fn link(path: &str, target: &str) -> Spec {
    Spec::Link {
        path: path.into(),
        target: target.into(),
    }
}

/// Creates `specs` below `root` in the order given (parents are created as needed, with mode
/// 0755, and may be listed later with another mode).
pub fn build(root: &Path, specs: &[Spec]) {
    fs::create_dir_all(root).unwrap();
    for spec in specs {
        let at = root.join(spec.path());
        if let Some(parent) = at.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        match spec {
            Spec::File { mode, content, .. } => {
                fs::write(&at, content).unwrap();
                fs::set_permissions(&at, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Spec::Dir { mode, .. } => {
                fs::create_dir_all(&at).unwrap();
                fs::set_permissions(&at, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Spec::Link { target, .. } => symlink(target, &at).unwrap(),
        }
    }
}

pub fn digest(path: &Path) -> ContentDigest {
    digest_path(path, &DigestOptions::new())
        .unwrap_or_else(|e| panic!("digest of {}: {e}", path.display()))
}

pub fn manifest_text(path: &Path) -> String {
    String::from_utf8(
        Manifest::build(path, &DigestOptions::new())
            .unwrap()
            .to_bytes(),
    )
    .unwrap()
}

/// A fenced block of `docs/formats.md` whose info string is `<kind> <name>`.
#[derive(Debug)]
pub struct Block {
    pub kind: String,
    pub name: String,
    pub text: String,
}

pub fn formats_md_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/formats.md")
}

/// Every fenced block of `docs/formats.md` with an info string of two words.
pub fn doc_blocks() -> Vec<Block> {
    let doc = fs::read_to_string(formats_md_path()).expect("docs/formats.md must exist");
    let mut blocks = Vec::new();
    let mut lines = doc.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_end().strip_prefix("```") else {
            continue;
        };
        let words: Vec<&str> = info.split_whitespace().collect();
        let mut text = String::new();
        for inner in lines.by_ref() {
            if inner.trim_end() == "```" {
                break;
            }
            text.push_str(inner);
        }
        if let [kind, name] = words[..] {
            blocks.push(Block {
                kind: kind.into(),
                name: name.into(),
                text,
            });
        }
    }
    blocks
}

/// Parses a `tree` block: lines `<type> <mode> "<path>" ["<content or target>"]`, `#` comments.
pub fn parse_tree_block(text: &str) -> Vec<Spec> {
    let mut specs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap();
        let (mode, rest) = rest.trim_start().split_once(char::is_whitespace).unwrap();
        let (path, rest) = unquote(rest.trim_start());
        let path = String::from_utf8(path).unwrap();
        let spec = match kind {
            "f" | "x" => {
                let (content, rest) = unquote(rest.trim_start());
                assert!(rest.trim().is_empty(), "trailing text in {line:?}");
                let mode = u32::from_str_radix(mode, 8).unwrap();
                assert_eq!(
                    kind == "x",
                    mode & 0o100 != 0,
                    "type and mode disagree: {line:?}"
                );
                Spec::File {
                    path,
                    mode,
                    content,
                }
            }
            "d" => {
                assert!(rest.trim().is_empty(), "trailing text in {line:?}");
                Spec::Dir {
                    path,
                    mode: u32::from_str_radix(mode, 8).unwrap(),
                }
            }
            "l" => {
                assert_eq!(mode, "-", "a link has no mode: {line:?}");
                let (target, rest) = unquote(rest.trim_start());
                assert!(rest.trim().is_empty(), "trailing text in {line:?}");
                Spec::Link {
                    path,
                    target: String::from_utf8(target).unwrap(),
                }
            }
            other => panic!("unknown type {other:?} in {line:?}"),
        };
        specs.push(spec);
    }
    specs
}

/// Reads a double-quoted string with the escapes `\n`, `\t`, `\\`, `\"` and `\xNN`; returns
/// its bytes and what follows it.
pub fn unquote(text: &str) -> (Vec<u8>, &str) {
    let body = text
        .strip_prefix('"')
        .unwrap_or_else(|| panic!("expected a quote: {text:?}"));
    let mut out = Vec::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &body[i + 1..]),
            '\\' => match chars.next().unwrap().1 {
                'n' => out.push(b'\n'),
                't' => out.push(b'\t'),
                '\\' => out.push(b'\\'),
                '"' => out.push(b'"'),
                'x' => {
                    let hi = chars.next().unwrap().1.to_digit(16).unwrap();
                    let lo = chars.next().unwrap().1.to_digit(16).unwrap();
                    out.push((hi * 16 + lo) as u8);
                }
                other => panic!("unknown escape \\{other} in {text:?}"),
            },
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    panic!("unterminated string: {text:?}")
}

/// SHA-256 of `bytes` as computed by coreutils' `sha256sum`, independently of this crate.
pub fn sha256sum(bytes: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) is needed: apt-get install coreutils");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let hex = text.split_whitespace().next().unwrap().to_owned();
    assert_eq!(hex.len(), 64);
    hex
}

/// A temporary directory that an unprivileged user can enter (tests may drop privileges).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}
