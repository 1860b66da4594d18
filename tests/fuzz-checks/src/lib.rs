//! The checks Hallmark's fuzz targets run, one function per parser of untrusted input.
//!
//! Each `check_*` function takes arbitrary bytes and must never panic on its own: it feeds the
//! bytes to a parser (and, where the parsed value can be used, to the code that uses it —
//! verification, the key event log walk, the gate), and asserts what must hold for any input
//! the parser accepts:
//!
//! * for canonical formats (signed payloads, the tree manifest, minisign and SSH signature
//!   files, PKCS#11 URIs as Hallmark prints them), encoding the parsed value gives back the
//!   input byte for byte;
//! * for the others (indented JSON files, references), encoding the parsed value and parsing
//!   the encoding gives the same value, and encoding is stable.
//!
//! A panic — in the parser or in an assertion here — is a defect. The fuzz targets in `fuzz/`
//! are one-line calls to these functions, and the test `fuzz_corpus` replays every committed
//! seed and corpus input through them, so an input that once crashed stays a regression test.
//!
//! [`fixtures`] builds the fixed, deterministic objects (keys, key event logs, a statement, a
//! receipt, pins) that the checks verify against and that the seed corpus is made from.

// Assertions are the point of this crate: a failed one is a finding.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod fixtures;

use std::sync::OnceLock;

use hallmark_ceremony::pending::PendingEvent;
use hallmark_hsm::attestation::{self, TrustRoots};
use hallmark_hsm::awskms::AwsKmsRef;
use hallmark_hsm::pkcs11::Pkcs11Uri;
use hallmark_hsm::yubikey::YubiKeyRef;
use hallmark_keyring::digest::Manifest;
use hallmark_keyring::hashlog::{self, LogLine, Record};
use hallmark_keyring::kel::KelFile;
use hallmark_keyring::receipt::{Receipt, verify_receipt};
use hallmark_keyring::registry::RegistryRecord;
use hallmark_keyring::trust::{AuditRecord, Gate, NoAttestationVerifier, PinsFile};
use hallmark_keyring::{Bundle, ContentDigest, Envelope, Kel, KeyEvent, PayloadType, Statement};
use hallmark_signer::interop::allowed_signers::AllowedSigners;
use hallmark_signer::interop::minisign::{MinisignPublicKey, MinisignSignature};
use hallmark_signer::interop::pubkey;
use hallmark_signer::interop::revoked::RevokedKeys;
use hallmark_signer::interop::sshsig::SshSignature;
use hallmark_signer::keyref::KeyRef;

/// A fuzz target: its name (the directory names under `fuzz/seeds` and `fuzz/corpus`, and
/// the target's file name) and its check.
pub struct Target {
    /// The name.
    pub name: &'static str,
    /// The check: whether the target's parser accepted the input.
    pub check: fn(&[u8]) -> bool,
}

/// Every target, in the order `fuzz/run.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "bundle",
        check: check_bundle,
    },
    Target {
        name: "envelope",
        check: check_envelope,
    },
    Target {
        name: "statement",
        check: check_statement,
    },
    Target {
        name: "kel_event",
        check: check_kel_event,
    },
    Target {
        name: "kel_walk",
        check: check_kel_walk,
    },
    Target {
        name: "receipt",
        check: check_receipt,
    },
    Target {
        name: "trust_pins",
        check: check_trust_pins,
    },
    Target {
        name: "hash_log",
        check: check_hash_log,
    },
    Target {
        name: "manifest",
        check: check_manifest,
    },
    Target {
        name: "keyref",
        check: check_keyref,
    },
    Target {
        name: "pkcs11_uri",
        check: check_pkcs11_uri,
    },
    Target {
        name: "yubikey_ref",
        check: check_yubikey_ref,
    },
    Target {
        name: "awskms_ref",
        check: check_awskms_ref,
    },
    Target {
        name: "attestation",
        check: check_attestation,
    },
    Target {
        name: "minisign_signature",
        check: check_minisign_signature,
    },
    Target {
        name: "minisign_public_key",
        check: check_minisign_public_key,
    },
    Target {
        name: "sshsig",
        check: check_sshsig,
    },
    Target {
        name: "public_key",
        check: check_public_key,
    },
    Target {
        name: "allowed_signers",
        check: check_allowed_signers,
    },
    Target {
        name: "ceremony_pending",
        check: check_ceremony_pending,
    },
    Target {
        name: "revoked_keys",
        check: check_revoked_keys,
    },
    Target {
        name: "tlog_note",
        check: check_tlog_note,
    },
    Target {
        name: "tlog_tile",
        check: check_tlog_tile,
    },
    Target {
        name: "witness_request",
        check: check_witness_request,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Asserts that encoding `value` and decoding the encoding gives `value` again, and that the
/// encoding is then stable.
fn round_trip<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
    what: &str,
    value: &T,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, E>,
) {
    let encoded = encode(value);
    let again = match decode(&encoded) {
        Ok(v) => v,
        Err(e) => panic!(
            "{what}: its own encoding does not parse: {e:?}\n{}",
            String::from_utf8_lossy(&encoded)
        ),
    };
    assert_eq!(&again, value, "{what}: parse(encode(x)) != x");
    assert_eq!(
        encode(&again),
        encoded,
        "{what}: encoding is not stable across a round trip"
    );
}

