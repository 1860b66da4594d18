//! Property tests of `Manifest::parse`: whatever it accepts, it writes back byte for byte, and
//! it accepts only sorted, duplicate-free manifests whose parents are listed. The inputs are
//! near-valid manifests (random entries from a small alphabet that hits the edge cases: `/`,
//! `.`, `-`, spaces, uppercase, control characters) and random mutations of valid ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use hallmark_keyring::digest::{EntryKind, Manifest};
use proptest::prelude::*;

const HEADER: &str = "hallmark-tree-v1\n";

fn component() -> impl Strategy<Value = String> {
    // Mostly harmless pieces; now and then one that makes the path non-canonical.
    prop::collection::vec(
        prop_oneof![
            30 => prop::sample::select(vec!["a", "b", "B", "-", ".", " ", "é", "ab", "_"]),
            1 => prop::sample::select(vec!["\t", "..", "/", "\u{7f}", "\n"]),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..4).prop_map(|parts| parts.join("/"))
}

fn digest_field() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::array::uniform32(any::<u8>())
            .prop_map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        1 => Just("-".to_owned()),
        1 => Just("A".repeat(64)),
        1 => Just("0".repeat(63)),
    ]
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        30 => prop::sample::select(vec!["f", "x", "l", "d"]),
        1 => prop::sample::select(vec!["q", "F", "ff", ""]),
    ]
}

/// A manifest-like text: random entries, their parent directories added (usually), then
/// sorted (usually), so that most samples are valid and the rest are near misses.
fn manifest_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((kind(), digest_field(), path()), 0..12),
        0..8u8,
        0..8u8,
    )
        .prop_map(|(entries, add_parents, sort)| {
            let mut lines: Vec<(String, String)> = Vec::new();
            for (kind, digest, path) in entries {
                if add_parents != 0 {
                    let mut parent = String::new();
                    for component in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
                        if !parent.is_empty() {
                            parent.push('/');
                        }
                        parent.push_str(component);
                        lines.retain(|(p, _)| p != &parent);
                        lines.push((parent.clone(), format!("d - {parent}\n")));
                    }
                }
                let digest = if kind == "d" && digest.len() == 64 {
                    "-".to_owned()
                } else {
                    digest
                };
                if add_parents != 0 {
                    // A path can only be listed once; a directory listed as a parent wins.
                    if lines.iter().any(|(p, _)| p == &path) {
                        continue;
                    }
                }
                lines.push((path.clone(), format!("{kind} {digest} {path}\n")));
            }
            if sort != 0 {
                lines.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let body: String = lines.into_iter().map(|(_, line)| line).collect();
            format!("{HEADER}{body}")
        })
}

/// The checks a canonical manifest must pass, written independently of the parser.
fn check_canonical(manifest: &Manifest) {
    let mut dirs = BTreeSet::new();
    let mut previous: Option<&str> = None;
    for entry in manifest.entries() {
        let path = entry.path();
        if let Some(previous) = previous {
            assert!(
                previous.as_bytes() < path.as_bytes(),
                "{previous:?} !< {path:?}"
            );
        }
        previous = Some(path);
        for component in path.split('/') {
            assert!(!component.is_empty() && component != "." && component != "..");
            assert!(!component.chars().any(|c| c < ' ' || c == '\u{7f}'));
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            assert!(dirs.contains(parent), "{path:?} without its parent");
        }
        assert_eq!(
            entry.sha256().is_none(),
            entry.kind() == EntryKind::Directory
        );
        if entry.kind() == EntryKind::Directory {
            dirs.insert(path);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn whatever_parses_round_trips_and_is_canonical(text in manifest_text()) {
        if let Ok(manifest) = Manifest::parse(text.as_bytes()) {
            prop_assert_eq!(manifest.to_bytes(), text.as_bytes());
            check_canonical(&manifest);
            prop_assert_eq!(Manifest::parse(&manifest.to_bytes()).unwrap(), manifest);
        }
    }

    #[test]
    fn a_mutated_manifest_is_refused_or_still_round_trips(
        text in manifest_text(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0..3u8,
    ) {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len() + 1);
        match how {
            0 if i < bytes.len() => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            _ if i < bytes.len() => { bytes.remove(i); }
            _ => bytes.push(byte),
        }
        if let Ok(manifest) = Manifest::parse(&bytes) {
            prop_assert_eq!(manifest.to_bytes(), bytes);
            check_canonical(&manifest);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut with_header = HEADER.as_bytes().to_vec();
        with_header.extend_from_slice(&bytes);
        for input in [&bytes, &with_header] {
            if let Ok(manifest) = Manifest::parse(input) {
                prop_assert_eq!(&manifest.to_bytes(), input);
            }
        }
    }
}

#[test]
fn the_generator_produces_valid_manifests_too() {
    // Guard against a generator that only ever makes invalid input: count accepted samples.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = manifest_text();
    let accepted = (0..2000)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            Manifest::parse(text.as_bytes()).is_ok_and(|m| !m.entries().is_empty())
        })
        .count();
    assert!(
        accepted >= 100,
        "only {accepted} of 2000 generated manifests were valid"
    );
}
