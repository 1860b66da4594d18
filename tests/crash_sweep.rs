//! Crash-point sweep: every command that writes state is killed (SIGKILL, injected by `strace`)
//! before each `write`, `fsync`/`fdatasync`/`syncfs`, `rename`, `link`, `unlink` and
//! `ftruncate` it makes in turn, and after each kill the invariants hold: the state opens (or
//! the command can run again), a committed key event has its transcript, the trust store's
//! audit log agrees with its stored key event logs, the registry log verifies and holds every
//! acknowledged entry once, and no temporary file is left once the command has run again.
//!
//! The clean run of each command is traced first to count its calls; the crash points are
//! every (call, N) pair up to [`MAX_POINTS`] per command, sampled evenly beyond that. The
//! test prints, per command, how many crash points there are, how many were tried and how
//! many of those were reached (the process killed there), and fails if kills do not happen.
//! (`strace --seccomp-bpf` would be faster, but with it the injected kill never happens.)
//! `strace` is required (scripts/test.sh installs it); without it the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use hallmark_keyring::encoding::base64_encode;
use hallmark_keyring::hashlog::{self, LogEntry, LogLine};
use hallmark_keyring::kel::Reason;
use hallmark_keyring::kel::file::KelFile;
use hallmark_keyring::registry::RegistryRecord;
use hallmark_keyring::trust::AuditRecord;
use hallmark_keyring::trust::registries::KnownCheckpoint;
use hallmark_keyring::{Sha256Digest, Timestamp};
use hallmark_tests::{Run, Scratch, TEST_WORK_FACTOR};

/// Crash points tried per command at most (sampled evenly across all of them beyond that).
const MAX_POINTS: usize = 12;

/// The calls killed before, in turn.
const CALLS: &[&str] = &[
    "write",
    "pwrite64",
    "fsync",
    "fdatasync",
    "syncfs",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "ftruncate",
];

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_hallmark")
}

fn scratch() -> Scratch {
    Scratch::new(exe())
}

fn past(secs: u64) -> Timestamp {
    Timestamp::from_unix(Timestamp::now().unix() - 100_000 + secs).unwrap()
}