/// Asserts that the canonical encoding of `value` is exactly `input`.
fn canonical(what: &str, input: &[u8], encoded: &[u8]) {
    assert!(
        encoded == input,
        "{what}: accepted input is not its canonical encoding\n input: {:?}\noutput: {:?}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(encoded)
    );
}

/// A bundle (`*.hallmark.json`): parse, round trip, then the whole consumer decision — the
/// gate over fixed pins and logs, and verification against fixed keys.
pub fn check_bundle(data: &[u8]) -> bool {
    let Ok(bundle) = Bundle::from_json(data) else {
        return false;
    };
    round_trip("bundle", &bundle, Bundle::to_json, Bundle::from_json);
    let actual = match bundle.statement() {
        Ok(statement) => statement.digest,
        Err(_) => ContentDigest::of_bytes(b""),
    };
    let f = fixtures::get();
    let gate = Gate::new(&f.view, &NoAttestationVerifier, false, f.now);
    if let Ok(outcome) = gate.decide(&bundle, &actual) {
        let _ = outcome.decision.to_string();
    }
    let tofu = Gate::new(&f.empty_view, &NoAttestationVerifier, true, f.now);
    let _ = tofu.decide(&bundle, &actual);
    let _ = hallmark_keyring::verify::verify_with_keys(&bundle, &f.statement_keys, &actual);
    true
}

/// An envelope: parse, round trip, signature lookup and verification by a fixed key.
pub fn check_envelope(data: &[u8]) -> bool {
    let Ok(envelope) = Envelope::from_json(data) else {
        return false;
    };
    round_trip(
        "envelope",
        &envelope,
        Envelope::to_json,
        Envelope::from_json,
    );
    for key in &fixtures::get().statement_keys {
        let _ = envelope.signature_by(key);
    }
    let _ = envelope.payload_digest();
    let _ = Statement::from_envelope(&envelope);
    let _ = KeyEvent::from_envelope(&envelope);
    let _ = Receipt::from_envelope(&envelope);
    true
}

/// A statement payload (canonical JSON).
pub fn check_statement(data: &[u8]) -> bool {
    let Ok(statement) = Statement::from_payload(data) else {
        return false;
    };
    canonical("statement", data, &statement.to_payload());
    let _ = statement.release();
    let envelope = statement
        .to_envelope()
        .expect("a parsed statement fits an envelope");
    assert_eq!(Statement::from_envelope(&envelope).ok(), Some(statement));
    true
}

/// A key event payload (canonical JSON).
pub fn check_kel_event(data: &[u8]) -> bool {
    let Ok(event) = KeyEvent::from_payload(data) else {
        return false;
    };
    canonical("key event", data, &event.to_payload());
    event.validate().expect("a parsed key event validates");
    let envelope = event
        .to_envelope()
        .expect("a parsed key event fits an envelope");
    assert_eq!(KeyEvent::from_envelope(&envelope).ok(), Some(event));
    // An unsigned event is never a log.
    assert!(
        Kel::verify(&[envelope]).is_err(),
        "an unsigned event verified"
    );
    true
}

