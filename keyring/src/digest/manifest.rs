//! The canonical manifest of a directory tree, whose SHA-256 is the tree digest.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::error::{DigestError, ManifestError, ManifestErrorReason};
use super::{ContentDigest, DigestOptions, hash, parse_hex32, walk};

/// The first line of every manifest, newline included.
pub const MANIFEST_HEADER: &str = "hallmark-tree-v1\n";

/// The type of a manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// `f`: a regular file whose owner-execute bit is clear.
    File,
    /// `x`: a regular file whose owner-execute bit is set.
    Executable,
    /// `l`: a symbolic link; its digest is that of the target string.
    Symlink,
    /// `d`: a directory (every one is listed, empty ones included); it has no digest.
    Directory,
}

impl EntryKind {
    /// The one-letter code used in manifest lines: `f`, `x`, `l` or `d`.
    pub fn code(self) -> char {
        match self {
            Self::File => 'f',
            Self::Executable => 'x',
            Self::Symlink => 'l',
            Self::Directory => 'd',
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            b'f' => Some(Self::File),
            b'x' => Some(Self::Executable),
            b'l' => Some(Self::Symlink),
            b'd' => Some(Self::Directory),
            _ => None,
        }
    }
}

/// One line of a manifest: an entry of the tree, below its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: EntryKind,
    /// `None` exactly for directories.
    sha256: Option<[u8; 32]>,
    path: String,
}

impl Entry {
    pub(crate) fn directory(path: String) -> Self {
        Self {
            kind: EntryKind::Directory,
            sha256: None,
            path,
        }
    }

    pub(crate) fn hashed(kind: EntryKind, sha256: [u8; 32], path: String) -> Self {
        debug_assert!(kind != EntryKind::Directory);
        Self {
            kind,
            sha256: Some(sha256),
            path,
        }
    }

    /// Completes a regular file's entry once it is hashed.
    pub(crate) fn set_file(&mut self, executable: bool, sha256: [u8; 32]) {
        self.kind = if executable {
            EntryKind::Executable
        } else {
            EntryKind::File
        };
        self.sha256 = Some(sha256);
    }

    /// The entry's type.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// The path relative to the tree's root, `/`-separated.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// SHA-256 of the file's content (`f`, `x`) or of the link's target (`l`); `None` for a
    /// directory.
    pub fn sha256(&self) -> Option<&[u8; 32]> {
        self.sha256.as_ref()
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.kind.code() as u8);
        out.push(b' ');
        match &self.sha256 {
            Some(sha256) => push_hex(out, sha256),
            None => out.push(b'-'),
        }
        out.push(b' ');
        out.extend_from_slice(self.path.as_bytes());
        out.push(b'\n');
    }
}

/// Appends the lowercase hex of `bytes` without an intermediate string (a manifest of a large
/// tree has tens of thousands of digests).
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    // Cannot fail: the destination is exactly twice the length of the source.
    let _ = base16ct::lower::encode(bytes, &mut out[start..]);
}

/// The canonical manifest of a directory tree: every entry below the root, sorted by the bytes
/// of its path. Its SHA-256 is the tree digest.
///
/// A `Manifest` is only ever canonical: [`Manifest::build`] makes one from the file system and
/// [`Manifest::parse`] accepts exactly the bytes that [`Manifest::to_bytes`] produces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    entries: Vec<Entry>,
}

impl Manifest {
    /// Walks the directory `root` and hashes its files in parallel on the current rayon pool.
    ///
    /// `root` may be a symbolic link to a directory; it is followed.
    pub fn build(root: &Path, options: &DigestOptions<'_>) -> Result<Self, DigestError> {
        match walk::open_root(root)? {
            walk::Root::Dir { canonical } => Self::build_from_canonical(root, &canonical, options),
            walk::Root::File { .. } => Err(DigestError::NotADirectory {
                path: root.to_path_buf(),
            }),
        }
    }

