//! Writes the seed corpus of every fuzz target: real objects, valid and signed, made from the
//! fixtures and from the vectors the test suite already holds.
//!
//! ```text
//! cargo run -p hallmark-fuzz-checks --example make_seeds -- fuzz/seeds
//! ```
//!
//! The output is deterministic except where a store stamps real time (none do: every time is
//! given), so re-running it changes nothing unless a format changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hallmark_ceremony::pending::{PENDING_MEDIA_TYPE, PendingEvent};
use hallmark_fuzz_checks::fixtures::{self, public_key, signing_key, time};
use hallmark_fuzz_checks::{TARGETS, join_attestation_input};
use hallmark_keyring::digest::{DigestOptions, Manifest};
use hallmark_keyring::encoding::base64_decode;
use hallmark_keyring::kel::{EventKind, KelFile, Reason};
use hallmark_keyring::registry::{AcceptOptions, LOG_FILE, Registry, Submission};
use hallmark_keyring::trust::{AUDIT_FILE, TrustStore};
use hallmark_keyring::{Bundle, IdentityId, Kel, KeyEvent};
use hallmark_signer::interop::pubkey::{self, KeyFormat};
use hallmark_signer::interop::sshsig::SshSignature;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: make_seeds OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seeds: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds
            .entry(target)
            .or_default()
            .push((name.to_owned(), bytes));
    };
    let f = fixtures::get();
    let read =
        |path: &str| std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc = String::from_utf8(read("docs/formats.md")).unwrap();

    // Bundles: the fixture (identity-signed, with log and receipt) and the documented one.
    add("bundle", "identity-with-receipt", f.bundle.to_json());
    let documented = doc_block(&doc, "<!-- vector: example-bundle -->\n");
    add(
        "bundle",
        "documented-key-signed",
        format!("{documented}\n").into_bytes(),
    );
    let mut bare = Bundle::new(f.statement.clone());
    bare.related = vec![KelFile::from_kel(&f.registry)];
    add("bundle", "statement-and-related", bare.to_json());

    // Envelopes and payloads.
    add("envelope", "statement", f.statement.to_json());
    add("envelope", "receipt", f.receipt.to_json());
    add("envelope", "rotation", f.publisher.envelopes()[1].to_json());
    add(
        "statement",
        "identity-signed",
        f.statement.payload().to_vec(),
    );
    let documented = doc_block(&doc, "<!-- vector: example-statement-payload -->\n");
    add(
        "statement",
        "documented-key-signed",
        documented.as_bytes().to_vec(),
    );
    add("receipt", "statement-receipt", f.receipt.to_json());

    // Witness requests: first contact, and an extension with a consistency proof.
    for (old, new) in [(0u64, 7u64), (7, 300)] {
        use hallmark_keyring::tlog::witness::AddCheckpoint;
        use hallmark_keyring::tlog::{Checkpoint, Tree, merkle};
        let mut tree = hallmark_fuzz_checks::witness_seed_tree(new);
        let checkpoint = Checkpoint::new(
            hallmark_fuzz_checks::WITNESS_SEED_ORIGIN,
            Tree {
                size: new,
                root: tree.root(new).unwrap(),
            },
        )
        .unwrap();
        let request = AddCheckpoint {
            old,
            proof: merkle::consistency_proof(&mut tree, old, new).unwrap(),
            note: checkpoint
                .sign(&signing_key(fixtures::REGISTRY_KEY))
                .unwrap(),
            checkpoint,
        };
        add(
            "witness_request",
            &format!("old-{old}-new-{new}"),
            request.to_bytes(),
        );
    }

    // Key events of every kind, and logs.
    let events = f.publisher.envelopes();
    add("kel_event", "inception", events[0].payload().to_vec());
    add("kel_event", "rotation", events[1].payload().to_vec());
    let identity = f.publisher.identity();
    let other = f.registry.identity();
    let next = |kind, seq: u64| {
        let mut e = KeyEvent::new(kind, seq, time(600 + seq));
        e.identity = Some(identity);
        e.previous = Some(events.last().unwrap().payload_digest());
        e
    };
    let mut transfer = next(EventKind::Transfer, 2);
    transfer.to = Some(other);
    transfer.names = Some(vec!["org.example.hello".parse().unwrap()]);
    add("kel_event", "transfer", transfer.to_payload());
    let mut acceptance = next(EventKind::Acceptance, 2);
    acceptance.identity = Some(other);
    acceptance.from = Some(identity);
    acceptance.transfer = Some(transfer.digest());
    acceptance.names = transfer.names.clone();
    add("kel_event", "acceptance", acceptance.to_payload());
    let mut revocation = next(EventKind::Revocation, 2);
    revocation.revoked = Some(vec![public_key(fixtures::PUBLISHER_KEY).key_id()]);
    revocation.reason = Some(Reason::Compromised);
    revocation.since = Some(time(90));
    add("kel_event", "revocation", revocation.to_payload());

    add(
        "kel_walk",
        "publisher",
        KelFile::from_kel(&f.publisher).to_json(),
    );
    add(
        "kel_walk",
        "registry",
        KelFile::from_kel(&f.registry).to_json(),
    );
    let signed_transfer = fixtures::sign_event(&transfer, &[fixtures::PUBLISHER_NEXT]);
    let longer = Kel::verify(&[events.clone(), vec![signed_transfer.clone()]].concat())
        .expect("the transfer extends the log");
    add(
        "kel_walk",
        "publisher-transfer",
        KelFile::from_kel(&longer).to_json(),
    );
    let signed_revocation = fixtures::sign_event(&revocation, &[fixtures::PUBLISHER_NEXT]);
    let revoked = Kel::verify(&[events.clone(), vec![signed_revocation]].concat())
        .expect("the revocation extends the log");
    add(
        "kel_walk",
        "publisher-revoked",
        KelFile::from_kel(&revoked).to_json(),
    );

    // Trust store files: pins, and the audit log of a store that pinned and imported.
    add("trust_pins", "publisher-and-registry", f.pins.to_json());
    add(
        "trust_pins",
        "empty",
        hallmark_keyring::trust::PinsFile::default().to_json(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("trust");
    {
        let mut store = TrustStore::open(&store_dir, true, true).unwrap();
        store
            .pin_registry("main", f.registry.clone(), time(30))
            .unwrap();
        store
            .pin(
                "org.example".parse().unwrap(),
                f.publisher.prefix(1).unwrap(),
                f.pins.pins[0].policy.clone(),
                time(40),
            )
            .unwrap();
        store.import(longer.clone(), "bundle", time(700)).unwrap();
        let _ = store.import(f.publisher.clone(), "bundle", time(800));
    }
    add(
        "hash_log",
        "trust-audit-log",
        std::fs::read(store_dir.join(AUDIT_FILE)).unwrap(),
    );

    // A registry's log: initialised, then a publisher's log and a release accepted.
    let registry_dir = dir.path().join("registry");
    let registry_key = signing_key(fixtures::REGISTRY_KEY);
    let mut registry = Registry::init(
        &registry_dir,
        &registry_key,
        "file:registry.key",
        &public_key(fixtures::REGISTRY_NEXT),
        "org.registry".parse().unwrap(),
        None,
        time(0),
    )
    .unwrap();
    let results = registry
        .accept(
            &registry_key,
            &[
                Submission::Kel(f.publisher.envelopes()),
                Submission::Bundle(Box::new(Bundle::new(f.statement.clone()))),
            ],
            &AcceptOptions::default(),
            time(200),
        )
        .unwrap();
    for r in &results {
        assert!(r.is_ok(), "the registry refused a seed submission: {r:?}");
    }
    add(
        "hash_log",
        "registry-log",
        std::fs::read(registry_dir.join(LOG_FILE)).unwrap(),
    );

    // Tree manifests: the documented examples and one built from a directory.
    for name in ["example-1", "example-2"] {
        let block = doc_block(&doc, &format!("```manifest {name}\n"));
        add("manifest", name, format!("{block}\n").into_bytes());
    }
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("bin/empty")).unwrap();
    std::fs::write(tree.join("README"), b"read me\n").unwrap();
    std::fs::write(tree.join("bin/tool"), b"#!/bin/sh\n").unwrap();
    let manifest = Manifest::build(&tree, &DigestOptions::new()).unwrap();
    add("manifest", "built", manifest.to_bytes());

    // Key references, PKCS#11 URIs (RFC 7512's examples), YubiKey references.
    let rfc7512: serde_json::Value =
        serde_json::from_slice(&read("hsm-adapters/tests/data/rfc7512_examples.json")).unwrap();
    for (i, example) in rfc7512["examples"].as_array().unwrap().iter().enumerate() {
        let uri = example["uri"].as_str().unwrap();
        add(
            "pkcs11_uri",
            &format!("rfc7512-{i}"),
            uri.as_bytes().to_vec(),
        );
    }
    add(
        "pkcs11_uri",
        "hallmark",
        b"pkcs11:token=hallmark;object=release;type=private;id=%01%02?module-name=softhsm2&pin-source=env:HSM_PIN"
            .to_vec(),
    );
    add("keyref", "file", b"file:./release.key".to_vec());
    add(
        "keyref",
        "pkcs11",
        b"pkcs11:token=hallmark;object=release?pin-source=file:/run/pin".to_vec(),
    );
    for (name, text) in [
        ("slot", "yubikey:slot=9c"),
        ("serial", "yubikey:serial=12345678;slot=9a"),
        (
            "sources",
            "yubikey:slot=82?pin-source=env:YK_PIN&management-key-source=file:/run/mgm",
        ),
    ] {
        add("yubikey_ref", name, text.as_bytes().to_vec());
    }
    for (name, text) in [
        ("alias", "awskms:alias/release"),
        (
            "alias_arn",
            "awskms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/release?region=us-gov-west-1",
        ),
        ("alias_region", "awskms:alias/ci/release_2?region=eu-west-1"),
        (
            "key_arn",
            "awskms:arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        ),
        (
            "key_id",
            "awskms:1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1",
        ),
    ] {
        add("awskms_ref", name, text.as_bytes().to_vec());
    }

    // Attestation pairs: real YubiKey chains, as DER and as PEM.
    let chains = root.join("hsm-adapters/tests/data/yubikey/chains");
    let mut names: Vec<_> = std::fs::read_dir(&chains)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let device = chains.join(&name).join("f9.pem");
        let key = chains.join(&name).join("attestation-9a.pem");
        let (Ok(device), Ok(key)) = (std::fs::read(device), std::fs::read(key)) else {
            continue;
        };
        add(
            "attestation",
            &format!("{name}-der"),
            join_attestation_input(&der(&device), &der(&key)),
        );
        if name.starts_with("tmc-5-7-2") {
            add(
                "attestation",
                &format!("{name}-pem"),
                join_attestation_input(&device, &key),
            );
        }
    }

    // minisign, SSH signatures and public keys: the interop known answers.
    let interop = "tests/data/interop";
    add(
        "minisign_signature",
        "known-answer",
        read(&format!("{interop}/message.txt.minisig")),
    );
    let minisign_pub = read(&format!("{interop}/rfc8032-test1.minisign.pub"));
    add("minisign_public_key", "file", minisign_pub.clone());
    let text = String::from_utf8(minisign_pub).unwrap();
    let bare = text.lines().nth(1).unwrap();
    add("minisign_public_key", "bare", bare.as_bytes().to_vec());
    let ssh = read(&format!("{interop}/message.txt.sig"));
    add("sshsig", "sha512", ssh.clone());
    add(
        "sshsig",
        "sha256",
        read(&format!("{interop}/message.txt.sha256.sig")),
    );
    add(
        "sshsig",
        "blob",
        SshSignature::parse_armored(&ssh).unwrap().to_blob(),
    );
    let key = public_key(fixtures::PUBLISHER_KEY);
    for (name, format) in [
        ("hallmark", KeyFormat::Hallmark),
        ("ssh", KeyFormat::Ssh),
        ("minisign", KeyFormat::Minisign),
        ("pem", KeyFormat::Pem),
        ("jwk", KeyFormat::Jwk),
    ] {
        add(
            "public_key",
            name,
            pubkey::render(&key, format, Some("release@example.org")).into_bytes(),
        );
    }
    let ssh_line = pubkey::render(&key, KeyFormat::Ssh, None);
    add(
        "allowed_signers",
        "entries",
        format!(
            "# release keys\nrelease@example.org {ssh_line}\n*@example.org namespaces=\"file,git\",valid-after=\"20260101Z\",valid-before=\"20300101Z\" {ssh_line}\n"
        )
        .into_bytes(),
    );
    add(
        "allowed_signers",
        "cert-authority",
        format!("ci@example.org cert-authority,namespaces=\"file\" {ssh_line}\n").into_bytes(),
    );
    add(
        "revoked_keys",
        "keys",
        format!("# lost laptop, 2026-03-01\n{ssh_line}\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 old-rsa\n")
            .into_bytes(),
    );

    // A pending ceremony event: the rotation with its signature, waiting to be committed.
    let pending = PendingEvent {
        media_type: PENDING_MEDIA_TYPE.to_owned(),
        identity: Some(identity),
        event: events[1].clone(),
        transcripts: Vec::new(),
    };
    add("ceremony_pending", "rotation", pending.to_json());
    let inception = PendingEvent {
        media_type: PENDING_MEDIA_TYPE.to_owned(),
        identity: None::<IdentityId>,
        event: events[0].clone(),
        transcripts: Vec::new(),
    };
    add("ceremony_pending", "inception", inception.to_json());

    // Transparency log: the documented checkpoints (one cosigned), a verifier key, and the
    // documented entry bundle and hash tile behind their paths.
    for (name, vector) in [
        ("documented-empty-checkpoint", "tlog-checkpoint-empty"),
        ("documented-cosigned-checkpoint", "tlog-checkpoint"),
    ] {
        let block = doc_block(&doc, &format!("<!-- vector: {vector} -->\n"));
        add("tlog_note", name, format!("{block}\n").into_bytes());
    }
    for (name, path, vector) in [
        (
            "documented-entry-bundle",
            "tile/entries/000.p/3",
            "tlog-entry-bundle",
        ),
        ("documented-hash-tile", "tile/0/000.p/3", "tlog-hash-tile"),
    ] {
        let hex = doc_block(&doc, &format!("<!-- vector: {vector} -->\n"));
        let mut bytes = format!("{path}\n").into_bytes();
        bytes.extend(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()),
        );
        add("tlog_tile", name, bytes);
    }

    // Write, after checking that every target has seeds and accepts each of them.
    for target in TARGETS {
        let list = seeds
            .get(target.name)
            .unwrap_or_else(|| panic!("no seeds for {}", target.name));
        let dir = out.join(target.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in list {
            assert!(
                (target.check)(bytes),
                "{}: seed {name} is refused",
                target.name
            );
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        println!("{:<22} {} seeds", target.name, list.len());
    }
}

/// The text of the fenced block following `marker` in a document.
fn doc_block<'a>(doc: &'a str, marker: &str) -> &'a str {
    let start = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not found"))
        + marker.len();
    let rest = &doc[start..];
    // A `<!-- vector -->` marker is followed by the fence line; a fence marker is the fence.
    let body = if marker.starts_with("```") {
        rest
    } else {
        &rest[rest.find('\n').unwrap() + 1..]
    };
    &body[..body.find("\n```").unwrap()]
}

/// The DER inside a PEM certificate.
fn der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode("certificate", &b64, 1 << 16).unwrap()
}
