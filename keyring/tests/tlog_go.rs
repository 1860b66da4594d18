//! The transparency log checked by an implementation Hallmark does not share code with: Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (the program in `tests/tlog-go/`). Logs of
//! several sizes are written with [`tlog::store::append`]; the Go program opens the signed
//! checkpoint, recomputes the tree hash from the tiles, checks the entries, the inclusion and
//! consistency proofs Rust computed from the tiles, and a witness cosignature.
//!
//! Needs Go and the x/mod sources from Debian (`apt-get install golang-go
//! golang-golang-x-mod-dev`, as `scripts/test.sh` does); without them the test fails saying
//! so. The program is built offline, once per run, into the target directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use hallmark_keyring::PublicKey;
use hallmark_keyring::encoding::base64_encode;
use hallmark_keyring::tlog::{
    Checkpoint, DirTileReader, KeyType, TileHashes, Tree, VerifierKey, cosignature, store,
};

const ORIGIN: &str = "example.org/hallmark-log";
const WITNESS: &str = "witness.example/w1";
const INSTALL: &str =
    "install Go and the x/mod sources: apt-get install golang-go golang-golang-x-mod-dev";

/// Builds `tests/tlog-go` with `GOPATH=/usr/share/gocode GO111MODULE=off` into the target
/// directory; fails (never skips) when Go or x/mod is missing.
fn build_go() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let out_dir = target.join("tlog-go");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join("tlog-go");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tlog-go");
    let tmp = out_dir.join(format!("tlog-go.{}", std::process::id()));
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .env("GOPATH", "/usr/share/gocode")
        .env("GO111MODULE", "off")
        .env("GOCACHE", out_dir.join("cache"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): {INSTALL}"));
    assert!(status.success(), "building tests/tlog-go failed: {INSTALL}");
    std::fs::rename(&tmp, &bin).unwrap();
    bin
}

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
}

fn entry(i: u64) -> Vec<u8> {
    // Entries of varied lengths, some empty.
    let mut e = format!("hallmark entry {i}\n").into_bytes();
    e.resize(
        (i % 7) as usize * 40 + e.len() * usize::from(!i.is_multiple_of(5)),
        b'.',
    );
    e
}

/// Writes a log of `size` entries in two batches, signs and cosigns its checkpoint, and
/// returns the cases for the Go program.
fn write_log(dir: &Path, size: u64) -> String {
    let first = size / 3;
    let mut tree = Tree::EMPTY;
    for range in [0..first, first..size] {
        let batch: Vec<Vec<u8>> = range.map(entry).collect();
        tree = store::append(dir, tree, &batch).unwrap();
    }
    let cp = Checkpoint::new(ORIGIN, tree).unwrap();
    let mut note = cp.sign(&log_key()).unwrap();
    let witness = SigningKey::from_bytes(&[0x42; 32]);
    note.push_signature(cosignature::cosign(&cp, WITNESS, 1_765_000_000, &witness).unwrap())
        .unwrap();
    store::write_checkpoint(dir, &note.to_bytes()).unwrap();

    let reader = DirTileReader::new(dir);
    let mut tiles = TileHashes::new(&reader, tree);
    let mut cases = String::new();
    let b64 = |hs: &[[u8; 32]]| {
        hs.iter()
            .map(|h| base64_encode(h))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if size > 0 {
        let mut indexes = vec![0, size / 2, size - 1, first.min(size - 1)];
        indexes.extend((0..20).map(|k| (k * 7919 + 13) % size));
        for i in indexes {
            let proof = tiles.inclusion_proof(i).unwrap();
            cases.push_str(&format!("inclusion {i} {}\n", b64(&proof)));
        }
        let mut olds = vec![1, size, size / 2, first.max(1), size - 1];
        olds.extend((0..10).map(|k| (k * 104_729 + 1) % size + 1));
        for old in olds.into_iter().filter(|&o| o >= 1 && o <= size) {
            let proof = tiles.consistency_proof(old).unwrap();
            let old_root = tiles.root_at(old).unwrap();
            cases.push_str(&format!(
                "consistency {old} {} {}\n",
                base64_encode(&old_root),
                b64(&proof)
            ));
        }
    }
    let wkey = VerifierKey::new(
        WITNESS,
        KeyType::Cosignature,
        PublicKey::new(witness.verifying_key()),
    )
    .unwrap();
    cases.push_str(&format!("cosignature {wkey}\n"));
    cases
}

fn run(bin: &Path, dir: &Path, cases: &str) -> (bool, String) {
    let cases_path = dir.join("cases.txt");
    std::fs::write(&cases_path, cases).unwrap();
    let vkey = VerifierKey::new(
        ORIGIN,
        KeyType::Ed25519,
        PublicKey::new(log_key().verifying_key()),
    )
    .unwrap();
    let out = Command::new(bin)
        .arg(dir)
        .arg(vkey.to_string())
        .arg(&cases_path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn go_sumdb_verifies_checkpoints_tiles_proofs_and_cosignatures() {
    let bin = build_go();
    for size in [0u64, 1, 255, 256, 257, 65_540] {
        let dir = tempfile::tempdir().unwrap();
        let cases = write_log(dir.path(), size);
        let inclusion = cases.lines().filter(|l| l.starts_with("inclusion")).count();
        let consistency = cases
            .lines()
            .filter(|l| l.starts_with("consistency"))
            .count();
        let (ok, out) = run(&bin, dir.path(), &cases);
        assert!(ok, "size {size}: {out}");
        assert_eq!(
            out,
            format!(
                "ok: {ORIGIN} size {size}, {inclusion} inclusion, {consistency} consistency, 1 cosignatures\n"
            )
        );

        if size >= 2 {
            // The Go check can fail: a proof for another leaf, a tampered consistency proof.
            let wrong = cases.replacen("inclusion 0 ", "inclusion 1 ", 1);
            let (ok, out) = run(&bin, dir.path(), &wrong);
            assert!(!ok && out.contains("inclusion of 1 in"), "{out}");
            let line = cases
                .lines()
                .find(|l| l.starts_with("consistency 1 "))
                .unwrap();
            let tampered = format!(
                "consistency 1 {} {}\n",
                base64_encode(&[9; 32]),
                line.split(' ').skip(3).collect::<Vec<_>>().join(" ")
            );
            let (ok, out) = run(&bin, dir.path(), &tampered);
            assert!(!ok && out.contains("consistency 1 to"), "{out}");
        }
    }

    // The empty log's checkpoint (without the cosignature) is the worked vector.
    let dir = tempfile::tempdir().unwrap();
    let note = Checkpoint::new(ORIGIN, Tree::EMPTY)
        .unwrap()
        .sign(&log_key())
        .unwrap();
    store::write_checkpoint(dir.path(), &note.to_bytes()).unwrap();
    let (ok, out) = run(&bin, dir.path(), "");
    assert!(ok, "{out}");
    assert!(String::from_utf8(note.to_bytes()).unwrap().contains("14lTMeT6X/xk+SdwH0G0aZGkpvg1o3WOSwEVn5LffZqWIvQBOai3AkFQNhl81+wYxBhqMQknBk2Rz1jmA/h8S0RxFwk="));

    // A tile the checkpoint does not match: Go refuses the tree.
    let dir = tempfile::tempdir().unwrap();
    let cases = write_log(dir.path(), 300);
    let tile = dir.path().join("tile/0/001.p/44");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    let (ok, out) = run(&bin, dir.path(), &cases);
    assert!(!ok && out.contains("differs from the checkpoint"), "{out}");
}
