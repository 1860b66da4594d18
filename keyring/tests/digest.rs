//! Content digests against real file systems: the worked examples of `docs/formats.md`, an
//! independent known answer, what must and must not change a digest, every error, and
//! streaming a file far larger than any buffer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod digest_support;

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use digest_support::*;
use hallmark_keyring::digest::{
    ContentDigest, DigestError, DigestOptions, Manifest, Progress, SpecialKind, digest_path,
};

// ---------------------------------------------------------------------------------------------
// The specification's worked examples
// ---------------------------------------------------------------------------------------------

#[test]
fn worked_examples_in_formats_md_hold_byte_for_byte() {
    let blocks = doc_blocks();
    let by_name = |kind: &str, name: &str| -> &str {
        let found: Vec<_> = blocks
            .iter()
            .filter(|b| b.kind == kind && b.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "docs/formats.md needs one `{kind} {name}` block"
        );
        &found[0].text
    };
    let trees: Vec<&Block> = blocks.iter().filter(|b| b.kind == "tree").collect();
    assert!(
        trees.len() >= 2,
        "docs/formats.md must keep at least two tree examples"
    );
    for tree in trees {
        let specs = parse_tree_block(&tree.text);
        let manifest = by_name("manifest", &tree.name);
        let expected: ContentDigest = by_name("digest", &tree.name).trim_end().parse().unwrap();
        // The digest of the manifest as printed is the digest as printed.
        assert_eq!(
            sha256sum(manifest.as_bytes()),
            hex(expected.sha256()),
            "example {}",
            tree.name
        );
        assert!(matches!(expected, ContentDigest::Tree(_)));
        // Built in the listed order and in reverse order, the tree gives exactly that.
        for order in [specs.clone(), reversed_with_parents_first(&specs)] {
            let tmp = tempdir();
            let root = tmp.path().join("root");
            build(&root, &order);
            assert_eq!(manifest_text(&root), manifest, "example {}", tree.name);
            assert_eq!(digest(&root), expected, "example {}", tree.name);
            assert_eq!(
                Manifest::parse(manifest.as_bytes()).unwrap().to_bytes(),
                manifest.as_bytes()
            );
        }
    }
    let files: Vec<&Block> = blocks.iter().filter(|b| b.kind == "file").collect();
    assert!(
        !files.is_empty(),
        "docs/formats.md must keep a file example"
    );
    for file in files {
        let (content, _) = unquote(file.text.trim());
        let expected: ContentDigest = by_name("digest", &file.name).trim_end().parse().unwrap();
        let tmp = tempdir();
        let path = tmp.path().join("artifact");
        fs::write(&path, &content).unwrap();
        assert_eq!(digest(&path), expected, "example {}", file.name);
        assert_eq!(
            expected.to_string(),
            format!("sha256:{}", sha256sum(&content))
        );
    }
}

