//! Content-digest benchmarks: a tree of many small files, one large file, the raw SHA-256
//! speed (to see whether the CPU's SHA extensions are in use: about 1.8 GB/s per core with
//! them, about 0.5 GB/s without), and parsing a large manifest.
//!
//! `cargo bench -p hallmark-keyring --bench digest`. Files are in the page cache after the
//! first iteration, so this measures hashing and system-call overhead, not the disk.
//! `bench/compare-hash.sh` compares the same work with a shell pipeline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallmark_keyring::digest::{ContentDigest, DigestOptions, Manifest, digest_path};

/// A small deterministic generator, so every run hashes the same bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// `files` files of 1-16 KiB in directories of 100; returns the total size.
fn small_files_tree(root: &Path, files: usize) -> u64 {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    for i in 0..files {
        let dir = root.join(format!("d{:02}/s{}", i / 1000, (i / 100) % 10));
        fs::create_dir_all(&dir).unwrap();
        let size = 1024 + (rng.next() % (15 * 1024 + 1)) as usize;
        rng.fill(&mut buf[..size]);
        fs::write(dir.join(format!("f{:02}", i % 100)), &buf[..size]).unwrap();
        total += size as u64;
    }
    total
}

fn large_file(path: &Path, size: usize) {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut file = fs::File::create(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..size / buf.len() {
        rng.fill(&mut buf);
        file.write_all(&buf).unwrap();
    }
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let options = DigestOptions::new();

    let tree = tmp.path().join("small");
    let tree_bytes = small_files_tree(&tree, 5_000);
    let mut group = c.benchmark_group("tree of 5,000 files of 1-16 KiB");
    group
        .sample_size(20)
        .throughput(Throughput::Bytes(tree_bytes));
    group.bench_function("Manifest::build", |b| {
        b.iter(|| Manifest::build(black_box(&tree), &options).unwrap())
    });
    group.bench_function("digest_path", |b| {
        b.iter(|| digest_path(black_box(&tree), &options).unwrap())
    });
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    group.bench_function("digest_path, 1 thread", |b| {
        b.iter(|| single.install(|| digest_path(black_box(&tree), &options).unwrap()))
    });
    group.finish();

    const LARGE: usize = 256 << 20;
    let large = tmp.path().join("large.bin");
    large_file(&large, LARGE);
    let mut group = c.benchmark_group("one file of 256 MiB");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(LARGE as u64));
    group.bench_function("digest_path", |b| {
        b.iter(|| digest_path(black_box(&large), &options).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("SHA-256 in memory");
    let data = vec![0x5au8; 1 << 20];
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("1 MiB", |b| {
        b.iter(|| ContentDigest::of_bytes(black_box(&data)))
    });
    group.finish();

    let manifest = Manifest::build(&tree, &options).unwrap().to_bytes();
    let mut group = c.benchmark_group("manifest of 5,000 files");
    group.throughput(Throughput::Bytes(manifest.len() as u64));
    group.bench_function("Manifest::parse", |b| {
        b.iter(|| Manifest::parse(black_box(&manifest)).unwrap())
    });
    group.finish();
}

criterion_group!(digest, benches);
criterion_main!(digest);