/// A key event log file, then the walk over its events: a log that verifies is written back
/// the same, compares as the same with itself, and extends each of its prefixes.
pub fn check_kel_walk(data: &[u8]) -> bool {
    let Ok(file) = KelFile::from_json(data) else {
        return false;
    };
    round_trip("key event log", &file, KelFile::to_json, KelFile::from_json);
    let Ok(kel) = Kel::verify(&file.events) else {
        return false;
    };
    assert_eq!(
        KelFile::from_kel(&kel),
        file,
        "a verified log is not written back as read"
    );
    assert_eq!(kel.events().len(), file.events.len());
    use hallmark_keyring::kel::Comparison;
    assert!(matches!(kel.compare(&kel), Comparison::Same));
    for len in 1..kel.events().len() {
        let prefix = kel.prefix(len).expect("a prefix of a verified log");
        assert!(
            matches!(prefix.compare(&kel), Comparison::Extends { .. }),
            "the log does not extend its prefix of {len}"
        );
        let again = Kel::verify(&file.events[..len]).expect("a prefix of a verified log verifies");
        assert_eq!(again.head().digest, prefix.head().digest);
    }
    // Appending the last event to the log without it gives the log.
    if let Some(last) = file.events.last()
        && let Some(before) = kel.prefix(file.events.len() - 1)
    {
        let appended = before
            .append(last)
            .expect("the last event extends its prefix");
        assert_eq!(appended.head().digest, kel.head().digest);
    }
    let _ = kel.current();
    let _ = kel.claimed();
    let _ = kel.revocations();
    true
}

/// A receipt: the envelope that carries it, its canonical payload, and verification against
/// the fixed registry's key event log.
pub fn check_receipt(data: &[u8]) -> bool {
    let Ok(envelope) = Envelope::from_json(data) else {
        return false;
    };
    let Ok(receipt) = Receipt::from_envelope(&envelope) else {
        return false;
    };
    canonical("receipt", envelope.payload(), &receipt.to_payload());
    let f = fixtures::get();
    let verified = verify_receipt(&envelope, &f.registry, &receipt.subject);
    match verified {
        Ok(verified) => {
            assert_eq!(verified, receipt);
            assert_eq!(receipt.registry, f.registry.identity());
            true
        }
        Err(_) => false,
    }
}

/// The trust store's pins file.
pub fn check_trust_pins(data: &[u8]) -> bool {
    let Ok(pins) = PinsFile::from_json(data) else {
        return false;
    };
    round_trip("pins file", &pins, PinsFile::to_json, PinsFile::from_json);
    for pin in &pins.pins {
        if let Ok(name) = pin.namespace.as_str().parse() {
            assert!(pins.lookup(&name).is_some(), "a pinned name has no pin");
        }
    }
    true
}

