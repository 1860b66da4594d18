//! Every `--json` document is what docs/json.md says: each command runs against real file
//! keys, a trust store and a registry, and what it prints is checked against the page's
//! tables — its `schema`, exactly the documented fields (recursively), their types, and
//! camelCase names ([`hallmark_tests::json_doc`]). The page's examples are checked against the
//! same tables, and every schema the source prints is documented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use hallmark_tests::json_doc::{self, documents};
use hallmark_tests::{PASSPHRASE, Run, Scratch, TEST_WORK_FACTOR};
use serde_json::Value;

fn scratch() -> Scratch {
    Scratch::new(env!("CARGO_BIN_EXE_hallmark"))
}

/// Runs `hallmark --json ARGS`, expects `code`, and returns the checked document.
#[track_caller]
fn doc(s: &Scratch, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = s.run(all).expect(code);
    run.json()
}

/// What each run printed: the schemas seen.
#[derive(Default)]
struct Seen(BTreeSet<String>);

impl Seen {
    #[track_caller]
    fn run(&mut self, s: &Scratch, args: &[&str], code: i32) -> Value {
        let value = doc(s, args, code);
        self.0.insert(value["schema"].as_str().unwrap().to_owned());
        value
    }

    #[track_caller]
    fn lines(&mut self, run: &Run) -> Vec<Value> {
        let values = run.json_lines();
        for v in &values {
            self.0.insert(v["schema"].as_str().unwrap().to_owned());
        }
        values
    }
}

