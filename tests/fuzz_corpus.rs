//! Replays the fuzz corpus: every committed input in `fuzz/seeds/<target>/` and
//! `fuzz/corpus/<target>/` goes through the same check its fuzz target runs
//! (`hallmark_fuzz_checks`). An input that once crashed a parser or broke a round trip, once
//! committed to `fuzz/corpus/<target>/`, is a regression test here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use hallmark_fuzz_checks::{TARGETS, target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one input, naming it if the check panics.
fn replay(name: &str, check: fn(&[u8]) -> bool, path: &Path) -> bool {
    let data = std::fs::read(path).unwrap();
    match std::panic::catch_unwind(|| check(&data)) {
        Ok(accepted) => accepted,
        Err(_) => panic!(
            "fuzz target {name}: input {} fails its check",
            path.display()
        ),
    }
}

#[test]
fn every_seed_and_corpus_input_passes_its_check() {
    let fuzz = fuzz_dir();
    let mut report = Vec::new();
    for t in TARGETS {
        let seeds = files(&fuzz.join("seeds").join(t.name));
        let corpus = files(&fuzz.join("corpus").join(t.name));
        // A moved or emptied seed directory must not make this pass without testing anything.
        assert!(
            !seeds.is_empty(),
            "no seeds for fuzz target {} in {}",
            t.name,
            fuzz.join("seeds").display()
        );
        // The seeds are real, valid objects: each must get past the parser, or the target
        // would start from inputs that only exercise its first refusals.
        for path in &seeds {
            assert!(
                replay(t.name, t.check, path),
                "fuzz target {}: seed {} is refused",
                t.name,
                path.display()
            );
        }
        for path in &corpus {
            replay(t.name, t.check, path);
        }
        report.push(format!(
            "{:<22} {} seeds, {} corpus inputs",
            t.name,
            seeds.len(),
            corpus.len()
        ));
    }
    println!("{}", report.join("\n"));
}

#[test]
fn every_fuzz_target_has_a_check_and_every_check_a_target() {
    let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|t| t.name.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    for name in &listed {
        let source =
            std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")))
                .unwrap();
        assert!(
            source.contains(&format!("hallmark_fuzz_checks::check_{name}(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call check_{name}"
        );
        assert!(target(name).is_some());
    }
}

#[test]
fn the_regression_inputs_still_parse_as_they_did() {
    // A token label that contains the text "pin-value" is not a pin-value attribute: the
    // check once mistook one for a PIN leaking into a printed URI.
    let input = b"pkcs11:token=my-tpin-valueype=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b";
    assert!(hallmark_fuzz_checks::check_pkcs11_uri(input));
}