/// A hash-chained log (the trust store's audit log, a registry's log): lines, the chain, and
/// each record kind. Every line of a log that verifies round-trips.
pub fn check_hash_log(data: &[u8]) -> bool {
    let lines: Vec<Vec<u8>> = match data.iter().rposition(|&b| b == b'\n') {
        Some(end) => data[..end]
            .split(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect(),
        None => Vec::new(),
    };
    for line in &lines {
        if let Ok(parsed) = LogLine::from_json(line) {
            round_trip("log line", &parsed, LogLine::to_json, LogLine::from_json);
        }
    }
    let audit = check_log_as::<AuditRecord>(&lines, |r| {
        let _ = r.describe();
    });
    let registry = check_log_as::<RegistryRecord>(&lines, |_| {});
    audit || registry
}

fn check_log_as<R: Record + PartialEq + std::fmt::Debug>(
    lines: &[Vec<u8>],
    each: impl Fn(&R),
) -> bool {
    let Ok((entries, head)) = hashlog::verify_lines::<R>(lines, |_| Ok(())) else {
        return false;
    };
    assert_eq!(head.len as usize, entries.len());
    for (checked, raw) in entries.iter().zip(lines) {
        each(&checked.entry.record);
        let entry = hashlog::LogEntry::<R>::from_envelope(&checked.line.entry)
            .expect("a verified entry decodes");
        assert_eq!(entry, checked.entry);
        canonical(
            "log entry",
            checked.line.entry.payload(),
            &entry.to_payload(),
        );
        let _ = raw;
    }
    true
}

/// A tree manifest (`hallmark-tree-v1`), canonical.
pub fn check_manifest(data: &[u8]) -> bool {
    let Ok(manifest) = Manifest::parse(data) else {
        return false;
    };
    canonical("manifest", data, &manifest.to_bytes());
    let _ = manifest.digest();
    true
}

/// A key reference (`file:…`, `pkcs11:…`) as given on the command line.
pub fn check_keyref(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(reference) = text.parse::<KeyRef>() else {
        return false;
    };
    // Display leaves out a PKCS#11 pin-value, so compare without it.
    let shown = match &reference {
        KeyRef::Pkcs11(uri) => KeyRef::Pkcs11(uri.without_pin_value()),
        other => other.clone(),
    };
    round_trip(
        "key reference",
        &shown,
        |r| r.to_string().into_bytes(),
        |b| std::str::from_utf8(b).unwrap().parse::<KeyRef>(),
    );
    true
}

/// A PKCS#11 URI (RFC 7512): printing and parsing again gives the same URI (without any
/// pin-value, which is never printed), and the printed form is canonical.
pub fn check_pkcs11_uri(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(uri) = text.parse::<Pkcs11Uri>() else {
        return false;
    };
    let shown = uri.without_pin_value();
    round_trip(
        "PKCS#11 URI",
        &PrintedUri(shown.clone()),
        |u| u.0.to_string().into_bytes(),
        |b| {
            std::str::from_utf8(b)
                .unwrap()
                .parse::<Pkcs11Uri>()
                .map(PrintedUri)
        },
    );
    let printed = shown.to_string();
    let reparsed: Pkcs11Uri = printed.parse().expect("a printed URI parses");
    assert!(
        reparsed.pin_value().is_none(),
        "a printed URI carries a pin-value"
    );
    let _ = (
        uri.token(),
        uri.object(),
        uri.id(),
        uri.slot_id(),
        uri.object_type(),
    );
    let _ = uri.pin_source();
    true
}

/// Pkcs11Uri has no Debug (it may hold a PIN); its printed form, which never does, is shown.
#[derive(Clone, PartialEq)]
struct PrintedUri(Pkcs11Uri);

impl std::fmt::Debug for PrintedUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A YubiKey reference (`yubikey:slot=9c;serial=…`).
pub fn check_yubikey_ref(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(reference) = text.parse::<YubiKeyRef>() else {
        return false;
    };
    round_trip(
        "YubiKey reference",
        &reference,
        |r| r.to_string().into_bytes(),
        |b| std::str::from_utf8(b).unwrap().parse::<YubiKeyRef>(),
    );
    true
}

/// An AWS KMS key reference (`awskms:alias/…?region=…`): the printed form is the input, and
/// the key name sent to KMS never carries the query.
pub fn check_awskms_ref(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(reference) = text.parse::<AwsKmsRef>() else {
        return false;
    };
    canonical("AWS KMS reference", data, reference.to_string().as_bytes());
    assert!(
        !reference.key().contains(['?', '&', '=']),
        "key name {:?} carries query characters",
        reference.key()
    );
    if let Some(region) = reference.region() {
        assert!(hallmark_hsm::awskms::is_region(region), "{region:?}");
    }
    let _ = (reference.alias(), reference.kind());
    true
}

/// Splits an attestation input into the device certificate and the key certificate: a
/// two-byte big-endian length, that many bytes, and the rest.
pub fn split_attestation_input(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// Joins a device certificate and a key certificate into one attestation input.
pub fn join_attestation_input(device: &[u8], key_cert: &[u8]) -> Vec<u8> {
    let len = u16::try_from(device.len()).expect("certificate under 64 KiB");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(device);
    out.extend_from_slice(key_cert);
    out
}

/// A YubiKey PIV attestation: an arbitrary pair of certificates (DER or PEM), verified
/// against Yubico's roots.
pub fn check_attestation(data: &[u8]) -> bool {
    let Some((device, key_cert)) = split_attestation_input(data) else {
        return false;
    };
    static ROOTS: OnceLock<TrustRoots> = OnceLock::new();
    let roots = ROOTS.get_or_init(TrustRoots::yubico);
    match attestation::verify(device, key_cert, roots, None) {
        Ok(report) => {
            let _ = report.to_string();
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

/// A minisign signature file, canonical; verified against the fixed key.
pub fn check_minisign_signature(data: &[u8]) -> bool {
    let Ok(signature) = MinisignSignature::parse(data) else {
        return false;
    };
    canonical(
        "minisign signature",
        data,
        signature.to_file_text().as_bytes(),
    );
    let f = fixtures::get();
    let key = &f.statement_keys[0];
    let id = hallmark_signer::interop::minisign::key_id_for(key);
    let _ = signature.verify(
        key,
        &id,
        &hallmark_signer::interop::minisign::prehash(b"message\n"),
    );
    true
}

/// A minisign public key, as a file or as the bare `RW…` line.
pub fn check_minisign_public_key(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let file = MinisignPublicKey::parse(text);
    if let Ok(key) = &file {
        round_trip(
            "minisign public key",
            key,
            |k| k.to_file_text().into_bytes(),
            |b| MinisignPublicKey::parse(std::str::from_utf8(b).unwrap()),
        );
    }
    let bare = MinisignPublicKey::parse_base64(text);
    if let Ok(key) = &bare {
        canonical("minisign public key", data, key.to_base64().as_bytes());
    }
    file.is_ok() || bare.is_ok()
}

/// An SSH signature (SSHSIG): the armoured file, canonical in its own layout, and the binary
/// blob, canonical; verified against a fixed message.
pub fn check_sshsig(data: &[u8]) -> bool {
    let armored = SshSignature::parse_armored(data);
    if let Ok(signature) = &armored {
        canonical("SSH signature", data, signature.to_armored().as_bytes());
        let hash = signature.hash_algorithm.hash(b"message\n");
        let _ = signature.verify(&signature.namespace, &hash);
    }
    let blob = SshSignature::parse_blob(data);
    if let Ok(signature) = &blob {
        canonical("SSH signature blob", data, &signature.to_blob());
    }
    armored.is_ok() || blob.is_ok()
}

/// A public key in any of the forms Hallmark reads (Hallmark, OpenSSH, minisign, PEM, JWK).
pub fn check_public_key(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(parsed) = pubkey::parse_any(text) else {
        return false;
    };
    let rendered = pubkey::render(&parsed.key, parsed.format, parsed.ssh_comment.as_deref());
    let again = pubkey::parse_any(&rendered)
        .unwrap_or_else(|e| panic!("a rendered key does not parse: {e:?}\n{rendered}"));
    assert_eq!(again.key, parsed.key);
    assert_eq!(again.format, parsed.format);
    assert_eq!(again.ssh_comment, parsed.ssh_comment);
    true
}

/// An OpenSSH allowed-signers file, and the lookups verification makes in it.
pub fn check_allowed_signers(data: &[u8]) -> bool {
    let Some(text) = text(data) else {
        return false;
    };
    let Ok(signers) = AllowedSigners::parse(text) else {
        return false;
    };
    let key = &fixtures::get().statement_keys[0];
    let _ = signers.find_principals(key, 1_800_000_000);
    let _ = signers.check(key, Some("release@example.org"), "file", 1_800_000_000);
    let _ = signers.check(key, None, "git", 0);
    true
}

/// An OpenSSH revoked-key list (`ssh-keygen -Y verify -r`), and the lookup verification makes
/// in it: every key it lists is found revoked.
pub fn check_revoked_keys(data: &[u8]) -> bool {
    let Ok(list) = RevokedKeys::parse(data) else {
        return false;
    };
    for key in list.keys() {
        assert!(
            list.revokes(key).is_some(),
            "a listed key is not found revoked"
        );
    }
    let _ = list.revokes(&fixtures::get().statement_keys[0]);
    true
}

/// A pending ceremony event, passed between the machines of an M-of-N ceremony.
pub fn check_ceremony_pending(data: &[u8]) -> bool {
    let Ok(pending) = PendingEvent::from_json(data) else {
        return false;
    };
    round_trip(
        "pending event",
        &pending,
        PendingEvent::to_json,
        PendingEvent::from_json,
    );
    let _ = KeyEvent::from_envelope(&pending.event);
    let _ = pending.event.expect_type(PayloadType::KeyEvent);
    true
}

/// A transparency-log signed note (a checkpoint, possibly cosigned): the note, its checkpoint
/// body and a verifier key string are canonical; verification against the documented log and
/// witness keys never panics, and a note that verifies is a checkpoint of that log.
pub fn check_tlog_note(data: &[u8]) -> bool {
    use hallmark_keyring::tlog::{Checkpoint, Note, VerifierKey};
    if let Some(key) = text(data).and_then(|t| t.parse::<VerifierKey>().ok()) {
        canonical("verifier key", data, key.to_string().as_bytes());
    }
    let Ok(note) = Note::parse(data) else {
        return false;
    };
    canonical("signed note", data, &note.to_bytes());
    if let Ok(checkpoint) = Checkpoint::parse_body(note.text()) {
        canonical(
            "checkpoint body",
            note.text().as_bytes(),
            checkpoint.body().as_bytes(),
        );
    }
    let f = fixtures::get();
    if let Ok(signed) = Checkpoint::open(data, &f.tlog_log_key) {
        assert_eq!(signed.checkpoint.origin, f.tlog_log_key.name());
        if let Ok(cosigned) = signed.cosignatures(std::slice::from_ref(&f.tlog_witness_key)) {
            assert!(cosigned.iter().all(|c| c.timestamp.is_some()));
        }
    }
    true
}

/// A transparency-log tile: the first line is a tile path, the rest its contents. The path
/// and an accepted hash tile or entry bundle are canonical; served by a source that returns
/// these bytes for every path, the verified reader refuses (or accepts) without panicking.
pub fn check_tlog_tile(data: &[u8]) -> bool {
    use hallmark_keyring::tlog::store::{FetchError, TileReader};
    use hallmark_keyring::tlog::tile::{TileId, TileKind, encode_entry_bundle};
    use hallmark_keyring::tlog::{TileHashes, Tree};
    let Some(newline) = data.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let (path, contents) = (&data[..newline], &data[newline + 1..]);
    let Some(id) = text(path).and_then(|p| TileId::parse_path(p).ok()) else {
        return false;
    };
    canonical("tile path", path, id.path().as_bytes());
    let accepted = match id.kind {
        TileKind::Entries => match id.parse_entries(contents) {
            Ok(entries) => {
                canonical(
                    "entry bundle",
                    contents,
                    &encode_entry_bundle(&entries).unwrap(),
                );
                true
            }
            Err(_) => false,
        },
        TileKind::Hashes(_) => match id.parse_hashes(contents) {
            Ok(hashes) => {
                canonical("hash tile", contents, &hashes.concat());
                true
            }
            Err(_) => false,
        },
    };
    /// Serves the same bytes for every path, as a lying server might.
    struct Same<'a>(&'a [u8]);
    impl TileReader for Same<'_> {
        fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, FetchError> {
            if self.0.len() as u64 > max {
                return Err(FetchError::TooLarge {
                    path: path.to_owned(),
                    max,
                });
            }
            Ok(self.0.to_vec())
        }
    }
    let reader = Same(contents);
    let size = id.range().end.max(1);
    let mut tiles = TileHashes::new(
        &reader,
        Tree {
            size,
            root: [0; 32],
        },
    );
    // The root is all zeros, which no tile hashes to: every read must be refused.
    assert!(tiles.inclusion_proof(size - 1).is_err() || size == 1);
    let _ = tiles.entry(0);
    let _ = tiles.consistency_proof(1);
    accepted
}

/// The origin of the log whose `add-checkpoint` requests the witness seeds carry; its
/// checkpoint key is [`fixtures::REGISTRY_KEY`].
pub const WITNESS_SEED_ORIGIN: &str = "fuzz.test/log";

/// A witness's `add-checkpoint` request body: parse, canonical form, then what a witness
/// decides before its state — the log signature and the consistency proof from the old size
/// (checked against the fixed tree the seeds are made from).
pub fn check_witness_request(data: &[u8]) -> bool {
    use hallmark_keyring::tlog::witness::AddCheckpoint;
    use hallmark_keyring::tlog::{KeyType, VerifierKey, merkle};
    let Ok(request) = AddCheckpoint::parse(data) else {
        return false;
    };
    canonical("witness request", data, &request.to_bytes());
    let key = VerifierKey::new(
        WITNESS_SEED_ORIGIN,
        KeyType::Ed25519,
        fixtures::public_key(fixtures::REGISTRY_KEY),
    )
    .expect("a valid name");
    if request.note.verify(std::slice::from_ref(&key)).is_ok() && request.old <= 1000 {
        let tree = witness_seed_tree(request.old.max(request.checkpoint.tree.size).min(1000));
        if let Ok(old_root) = tree.root(request.old) {
            let _ = merkle::verify_consistency(
                request.old,
                request.checkpoint.tree.size,
                &request.proof,
                &old_root,
                &request.checkpoint.tree.root,
            );
        }
    }
    true
}

/// The fixed tree of `size` leaves the witness seeds are proved against.
pub fn witness_seed_tree(size: u64) -> hallmark_keyring::tlog::MemoryTree {
    let mut tree = hallmark_keyring::tlog::MemoryTree::new();
    for i in 0..size {
        tree.push(format!("fuzz leaf {i}").as_bytes());
    }
    tree
}