fn generate(s: &Scratch, seen: &mut Seen, name: &str) -> Value {
    seen.run(
        s,
        &[
            "key",
            "generate",
            "--out",
            &format!("file:{name}"),
            "--passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        0,
    )
}

/// The documents printed only with hardware or servers, and the tests that check them (their
/// `Run::json` checks each document against docs/json.md as this test does).
const ELSEWHERE: &[(&str, &str)] = &[
    ("hallmark.key.attest/v1", "tests/yubikey_cli.rs"),
    ("hallmark.witness.serve/v1", "tests/witness.rs"),
    ("hallmark.witness.request/v1", "tests/witness.rs"),
    ("hallmark.witness.vkey/v1", "tests/witness.rs"),
    ("hallmark.registry.add-witness/v1", "tests/witness.rs"),
    ("hallmark.ceremony.cosign/v1", "tests/ceremony.rs"),
    ("hallmark.ceremony.commit/v1", "tests/ceremony.rs"),
    ("hallmark.ceremony.backup/v1", "tests/ceremony.rs"),
    ("hallmark.ceremony.restore/v1", "tests/ceremony.rs"),
];

#[test]
fn every_command_prints_its_documented_document() {
    let mut s = scratch();
    let mut seen = Seen::default();
    for key in [
        "alice.key",
        "alice-next.key",
        "alice-next2.key",
        "reg.key",
        "reg-next.key",
    ] {
        generate(&s, &mut seen, key);
    }
    for key in ["bob.key", "bob-next.key"] {
        generate(&s, &mut seen, key);
    }
    s.write("tool-1.0.0.tar", b"tool 1.0.0\n");
    s.write("tool-2.0.0.tar", b"tool 2.0.0\n");
    let unlock = ["--passphrase-file", "pw"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        let mut all = args.to_vec();
        all.extend_from_slice(&unlock);
        all
    };

    // Keys.
    let show = seen.run(&s, &["key", "show", "file:alice.key"], 0);
    assert_eq!(show["jwk"]["kty"], "OKP");
    seen.run(
        &s,
        &with(&[
            "key",
            "export",
            "file:bob-next.key",
            "--format",
            "minisign",
            "--out",
            "bob.minisign",
            "--no-passphrase",
            "--yes",
        ]),
        0,
    );
    seen.run(
        &s,
        &[
            "key",
            "import",
            "bob.minisign",
            "--out",
            "file:imported.key",
            "--new-passphrase-file",
            "pw",
            "--work-factor",
            TEST_WORK_FACTOR,
        ],
        0,
    );
    s.write("pw2", format!("{PASSPHRASE} 2\n"));
    let passwd = seen.run(
        &s,
        &with(&[
            "key",
            "passwd",
            "file:imported.key",
            "--new-passphrase-file",
            "pw2",
            "--work-factor",
            "10",
        ]),
        0,
    );
    assert_eq!(passwd["protection"], "passphrase");

    // An identity, pinned; signed and verified releases.
    let init = seen.run(
        &s,
        &with(&[
            "ceremony",
            "init",
            "--key",
            "file:alice.key",
            "--next-key",
            "file:alice-next.key",
            "--namespace",
            "org.acme",
            "--out",
            "org.acme.kel",
        ]),
        0,
    );
    assert_eq!(init["status"], "committed");
    seen.run(
        &s,
        &[
            "keyring",
            "pin",
            "org.acme",
            "--identity",
            "org.acme.kel",
            "--keyring",
            "trust",
        ],
        0,
    );
    let signed = seen.run(
        &s,
        &with(&[
            "sign",
            "--key",
            "file:alice.key",
            "--identity",
            "org.acme.kel",
            "--name",
            "org.acme.tool",
            "--version",
            "1.0.0",
            "tool-1.0.0.tar",
        ]),
        0,
    );
    assert_eq!(signed["signed"][0]["artifact"], "tool-1.0.0.tar");
    let hashed = seen.run(&s, &["hash", "tool-1.0.0.tar", "missing"], 2);
    assert_eq!(hashed["results"][1]["digest"], Value::Null);
    assert!(hashed["results"][1]["error"]["message"].is_string());

    // Verdicts: trusted, refused by content, not verifiable.
    s.write("tampered.tar", b"not the tool\n");
    std::fs::copy(
        s.join("tool-1.0.0.tar.hallmark.json"),
        s.join("tampered.tar.hallmark.json"),
    )
    .unwrap();
    let verdicts = seen.run(
        &s,
        &[
            "verify",
            "--keyring",
            "trust",
            "tool-1.0.0.tar",
            "tampered.tar",
            "tool-2.0.0.tar",
        ],
        2,
    );
    let results = verdicts["results"].as_array().unwrap();
    assert_eq!(
        (
            &results[0]["verdict"],
            &results[0]["reason"],
            &results[0]["exitCode"]
        ),
        (&Value::from("trusted"), &Value::Null, &Value::from(0))
    );
    assert_eq!(
        (
            &results[1]["verdict"],
            &results[1]["reason"],
            &results[1]["exitCode"]
        ),
        (
            &Value::from("rejected"),
            &Value::from("digest-mismatch"),
            &Value::from(1)
        )
    );
    assert_eq!(results[2]["verdict"], Value::Null);
    assert_eq!(results[2]["exitCode"], 2);
    assert_eq!(verdicts["exitCode"], 2);

    // hallmark-verify prints the same document.
    let run = s
        .run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            ["--json", "--public-key", "alice.key.pub", "tool-1.0.0.tar"],
            &[],
        )
        .expect(0);
    let same = run.json();
    assert_eq!(same["schema"], "hallmark.verify/v1");
    assert_eq!(same["results"][0]["verdict"], "trusted");
    // ...and the same error document, for a command line that does not parse.
    let run = s
        .run_program(
            env!("CARGO_BIN_EXE_hallmark-verify"),
            ["--json", "tool-1.0.0.tar"],
            &[],
        )
        .expect(2);
    let error = run.json();
    assert_eq!(
        (&error["schema"], &error["error"]["code"]),
        (&"hallmark.error/v1".into(), &"usage".into())
    );

    // Peer formats.
    seen.run(
        &s,
        &with(&[
            "sign",
            "--format",
            "minisign",
            "--key",
            "file:alice.key",
            "tool-1.0.0.tar",
        ]),
        0,
    );
    let peer = seen.run(
        &s,
        &[
            "verify",
            "--format",
            "minisign",
            "--public-key",
            "alice.key.pub",
            "tool-1.0.0.tar",
        ],
        0,
    );
    assert_eq!(peer["results"][0]["verdict"], "valid");

    // Ceremonies.
    let rotate = seen.run(
        &s,
        &with(&[
            "ceremony",
            "rotate",
            "--identity",
            "org.acme.kel",
            "--key",
            "file:alice-next.key",
            "--next-key",
            "file:alice-next2.key",
        ]),
        0,
    );
    assert_eq!(rotate["schema"], "hallmark.ceremony.rotate/v1");
    seen.run(
        &s,
        &with(&[
            "ceremony",
            "init",
            "--key",
            "file:bob.key",
            "--next-key",
            "file:bob-next.key",
            "--namespace",
            "org.bob",
            "--out",
            "org.bob.kel",
        ]),
        0,
    );
    seen.run(
        &s,
        &with(&[
            "ceremony",
            "transfer",
            "--identity",
            "org.acme.kel",
            "--to",
            "org.bob.kel",
            "--name",
            "org.acme.tool",
            "--key",
            "file:alice-next.key",
        ]),
        0,
    );
    seen.run(
        &s,
        &with(&[
            "ceremony",
            "accept",
            "--identity",
            "org.bob.kel",
            "--from",
            "org.acme.kel",
            "--key",
            "file:bob.key",
        ]),
        0,
    );
    seen.run(
        &s,
        &with(&[
            "ceremony",
            "revoke",
            "--identity",
            "org.acme.kel",
            "--revoke",
            "alice.key.pub",
            "--reason",
            "retired",
            "--since",
            "2026-01-01T00:00:00Z",
            "--key",
            "file:alice-next.key",
        ]),
        0,
    );
    let transcript = seen.run(
        &s,
        &[
            "ceremony",
            "verify-transcript",
            "org.acme.kel.1-rotate.transcript.json",
        ],
        0,
    );
    assert_eq!(
        (&transcript["valid"], &transcript["exitCode"]),
        (&Value::from(true), &Value::from(0))
    );

    // The trust store.
    let import = seen.run(
        &s,
        &["keyring", "import", "org.acme.kel", "--keyring", "trust"],
        0,
    );
    assert_eq!(import["results"][0]["verdict"], "imported");
    seen.run(&s, &["keyring", "show", "--keyring", "trust"], 0);
    seen.run(&s, &["keyring", "log", "--keyring", "trust"], 0);
    let verified = seen.run(&s, &["keyring", "log", "--verify", "--keyring", "trust"], 0);
    assert_eq!(verified["verified"], true);

    // A registry, and a trust store that follows it.
    seen.run(
        &s,
        &with(&[
            "registry",
            "init",
            "--registry",
            "reg",
            "--key",
            "file:reg.key",
            "--next-key",
            "file:reg-next.key",
            "--namespace",
            "org.example-registry",
        ]),
        0,
    );
    let accepted = seen.run(
        &s,
        &with(&[
            "registry",
            "accept",
            "--registry",
            "reg",
            "tool-1.0.0.tar",
            "org.acme.kel",
            "tampered.tar",
        ]),
        1,
    );
    let results = accepted["results"].as_array().unwrap();
    assert_eq!(results[0]["verdict"], "accepted");
    assert_eq!(
        (&results[2]["verdict"], &results[2]["reason"]),
        (&Value::from("refused"), &Value::from("digest"))
    );
    seen.run(
        &s,
        &with(&["registry", "receipt", "--registry", "reg", "tool-1.0.0.tar"]),
        0,
    );
    let log = seen.run(&s, &["registry", "verify-log", "--registry", "reg"], 0);
    assert_eq!(log["verified"], true);
    seen.run(&s, &["registry", "rebuild-state", "--registry", "reg"], 0);
    seen.run(
        &s,
        &[
            "keyring",
            "pin-registry",
            "main",
            "--identity",
            "reg/registry.kel",
            "--location",
            "reg",
            "--keyring",
            "trust",
        ],
        0,
    );
    let refreshed = seen.run(&s, &["keyring", "refresh", "main", "--keyring", "trust"], 0);
    assert_eq!(refreshed["verdict"], "trusted");
    seen.run(
        &s,
        &with(&[
            "registry",
            "yank",
            "--registry",
            "reg",
            "org.acme.tool@1.0.0",
            "--reason",
            "broken",
        ]),
        0,
    );
    let run = s
        .run([
            "--json",
            "monitor",
            "--registry",
            "reg",
            "--watch",
            "org.acme",
            "--state",
            "mstate",
            "--once",
        ])
        .expect(1);
    let alerts = seen.lines(&run);
    assert!(alerts.iter().any(|a| a["kind"] == "yank"), "{}", run.stdout);
    seen.run(
        &s,
        &["keyring", "unpin", "org.acme", "--keyring", "trust"],
        0,
    );
    seen.run(&s, &["manpages", "man"], 0);

    // A PKCS#11 token in SoftHSM2.
    hallmark_tests::softhsm_tokens(&mut s, &["shape"]);
    let module = hallmark_tests::pkcs11_module();
    let list = seen.run(&s, &["key", "list", &module], 0);
    assert!(
        list["pkcs11"]
            .as_array()
            .unwrap()
            .iter()
            .any(|slot| slot["token"]["label"] == "shape"),
        "{list}"
    );

    // A real YubiKey's attestation (recorded: no device needed), and the same for another key.
    let chain = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hsm-adapters/tests/data/yubikey/chains/ovh-yk5.7.4-root1"
    );
    let (device, key_cert) = (
        format!("{chain}/f9.pem"),
        format!("{chain}/attestation-9a.pem"),
    );
    let args = [
        "key",
        "verify-attestation",
        "--device",
        &device,
        "--key-cert",
        &key_cert,
    ];
    let holds = seen.run(&s, &args, 0);
    assert_eq!(
        (&holds["verdict"], &holds["report"]["serial"]),
        (&Value::from("holds"), &Value::from(32718477))
    );
    let mut args = args.to_vec();
    args.extend(["--key", "alice.key.pub"]);
    let not = seen.run(&s, &args, 1);
    assert_eq!(
        (&not["verdict"], &not["reason"], &not["report"]),
        (
            &Value::from("does-not-hold"),
            &Value::from("key-mismatch"),
            &Value::Null
        )
    );

    // Errors: a failing command, and a command line that does not parse.
    let error = seen.run(&s, &["keyring", "show", "--keyring", "nowhere"], 2);
    assert_eq!(error["exitCode"], 2);
    let error = seen.run(&s, &["verify", "--public-key", "alice.key.pub"], 2);
    assert_eq!(error["error"]["code"], "usage");
    let error = seen.run(&s, &["quickstart"], 2);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no --json output"),
        "{error}"
    );

    let documented: BTreeSet<String> = documents().schemas.keys().cloned().collect();
    let elsewhere: BTreeSet<String> = ELSEWHERE.iter().map(|(s, _)| s.to_string()).collect();
    let missing: Vec<_> = documented
        .difference(&seen.0)
        .filter(|s| !elsewhere.contains(*s))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not run here: {missing:?}"
    );
}

