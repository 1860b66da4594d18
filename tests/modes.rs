//! Files and directories Hallmark creates have the same modes whatever the umask: keys 0600,
//! public files and state (bundles, key event logs, transcripts, pins, audit and registry
//! logs, lock files) 0644, directories 0755. Under umask 000 nothing is group- or
//! world-writable (nobody else can truncate an audit log); under umask 077 the public files
//! stay readable by everyone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hallmark_tests::{Run, Scratch};

const HALLMARK: &str = env!("CARGO_BIN_EXE_hallmark");

/// Runs `hallmark ARGS` under `umask`.
fn run(s: &Scratch, umask: &str, args: &[&str]) -> Run {
    let mut full = vec!["-c", "umask \"$0\"; exec \"$@\"", umask, HALLMARK];
    full.extend_from_slice(args);
    s.run_program("sh", &full, &[])
}

/// Every file and directory under `root` except the ones the test wrote itself, with its
/// permission bits.
fn modes(root: &Path, skip: &[&str]) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            }
            // Key event logs in a trust store are named by identity, which differs per run.
            let rel = match rel.strip_prefix("trust/kels/") {
                Some(_) => "trust/kels/IDENTITY.kel".to_owned(),
                None => rel,
            };
            found.insert(rel, meta.permissions().mode() & 0o7777);
        }
    }
    found
}

/// Creates keys, a bundle, an identity, a trust store, a registry and backup shares under
/// `umask`, and
/// returns the modes of everything created.
fn state_under(umask: &str) -> BTreeMap<String, u32> {
    let s = Scratch::new(HALLMARK);
    let ok = |args: &[&str]| {
        run(&s, umask, args).expect(0);
    };
    for key in ["k", "k-next", "reg", "reg-next"] {
        ok(&[
            "key",
            "generate",
            "--out",
            &format!("file:{key}.key"),
            "--passphrase-file",
            "pw",
            "--work-factor",
            hallmark_tests::TEST_WORK_FACTOR,
        ]);
    }
    s.write("tool.tar", b"release\n");
    let unlock = ["--passphrase-file", "pw"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(unlock.iter())
            .map(|a| (*a).to_owned())
            .collect()
    };
    let ok_owned = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&s, umask, &args).expect(0);
    };
    ok_owned(with(&[
        "sign",
        "--key",
        "file:k.key",
        "--name",
        "org.example.tool",
        "--version",
        "1.0.0",
        "tool.tar",
    ]));
    ok_owned(with(&[
        "ceremony",
        "init",
        "--key",
        "file:k.key",
        "--next-key",
        "file:k-next.key",
        "--namespace",
        "org.example",
        "--out",
        "id.kel",
    ]));
    s.write("rel.tar", b"release 2\n");
    ok_owned(with(&[
        "sign",
        "--key",
        "file:k.key",
        "--identity",
        "id.kel",
        "--name",
        "org.example.tool",
        "--version",
        "2.0.0",
        "rel.tar",
    ]));
    ok(&[
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "id.kel",
        "--keyring",
        "trust",
    ]);
    ok(&["verify", "--keyring", "trust", "rel.tar"]);
    ok_owned(with(&[
        "registry",
        "init",
        "--registry",
        "reg",
        "--key",
        "file:reg.key",
        "--next-key",
        "file:reg-next.key",
    ]));
    ok_owned(with(&[
        "registry",
        "accept",
        "--registry",
        "reg",
        "rel.tar",
    ]));
    // Custodian shares of the next key: secret.
    let recipients: Vec<String> = (0..3)
        .map(|_| age::x25519::Identity::generate().to_public().to_string())
        .collect();
    let mut backup = with(&[
        "ceremony",
        "backup",
        "--key",
        "file:k-next.key",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--identity",
        "id.kel",
        "--out",
        "shares",
    ]);
    for r in &recipients {
        backup.extend(["--recipient".to_owned(), r.clone()]);
    }
    ok_owned(backup);
    modes(s.path(), &["pw", "tool.tar", "rel.tar"])
}

#[test]
fn modes_do_not_depend_on_the_umask() {
    let open = state_under("000");
    let closed = state_under("077");
    assert_eq!(open, closed, "modes differ between umask 000 and umask 077");
    for (path, mode) in &open {
        let expected = if path.ends_with(".key") || path.ends_with(".age") {
            0o600
        } else if path == "shares" {
            0o700
        } else if [
            "trust",
            "trust/kels",
            "trust/releases",
            "reg",
            "reg/tile",
            "reg/tile/0",
            "reg/tile/0/000.p",
            "reg/tile/entries",
            "reg/tile/entries/000.p",
        ]
        .contains(&path.as_str())
        {
            0o755
        } else {
            0o644
        };
        assert_eq!(*mode, expected, "{path} has mode {mode:o}");
    }
    // What is checked: keys, bundles, logs, locks and directories.
    for path in [
        "k.key",
        "k.key.pub",
        "tool.tar.hallmark.json",
        "id.kel",
        "trust",
        "trust/kels",
        "trust/pins.json",
        "trust/kels/IDENTITY.kel",
        "trust/audit.log",
        "trust/.lock",
        "reg",
        "reg/registry.json",
        "reg/log.jsonl",
        "reg/.lock",
        "reg/state.db",
        "reg/checkpoint",
        "reg/tile/0/000.p/3",
        "reg/tile/entries/000.p/3",
        "shares",
        "shares/share-1-of-3.age",
    ] {
        assert!(open.contains_key(path), "{path} was not created: {open:?}");
    }
}