/// Runs `hallmark ARGS` in `dir` (the way [`Scratch::run`] does).
fn run_in(dir: &Path, args: &[String]) -> Run {
    let out = Command::new(exe())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn strace(dir: &Path, extra: &[String], args: &[String]) -> std::process::Output {
    Command::new("strace")
        .args(["-f", "-qq"])
        .args(extra)
        .arg(exe())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .expect("strace is needed for the crash-point sweep (scripts/test.sh installs it)")
}

/// How often each call is made by the busiest thread of a clean run (strace counts injection
/// points per thread).
fn count_calls(dir: &Path, args: &[String]) -> BTreeMap<String, usize> {
    let trace = dir.join("..").join(format!(
        "trace-{}.txt",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let out = strace(
        dir,
        &[
            "-o".to_owned(),
            trace.display().to_string(),
            format!("-e trace={}", CALLS.join(",")).replace("-e ", "-e"),
        ],
        args,
    );
    assert!(
        out.status.success(),
        "the clean run of {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut per_thread: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("0", line));
        let Some((call, _)) = rest.trim_start().split_once('(') else {
            continue;
        };
        if CALLS.contains(&call) {
            *per_thread
                .entry((pid.to_owned(), call.to_owned()))
                .or_default() += 1;
        }
    }
    std::fs::remove_file(&trace).ok();
    let mut counts = BTreeMap::new();
    for ((_, call), n) in per_thread {
        let max: &mut usize = counts.entry(call).or_default();
        *max = (*max).max(n);
    }
    counts
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every named temporary file under `dir`.
fn litter(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if entry
                .file_name()
                .to_string_lossy()
                .starts_with(hallmark_keyring::fsutil::TEMP_PREFIX)
            {
                found.push(path);
            }
        }
    }
    found
}

/// The check after a kill, given the directory the command ran in.
type Check = Box<dyn Fn(&Path) -> Result<(), String>>;

/// A command to sweep: its arguments, run in a copy of `template`, and the check after a
/// kill (given the copy's directory; it may run commands there).
struct Case {
    name: &'static str,
    template: PathBuf,
    args: Vec<String>,
    check: Check,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Sweeps one command; returns (crash points, tried, killed).
fn sweep(case: &Case, work: &Path) -> (usize, usize, usize) {
    let clean = work.join(format!("{}-clean", case.name.replace(' ', "-")));
    copy_dir(&case.template, &clean);
    let counts = count_calls(&clean, &case.args);
    let points: Vec<(String, usize)> = counts
        .iter()
        .flat_map(|(call, &n)| (1..=n).map(move |i| (call.clone(), i)))
        .collect();
    let chosen: Vec<&(String, usize)> = if points.len() <= MAX_POINTS {
        points.iter().collect()
    } else {
        (0..MAX_POINTS)
            .map(|k| &points[k * points.len() / MAX_POINTS])
            .collect()
    };
    let mut killed = 0;
    for (k, (call, n)) in chosen.iter().enumerate() {
        let dir = work.join(format!("{}-{k}", case.name.replace(' ', "-")));
        copy_dir(&case.template, &dir);
        let out = strace(
            &dir,
            &[
                "-o".to_owned(),
                "/dev/null".to_owned(),
                format!("-etrace={call}"),
                format!("-einject={call}:signal=KILL:when={n}"),
            ],
            &case.args,
        );
        // strace kills itself with the tracee's signal; a point not reached (a thread
        // that made fewer calls this time) ran to the end instead.
        if out.status.signal() == Some(9) || out.status.code() == Some(137) {
            killed += 1;
        }
        if let Err(e) = (case.check)(&dir) {
            panic!(
                "{}: killed before {call} #{n} (exit {:?}): {e}\n--- stderr\n{}",
                case.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let left = litter(&dir);
        if !left.is_empty() {
            panic!(
                "{}: killed before {call} #{n}: temporary files left after the next run: {left:?}",
                case.name
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::remove_dir_all(&clean).ok();
    (points.len(), chosen.len(), killed)
}

fn expect(run: Run, code: i32, what: &str) -> Result<Run, String> {
    if run.code == code {
        Ok(run)
    } else {
        Err(format!(
            "{what}: exit {} (expected {code})\n{}{}",
            run.code, run.stdout, run.stderr
        ))
    }
}

fn kel_len(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    Some(KelFile::from_json(&bytes).ok()?.events.len())
}

// --- checks ----------------------------------------------------------------------------------

/// A file key: absent (and then `key generate` runs again) or complete; a key whose `.pub` was
/// not written yet has its public key derived again by `key show` with the passphrase.
fn check_key(dir: &Path, key: &str, rerun: &[String]) -> Result<(), String> {
    if !dir.join(key).exists() {
        expect(run_in(dir, rerun), 0, "re-running key generate")?;
    }
    expect(
        run_in(
            dir,
            &args(&[
                "key",
                "show",
                &format!("file:{key}"),
                "--passphrase-file",
                "pw",
            ]),
        ),
        0,
        "key show",
    )?;
    Ok(())
}

/// A ceremony that appends an event to `kel`: if the log grew, the transcript of the new event
/// exists; if not, the ceremony runs again and then it does.
fn check_event(
    dir: &Path,
    kel: &str,
    before: usize,
    action: &str,
    rerun: &[String],
) -> Result<(), String> {
    let transcript = |len: usize| dir.join(format!("{kel}.{}-{action}.transcript.json", len - 1));
    match kel_len(&dir.join(kel)) {
        Some(len) if len == before + 1 => {
            if !transcript(len).exists() {
                return Err(format!(
                    "event #{} is committed but its transcript {} is missing",
                    len - 1,
                    transcript(len).display()
                ));
            }
        }
        Some(len) if len == before => {
            expect(run_in(dir, rerun), 0, "re-running the ceremony")?;
            let len = kel_len(&dir.join(kel)).unwrap_or(0);
            if len != before + 1 || !transcript(len).exists() {
                return Err("the re-run did not commit the event with its transcript".into());
            }
        }
        other => return Err(format!("the log has {other:?} events, before {before}")),
    }
    expect(
        run_in(
            dir,
            &args(&[
                "ceremony",
                "verify-transcript",
                &transcript(before + 1).display().to_string(),
                "--identity",
                kel,
            ]),
        ),
        0,
        "verify-transcript",
    )?;
    Ok(())
}

/// The trust store opens; after a locked open the audit log verifies, agrees with every stored
/// key event log, and no journal is left.
fn check_store(dir: &Path, locked_open: &[String]) -> Result<(), String> {
    expect(
        run_in(dir, &args(&["keyring", "show", "--keyring", "trust"])),
        0,
        "keyring show",
    )?;
    let again = run_in(dir, locked_open);
    if again.code != 0 {
        return Err(format!(
            "the next command failed: {}{}",
            again.stdout, again.stderr
        ));
    }
    expect(
        run_in(
            dir,
            &args(&["keyring", "log", "--verify", "--keyring", "trust"]),
        ),
        0,
        "keyring log --verify",
    )?;
    let store = dir.join("trust");
    if store.join("audit.pending").exists() {
        return Err("the journal is left after a locked open".into());
    }
    let raw = hashlog::read(&store.join("audit.log")).unwrap();
    let mut recorded: BTreeMap<String, u64> = BTreeMap::new();
    for line in &raw.lines {
        let line = LogLine::from_json(line).unwrap();
        let entry: LogEntry<AuditRecord> = LogEntry::from_envelope(&line.entry).unwrap();
        if let AuditRecord::KelExtended { identity, to, .. } = entry.record {
            recorded.insert(identity.to_string(), to);
        }
    }
    for entry in std::fs::read_dir(store.join("kels")).unwrap() {
        let path = entry.unwrap().path();
        let Some(len) = kel_len(&path) else {
            return Err(format!("{} does not parse", path.display()));
        };
        let hex = path.file_stem().unwrap().to_string_lossy().into_owned();
        let audit = recorded.get(&format!("hid:{hex}")).copied();
        if audit != Some(len as u64) {
            return Err(format!(
                "{} holds {len} events, the audit log says {audit:?}",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The checkpoint the store holds for registry `main` has exactly one `checkpoint` audit
/// record, the last one.
fn check_checkpoint(dir: &Path) -> Result<(), String> {
    let store = dir.join("trust");
    let known: KnownCheckpoint =
        serde_json::from_slice(&std::fs::read(store.join("registries/main.json")).unwrap())
            .map_err(|e| format!("registries/main.json does not parse: {e}"))?;
    let (_, tree) = known.tree().unwrap();
    let raw = hashlog::read(&store.join("audit.log")).unwrap();
    let mut moves = Vec::new();
    for line in &raw.lines {
        let line = LogLine::from_json(line).unwrap();
        let entry: LogEntry<AuditRecord> = LogEntry::from_envelope(&line.entry).unwrap();
        if let AuditRecord::Checkpoint { to, root, .. } = entry.record {
            moves.push((to, root));
        }
    }
    let held = (tree.size, base64_encode(&tree.root));
    if moves.last() != Some(&held) || moves.iter().filter(|m| **m == held).count() != 1 {
        return Err(format!(
            "the store holds a checkpoint of {} entries, the audit log's checkpoint records say {moves:?}",
            tree.size
        ));
    }
    Ok(())
}

fn registry_publishes(dir: &Path) -> Vec<Sha256Digest> {
    let raw = hashlog::read(&dir.join("reg/log.jsonl")).unwrap();
    raw.lines
        .iter()
        .filter_map(|l| {
            let line = LogLine::from_json(l).unwrap();
            match LogEntry::<RegistryRecord>::from_envelope(&line.entry)
                .unwrap()
                .record
            {
                RegistryRecord::Publish { statement, .. } => Some(statement),
                _ => None,
            }
        })
        .collect()
}

fn verify_log(dir: &Path) -> Result<(), String> {
    expect(
        run_in(dir, &args(&["registry", "verify-log", "--registry", "reg"])),
        0,
        "registry verify-log",
    )
    .map(|_| ())
}

/// The registry's published checkpoint matches its tiles (the tiles rebuild its root, and its
/// entry bundles hold the first lines of the log); with `whole`, it also covers the whole log.
fn checkpoint_matches_tiles(dir: &Path, whole: bool) -> Result<(), String> {
    use hallmark_keyring::tlog::{Checkpoint, DirTileReader, MemoryTree, Note, TileHashes};
    let reg = dir.join("reg");
    let lines = hashlog::read(&reg.join("log.jsonl")).unwrap().lines;
    let Ok(bytes) = std::fs::read(reg.join("checkpoint")) else {
        return if whole && !lines.is_empty() {
            Err("no checkpoint after a complete run".to_owned())
        } else {
            Ok(())
        };
    };
    let note = Note::parse(&bytes).map_err(|e| format!("checkpoint: {e}"))?;
    let tree = Checkpoint::parse_body(note.text())
        .map_err(|e| format!("checkpoint: {e}"))?
        .tree;
    let reader = DirTileReader::new(&reg);
    let mut tiles = TileHashes::new(&reader, tree);
    let root = tiles
        .root_at(tree.size)
        .map_err(|e| format!("the tiles do not match the checkpoint: {e}"))?;
    if root != tree.root {
        return Err("the tiles give another root than the checkpoint".to_owned());
    }
    let mut memory = MemoryTree::new();
    for line in lines.iter().take(tree.size as usize) {
        memory.push(line);
    }
    if (lines.len() as u64) < tree.size || memory.root(tree.size).ok() != Some(tree.root) {
        return Err(format!(
            "the checkpoint of {} entries is not the log's first {} lines",
            tree.size, tree.size
        ));
    }
    if whole && tree.size != lines.len() as u64 {
        return Err(format!(
            "after a complete run the checkpoint covers {} of {} entries",
            tree.size,
            lines.len()
        ));
    }
    Ok(())
}

// --- fixtures --------------------------------------------------------------------------------

fn registry_init_args() -> Vec<String> {
    args(&[
        "registry",
        "init",
        "--registry",
        "reg",
        "--key",
        "file:reg.key",
        "--next-key",
        "file:reg-next.key",
        "--passphrase-file",
        "pw",
    ])
}

fn ceremony_init_args() -> Vec<String> {
    args(&[
        "ceremony",
        "init",
        "--key",
        "file:a.key",
        "--next-key",
        "file:b.key",
        "--namespace",
        "org.example",
        "--out",
        "org.example.kel",
        "--passphrase-file",
        "pw",
    ])
}

fn rotate_args() -> Vec<String> {
    args(&[
        "ceremony",
        "rotate",
        "--identity",
        "org.example.kel",
        "--key",
        "file:b.key",
        "--next-key",
        "file:c.key",
        "--reason",
        "scheduled",
        "--passphrase-file",
        "pw",
    ])
}

fn cases(root: &Path) -> (Vec<Case>, Vec<Scratch>) {
    let mut cases = Vec::new();
    let template = |name: &str| {
        let s = scratch();
        let dir = root.join(format!("template-{name}"));
        copy_dir(s.path(), &dir);
        (s, dir)
    };

    // key generate (file key).
    let (_s, dir) = template("key");
    let generate = args(&[
        "key",
        "generate",
        "--out",
        "file:k.key",
        "--passphrase-file",
        "pw",
        "--work-factor",
        TEST_WORK_FACTOR,
    ]);
    let rerun = generate.clone();
    cases.push(Case {
        name: "key generate",
        template: dir,
        args: generate,
        check: Box::new(move |d| check_key(d, "k.key", &rerun)),
    });

    // ceremony init, rotate, transfer, accept, revoke, backup, restore.
    let s = scratch();
    s.file_key("a.key");
    s.file_key("b.key");
    s.file_key("c.key");
    s.file_key("r.key");
    s.file_key("r2.key");
    let init_dir = root.join("template-ceremony-init");
    copy_dir(s.path(), &init_dir);
    let rerun = ceremony_init_args();
    cases.push(Case {
        name: "ceremony init",
        template: init_dir,
        args: ceremony_init_args(),
        check: Box::new(move |d| {
            if !d.join("org.example.kel").exists() {
                expect(run_in(d, &rerun), 0, "re-running ceremony init")?;
            }
            if !d.join("org.example.kel.0-init.transcript.json").exists() {
                return Err("the inception is committed without its transcript".into());
            }
            Ok(())
        }),
    });
    s.run(ceremony_init_args()).expect(0);
    // The receiver's identity, for transfer and accept.
    s.run(args(&[
        "ceremony",
        "init",
        "--key",
        "file:r.key",
        "--next-key",
        "file:r2.key",
        "--namespace",
        "org.receiver",
        "--out",
        "receiver.kel",
        "--passphrase-file",
        "pw",
    ]))
    .expect(0);
    let ceremony_dir = root.join("template-ceremony");
    copy_dir(s.path(), &ceremony_dir);
    let rotate = rotate_args();
    let rerun = rotate.clone();
    cases.push(Case {
        name: "ceremony rotate",
        template: ceremony_dir.clone(),
        args: rotate,
        check: Box::new(move |d| check_event(d, "org.example.kel", 1, "rotate", &rerun)),
    });
    let receiver = hallmark_keyring::kel::file::KelFile::read_verified(&s.join("receiver.kel"))
        .unwrap()
        .identity()
        .to_string();
    let transfer = args(&[
        "ceremony",
        "transfer",
        "--identity",
        "org.example.kel",
        "--to",
        &receiver,
        "--name",
        "org.example.tool",
        "--key",
        "file:a.key",
        "--passphrase-file",
        "pw",
    ]);
    let rerun = transfer.clone();
    cases.push(Case {
        name: "ceremony transfer",
        template: ceremony_dir.clone(),
        args: transfer.clone(),
        check: Box::new(move |d| check_event(d, "org.example.kel", 1, "transfer", &rerun)),
    });
    let revoke = args(&[
        "ceremony",
        "revoke",
        "--identity",
        "org.example.kel",
        "--revoke",
        "file:a.key",
        "--reason",
        "compromised",
        "--since",
        "2026-01-01T00:00:00Z",
        "--key",
        "file:b.key",
        "--passphrase-file",
        "pw",
    ]);
    // A key is revoked once it is no longer current: after the rotation.
    let revoke_dir = root.join("template-revoke");
    copy_dir(&ceremony_dir, &revoke_dir);
    expect(run_in(&revoke_dir, &rotate_args()), 0, "rotate").unwrap();
    let rerun = revoke.clone();
    cases.push(Case {
        name: "ceremony revoke",
        template: revoke_dir,
        args: revoke,
        check: Box::new(move |d| check_event(d, "org.example.kel", 2, "revoke", &rerun)),
    });
    // Backup and restore of b.key among three custodians.
    let recipients: Vec<String> = (1..=3)
        .map(|n| {
            let identity = age::x25519::Identity::generate();
            use age::secrecy::ExposeSecret;
            s.write(
                &format!("custodian{n}.txt"),
                format!("{}\n", identity.to_string().expose_secret()),
            );
            identity.to_public().to_string()
        })
        .collect();
    let mut backup = args(&[
        "ceremony",
        "backup",
        "--key",
        "file:b.key",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--identity",
        "org.example.kel",
        "--out",
        "shares",
        "--passphrase-file",
        "pw",
    ]);
    for r in &recipients {
        backup.extend(["--recipient".to_owned(), r.clone()]);
    }
    let backup_dir = root.join("template-backup");
    copy_dir(s.path(), &backup_dir);
    let rerun = backup.clone();
    cases.push(Case {
        name: "ceremony backup",
        template: backup_dir,
        args: backup.clone(),
        check: Box::new(move |d| {
            let complete = |d: &Path| {
                (1..=3).all(|i| d.join(format!("shares/share-{i}-of-3.age")).exists())
                    && d.join("shares/backup.transcript.json").exists()
            };
            // The transcript is written last: with it, every share is there.
            if d.join("shares/backup.transcript.json").exists() && !complete(d) {
                return Err("the backup's transcript exists but a share is missing".into());
            }
            if !complete(d) {
                // A backup killed part-way leaves a directory without its transcript, which
                // the next backup refuses to write into until it is removed.
                let started = std::fs::read_dir(d.join("shares"))
                    .is_ok_and(|mut entries| entries.next().is_some());
                if started {
                    expect(
                        run_in(d, &rerun),
                        2,
                        "backup into a killed backup's directory",
                    )?;
                    std::fs::remove_dir_all(d.join("shares")).ok();
                }
                expect(run_in(d, &rerun), 0, "re-running backup")?;
            }
            if complete(d) {
                Ok(())
            } else {
                Err("the backup is incomplete after a re-run".into())
            }
        }),
    });
    s.run(&backup).expect(0);
    let mut restore = args(&[
        "ceremony",
        "restore",
        "--identity",
        "org.example.kel",
        "--share",
        "shares/share-1-of-3.age",
        "--share",
        "shares/share-2-of-3.age",
    ]);
    for n in 1..=3 {
        restore.extend(["--age-identity".to_owned(), format!("custodian{n}.txt")]);
    }
    restore.extend(args(&[
        "--out",
        "file:restored.key",
        "--passphrase-file",
        "pw",
        "--work-factor",
        TEST_WORK_FACTOR,
    ]));
    let restore_dir = root.join("template-restore");
    copy_dir(s.path(), &restore_dir);
    let rerun = restore.clone();
    cases.push(Case {
        name: "ceremony restore",
        template: restore_dir,
        args: restore,
        check: Box::new(move |d| check_key(d, "restored.key", &rerun)),
    });
    // accept: after the transfer, the receiver accepts.
    s.run(&transfer).expect(0);
    let accept_dir = root.join("template-accept");
    copy_dir(s.path(), &accept_dir);
    let accept = args(&[
        "ceremony",
        "accept",
        "--identity",
        "receiver.kel",
        "--from",
        "org.example.kel",
        "--name",
        "org.example.tool",
        "--key",
        "file:r.key",
        "--passphrase-file",
        "pw",
    ]);
    let rerun = accept.clone();
    cases.push(Case {
        name: "ceremony accept",
        template: accept_dir,
        args: accept,
        check: Box::new(move |d| check_event(d, "receiver.kel", 1, "accept", &rerun)),
    });

    // sign.
    let sign_dir = root.join("template-sign");
    copy_dir(s.path(), &sign_dir);
    std::fs::write(sign_dir.join("tool.tar"), b"release\n").unwrap();
    let sign = args(&[
        "sign",
        "--key",
        "file:a.key",
        "--identity",
        "org.example.kel",
        "--passphrase-file",
        "pw",
        "--name",
        "org.example.lib",
        "--version",
        "1.0.0",
        "tool.tar",
    ]);
    let rerun = sign.clone();
    cases.push(Case {
        name: "sign",
        template: sign_dir,
        args: sign,
        check: Box::new(move |d| {
            if !d.join("tool.tar.hallmark.json").exists() {
                expect(run_in(d, &rerun), 0, "re-running sign")?;
            }
            expect(
                run_in(
                    d,
                    &args(&["verify", "--identity", "org.example.kel", "tool.tar"]),
                ),
                0,
                "verify --identity",
            )?;
            Ok(())
        }),
    });

    // Trust store: a publisher whose bundles carry a longer log than the pinned one.
    let t = scratch();
    let mut p = Id::incept(1, 2, &["org.example"], past(0));
    p.rotate(3, Reason::Scheduled, past(10));
    p.prefix(1).write(&t.join("p1.kel"));
    p.write(&t.join("p.kel"));
    let q = Id::incept(5, 6, &["org.other"], past(0));
    q.write(&t.join("q.kel"));
    let bundle = p.bundle("org.example.tool", "1.0.0", b"1\n", past(20), &[2]);
    write_release(t.path(), "tool.tar", b"1\n", &bundle);
    let pin = args(&[
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p1.kel",
        "--keyring",
        "trust",
    ]);
    let pin_dir = root.join("template-pin");
    copy_dir(t.path(), &pin_dir);
    let again = args(&[
        "keyring",
        "pin",
        "org.example",
        "--identity",
        "p1.kel",
        "--keyring",
        "trust",
    ]);
    cases.push(Case {
        name: "keyring pin",
        template: pin_dir,
        args: pin.clone(),
        check: Box::new(move |d| {
            if !d.join("trust/pins.json").exists() {
                return expect(run_in(d, &again), 0, "re-running pin").map(|_| ());
            }
            check_store(d, &again)
        }),
    });
    t.run(&pin).expect(0);
    let store_dir = root.join("template-store");
    copy_dir(t.path(), &store_dir);
    let import = args(&["keyring", "import", "q.kel", "--keyring", "trust"]);
    let again = import.clone();
    cases.push(Case {
        name: "keyring import",
        template: store_dir.clone(),
        args: import,
        check: Box::new(move |d| check_store(d, &again)),
    });
    let verify = args(&["verify", "--keyring", "trust", "tool.tar"]);
    let again = verify.clone();
    cases.push(Case {
        name: "verify --keyring",
        template: store_dir,
        args: verify,
        check: Box::new(move |d| check_store(d, &again)),
    });

    // Registry: init, accept, yank.
    let r = scratch();
    r.file_key("reg.key");
    r.file_key("reg-next.key");
    let reg_init_dir = root.join("template-registry-init");
    copy_dir(r.path(), &reg_init_dir);
    let rerun = registry_init_args();
    cases.push(Case {
        name: "registry init",
        template: reg_init_dir,
        args: registry_init_args(),
        check: Box::new(move |d| {
            checkpoint_matches_tiles(d, false)?;
            if verify_log(d).is_err() {
                expect(run_in(d, &rerun), 0, "re-running registry init")?;
                checkpoint_matches_tiles(d, true)?;
            } else {
                // The next run that opens the registry catches its tiles up.
                expect(
                    run_in(
                        d,
                        &args(&["registry", "rebuild-state", "--registry", "reg"]),
                    ),
                    0,
                    "opening the registry again",
                )?;
                checkpoint_matches_tiles(d, false)?;
            }
            verify_log(d)
        }),
    });
    r.run(registry_init_args()).expect(0);
    let rp = Id::incept(1, 2, &["org.example"], past(0));
    let b1 = rp.bundle("org.example.tool", "1.0.0", b"1\n", past(50), &[1]);
    let b2 = rp.bundle("org.example.tool", "1.0.1", b"2\n", past(50), &[1]);
    write_release(r.path(), "one.tar", b"1\n", &b1);
    write_release(r.path(), "two.tar", b"2\n", &b2);
    let statements = [b1.statement.payload_digest(), b2.statement.payload_digest()];
    let reg_dir = root.join("template-registry");
    copy_dir(r.path(), &reg_dir);
    let accept = args(&[
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "one.tar",
        "two.tar",
    ]);
    let rerun = accept.clone();
    cases.push(Case {
        name: "registry accept",
        template: reg_dir,
        args: accept.clone(),
        check: Box::new(move |d| {
            verify_log(d)?;
            checkpoint_matches_tiles(d, false)?;
            expect(run_in(d, &rerun), 0, "re-running accept")?;
            verify_log(d)?;
            checkpoint_matches_tiles(d, true)?;
            let logged = registry_publishes(d);
            for s in &statements {
                if logged.iter().filter(|l| *l == s).count() != 1 {
                    return Err(format!("statement {s} is logged {} times", logged.len()));
                }
            }
            Ok(())
        }),
    });
    r.run(&accept).expect(0);
    let yank_dir = root.join("template-yank");
    copy_dir(r.path(), &yank_dir);
    let yank = args(&[
        "registry",
        "yank",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "org.example.tool@1.0.0",
        "--reason",
        "broken",
    ]);
    cases.push(Case {
        name: "registry yank",
        template: yank_dir,
        args: yank,
        check: Box::new(|d| {
            verify_log(d)?;
            checkpoint_matches_tiles(d, false)?;
            // The next run with the key signs the checkpoint of the whole log (re-issuing the
            // receipt of the release not yanked: the yanked one's is refused).
            let receipt = args(&[
                "registry",
                "receipt",
                "--registry",
                "reg",
                "--passphrase-file",
                "pw",
                "two.tar",
            ]);
            expect(run_in(d, &receipt), 0, "re-issuing a receipt")?;
            checkpoint_matches_tiles(d, true)
        }),
    });
    // keyring refresh: a store that pinned the registry and refreshed, then the registry
    // logged a rotation of the pinned publisher; the refresh extends its log and advances the
    // held checkpoint, each with its audit record.
    rp.write(&r.join("rp.kel"));
    for command in [
        args(&[
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "reg/registry.kel",
            "--keyring",
            "trust",
            "--location",
            "reg",
        ]),
        args(&[
            "keyring",
            "pin",
            "org.example",
            "--identity",
            "rp.kel",
            "--keyring",
            "trust",
        ]),
        args(&["keyring", "refresh", "main", "--keyring", "trust"]),
    ] {
        r.run(&command).expect(0);
    }
    let mut rotated = rp.clone();
    rotated.rotate(3, Reason::Scheduled, past(60));
    rotated.write(&r.join("rp2.kel"));
    r.run(args(&[
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "rp2.kel",
    ]))
    .expect(0);
    let refresh_dir = root.join("template-refresh");
    copy_dir(r.path(), &refresh_dir);
    let refresh = args(&["keyring", "refresh", "main", "--keyring", "trust"]);
    let again = refresh.clone();
    cases.push(Case {
        name: "keyring refresh",
        template: refresh_dir,
        args: refresh,
        check: Box::new(move |d| {
            check_store(d, &again)?;
            check_checkpoint(d)
        }),
    });
    // The registry's configuration names its key by absolute path, in `r`: the scratch
    // directories live as long as the sweep.
    (cases, vec![s, t, r])
}

#[test]
fn every_state_writing_command_survives_a_kill_at_each_crash_point() {
    let root = tempfile::Builder::new()
        .prefix("hallmark-sweep-")
        .tempdir()
        .unwrap();
    let (cases, _scratches) = cases(root.path());
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut report = Vec::new();
    // HALLMARK_SWEEP_ONLY=WORD sweeps only the commands whose name contains WORD.
    let only = std::env::var("HALLMARK_SWEEP_ONLY").unwrap_or_default();
    for case in cases.iter().filter(|c| c.name.contains(only.as_str())) {
        let (points, tried, killed) = sweep(case, &work);
        eprintln!(
            "{}: {tried} of {points} crash points tried, {killed} killed there",
            case.name
        );
        report.push((case.name, points, tried, killed));
    }
    let tried: usize = report.iter().map(|r| r.2).sum();
    let killed: usize = report.iter().map(|r| r.3).sum();
    eprintln!(
        "crash-point sweep: {tried} crash points over {} commands, {killed} kills",
        report.len()
    );
    // Every command was killed somewhere, and nearly every point was reached: a sweep whose
    // kills do not happen proves nothing.
    assert!(report.iter().all(|r| r.3 > 0), "{report:?}");
    assert!(
        killed * 10 >= tried * 9,
        "{killed} of {tried} crash points reached"
    );
}

/// Eight `keyring pin` processes (different namespaces) create a trust store that does not
/// exist yet, ten times over: every pin lands once, with its audit record.
#[test]
fn concurrent_pins_create_a_new_store_and_all_land() {
    let s = scratch();
    const N: usize = 8;
    for i in 0..N {
        let seed = 10 + 2 * i as u8;
        Id::incept(seed, seed + 1, &[&format!("org.n{i}")], past(0))
            .write(&s.join(&format!("n{i}.kel")));
    }
    for round in 0..10 {
        let store = format!("trust-{round}");
        let children: Vec<_> = (0..N)
            .map(|i| {
                Command::new(exe())
                    .args([
                        "keyring",
                        "pin",
                        &format!("org.n{i}"),
                        "--identity",
                        &format!("n{i}.kel"),
                        "--keyring",
                        &store,
                    ])
                    .current_dir(s.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let pins: serde_json::Value =
            serde_json::from_str(&s.read(&format!("{store}/pins.json"))).unwrap();
        assert_eq!(pins["pins"].as_array().unwrap().len(), N, "round {round}");
        let raw = hashlog::read(&s.join(&format!("{store}/audit.log"))).unwrap();
        let pinned = raw
            .lines
            .iter()
            .filter(|l| {
                let line = LogLine::from_json(l).unwrap();
                matches!(
                    LogEntry::<AuditRecord>::from_envelope(&line.entry)
                        .unwrap()
                        .record,
                    AuditRecord::Pin { .. }
                )
            })
            .count();
        assert_eq!(pinned, N, "round {round}: pins recorded in the audit log");
        s.run(["keyring", "log", "--verify", "--keyring", &store])
            .expect(0);
    }
}

/// A registry accept whose log append meets a full disk commits nothing: exit 2, no entry of
/// the run in the log, no receipt; once there is room, a re-run logs each release once. The
/// disk is a small tmpfs where one can be mounted (root); elsewhere `strace` makes the
/// append's writes fail with ENOSPC.
#[test]
fn a_registry_run_on_a_full_disk_commits_nothing() {
    let outer = scratch();
    let disk = outer.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    struct Unmount(PathBuf, bool);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if self.1 {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
    }
    let _guard = Unmount(disk.clone(), mounted);
    let r = scratch();
    r.file_key("reg.key");
    r.file_key("reg-next.key");
    r.run(registry_init_args()).expect(0);
    let p = Id::incept(1, 2, &["org.example"], past(0));
    let mut names = Vec::new();
    for i in 0..40 {
        let version = format!("1.0.{i}");
        let bytes = format!("{i}\n").into_bytes();
        let bundle = p.bundle("org.example.tool", &version, &bytes, past(50), &[1]);
        write_release(r.path(), &format!("{i}.tar"), &bytes, &bundle);
        names.push(format!("{i}.tar"));
    }
    copy_dir(&r.path().join("."), &disk.join("r"));
    let dir = disk.join("r");
    let before = std::fs::read(dir.join("reg/log.jsonl")).unwrap();
    let mut accept = args(&[
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
    ]);
    accept.extend(names.iter().cloned());
    let failed = if mounted {
        // Leave less room than the run's entries need.
        let free = free_bytes(&disk);
        let filler = vec![0u8; free.saturating_sub(16 * 1024) as usize];
        std::fs::write(disk.join("filler"), &filler).unwrap();
        let run = run_in(&dir, &accept);
        std::fs::remove_file(disk.join("filler")).unwrap();
        run
    } else {
        let out = strace(
            &dir,
            &args(&[
                "-P",
                "reg/log.jsonl",
                "-e",
                "trace=write",
                "-e",
                "inject=write:error=ENOSPC",
            ]),
            &accept,
        );
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let failed = expect(failed, 2, "accept on a full disk").unwrap();
    assert!(
        failed.stderr.contains("No space left on device"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        std::fs::read(dir.join("reg/log.jsonl")).unwrap(),
        before,
        "a failed run left entries in the log"
    );
    for name in &names {
        let bundle = hallmark_keyring::bundle::Bundle::from_json(
            &std::fs::read(dir.join(format!("{name}.hallmark.json"))).unwrap(),
        )
        .unwrap();
        assert!(bundle.receipts.is_empty(), "{name} has a receipt");
    }
    verify_log(&dir).unwrap();
    expect(run_in(&dir, &accept), 0, "accept with room").unwrap();
    assert_eq!(registry_publishes(&dir).len(), names.len());
    eprintln!(
        "full disk: {}",
        if mounted {
            "a 1 MiB tmpfs"
        } else {
            "ENOSPC injected by strace"
        }
    );
}

/// Bytes free on the file system holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