/// The same entries, created in reverse order (each directory still before what it holds).
fn reversed_with_parents_first(specs: &[Spec]) -> Vec<Spec> {
    let mut out: Vec<Spec> = specs.iter().rev().cloned().collect();
    out.sort_by_key(|s| !matches!(s, Spec::Dir { .. }));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Known answer, computed independently
// ---------------------------------------------------------------------------------------------

#[test]
fn tree_digest_matches_a_manifest_written_by_hand_and_hashed_by_sha256sum() {
    let tmp = tempdir();
    let root = tmp.path().join("pkg");
    build(
        &root,
        &[
            file("src/main.rs", 0o644, b"fn main() {}\n"),
            file("run.sh", 0o755, b"#!/bin/sh\nexec ./main\n"),
            dir("empty"),
            link("src/entry", "main.rs"),
            file("Cargo.toml", 0o600, b"[package]\nname = \"x\"\n"),
            file("a-b", 0o644, b""),
        ],
    );
    let manifest = format!(
        "hallmark-tree-v1\n\
         f {} Cargo.toml\n\
         f {} a-b\n\
         d - empty\n\
         x {} run.sh\n\
         d - src\n\
         l {} src/entry\n\
         f {} src/main.rs\n",
        sha256sum(b"[package]\nname = \"x\"\n"),
        sha256sum(b""),
        sha256sum(b"#!/bin/sh\nexec ./main\n"),
        sha256sum(b"main.rs"),
        sha256sum(b"fn main() {}\n"),
    );
    assert_eq!(manifest_text(&root), manifest);
    let expected = format!("sha256-tree:{}", sha256sum(manifest.as_bytes()));
    assert_eq!(digest(&root).to_string(), expected);
    // A single file: plain SHA-256 of its bytes.
    assert_eq!(
        digest(&root.join("run.sh")).to_string(),
        format!("sha256:{}", sha256sum(b"#!/bin/sh\nexec ./main\n"))
    );
}

#[test]
fn an_empty_directory_is_the_header_alone() {
    let tmp = tempdir();
    assert_eq!(manifest_text(tmp.path()), "hallmark-tree-v1\n");
    assert_eq!(
        digest(tmp.path()).to_string(),
        format!("sha256-tree:{}", sha256sum(b"hallmark-tree-v1\n"))
    );
}

// ---------------------------------------------------------------------------------------------
// What must not change the digest
// ---------------------------------------------------------------------------------------------

fn sample() -> Vec<Spec> {
    vec![
        dir("bin"),
        file("bin/tool", 0o755, b"#!/bin/sh\necho tool\n"),
        file("README", 0o644, b"read me\n"),
        dir("share/doc"),
        file("share/doc/guide.txt", 0o644, b"guide\n"),
        file("share/doc/notes", 0o644, &[0u8; 70_000]),
        dir("share/empty"),
        link("share/tool", "../bin/tool"),
        file("z", 0o644, b""),
    ]
}

#[test]
fn creation_order_mtimes_owners_and_other_mode_bits_do_not_change_the_digest() {
    let tmp = tempdir();
    let first = tmp.path().join("first");
    build(&first, &sample());
    let reference = digest(&first);

    // Created in the opposite order, so directories list their entries differently.
    let second = tmp.path().join("second");
    build(&second, &reversed_with_parents_first(&sample()));
    assert_eq!(digest(&second), reference);

    // New modification and access times on every file and directory.
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
    for path in walk_all(&second) {
        if !path.is_symlink() {
            let file = File::open(&path).unwrap();
            file.set_times(FileTimes::new().set_modified(epoch).set_accessed(epoch))
                .unwrap();
        }
    }
    assert_eq!(digest(&second), reference);

    // Group and other permission bits, and the owner's read and write bits.
    fs::set_permissions(second.join("README"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::set_permissions(second.join("bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(second.join("share/doc"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(
        second.join("share/doc/guide.txt"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    assert_eq!(digest(&second), reference);

    // Owners and groups (only root may give files away).
    if rustix::process::geteuid().is_root() {
        for path in walk_all(&second) {
            std::os::unix::fs::lchown(&path, Some(4242), Some(4343)).unwrap();
        }
        assert_eq!(digest(&second), reference);
    }

    // The number of threads.
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| digest(&second)), reference);
    }
}

fn walk_all(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                pending.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What must change the digest
// ---------------------------------------------------------------------------------------------

#[test]
fn every_meaningful_change_gives_a_different_digest() {
    type Change = fn(&Path);
    let changes: &[(&str, Change)] = &[
        ("unchanged", |_| {}),
        ("first byte changed", |r| flip_byte(&r.join("README"), 0)),
        ("last byte changed", |r| {
            flip_byte(&r.join("share/doc/notes"), 69_999)
        }),
        ("byte appended", |r| append(&r.join("z"), b"\0")),
        ("file renamed", |r| rename(r, "README", "README.txt")),
        ("file moved to another directory", |r| {
            rename(r, "README", "share/README")
        }),
        ("directory renamed", |r| {
            rename(r, "share/empty", "share/void")
        }),
        ("file added", |r| fs::write(r.join("NEW"), b"").unwrap()),
        ("file removed", |r| fs::remove_file(r.join("z")).unwrap()),
        ("empty directory added", |r| {
            fs::create_dir(r.join("bin/empty")).unwrap()
        }),
        ("empty directory removed", |r| {
            fs::remove_dir(r.join("share/empty")).unwrap()
        }),
        ("executable bit set", |r| chmod(&r.join("README"), 0o744)),
        ("executable bit cleared", |r| {
            chmod(&r.join("bin/tool"), 0o644)
        }),
        ("link retargeted", |r| {
            fs::remove_file(r.join("share/tool")).unwrap();
            symlink("../README", r.join("share/tool")).unwrap();
        }),
        ("link replaced by the file it points to", |r| {
            fs::remove_file(r.join("share/tool")).unwrap();
            fs::copy(r.join("bin/tool"), r.join("share/tool")).unwrap();
        }),
        ("empty file replaced by an empty directory", |r| {
            fs::remove_file(r.join("z")).unwrap();
            fs::create_dir(r.join("z")).unwrap();
        }),
    ];
    let tmp = tempdir();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (i, (what, change)) in changes.iter().enumerate() {
        let root = tmp.path().join(i.to_string());
        build(&root, &sample());
        change(&root);
        let digest = digest(&root).to_string();
        if let Some(other) = seen.insert(digest.clone(), what) {
            panic!("\"{what}\" and \"{other}\" give the same digest {digest}");
        }
    }
    assert_eq!(seen.len(), changes.len());
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 1;
    fs::write(path, bytes).unwrap();
}

fn append(path: &Path, more: &[u8]) {
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_slice(more);
    fs::write(path, bytes).unwrap();
}

fn rename(root: &Path, from: &str, to: &str) {
    fs::rename(root.join(from), root.join(to)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Roots
// ---------------------------------------------------------------------------------------------

#[test]
fn a_root_given_as_a_symlink_is_followed() {
    let tmp = tempdir();
    let real = tmp.path().join("real");
    build(&real, &sample());
    symlink("real", tmp.path().join("via-link")).unwrap();
    assert_eq!(digest(&tmp.path().join("via-link")), digest(&real));
    symlink("real/README", tmp.path().join("file-link")).unwrap();
    assert_eq!(
        digest(&tmp.path().join("file-link")).to_string(),
        format!("sha256:{}", sha256sum(b"read me\n"))
    );
    // A root reached through `..` is the same tree.
    assert_eq!(digest(&real.join("bin/..")), digest(&real));
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let err = digest_path(&missing, &DigestOptions::new()).unwrap_err();
    let DigestError::Root { path, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &missing);
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open {}: {source}; check that the path exists and is readable",
            missing.display()
        )
    );
}

#[test]
fn a_manifest_needs_a_directory() {
    let tmp = tempdir();
    let path = tmp.path().join("file");
    fs::write(&path, b"x").unwrap();
    let err = Manifest::build(&path, &DigestOptions::new()).unwrap_err();
    assert!(
        matches!(&err, DigestError::NotADirectory { path: p } if p == &path),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors, each naming the path
// ---------------------------------------------------------------------------------------------

fn tree_error(root: &Path) -> DigestError {
    match digest_path(root, &DigestOptions::new()) {
        Ok(d) => panic!("expected an error for {}, got {d}", root.display()),
        Err(e) => {
            assert_eq!(
                Manifest::build(root, &DigestOptions::new())
                    .unwrap_err()
                    .to_string(),
                e.to_string()
            );
            e
        }
    }
}

#[test]
fn an_absolute_symlink_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    build(
        &root,
        &[
            file("etc/passwd", 0o644, b""),
            link("etc/link", "/etc/passwd"),
        ],
    );
    let err = tree_error(&root);
    let DigestError::SymlinkAbsolute { path, target } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("etc/link"));
    assert_eq!(target, Path::new("/etc/passwd"));
    assert_eq!(
        err.to_string(),
        format!(
            "symbolic link {} points to the absolute path /etc/passwd; a tree may only contain \
             relative links that stay inside it: make the link relative, or replace it with what \
             it points to",
            root.join("etc/link").display()
        )
    );
}

#[test]
fn a_symlink_leaving_the_tree_is_refused() {
    let tmp = tempdir();
    fs::write(tmp.path().join("outside"), b"secret").unwrap();
    let root = tmp.path().join("root");
    build(&root, &[dir("a/b"), link("a/b/up", "../../../outside")]);
    let err = tree_error(&root);
    let DigestError::SymlinkEscapes {
        path,
        target,
        resolved,
        root: canonical_root,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("a/b/up"));
    assert_eq!(target, Path::new("../../../outside"));
    let canonical_tmp = fs::canonicalize(tmp.path()).unwrap();
    assert_eq!(resolved, &canonical_tmp.join("outside"));
    assert_eq!(canonical_root, &canonical_tmp.join("root"));

    // A link to the root itself, or to a directory inside, stays in the tree.
    let ok = tmp.path().join("ok");
    build(
        &ok,
        &[dir("a/b"), link("a/b/top", "../.."), link("self", ".")],
    );
    digest(&ok);
}

#[test]
fn a_symlink_is_resolved_through_the_file_system_not_lexically() {
    // `sub -> .` makes `sub/..` the parent of the root, so `sub/../x` is outside, although
    // lexically it would be `x`, which exists inside the tree.
    let tmp = tempdir();
    fs::write(tmp.path().join("x"), b"outside").unwrap();
    let root = tmp.path().join("root");
    build(
        &root,
        &[
            file("x", 0o644, b"inside"),
            link("sub", "."),
            link("escape", "sub/../x"),
        ],
    );
    let err = tree_error(&root);
    let DigestError::SymlinkEscapes { path, resolved, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("escape"));
    assert_eq!(resolved, &fs::canonicalize(tmp.path()).unwrap().join("x"));
}

#[test]
fn the_check_uses_the_canonical_root() {
    // Hashing through a link to the tree: links inside still resolve inside the real tree.
    let tmp = tempdir();
    let root = tmp.path().join("real");
    build(&root, &[file("a", 0o644, b"a"), link("b", "a")]);
    symlink("real", tmp.path().join("alias")).unwrap();
    assert_eq!(digest(&tmp.path().join("alias")), digest(&root));
    // And a link inside that goes out and back in through the alias leaves the real tree.
    let root2 = tmp.path().join("real2");
    build(&root2, &[file("a", 0o644, b"a"), link("b", "../alias2/a")]);
    symlink("real2", tmp.path().join("alias2")).unwrap();
    // `../alias2/a` resolves to real2/a: inside.
    digest(&tmp.path().join("alias2"));
}

#[test]
fn a_dangling_or_looping_symlink_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("dangling");
    build(&root, &[link("nowhere", "missing")]);
    let err = tree_error(&root);
    let DigestError::SymlinkUnresolved {
        path,
        target,
        source,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("nowhere"));
    assert_eq!(target, Path::new("missing"));
    assert_eq!(source.kind(), io::ErrorKind::NotFound);

    let root = tmp.path().join("loop");
    build(&root, &[link("a", "b"), link("b", "a")]);
    let err = tree_error(&root);
    let DigestError::SymlinkUnresolved { path, source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("a"));
    assert_eq!(
        source.raw_os_error(),
        Some(rustix::io::Errno::LOOP.raw_os_error())
    );

    // Through a regular file, as if it were a directory.
    let root = tmp.path().join("through-file");
    build(&root, &[file("f", 0o644, b""), link("l", "f/x")]);
    let err = tree_error(&root);
    let DigestError::SymlinkUnresolved { path, source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("l"));
    assert_eq!(source.kind(), io::ErrorKind::NotADirectory);
}

#[test]
fn special_files_are_refused() {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    let tmp = tempdir();

    let root = tmp.path().join("fifo");
    build(&root, &[dir("d")]);
    mknodat(
        CWD,
        root.join("d/pipe"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let err = tree_error(&root);
    assert!(
        matches!(&err, DigestError::SpecialFile { path, kind: SpecialKind::Fifo } if path == &root.join("d/pipe")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a FIFO (named pipe); a tree may only contain regular files, directories and \
             symbolic links: remove it before hashing",
            root.join("d/pipe").display()
        )
    );
    // Given directly as the root, too.
    let err = digest_path(&root.join("d/pipe"), &DigestOptions::new()).unwrap_err();
    assert!(
        matches!(
            err,
            DigestError::SpecialFile {
                kind: SpecialKind::Fifo,
                ..
            }
        ),
        "{err:?}"
    );

    let root = tmp.path().join("socket");
    build(&root, &[]);
    let _listener = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let err = tree_error(&root);
    assert!(
        matches!(&err, DigestError::SpecialFile { path, kind: SpecialKind::Socket } if path == &root.join("sock")),
        "{err:?}"
    );

    // Device nodes can only be made by root; a link to one is refused as absolute.
    if rustix::process::geteuid().is_root() {
        let root = tmp.path().join("device");
        build(&root, &[]);
        let null = rustix::fs::makedev(1, 3);
        mknodat(
            CWD,
            root.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            null,
        )
        .unwrap();
        let err = tree_error(&root);
        assert!(
            matches!(&err, DigestError::SpecialFile { path, kind: SpecialKind::CharDevice } if path == &root.join("null")),
            "{err:?}"
        );
        let root = tmp.path().join("block");
        build(&root, &[]);
        mknodat(
            CWD,
            root.join("disk"),
            FileType::BlockDevice,
            Mode::from_raw_mode(0o600),
            rustix::fs::makedev(7, 0),
        )
        .unwrap();
        let err = tree_error(&root);
        assert!(
            matches!(&err, DigestError::SpecialFile { path, kind: SpecialKind::BlockDevice } if path == &root.join("disk")),
            "{err:?}"
        );
    }
}

#[test]
fn a_name_that_is_not_utf8_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    build(&root, &[dir("sub")]);
    let bad = root
        .join("sub")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    fs::write(&bad, b"").unwrap();
    let err = tree_error(&root);
    assert!(
        matches!(&err, DigestError::NonUtf8Name { path } if path == &bad),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the name of {}/sub/caf\u{fffd} is not valid UTF-8; manifests name entries by UTF-8 \
             paths: rename it",
            root.display()
        )
    );
    // A directory's name too.
    let root = tmp.path().join("root2");
    let bad = root.join(std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    fs::create_dir_all(&bad).unwrap();
    let err = tree_error(&root);
    assert!(
        matches!(&err, DigestError::NonUtf8Name { path } if path == &bad),
        "{err:?}"
    );
}

#[test]
fn a_name_with_a_control_character_is_refused() {
    for (name, code) in [
        ("line\nbreak", "U+000A"),
        ("tab\there", "U+0009"),
        ("cr\r", "U+000D"),
        ("esc\u{1b}[31m", "U+001B"),
        ("del\u{7f}", "U+007F"),
        ("\u{1}", "U+0001"),
    ] {
        let tmp = tempdir();
        let root = tmp.path().join("root");
        build(&root, &[file(&format!("d/{name}"), 0o644, b"")]);
        let err = tree_error(&root);
        let DigestError::NonCanonicalName { path, reason } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, &root.join("d").join(name));
        assert_eq!(reason, &format!("contains the control character {code}"));
        assert_eq!(
            err.to_string(),
            format!(
                "the name of {} contains the control character {code}; rename it",
                root.join("d").join(name).display()
            )
        );
    }
    // Spaces and other Unicode are fine.
    let tmp = tempdir();
    build(
        tmp.path(),
        &[
            file(" lead and trail ", 0o644, b""),
            file("ünï\u{a0}cødé", 0o644, b""),
        ],
    );
    assert_eq!(
        manifest_text(tmp.path()),
        format!(
            "hallmark-tree-v1\nf {e}  lead and trail \nf {e} ünï\u{a0}cødé\n",
            e = sha256sum(b"")
        )
    );
}

/// Runs `f` on threads that have given up root's privileges, if the tests run as root, so that
/// permission bits apply. Each thread of a dedicated pool sets its own credentials (Linux
/// credentials are per thread at the system-call level), so the rest of the process keeps them.
fn unprivileged<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    if !rustix::process::geteuid().is_root() {
        return f();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| {
            let nobody_gid = Gid::from_raw(65534);
            let nobody_uid = Uid::from_raw(65534);
            set_thread_groups(&[]).unwrap();
            set_thread_res_gid(nobody_gid, nobody_gid, nobody_gid).unwrap();
            set_thread_res_uid(nobody_uid, nobody_uid, nobody_uid).unwrap();
        })
        .build()
        .unwrap();
    pool.install(f)
}

#[test]
fn an_unreadable_file_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    build(
        &root,
        &[file("open", 0o644, b"ok"), file("sub/secret", 0o000, b"no")],
    );
    let err = unprivileged(|| digest_path(&root, &DigestOptions::new()).unwrap_err());
    let DigestError::UnreadableFile { path, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("sub/secret"));
    assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: {source}; check its permissions",
            root.join("sub/secret").display()
        )
    );
    // The file given on its own.
    let err =
        unprivileged(|| digest_path(&root.join("sub/secret"), &DigestOptions::new()).unwrap_err());
    assert!(
        matches!(&err, DigestError::UnreadableFile { path, .. } if path == &root.join("sub/secret")),
        "{err:?}"
    );
    // Readable again: fine.
    chmod(&root.join("sub/secret"), 0o644);
    unprivileged(|| digest(&root));
}

