//! How fast a monitor sees an unlinked change, and how fast it reads a log (not a test).
//!
//! ```text
//! cargo bench -p hallmark-signer --bench monitor [-- TRIALS ENTRIES]
//! ```
//!
//! 1. Latency: a registry, and `hallmark monitor --interval 1s --json` following it with
//!    org.acme pinned to an identity Q. Each trial a new identity claims `org.acme.tN` at the
//!    registry (`hallmark registry accept` of its key event log); the time from the start of
//!    the accept to the monitor's `new-claim` alert line is recorded.
//! 2. Throughput: a registry holding ENTRIES publishes, read once by a fresh monitor
//!    (`hallmark monitor --once`, process start to exit): entries per second.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hallmark_tests::Scratch;

fn registry(s: &Scratch) {
    init_registry(s, Some(70), Some("registry.bench/log")).expect(0);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The monitor, killed when dropped (also when a trial fails).
struct Monitor(Child);

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn latency(trials: usize) {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    registry(&s);
    let q = Id::incept(5, 6, &["org.acme"], t(0));
    q.write(&s.join("q.kel"));
    s.run([
        "keyring",
        "pin",
        "org.acme",
        "--identity",
        "q.kel",
        "--keyring",
        "trust",
    ])
    .expect(0);
    let mut monitor = Monitor(
        Command::new(env!("CARGO_BIN_EXE_hallmark"))
            .args([
                "monitor",
                "--registry",
                "reg",
                "--keyring",
                "trust",
                "--state",
                "mon",
                "--interval",
                "1s",
                "--json",
            ])
            .current_dir(s.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = monitor.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut times = Vec::with_capacity(trials);
    for i in 0..trials {
        let key = 10 + (i % 200) as u8;
        let thief = Id::incept(key, key.wrapping_add(1), &[&format!("org.acme.t{i}")], t(1));
        thief.write(&s.join("thief.kel"));
        let start = Instant::now();
        s.run([
            "registry",
            "accept",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
            "thief.kel",
        ])
        .expect(0);
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("an alert within 60 s");
        times.push(start.elapsed().as_secs_f64());
        assert!(line.contains("\"kind\":\"new-claim\""), "{line}");
    }
    drop(monitor);
    times.sort_by(f64::total_cmp);
    println!(
        "accept -> alert, 1 s poll, {trials} trials: min {:.3} s, median {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s",
        times[0],
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
}

fn throughput(entries: usize) {
    let s = Scratch::new(env!("CARGO_BIN_EXE_hallmark"));
    registry(&s);
    let p = Id::incept(1, 2, &["org.example"], t(0));
    p.write(&s.join("p.kel"));
    s.run([
        "registry",
        "accept",
        "--registry",
        "reg",
        "--passphrase-file",
        "pw",
        "p.kel",
    ])
    .expect(0);
    let mut files = Vec::with_capacity(entries);
    for i in 0..entries {
        let file = format!("a{i}.tar");
        let bytes = format!("artifact {i}\n").into_bytes();
        write_release(
            s.path(),
            &file,
            &bytes,
            &p.bundle(
                "org.example.tool",
                &format!("1.0.{i}"),
                &bytes,
                t(10),
                &[p.current],
            ),
        );
        files.push(file);
    }
    for chunk in files.chunks(2000) {
        let mut args = vec![
            "registry",
            "accept",
            "--registry",
            "reg",
            "--passphrase-file",
            "pw",
        ];
        args.extend(chunk.iter().map(String::as_str));
        s.run(&args).expect(0);
    }
    let start = Instant::now();
    let run = s.run([
        "monitor",
        "--registry",
        "reg",
        "--watch",
        "org.example",
        "--state",
        "mon",
        "--once",
    ]);
    let elapsed = start.elapsed().as_secs_f64();
    run.expect(0);
    let total = entries + 2;
    println!(
        "monitor reads {total} entries in {elapsed:.3} s: {:.0} entries/s",
        total as f64 / elapsed
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let trials = args.first().and_then(|a| a.parse().ok()).unwrap_or(100);
    let entries = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    latency(trials);
    throughput(entries);
}