#[test]
fn the_examples_of_the_page_are_what_its_tables_say() {
    let docs = documents();
    assert!(
        docs.examples.len() >= docs.schemas.len() - 6,
        "an example per document"
    );
    for (section, text) in &docs.examples {
        let value: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the example of {section} is not JSON ({e}):\n{text}"));
        assert_eq!(
            docs.schemas.get(section),
            docs.schemas.get(value["schema"].as_str().unwrap()),
            "the example in {section} is a document of another shape"
        );
        json_doc::assert_documented(&value);
    }
}

#[test]
fn the_check_finds_undocumented_missing_mistyped_and_snake_case_fields() {
    let good = serde_json::json!({
        "schema": "hallmark.registry.yank/v1", "release": "a@1", "logIndex": 4,
    });
    json_doc::assert_documented(&good);
    let mut extra = good.clone();
    extra["log_index"] = 4.into();
    let e = json_doc::check(&extra).unwrap_err();
    assert!(
        e.contains("`log_index` is not camelCase") && e.contains("`log_index` is not documented"),
        "{e}"
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("logIndex");
    assert!(
        json_doc::check(&missing)
            .unwrap_err()
            .contains("`logIndex` is missing")
    );
    let mut mistyped = good.clone();
    mistyped["logIndex"] = "4".into();
    assert!(
        json_doc::check(&mistyped)
            .unwrap_err()
            .contains("`logIndex` is string, documented as integer")
    );
    let unknown = serde_json::json!({ "schema": "hallmark.nothing/v1" });
    assert!(json_doc::check(&unknown).is_err());
    assert!(json_doc::check(&serde_json::json!([1])).is_err());
}

/// The command names the source gives `Output::json`, `json_line`, `print_json` and
/// `report_attestation`, and the ceremonies `report` prints under `ceremony.ACTION`.
fn schemas_in_source() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../signer/src");
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (pattern, prefix) in [
                ("json(", ""),
                ("json_line(", ""),
                ("SCHEMA: &str =", ""),
                ("report_attestation(", ""),
                ("report(out, ", "ceremony."),
            ] {
                for (at, _) in text.match_indices(pattern) {
                    let rest = text[at + pattern.len()..].trim_start();
                    if let Some(rest) = rest.strip_prefix('"') {
                        let name = &rest[..rest.find('"').unwrap()];
                        if !name.is_empty() && !name.contains(' ') {
                            found.insert(format!("hallmark.{prefix}{name}/v1"));
                        }
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_document_the_source_prints_is_documented_and_no_other() {
    let in_source = schemas_in_source();
    let documented: BTreeSet<String> = documents().schemas.keys().cloned().collect();
    assert!(in_source.len() > 30, "{in_source:?}");
    assert_eq!(
        in_source.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "printed but not documented in docs/json.md"
    );
    assert_eq!(
        documented.difference(&in_source).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented in docs/json.md but printed nowhere"
    );
}