    pub(crate) fn build_from_canonical(
        root: &Path,
        canonical: &Path,
        options: &DigestOptions<'_>,
    ) -> Result<Self, DigestError> {
        let walk::Walked {
            mut entries,
            mut dirs,
        } = walk::walk(root, canonical, options.wants_totals())?;
        let progress = options.progress();
        let files = dirs.iter().map(|dir| dir.files.len() as u64).sum();
        let bytes = dirs.iter().map(|dir| dir.bytes).sum();
        progress.start(files, bytes);

        // Largest first (by size when the walk read sizes, else by number of files), so that
        // the last work to finish is small and the cores end together.
        dirs.sort_unstable_by_key(|dir| std::cmp::Reverse((dir.bytes, dir.files.len())));
        for dir in &mut dirs {
            dir.files
                .sort_unstable_by_key(|file| std::cmp::Reverse(file.size));
        }
        let entries_ref = &entries;
        let digests = dirs
            .par_iter()
            .map(|dir| {
                let fd = hash::open_dir(&dir.open, &dir.display)?;
                dir.files
                    .par_iter()
                    .map(|file| {
                        let name = Path::new(&entries_ref[file.entry].path()[dir.prefix..]);
                        let display = || dir.display.join(name);
                        hash::hash_file(fd.as_fd(), name, &display, file.executable, progress)
                            .map(|(executable, sha256)| (file.entry, executable, sha256))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (index, executable, sha256) in digests.into_iter().flatten() {
            entries[index].set_file(executable, sha256);
        }
        entries.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { entries })
    }

    /// The entries, sorted by path bytes.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The manifest's exact bytes: the header line, then one line per entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            MANIFEST_HEADER.len()
                + self
                    .entries
                    .iter()
                    .map(|e| e.path.len() + 69)
                    .sum::<usize>(),
        );
        out.extend_from_slice(MANIFEST_HEADER.as_bytes());
        for entry in &self.entries {
            entry.write_to(&mut out);
        }
        out
    }

    /// The tree digest: SHA-256 of [`Manifest::to_bytes`].
    ///
    /// The bytes are hashed as they are written, through a small buffer, rather than built
    /// whole first (a manifest of 20,000 files is over a megabyte).
    pub fn digest(&self) -> ContentDigest {
        const CHUNK: usize = 64 * 1024;
        let mut hasher = Sha256::new();
        let mut chunk = Vec::with_capacity(CHUNK + 4096);
        chunk.extend_from_slice(MANIFEST_HEADER.as_bytes());
        for entry in &self.entries {
            entry.write_to(&mut chunk);
            if chunk.len() >= CHUNK {
                hasher.update(&chunk);
                chunk.clear();
            }
        }
        hasher.update(&chunk);
        ContentDigest::Tree(hasher.finalize().into())
    }

    /// Parses a manifest, accepting only the canonical form: the header, then lines
    /// `<type> <digest> <path>\n` with single spaces, a known type, lowercase hex (or `-` for a
    /// directory), canonical paths whose parent directories are listed, sorted strictly by path
    /// bytes, and nothing after the last newline. `parse(m.to_bytes()) == m` and, whenever
    /// `parse(b)` succeeds, `parse(b)?.to_bytes() == b`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut rest = bytes
            .strip_prefix(MANIFEST_HEADER.as_bytes())
            .ok_or(ManifestError::new(1, ManifestErrorReason::MissingHeader))?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut directories: HashSet<&str> = HashSet::new();
        let mut line_number = 1;
        while !rest.is_empty() {
            line_number += 1;
            let fail = |reason| ManifestError::new(line_number, reason);
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| fail(ManifestErrorReason::MissingNewline))?;
            let line = &rest[..end];
            rest = &rest[end + 1..];

            let (kind, line) = match line {
                [code, b' ', tail @ ..] => match EntryKind::from_code(*code) {
                    Some(kind) => (kind, tail),
                    None => {
                        return Err(fail(ManifestErrorReason::BadType(
                            String::from_utf8_lossy(&[*code]).into_owned(),
                        )));
                    }
                },
                _ => {
                    let code = line.split(|&b| b == b' ').next().unwrap_or_default();
                    return Err(fail(if code.len() == 1 || code.is_empty() {
                        ManifestErrorReason::Malformed
                    } else {
                        ManifestErrorReason::BadType(
                            String::from_utf8_lossy(code).chars().take(16).collect(),
                        )
                    }));
                }
            };
            let (sha256, path) = if kind == EntryKind::Directory {
                match line {
                    [b'-', b' ', path @ ..] => (None, path),
                    _ => return Err(fail(ManifestErrorReason::BadDigest)),
                }
            } else {
                if line.len() < 65 || line[64] != b' ' {
                    return Err(fail(ManifestErrorReason::BadDigest));
                }
                let sha256 =
                    parse_hex32(&line[..64]).map_err(|_| fail(ManifestErrorReason::BadDigest))?;
                (Some(sha256), &line[65..])
            };
            let path = std::str::from_utf8(path).map_err(|_| {
                fail(ManifestErrorReason::BadPath {
                    path: String::from_utf8_lossy(path).into_owned(),
                    why: "not valid UTF-8".into(),
                })
            })?;
            if let Some(why) = path_problem(path) {
                return Err(fail(ManifestErrorReason::BadPath {
                    path: path.into(),
                    why,
                }));
            }
            if let Some(previous) = entries.last() {
                match previous.path.as_str().cmp(path) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err(fail(ManifestErrorReason::Duplicate(path.into())));
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(fail(ManifestErrorReason::Unsorted {
                            path: path.into(),
                            previous: previous.path.clone(),
                        }));
                    }
                }
            }
            if let Some((parent, _)) = path.rsplit_once('/')
                && !directories.contains(parent)
            {
                return Err(fail(ManifestErrorReason::MissingParent {
                    path: path.into(),
                    parent: parent.into(),
                }));
            }
            if kind == EntryKind::Directory {
                directories.insert(path);
            }
            entries.push(Entry {
                kind,
                sha256,
                path: path.into(),
            });
        }
        Ok(Self { entries })
    }
}