#[test]
fn an_unreadable_directory_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    build(&root, &[file("a/locked/inner", 0o644, b"x")]);
    chmod(&root.join("a/locked"), 0o000);
    let err = unprivileged(|| digest_path(&root, &DigestOptions::new()).unwrap_err());
    let DigestError::UnreadableDir { path, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &root.join("a/locked"));
    assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot list {}: {source}; check its permissions",
            root.join("a/locked").display()
        )
    );
    chmod(&root.join("a/locked"), 0o755);
}

// ---------------------------------------------------------------------------------------------
// Streaming and progress
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<(u64, u64)>>,
    files: AtomicU64,
    bytes: AtomicU64,
    calls: AtomicU64,
    largest_chunk: AtomicU64,
}

impl Progress for Recorder {
    fn start(&self, files: u64, bytes: u64) {
        self.started.lock().unwrap().push((files, bytes));
    }
    fn advance(&self, files: u64, bytes: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.largest_chunk.fetch_max(bytes, Ordering::Relaxed);
    }
}

#[test]
fn progress_reports_the_totals_then_every_file_and_byte() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    build(&root, &sample());
    let recorder = Recorder::default();
    let with_progress = digest_path(&root, &DigestOptions::new().with_progress(&recorder)).unwrap();
    assert_eq!(with_progress, digest(&root));
    let total = 20 + 8 + 6 + 70_000;
    assert_eq!(*recorder.started.lock().unwrap(), vec![(5, total)]);
    assert_eq!(recorder.files.load(Ordering::Relaxed), 5);
    assert_eq!(recorder.bytes.load(Ordering::Relaxed), total);
}

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_3_gib_sparse_file_streams_in_bounded_memory() {
    const SIZE: u64 = 3 << 30;
    const CHUNK: usize = 1 << 20;
    let tmp = tempdir();
    let path = tmp.path().join("sparse.img");
    let file = File::create(&path).unwrap();
    file.set_len(SIZE).unwrap();
    drop(file);

    // The expected value, from SHA-256 of zeros fed in memory.
    let expected = {
        use sha2::{Digest, Sha256};
        let zeros = vec![0u8; CHUNK];
        let mut hasher = Sha256::new();
        for _ in 0..SIZE / CHUNK as u64 {
            hasher.update(&zeros);
        }
        ContentDigest::File(hasher.finalize().into())
    };

    let before = peak_rss();
    let recorder = Recorder::default();
    let got = digest_path(&path, &DigestOptions::new().with_progress(&recorder)).unwrap();
    let growth = peak_rss().saturating_sub(before);
    assert_eq!(got, expected);
    // Read through a fixed buffer: many bounded chunks, and the peak memory of the process
    // grew by far less than the file (a whole-file read would add 3 GiB).
    assert_eq!(*recorder.started.lock().unwrap(), vec![(1, SIZE)]);
    assert_eq!(recorder.bytes.load(Ordering::Relaxed), SIZE);
    assert_eq!(recorder.files.load(Ordering::Relaxed), 1);
    assert!(recorder.largest_chunk.load(Ordering::Relaxed) <= 16 << 20);
    assert!(recorder.calls.load(Ordering::Relaxed) >= SIZE / (16 << 20));
    assert!(growth < 64 << 20, "peak memory grew by {growth} bytes");

    // The same file inside a tree.
    let recorder = Recorder::default();
    let manifest =
        Manifest::build(tmp.path(), &DigestOptions::new().with_progress(&recorder)).unwrap();
    assert_eq!(manifest.entries()[0].sha256(), Some(expected.sha256()));
    assert!(peak_rss().saturating_sub(before) < 64 << 20);
}

