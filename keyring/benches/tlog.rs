//! The transparency log: verifying inclusion proofs (single-threaded, so the figure is per
//! core), appending 1,000 entries to a tiled log on disk (durable: one flush per append), and
//! computing inclusion and consistency proofs from tiles read and verified from a directory.
//!
//! `cargo bench -p hallmark-keyring --bench tlog`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hallmark_keyring::tlog::merkle;
use hallmark_keyring::tlog::{DirTileReader, TileHashes, Tree, store};

const LOG_SIZE: u64 = 1_000_000;

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"kind\":\"publish\",\"seq\":{i},\"name\":\"org.example.pkg{i}\"}}").into_bytes()
}

fn bench(c: &mut Criterion) {
    // A log of a million entries on disk, written in batches of 100,000.
    let dir = tempfile::tempdir().unwrap();
    let mut tree = Tree::EMPTY;
    for start in (0..LOG_SIZE).step_by(100_000) {
        let batch: Vec<Vec<u8>> = (start..start + 100_000).map(entry).collect();
        tree = store::append(dir.path(), tree, &batch).unwrap();
    }
    let reader = DirTileReader::new(dir.path());

    // Proofs for 1,000 leaves spread over the log, computed once from tiles.
    let mut tiles = TileHashes::new(&reader, tree);
    let cases: Vec<(u64, [u8; 32], Vec<[u8; 32]>)> = (0..1_000u64)
        .map(|k| {
            let index = (k * 999_983) % LOG_SIZE;
            let proof = tiles.inclusion_proof(index).unwrap();
            (index, merkle::leaf_hash(&entry(index)), proof)
        })
        .collect();

    let mut g = c.benchmark_group("tlog");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function(
        "verify 1,000 inclusion proofs in a tree of 1,000,000",
        |b| {
            b.iter(|| {
                for (index, leaf, proof) in &cases {
                    merkle::verify_inclusion(leaf, *index, LOG_SIZE, proof, &tree.root).unwrap();
                }
            })
        },
    );

    g.throughput(Throughput::Elements(1_000));
    g.bench_function(
        "append 1,000 entries to a log of 1,000,000 (durable)",
        |b| {
            let batch: Vec<Vec<u8>> = (LOG_SIZE..LOG_SIZE + 1_000).map(entry).collect();
            b.iter_batched(
                || (),
                |()| {
                    // Always from the published tree: the same tiles are written again.
                    store::append(dir.path(), tree, &batch).unwrap()
                },
                BatchSize::PerIteration,
            )
        },
    );

    g.throughput(Throughput::Elements(100));
    g.bench_function(
        "100 inclusion proofs from tiles (fresh reader, tiles read and verified)",
        |b| {
            b.iter(|| {
                let mut tiles = TileHashes::new(&reader, tree);
                for k in 0..100u64 {
                    tiles.inclusion_proof((k * 7_919_993) % LOG_SIZE).unwrap();
                }
            })
        },
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "consistency proof 999,000 to 1,000,000 from tiles (fresh reader)",
        |b| {
            b.iter(|| {
                TileHashes::new(&reader, tree)
                    .consistency_proof(999_000)
                    .unwrap()
            })
        },
    );

    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