/// What makes `name` unfit as one path component, if anything.
pub(crate) fn component_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("has an empty component".into());
    }
    if name == "." || name == ".." {
        return Some(format!("has a {name:?} component"));
    }
    if name.contains('/') {
        return Some("contains '/'".into());
    }
    name.chars()
        .find(|&c| c < ' ' || c == '\u{7f}')
        .map(|c| format!("contains the control character U+{:04X}", u32::from(c)))
}

/// What makes `path` unfit as a manifest path, if anything.
fn path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("is empty".into());
    }
    if path.starts_with('/') {
        return Some("is absolute".into());
    }
    path.split('/').find_map(component_problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn err(text: &str) -> (usize, ManifestErrorReason) {
        let e = Manifest::parse(text.as_bytes()).unwrap_err();
        (e.line(), e.reason().clone())
    }

    fn bad_path(path: &str, why: &str) -> ManifestErrorReason {
        ManifestErrorReason::BadPath {
            path: path.into(),
            why: why.into(),
        }
    }

    #[test]
    fn parses_and_round_trips_a_canonical_manifest() {
        let text = format!(
            "hallmark-tree-v1\nf {A} README\nd - bin\nx {B} bin/run\nl {A} bin/sh\nd - empty\nf {B} with space and ünïcode\n"
        );
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.to_bytes(), text.as_bytes());
        let kinds: Vec<char> = manifest.entries().iter().map(|e| e.kind().code()).collect();
        assert_eq!(kinds, ['f', 'd', 'x', 'l', 'd', 'f']);
        assert_eq!(manifest.entries()[2].path(), "bin/run");
        assert_eq!(manifest.entries()[1].sha256(), None);
        assert_eq!(
            manifest.digest(),
            ContentDigest::Tree(hash::sha256(text.as_bytes()))
        );
        // The empty tree.
        let empty = Manifest::parse(b"hallmark-tree-v1\n").unwrap();
        assert_eq!(empty.entries(), &[]);
        assert_eq!(empty.to_bytes(), b"hallmark-tree-v1\n");
    }

    #[test]
    fn digest_of_a_large_manifest_is_the_hash_of_its_bytes() {
        // Over 300 KiB of lines: the digest is hashed chunk by chunk, and chunk borders must
        // neither drop nor repeat a byte.
        let mut text = String::from("hallmark-tree-v1\n");
        for i in 0..4000 {
            let digest = if i % 2 == 0 { A } else { B };
            text.push_str(&format!("f {digest} file-{i:05}-{}\n", "x".repeat(i % 23)));
        }
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert!(text.len() > 300 * 1024);
        assert_eq!(manifest.to_bytes(), text.as_bytes());
        assert_eq!(
            manifest.digest(),
            ContentDigest::Tree(hash::sha256(text.as_bytes()))
        );
    }

    #[test]
    fn refuses_a_missing_or_wrong_header() {
        use ManifestErrorReason::MissingHeader;
        assert_eq!(err(""), (1, MissingHeader));
        assert_eq!(err("hallmark-tree-v1"), (1, MissingHeader));
        assert_eq!(err("hallmark-tree-v2\n"), (1, MissingHeader));
        assert_eq!(err("Hallmark-tree-v1\n"), (1, MissingHeader));
        assert_eq!(err(&format!("f {A} a\n")), (1, MissingHeader));
        assert_eq!(err("\u{feff}hallmark-tree-v1\n"), (1, MissingHeader));
    }

    #[test]
    fn refuses_trailing_data_and_bad_line_structure() {
        use ManifestErrorReason::*;
        let h = "hallmark-tree-v1\n";
        assert_eq!(err(&format!("{h}f {A} a")), (2, MissingNewline));
        assert_eq!(err(&format!("{h}f {A} a\n\n")), (3, Malformed));
        assert_eq!(err(&format!("{h}f {A} a\nx")), (3, MissingNewline));
        assert_eq!(
            err(&format!("{h}f {A} a\r\n")),
            (2, bad_path("a\r", "contains the control character U+000D"))
        );
        assert_eq!(err(&format!("{h}f  {A} a\n")), (2, BadDigest));
        // Names may start with a space: a file called " a" is listed with two spaces.
        let spaced = Manifest::parse(format!("{h}f {A}  a\n").as_bytes()).unwrap();
        assert_eq!(spaced.entries()[0].path(), " a");
        assert_eq!(
            err(&format!("{h}f\t{A} a\n")),
            (2, BadType(format!("f\t{}", &A[..14])))
        );
        assert_eq!(err(&format!("{h}F {A} a\n")), (2, BadType("F".into())));
        assert_eq!(err(&format!("{h}s {A} a\n")), (2, BadType("s".into())));
        assert_eq!(
            err(&format!("{h}file {A} a\n")),
            (2, BadType("file".into()))
        );
        assert_eq!(err(&format!("{h}f\n")), (2, Malformed));
        assert_eq!(err(&format!("{h} \n")), (2, Malformed));
    }

    #[test]
    fn refuses_bad_digests() {
        use ManifestErrorReason::BadDigest;
        let h = "hallmark-tree-v1\n";
        let upper = A.to_uppercase();
        assert_eq!(err(&format!("{h}f {upper} a\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}f {} a\n", &A[1..])), (2, BadDigest));
        assert_eq!(err(&format!("{h}f {A}0 a\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}f - a\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}d {A} a\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}d -- a\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}f {A}\n")), (2, BadDigest));
        assert_eq!(err(&format!("{h}x sha256:{} a\n", &A[7..])), (2, BadDigest));
    }

    #[test]
    fn refuses_non_canonical_paths() {
        let h = "hallmark-tree-v1\n";
        let cases: &[(&str, &str)] = &[
            ("", "is empty"),
            ("/a", "is absolute"),
            ("./a", "has a \".\" component"),
            ("a/../b", "has a \"..\" component"),
            ("..", "has a \"..\" component"),
            ("a/", "has an empty component"),
            ("a//b", "has an empty component"),
            ("a\tb", "contains the control character U+0009"),
            ("a\u{7f}", "contains the control character U+007F"),
            ("a\u{0}", "contains the control character U+0000"),
        ];
        for (path, why) in cases {
            assert_eq!(
                err(&format!("{h}f {A} {path}\n")),
                (2, bad_path(path, why)),
                "{path:?}"
            );
        }
        let mut bytes = format!("{h}f {A} ").into_bytes();
        bytes.extend_from_slice(b"a\xff\n");
        let e = Manifest::parse(&bytes).unwrap_err();
        assert_eq!(
            (e.line(), e.reason().clone()),
            (2, bad_path("a\u{fffd}", "not valid UTF-8"))
        );
    }

    #[test]
    fn refuses_unsorted_duplicate_and_orphan_entries() {
        use ManifestErrorReason::*;
        let h = "hallmark-tree-v1\n";
        assert_eq!(
            err(&format!("{h}f {A} b\nf {A} a\n")),
            (
                3,
                Unsorted {
                    path: "a".into(),
                    previous: "b".into()
                }
            )
        );
        // Bytewise order: '-' (0x2d) < '/' (0x2f), so "a-b" sorts before "a/b".
        assert_eq!(
            err(&format!("{h}d - a\nf {A} a/b\nf {A} a-b\n")),
            (
                4,
                Unsorted {
                    path: "a-b".into(),
                    previous: "a/b".into()
                }
            )
        );
        assert!(Manifest::parse(format!("{h}d - a\nf {A} a-b\nf {A} a/b\n").as_bytes()).is_ok());
        assert_eq!(
            err(&format!("{h}f {A} a\nf {B} a\n")),
            (3, Duplicate("a".into()))
        );
        assert_eq!(
            err(&format!("{h}d - a\nd - a\n")),
            (3, Duplicate("a".into()))
        );
        assert_eq!(
            err(&format!("{h}f {A} a/b\n")),
            (
                2,
                MissingParent {
                    path: "a/b".into(),
                    parent: "a".into()
                }
            )
        );
        assert_eq!(
            err(&format!("{h}f {A} a\nf {A} a/b\n")),
            (
                3,
                MissingParent {
                    path: "a/b".into(),
                    parent: "a".into()
                }
            )
        );
        assert_eq!(
            err(&format!("{h}l {A} a\nf {A} a/b\n")),
            (
                3,
                MissingParent {
                    path: "a/b".into(),
                    parent: "a".into()
                }
            )
        );
        assert_eq!(
            err(&format!("{h}d - a\nf {A} a/b/c\n")),
            (
                3,
                MissingParent {
                    path: "a/b/c".into(),
                    parent: "a/b".into()
                }
            )
        );
    }
}