/// Changes the tree once the walk is done, before any file is hashed.
struct ChangeAfterWalk<F: Fn() + Sync>(F);

impl<F: Fn() + Sync> Progress for ChangeAfterWalk<F> {
    fn start(&self, _files: u64, _bytes: u64) {
        (self.0)()
    }
}

#[test]
fn an_entry_changed_between_walk_and_hashing_is_refused() {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    type Change = fn(&Path);
    let cases: &[(&str, Change, &str)] = &[
        (
            "d/file",
            |p| {
                fs::remove_file(p).unwrap();
                symlink("other", p).unwrap();
            },
            "it became a symbolic link",
        ),
        (
            "d/file",
            |p| {
                fs::remove_file(p).unwrap();
                mknodat(CWD, p, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
            },
            "it is no longer a regular file",
        ),
        ("d/file", |p| chmod(p, 0o755), "its executable bit flipped"),
        (
            "d",
            |p| {
                fs::rename(p, p.with_file_name("moved")).unwrap();
                symlink("moved", p).unwrap();
            },
            "it is no longer a directory",
        ),
    ];
    for (target, change, what) in cases {
        let tmp = tempdir();
        let root = tmp.path().join("root");
        build(
            &root,
            &[
                file("d/file", 0o644, b"content"),
                file("d/other", 0o644, b""),
            ],
        );
        let at = root.join(target);
        let hook = ChangeAfterWalk(|| change(&at));
        let err = digest_path(&root, &DigestOptions::new().with_progress(&hook)).unwrap_err();
        let DigestError::Changed { path, what: said } = &err else {
            panic!("{target}, {what}: {err:?}")
        };
        assert_eq!((path, said), (&at, what));
        assert_eq!(
            err.to_string(),
            format!(
                "{} changed while the tree was being hashed ({what}); hash again once nothing \
                 writes to the tree",
                at.display()
            )
        );
    }
}
