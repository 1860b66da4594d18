//! YubiKey attestation verification against the real chains in `tests/data/yubikey/chains/`
//! (provenance in `tests/data/yubikey/SOURCE.md`) and against chains built here from a test
//! root.

// Test helpers outside `#[test]` functions fail loudly on broken fixtures, like the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hallmark_hsm::attestation::{
    self, AttestationError, AttestationReport, CertId, CertRole, EncodingProblem, ExpectedKey,
    KeyAlgorithm, KeyCheck, PinPolicy, TouchPolicy, TrustRoots,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

// ---------------------------------------------------------------------------------------------
// Helpers

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yubikey/chains")
}

fn yubico_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/yubico")
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn chain_file(chain: &str, file: &str) -> Vec<u8> {
    read(data_dir().join(chain).join(file))
}

fn f9(chain: &str) -> Vec<u8> {
    chain_file(chain, "f9.pem")
}

fn key_cert(chain: &str) -> Vec<u8> {
    chain_file(chain, "attestation-9a.pem")
}

/// PEM to DER through the PEM reader of the `der` crate, not the code under test.
fn der_of(pem: &[u8]) -> Vec<u8> {
    let (label, der) = x509_cert::der::pem::decode_vec(pem).unwrap();
    assert_eq!(label, "CERTIFICATE");
    der
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

/// Names a certificate the way errors do, computed independently of the verifier.
fn id(role: CertRole, pem_or_der: &[u8]) -> CertId {
    let der = if pem_or_der.first() == Some(&0x30) {
        pem_or_der.to_vec()
    } else {
        der_of(pem_or_der)
    };
    let cert = Certificate::from_der(&der).unwrap();
    CertId {
        role,
        subject: cert.tbs_certificate().subject().to_string().into(),
        sha256: sha256_hex(&der).into(),
    }
}

fn pem_of(der: &[u8]) -> Vec<u8> {
    use x509_cert::der::pem::LineEnding;
    x509_cert::der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)
        .unwrap()
        .into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

fn verify_yubico(device: &[u8], key: &[u8]) -> Result<AttestationReport, AttestationError> {
    attestation::verify(device, key, &TrustRoots::yubico(), None)
}

fn all_chains() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// The trust store

#[test]
fn yubico_trust_store_loads() {
    let listed: Vec<(CertRole, String, String)> = TrustRoots::yubico()
        .certificates()
        .map(|c| (c.role, c.subject.to_string(), c.sha256.to_string()))
        .collect();
    let expected = [
        (
            CertRole::Root,
            "CN=Yubico PIV Root CA Serial 263751",
            "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546",
        ),
        (
            CertRole::Root,
            "CN=Yubico U2F Root CA Serial 457200631",
            "0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42",
        ),
        (
            CertRole::Root,
            "CN=Yubico Attestation Root 1",
            "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8",
        ),
        (
            CertRole::Intermediate,
            "CN=Yubico Attestation Intermediate A 1",
            "4698a1d3389c3ec60016c216250f1d0439922832d65142327436376dc2942b55",
        ),
        (
            CertRole::Intermediate,
            "CN=Yubico Attestation Intermediate B 1",
            "d4cc3f456fdaf4e7812a21aab1dfe9d8e27d24e2fd2d6f21c9940109f0daa754",
        ),
        (
            CertRole::Intermediate,
            "CN=Yubico PIV Attestation A 1",
            "6de693f05376f5d8ca29069261e1c8626c75d503bd2edbfd75354cad1f722870",
        ),
        (
            CertRole::Intermediate,
            "CN=Yubico PIV Attestation B 1",
            "2d55b7998f4e42569d6d8fa382b6dc77d1dacf07358b19701163892922b17052",
        ),
    ];
    let expected: Vec<(CertRole, String, String)> = expected
        .iter()
        .map(|(r, s, f)| (*r, s.to_string(), f.to_string()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn yubico_intermediates_match_the_published_bundle() {
    let bundle = read(yubico_dir().join("intermediates/yubico-intermediate-bundle.pem"));
    let bundle: Vec<Vec<u8>> = Certificate::load_pem_chain(&bundle)
        .unwrap()
        .iter()
        .map(|c| c.to_der().unwrap())
        .collect();
    assert_eq!(bundle.len(), 10);
    for file in [
        "yubico-attestation-intermediate-a-1.pem",
        "yubico-attestation-intermediate-b-1.pem",
        "yubico-piv-attestation-a-1.pem",
        "yubico-piv-attestation-b-1.pem",
    ] {
        let der = der_of(&read(yubico_dir().join("intermediates").join(file)));
        assert!(bundle.contains(&der), "{file} is not in the bundle");
    }
}

#[test]
fn other_applets_intermediates_are_not_trusted() {
    // The bundle's FIDO/OpenPGP/SD intermediates must not be in the PIV trust store.
    let trusted: Vec<String> = TrustRoots::yubico()
        .certificates()
        .map(|c| c.subject.to_string())
        .collect();
    for name in ["FIDO", "OPGP", "SD"] {
        assert!(
            !trusted
                .iter()
                .any(|s| s.contains(&format!("Yubico {name} Attestation"))),
            "{name} intermediate trusted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every real chain

fn policy_name(p: PinPolicy) -> String {
    serde_json::to_value(p)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn touch_name(p: TouchPolicy) -> String {
    serde_json::to_value(p)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_real_chain_decodes_as_recorded() {
    let chains = all_chains();
    assert_eq!(chains.len(), 10, "chains: {chains:?}");
    let vectors = data_dir().parent().unwrap().to_path_buf();
    for name in chains {
        let info: Value = serde_json::from_slice(&chain_file(&name, "chain-info.json")).unwrap();
        assert_eq!(info["name"], name.as_str());
        let result = verify_yubico(&f9(&name), &key_cert(&name));
        // Every published chain is genuine; one recorded otherwise would need its exact
        // refusal asserted here.
        assert_eq!(
            info["expected"], "valid",
            "{name}: add the exact refusal for this chain"
        );
        let report = result.unwrap_or_else(|e| panic!("{name}: {e}"));

        let ext = &info["attestation_info"]["yubico_extensions"];
        assert_eq!(
            report.firmware.to_string(),
            ext["firmware"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            report.serial.map(u64::from),
            ext["serial"].as_u64(),
            "{name}"
        );
        assert_eq!(
            policy_name(report.pin_policy),
            ext["pin_policy"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            touch_name(report.touch_policy),
            ext["touch_policy"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            report.form_factor.map(|f| u64::from(f.code())),
            ext["form_factor_byte"].as_u64(),
            "{name}"
        );
        assert_eq!(
            report.slot.to_string(),
            info["slot"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(report.expected_key, KeyCheck::NotCompared);

        let algorithm = match info["attestation_info"]["public_key"].as_str().unwrap() {
            "RSAPublicKey 2048" => KeyAlgorithm::Rsa { bits: 2048 },
            "ECPublicKey 256" => KeyAlgorithm::EcdsaP256,
            "ECPublicKey 384" => KeyAlgorithm::EcdsaP384,
            other => panic!("{name}: unexpected key {other}"),
        };
        assert_eq!(report.public_key.algorithm, algorithm, "{name}");

        // The chain: per-key, F9, the recorded intermediates, the recorded root.
        let mut chain = vec![
            CertId {
                role: CertRole::KeyAttestation,
                subject: info["attestation_info"]["subject"].as_str().unwrap().into(),
                sha256: info["attestation_info"]["sha256"].as_str().unwrap().into(),
            },
            CertId {
                role: CertRole::Device,
                subject: info["f9_info"]["subject"].as_str().unwrap().into(),
                sha256: info["f9_info"]["sha256"].as_str().unwrap().into(),
            },
        ];
        for file in info["intermediates"].as_array().unwrap() {
            chain.push(id(
                CertRole::Intermediate,
                &read(vectors_file(&vectors, file)),
            ));
        }
        chain.push(id(
            CertRole::Root,
            &read(vectors_file(&vectors, &info["root"])),
        ));
        assert_eq!(report.chain, chain, "{name}");
    }
}

/// Maps a path in chain-info.json (relative to the shared vectors' `yubikey/`) to the copy here.
fn vectors_file(vectors: &Path, path: &Value) -> PathBuf {
    let path = path.as_str().unwrap();
    if let Some(rest) = path.strip_prefix("chains/") {
        vectors.join("chains").join(rest)
    } else {
        yubico_dir().join(path)
    }
}

#[test]
fn real_chains_accept_der_input_too() {
    let name = "ovh-yk5.7.4-root1";
    let from_pem = verify_yubico(&f9(name), &key_cert(name)).unwrap();
    let from_der = verify_yubico(&der_of(&f9(name)), &der_of(&key_cert(name))).unwrap();
    assert_eq!(from_pem, from_der);
}

#[test]
fn report_json_for_a_5_7_4_chain() {
    let name = "ovh-yk5.7.4-root1";
    let report = verify_yubico(&f9(name), &key_cert(name)).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let spki = json["publicKey"]["spkiDer"].as_str().unwrap().to_owned();
    let spki_der = {
        use base64ct::{Base64, Encoding};
        Base64::decode_vec(&spki).unwrap()
    };
    let cert = Certificate::from_pem(key_cert(name)).unwrap();
    assert_eq!(
        spki_der,
        cert.tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap()
    );
    let expected = serde_json::json!({
        "slot": "9a",
        "firmware": "5.7.4",
        "serial": 32718477,
        "pinPolicy": "always",
        "touchPolicy": "never",
        "formFactor": {"code": 4, "shape": "USB-C Nano", "fips": false, "cspn": false},
        "publicKey": {
            "algorithm": "rsa-2048",
            "spkiDer": spki,
            "spkiSha256": sha256_hex(&spki_der),
        },
        "expectedKey": "not-compared",
        "chain": [
            {"role": "key-attestation", "subject": "CN=YubiKey PIV Attestation 9a",
             "sha256": "663f1e9df46960c0b4d19a1c561753bfac37398d913614aa3853d2ad403ae78e"},
            {"role": "device", "subject": "CN=YubiKey PIV Attestation",
             "sha256": "e53fc3308d10ac45743a6987128510662bb763ea49923e72000d40bea807fc28"},
            {"role": "intermediate", "subject": "CN=Yubico PIV Attestation B 1",
             "sha256": "2d55b7998f4e42569d6d8fa382b6dc77d1dacf07358b19701163892922b17052"},
            {"role": "intermediate", "subject": "CN=Yubico Attestation Intermediate B 1",
             "sha256": "d4cc3f456fdaf4e7812a21aab1dfe9d8e27d24e2fd2d6f21c9940109f0daa754"},
            {"role": "root", "subject": "CN=Yubico Attestation Root 1",
             "sha256": "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8"},
        ],
    });
    assert_eq!(json, expected);
}

#[test]
fn report_text_for_a_yubikey_4_chain_without_serial() {
    let name = "pivgo-yk4-2018-u2froot";
    let report = verify_yubico(&f9(name), &key_cert(name)).unwrap();
    let text = report.to_string();
    let expected = format!(
        "attestation holds: the key in slot 9a was generated on a YubiKey
  public key    ECDSA P-256, SPKI SHA-256 {spki}
  expected key  not compared (no expected key was given)
  firmware      4.3.7
  serial        not recorded in this attestation
  form factor   not recorded in this attestation
  PIN policy    once
  touch policy  never
  chain
    per-key       CN=YubiKey PIV Attestation 9a
                  SHA-256 06842907b3b2ea05ab815dbea814c1fcb760157c0d803485caca71c7768cbce2
    device (F9)   CN=Yubico PIV Attestation
                  SHA-256 5378deb2de3f07591469ce1474b5934794755bfa6dcc38ce2c3552248e862b26
    trusted root  CN=Yubico U2F Root CA Serial 457200631
                  SHA-256 0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42
",
        spki = report.public_key.spki_sha256
    );
    assert_eq!(text, expected);
}

#[test]
fn report_text_for_a_5_7_2_bio_chain() {
    let name = "tmc-5-7-2";
    let report = verify_yubico(&f9(name), &key_cert(name)).unwrap();
    let text = report.to_string();
    assert!(
        text.starts_with(
            "attestation holds: the key in slot 9a was generated on YubiKey serial 30000948\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  form factor   USB-C Bio Keychain (0x07)\n"),
        "{text}"
    );
    assert!(text.contains("\n  serial        30000948\n"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Comparing the attested key with the expected key

fn csr_spki(chain: &str) -> Vec<u8> {
    let pem = chain_file(chain, "request.csr.pem");
    let pem = pem.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&pem);
    let csr = x509_cert::request::CertReq::from_pem(pem).unwrap();
    csr.info.public_key.to_der().unwrap()
}

/// The SubjectPublicKeyInfo of an `ssh-rsa` public key line, built from its wire format.
fn ssh_rsa_spki(line: &[u8]) -> Vec<u8> {
    use base64ct::{Base64, Encoding};
    let text = std::str::from_utf8(line).unwrap();
    let mut fields = text.split_whitespace();
    assert_eq!(fields.next(), Some("ssh-rsa"));
    let blob = Base64::decode_vec(fields.next().unwrap()).unwrap();
    let mut rest = blob.as_slice();
    let mut next = || {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let value = rest[4..4 + len].to_vec();
        rest = &rest[4 + len..];
        value
    };
    assert_eq!(next(), b"ssh-rsa");
    let (e, n) = (next(), next());
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            len @ 0..=0x7f => out.push(len as u8),
            len @ 0x80..=0xff => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(content);
        out
    }
    // ssh mpints are already minimal two's complement, as DER INTEGERs are.
    let pkcs1 = tlv(0x30, &[tlv(0x02, &n), tlv(0x02, &e)].concat());
    let algorithm = tlv(
        0x30,
        &[
            tlv(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    tlv(
        0x30,
        &[algorithm, tlv(0x03, &[&[0u8][..], &pkcs1].concat())].concat(),
    )
}

#[test]
fn attested_key_matches_the_key_in_the_csr() {
    for name in [
        "tmc-5-2-7",
        "tmc-5-7-2",
        "tmc-attestation-1",
        "tmc-csr-5-7-4-standard",
    ] {
        let expected = ExpectedKey::SpkiDer(csr_spki(name));
        let report = attestation::verify(
            &f9(name),
            &key_cert(name),
            &TrustRoots::yubico(),
            Some(&expected),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.expected_key, KeyCheck::Matches, "{name}");
    }
}

#[test]
fn attested_key_matches_the_ssh_public_key() {
    for name in ["ovh-yk4.3.5-root263751", "ovh-yk5.7.4-root1"] {
        let expected = ExpectedKey::SpkiDer(ssh_rsa_spki(&chain_file(name, "ssh-key.pub")));
        let report = attestation::verify(
            &f9(name),
            &key_cert(name),
            &TrustRoots::yubico(),
            Some(&expected),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.expected_key, KeyCheck::Matches, "{name}");
    }
}

#[test]
fn a_mismatched_enrolled_key_is_refused() {
    let name = "tmc-attestation-1";
    // Same device, same algorithm (P-384), another key.
    let other = csr_spki("tmc-csr-5-7-4-standard");
    let err = attestation::verify(
        &f9(name),
        &key_cert(name),
        &TrustRoots::yubico(),
        Some(&ExpectedKey::SpkiDer(other.clone())),
    )
    .unwrap_err();
    let attested = csr_spki(name);
    match err {
        AttestationError::KeyMismatch {
            key_cert: k,
            attested: a,
            expected: e,
        } => {
            assert_eq!(k, id(CertRole::KeyAttestation, &key_cert(name)));
            assert_eq!(
                a,
                format!("ECDSA P-384, SPKI SHA-256 {}", sha256_hex(&attested))
            );
            assert_eq!(
                e,
                format!("ECDSA P-384, SPKI SHA-256 {}", sha256_hex(&other))
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // An Ed25519 key enrolled against an RSA attestation.
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let err = attestation::verify(
        &f9("tmc-5-2-7"),
        &key_cert("tmc-5-2-7"),
        &TrustRoots::yubico(),
        Some(&ExpectedKey::Ed25519(ed)),
    )
    .unwrap_err();
    let mut ed_spki = hex_decode("302a300506032b6570032100");
    ed_spki.extend_from_slice(ed.as_bytes());
    match err {
        AttestationError::KeyMismatch {
            attested, expected, ..
        } => {
            assert_eq!(
                attested,
                format!(
                    "RSA 2048, SPKI SHA-256 {}",
                    sha256_hex(&csr_spki("tmc-5-2-7"))
                )
            );
            assert_eq!(
                expected,
                format!("Ed25519, SPKI SHA-256 {}", sha256_hex(&ed_spki))
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_malformed_expected_key_is_an_input_error() {
    let name = "tmc-5-2-7";
    let err = attestation::verify(
        &f9(name),
        &key_cert(name),
        &TrustRoots::yubico(),
        Some(&ExpectedKey::SpkiDer(b"not a key".to_vec())),
    )
    .unwrap_err();
    assert!(
        matches!(err, AttestationError::InvalidExpectedKey { .. }),
        "{err:?}"
    );
    assert!(err.is_input_error());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tampering and mismatches on real chains

/// Flips one byte of `der` at `offset` and checks the result still decodes as a certificate
/// (so that the refusal comes from the signature, not the parser).
fn flipped(der: &[u8], offset: usize) -> Vec<u8> {
    let mut out = der.to_vec();
    out[offset] ^= 0x01;
    Certificate::from_der(&out).expect("the flipped certificate still decodes");
    out
}

#[test]
fn a_flipped_byte_in_the_signed_part_of_the_key_cert_is_refused() {
    let name = "ovh-yk5.7.4-root1";
    let der = der_of(&key_cert(name));
    // The serial extension's value: INTEGER 32718477 = 02 04 01 f3 3e 8d.
    let at = find(&der, &[0x02, 0x04, 0x01, 0xf3, 0x3e, 0x8d]) + 4;
    let tampered = flipped(&der, at);
    let err = verify_yubico(&f9(name), &tampered).unwrap_err();
    match &err {
        AttestationError::KeyCertSignatureInvalid {
            key_cert: k,
            device,
        } => {
            assert_eq!(*k, id(CertRole::KeyAttestation, &tampered));
            assert_eq!(*device, id(CertRole::Device, &f9(name)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_input_error());
    assert_eq!(err.code(), "key-cert-signature-invalid");
    assert_eq!(
        err.to_string(),
        format!(
            "the signature on per-key attestation certificate \"CN=YubiKey PIV Attestation 9a\" \
             (SHA-256 {}) does not verify with the key of device certificate (slot F9) \
             \"CN=YubiKey PIV Attestation\" (SHA-256 \
             e53fc3308d10ac45743a6987128510662bb763ea49923e72000d40bea807fc28): it was signed \
             by another device, or one of the two certificates was altered",
            sha256_hex(&tampered)
        )
    );
}

#[test]
fn a_flipped_byte_in_the_key_cert_signature_is_refused() {
    let name = "pivgo-yk5-root263751";
    let der = der_of(&key_cert(name));
    let tampered = flipped(&der, der.len() - 10);
    let err = verify_yubico(&f9(name), &tampered).unwrap_err();
    match err {
        AttestationError::KeyCertSignatureInvalid {
            key_cert: k,
            device,
        } => {
            assert_eq!(k, id(CertRole::KeyAttestation, &tampered));
            assert_eq!(device, id(CertRole::Device, &f9(name)));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_the_device_cert_is_refused() {
    let name = "tmc-5-2-7";
    let der = der_of(&f9(name));
    // Inside the F9 certificate's serial number (917d726c4ddbea00), before the key.
    let at = find(&der, &hex_decode("917d726c4ddbea00")) + 3;
    let tampered = flipped(&der, at);
    let err = verify_yubico(&tampered, &key_cert(name)).unwrap_err();
    match err {
        AttestationError::ChainSignatureInvalid { cert, issuer } => {
            assert_eq!(cert, id(CertRole::Device, &tampered));
            assert_eq!(
                issuer,
                id(
                    CertRole::Root,
                    &read(yubico_dir().join("roots/yubico-piv-ca-1.pem"))
                )
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_key_cert_under_another_device_is_refused() {
    // Both device certificates are named "Yubico PIV Attestation": the names match, the
    // signature does not.
    let err = verify_yubico(&f9("tmc-5-2-7"), &key_cert("pivgo-yk5-root263751")).unwrap_err();
    match err {
        AttestationError::KeyCertSignatureInvalid {
            key_cert: k,
            device,
        } => {
            assert_eq!(
                k,
                id(CertRole::KeyAttestation, &key_cert("pivgo-yk5-root263751"))
            );
            assert_eq!(device, id(CertRole::Device, &f9("tmc-5-2-7")));
        }
        other => panic!("unexpected {other:?}"),
    }

    // A 5.7.4 key certificate names "YubiKey PIV Attestation" as its issuer.
    let err = verify_yubico(&f9("tmc-5-2-7"), &key_cert("ovh-yk5.7.4-root1")).unwrap_err();
    match err {
        AttestationError::KeyCertIssuerMismatch {
            key_cert: k,
            issuer,
            device,
        } => {
            assert_eq!(
                k,
                id(CertRole::KeyAttestation, &key_cert("ovh-yk5.7.4-root1"))
            );
            assert_eq!(issuer, "CN=YubiKey PIV Attestation");
            assert_eq!(device, id(CertRole::Device, &f9("tmc-5-2-7")));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_device_cert_under_an_unknown_root_is_refused() {
    let name = "pivgo-yk5-root263751";
    // Trust only the 5.7.4+ root: the PIV root of this device is unknown.
    let trust = TrustRoots::empty()
        .with_extra_root(&read(yubico_dir().join("roots/yubico-ca-1.pem")))
        .unwrap();
    let err = attestation::verify(&f9(name), &key_cert(name), &trust, None).unwrap_err();
    match err {
        AttestationError::UnknownIssuer { cert, issuer } => {
            assert_eq!(cert, id(CertRole::Device, &f9(name)));
            assert_eq!(issuer, "CN=Yubico PIV Root CA Serial 263751");
        }
        other => panic!("unexpected {other:?}"),
    }

    // A 5.7.4 chain needs its intermediates: with the root alone the path is broken.
    let name = "ovh-yk5.7.4-root1";
    let err = attestation::verify(&f9(name), &key_cert(name), &trust, None).unwrap_err();
    match err {
        AttestationError::UnknownIssuer { cert, issuer } => {
            assert_eq!(cert, id(CertRole::Device, &f9(name)));
            assert_eq!(issuer, "CN=Yubico PIV Attestation B 1");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn swapped_certificates_are_refused() {
    let name = "ovh-yk4.3.5-root263751";
    let err = verify_yubico(&key_cert(name), &f9(name)).unwrap_err();
    match &err {
        AttestationError::SwappedCertificates {
            device,
            key_cert: k,
        } => {
            assert_eq!(*device, id(CertRole::Device, &key_cert(name)));
            assert_eq!(*k, id(CertRole::KeyAttestation, &f9(name)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_input_error());
    assert_eq!(err.code(), "swapped-certificates");
}

#[test]
fn two_key_certs_or_two_device_certs_are_refused() {
    let a = key_cert("tmc-attestation-1");
    let err = verify_yubico(&a, &a).unwrap_err();
    match err {
        AttestationError::DeviceCertIsKeyAttestation { device } => {
            assert_eq!(device, id(CertRole::Device, &a));
        }
        other => panic!("unexpected {other:?}"),
    }
    let d = f9("tmc-attestation-1");
    let err = verify_yubico(&d, &d).unwrap_err();
    match err {
        AttestationError::NotAKeyAttestation { key_cert: k } => {
            assert_eq!(k, id(CertRole::KeyAttestation, &d));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Replaces every occurrence of the sha256WithRSAEncryption OID's last byte.
fn with_signature_oid(der: &[u8], last: u8, occurrences: usize) -> Vec<u8> {
    let oid = hex_decode("06092a864886f70d01010b");
    let mut out = der.to_vec();
    let mut done = 0;
    let mut from = 0;
    while done < occurrences {
        let at = from + find(&out[from..], &oid);
        out[at + oid.len() - 1] = last;
        from = at + oid.len();
        done += 1;
    }
    out
}

#[test]
fn unsupported_signature_algorithms_are_refused_by_oid() {
    let name = "tmc-5-7-2";
    let der = der_of(&key_cert(name));
    // Both the TBS and the outer identifier say sha1WithRSAEncryption.
    let sha1 = with_signature_oid(&der, 0x05, 2);
    let err = verify_yubico(&f9(name), &sha1).unwrap_err();
    match &err {
        AttestationError::UnsupportedSignatureAlgorithm {
            cert,
            oid,
            name: alg,
        } => {
            assert_eq!(*cert, id(CertRole::KeyAttestation, &sha1));
            assert_eq!(oid, "1.2.840.113549.1.1.5");
            assert_eq!(*alg, "sha1WithRSAEncryption (SHA-1 is broken)");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("(OID 1.2.840.113549.1.1.5)"),
        "{err}"
    );

    let unknown = with_signature_oid(&der, 0x63, 2);
    let err = verify_yubico(&f9(name), &unknown).unwrap_err();
    match err {
        AttestationError::UnsupportedSignatureAlgorithm { oid, name: alg, .. } => {
            assert_eq!(oid, "1.2.840.113549.1.1.99");
            assert_eq!(alg, "an unknown algorithm");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Only the identifier inside the signed part changes.
    let inner_only = with_signature_oid(&der, 0x0c, 1);
    let err = verify_yubico(&f9(name), &inner_only).unwrap_err();
    match err {
        AttestationError::SignatureAlgorithmMismatch { cert, outer, inner } => {
            assert_eq!(cert, id(CertRole::KeyAttestation, &inner_only));
            assert_eq!(outer, "1.2.840.113549.1.1.11");
            assert_eq!(inner, "1.2.840.113549.1.1.12");
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed input

fn encoding_problem(device: &[u8], key: &[u8]) -> (CertRole, EncodingProblem) {
    match verify_yubico(device, key).unwrap_err() {
        e @ AttestationError::Encoding { .. } => {
            assert!(e.is_input_error());
            match e {
                AttestationError::Encoding { role, problem } => (role, problem),
                _ => unreachable!(),
            }
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_input_is_refused_with_the_reason() {
    let name = "tmc-5-2-7";
    let (d, k) = (f9(name), key_cert(name));
    let d_der = der_of(&d);
    let k_der = der_of(&k);

    // Truncated PEM: the end line is gone.
    let truncated = &k[..k.len() / 2];
    assert_eq!(
        encoding_problem(&d, truncated),
        (
            CertRole::KeyAttestation,
            EncodingProblem::Pem {
                detail: "no -----END CERTIFICATE----- line".to_owned()
            }
        )
    );

    // Truncated DER.
    let (role, problem) = encoding_problem(&d_der[..d_der.len() - 1], &k);
    assert_eq!(role, CertRole::Device);
    assert!(
        matches!(problem, EncodingProblem::Der { .. }),
        "{problem:?}"
    );

    // Garbage.
    assert_eq!(
        encoding_problem(b"hello, world\n", &k),
        (CertRole::Device, EncodingProblem::NotPemOrDer)
    );
    assert_eq!(
        encoding_problem(&d, b" \n\t"),
        (CertRole::KeyAttestation, EncodingProblem::Empty)
    );
    assert_eq!(
        encoding_problem(&d, b""),
        (CertRole::KeyAttestation, EncodingProblem::Empty)
    );

    // Trailing garbage after PEM, and after DER.
    let mut trailing = k.clone();
    trailing.extend_from_slice(b"junk\n");
    assert_eq!(
        encoding_problem(&d, &trailing),
        (
            CertRole::KeyAttestation,
            EncodingProblem::TrailingData { bytes: 4 }
        )
    );
    let mut trailing = d_der.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        encoding_problem(&trailing, &k),
        (CertRole::Device, EncodingProblem::TrailingData { bytes: 3 })
    );

    // Two certificates where one is expected: PEM and DER.
    let both = [d.clone(), k.clone()].concat();
    assert_eq!(
        encoding_problem(&both, &k),
        (
            CertRole::Device,
            EncodingProblem::MultipleCertificates { count: 2 }
        )
    );
    let both = [k_der.clone(), d_der.clone()].concat();
    assert_eq!(
        encoding_problem(&d, &both),
        (
            CertRole::KeyAttestation,
            EncodingProblem::MultipleCertificates { count: 2 }
        )
    );

    // Text before the PEM block.
    let leading = [b"Certificate:\n".as_slice(), &d].concat();
    assert_eq!(
        encoding_problem(&leading, &k),
        (CertRole::Device, EncodingProblem::LeadingData)
    );

    // Another PEM label.
    let label = String::from_utf8(k.clone())
        .unwrap()
        .replace("CERTIFICATE", "PUBLIC KEY");
    assert_eq!(
        encoding_problem(&d, label.as_bytes()),
        (
            CertRole::KeyAttestation,
            EncodingProblem::WrongPemLabel {
                label: "PUBLIC KEY".into()
            }
        )
    );

    // Broken base64.
    let mut bad = k.clone();
    let at = find(&bad, b"\n") + 5;
    bad[at] = b'*';
    let (role, problem) = encoding_problem(&d, &bad);
    assert_eq!(role, CertRole::KeyAttestation);
    match problem {
        EncodingProblem::Pem { detail } => {
            assert!(detail.starts_with("invalid base64"), "{detail}")
        }
        other => panic!("unexpected {other:?}"),
    }

    // The message names the input and the problem.
    let err = verify_yubico(&d, &trailing_text(&k)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read the per-key attestation certificate: 4 unexpected byte(s) follow the \
         certificate"
    );
}

fn trailing_text(pem: &[u8]) -> Vec<u8> {
    [pem, b"junk"].concat()
}

#[test]
fn harmless_pem_variations_are_accepted() {
    let name = "tmc-5-2-7";
    let (d, k) = (f9(name), key_cert(name));
    let reference = verify_yubico(&d, &k).unwrap();
    // CRLF line endings, a byte-order mark, surrounding blank lines, 76-column base64.
    let crlf = String::from_utf8(k.clone()).unwrap().replace('\n', "\r\n");
    assert_eq!(verify_yubico(&d, crlf.as_bytes()).unwrap(), reference);
    let bom = [b"\xEF\xBB\xBF".as_slice(), &d].concat();
    assert_eq!(verify_yubico(&bom, &k).unwrap(), reference);
    let padded = [b"\n\n".as_slice(), &k, b"\n\n"].concat();
    assert_eq!(verify_yubico(&d, &padded).unwrap(), reference);
    let wide = {
        use base64ct::{Base64, Encoding};
        let b64 = Base64::encode_string(&der_of(&k));
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    assert_eq!(verify_yubico(&d, wide.as_bytes()).unwrap(), reference);
}

#[test]
fn extra_roots_must_be_certificates_with_usable_keys() {
    let err = TrustRoots::yubico()
        .with_extra_root(b"nonsense")
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttestationError::Encoding {
                role: CertRole::Root,
                problem: EncodingProblem::NotPemOrDer
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Synthetic chains from a test root

const YUBICO_FIRMWARE: &str = "1.3.6.1.4.1.41482.3.3";
const YUBICO_SERIAL: &str = "1.3.6.1.4.1.41482.3.7";
const YUBICO_POLICY: &str = "1.3.6.1.4.1.41482.3.8";
const YUBICO_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";

struct Profile {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn ext(oid: &str, critical: bool, value: &[u8]) -> Extension {
    Extension {
        extn_id: ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: OctetString::new(value.to_vec()).unwrap(),
    }
}

fn basic_constraints(ca: bool) -> Extension {
    let value = BasicConstraints {
        ca,
        path_len_constraint: ca.then_some(0),
    }
    .to_der()
    .unwrap();
    ext("2.5.29.19", true, &value)
}

/// Yubico's validity: 2016-03-14 to 2052-04-17, like the real PIV chains.
fn validity() -> Validity {
    Validity::new(
        Time::from(UtcTime::from_unix_duration(Duration::from_secs(1_457_913_600)).unwrap()),
        Time::from(
            GeneralizedTime::from_unix_duration(Duration::from_secs(2_596_838_400)).unwrap(),
        ),
    )
}

fn builder(
    issuer: &str,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
) -> CertificateBuilder<Profile> {
    let profile = Profile {
        issuer: Name::from_str(issuer).unwrap(),
        subject: Name::from_str(subject).unwrap(),
        extensions,
    };
    CertificateBuilder::new(
        profile,
        SerialNumber::from(0x1234_5678u32),
        validity(),
        spki,
    )
    .unwrap()
}

fn spki_of<K: x509_cert::spki::EncodePublicKey>(key: &K) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(key).unwrap()
}

const ROOT: &str = "CN=Hallmark Test Attestation Root";
const DEVICE: &str = "CN=Yubico PIV Attestation";

/// A test PKI: an Ed25519 root, a P-256 device key (as YubiKey F9 keys may be), and an Ed25519
/// key generated "on the device" in slot 9c.
struct TestPki {
    root: ed25519_dalek::SigningKey,
    device: p256::ecdsa::SigningKey,
    key: ed25519_dalek::VerifyingKey,
}

impl TestPki {
    fn new() -> Self {
        TestPki {
            root: ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]),
            device: p256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap(),
            key: ed25519_dalek::SigningKey::from_bytes(&[0x33; 32]).verifying_key(),
        }
    }

    fn root_cert(&self) -> Vec<u8> {
        let root_ext = vec![basic_constraints(true)];
        let cert = builder(ROOT, ROOT, spki_of(&self.root.verifying_key()), root_ext)
            .build::<_, ed25519_dalek::Signature>(&self.root)
            .unwrap();
        pem_of(&cert.to_der().unwrap())
    }

    fn device_cert(&self, extensions: Vec<Extension>) -> Vec<u8> {
        let cert = builder(
            ROOT,
            DEVICE,
            spki_of(self.device.verifying_key()),
            extensions,
        )
        .build::<_, ed25519_dalek::Signature>(&self.root)
        .unwrap();
        pem_of(&cert.to_der().unwrap())
    }

    fn standard_device_cert(&self) -> Vec<u8> {
        self.device_cert(vec![
            ext(YUBICO_FIRMWARE, false, &[5, 7, 1]),
            basic_constraints(true),
        ])
    }

    fn key_cert(&self, subject: &str, extensions: Vec<Extension>) -> Vec<u8> {
        let cert = builder(DEVICE, subject, spki_of(&self.key), extensions)
            .build::<_, p256::ecdsa::DerSignature>(&self.device)
            .unwrap();
        pem_of(&cert.to_der().unwrap())
    }

    fn standard_key_cert(&self) -> Vec<u8> {
        self.key_cert("CN=YubiKey PIV Attestation 9c", standard_key_extensions())
    }

    fn trust(&self) -> TrustRoots {
        TrustRoots::yubico()
            .with_extra_root(&self.root_cert())
            .unwrap()
    }
}

fn standard_key_extensions() -> Vec<Extension> {
    vec![
        ext(YUBICO_FIRMWARE, false, &[5, 7, 1]),
        // INTEGER 12345678
        ext(YUBICO_SERIAL, false, &[0x02, 0x04, 0x00, 0xbc, 0x61, 0x4e]),
        // PIN once, touch always
        ext(YUBICO_POLICY, false, &[2, 2]),
        // USB-C Keychain, FIPS
        ext(YUBICO_FORM_FACTOR, false, &[0x83]),
    ]
}

#[test]
fn synthetic_ed25519_chain_is_accepted_with_its_root_and_refused_without() {
    let pki = TestPki::new();
    let (device, key) = (pki.standard_device_cert(), pki.standard_key_cert());

    let report = attestation::verify(
        &device,
        &key,
        &pki.trust(),
        Some(&ExpectedKey::Ed25519(pki.key)),
    )
    .unwrap();
    assert_eq!(report.slot.to_string(), "9c");
    assert_eq!(report.slot.id(), 0x9c);
    assert_eq!(report.firmware.to_string(), "5.7.1");
    assert_eq!(report.serial, Some(12_345_678));
    assert_eq!(report.pin_policy, PinPolicy::Once);
    assert_eq!(report.touch_policy, TouchPolicy::Always);
    let ff = report.form_factor.unwrap();
    assert_eq!(
        (ff.code(), ff.shape(), ff.is_fips(), ff.is_cspn()),
        (0x83, Some("USB-C Keychain"), true, false)
    );
    assert_eq!(ff.to_string(), "USB-C Keychain, FIPS (0x83)");
    assert_eq!(report.public_key.algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(report.public_key.ed25519(), Some(pki.key));
    assert_eq!(report.expected_key, KeyCheck::Matches);
    assert_eq!(
        report.chain,
        vec![
            id(CertRole::KeyAttestation, &key),
            id(CertRole::Device, &device),
            id(CertRole::Root, &pki.root_cert()),
        ]
    );

    // Without the test root: Yubico's roots do not know it.
    let err = verify_yubico(&device, &key).unwrap_err();
    match err {
        AttestationError::UnknownIssuer { cert, issuer } => {
            assert_eq!(cert, id(CertRole::Device, &device));
            assert_eq!(issuer, ROOT);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn synthetic_chain_with_an_ed25519_device_key_and_p384_attested_key() {
    let root = ed25519_dalek::SigningKey::from_bytes(&[0x44; 32]);
    let device = ed25519_dalek::SigningKey::from_bytes(&[0x55; 32]);
    let attested = p384::ecdsa::SigningKey::from_slice(&[0x66; 48]).unwrap();
    let root_cert = builder(ROOT, ROOT, spki_of(&root.verifying_key()), vec![])
        .build::<_, ed25519_dalek::Signature>(&root)
        .unwrap();
    // A 4.3-style device certificate: no basicConstraints at all.
    let device_cert = builder(
        ROOT,
        DEVICE,
        spki_of(&device.verifying_key()),
        vec![ext(YUBICO_FIRMWARE, false, &[4, 3, 5])],
    )
    .build::<_, ed25519_dalek::Signature>(&root)
    .unwrap();
    let key_cert = builder(
        DEVICE,
        "CN=YubiKey PIV Attestation 95",
        spki_of(attested.verifying_key()),
        vec![
            ext(YUBICO_FIRMWARE, false, &[4, 3, 5]),
            ext(YUBICO_POLICY, false, &[3, 3]),
        ],
    )
    .build::<_, ed25519_dalek::Signature>(&device)
    .unwrap();
    let trust = TrustRoots::empty()
        .with_extra_root(&root_cert.to_der().unwrap())
        .unwrap();
    let expected = ExpectedKey::SpkiDer(spki_of(attested.verifying_key()).to_der().unwrap());
    let report = attestation::verify(
        &device_cert.to_der().unwrap(),
        &key_cert.to_der().unwrap(),
        &trust,
        Some(&expected),
    )
    .unwrap();
    assert_eq!(report.slot.to_string(), "95");
    assert_eq!(report.firmware.to_string(), "4.3.5");
    assert_eq!((report.serial, report.form_factor), (None, None));
    assert_eq!(
        (report.pin_policy, report.touch_policy),
        (PinPolicy::Always, TouchPolicy::Cached)
    );
    assert_eq!(report.public_key.algorithm, KeyAlgorithm::EcdsaP384);
    assert_eq!(report.public_key.ed25519(), None);
    assert_eq!(report.expected_key, KeyCheck::Matches);
}

#[test]
fn synthetic_chain_through_extra_intermediates() {
    let pki = TestPki::new();
    let inter_key = ed25519_dalek::SigningKey::from_bytes(&[0x77; 32]);
    const INTER: &str = "CN=Hallmark Test PIV Attestation Intermediate";
    let inter = |extensions| {
        let cert = builder(ROOT, INTER, spki_of(&inter_key.verifying_key()), extensions)
            .build::<_, ed25519_dalek::Signature>(&pki.root)
            .unwrap();
        pem_of(&cert.to_der().unwrap())
    };
    let device = builder(
        INTER,
        DEVICE,
        spki_of(pki.device.verifying_key()),
        vec![basic_constraints(true)],
    )
    .build::<_, ed25519_dalek::Signature>(&inter_key)
    .unwrap();
    let device = pem_of(&device.to_der().unwrap());
    let key = pki.standard_key_cert();

    let good = inter(vec![basic_constraints(true)]);
    let trust = pki.trust().with_extra_intermediate(&good).unwrap();
    let report = attestation::verify(&device, &key, &trust, None).unwrap();
    assert_eq!(
        report.chain.iter().map(|c| c.role).collect::<Vec<_>>(),
        [
            CertRole::KeyAttestation,
            CertRole::Device,
            CertRole::Intermediate,
            CertRole::Root
        ]
    );
    assert_eq!(report.chain[2], id(CertRole::Intermediate, &good));

    // An intermediate that is not a CA may not issue the device certificate.
    let not_ca = inter(vec![]);
    let trust = pki.trust().with_extra_intermediate(&not_ca).unwrap();
    match attestation::verify(&device, &key, &trust, None).unwrap_err() {
        AttestationError::NotACa { cert, detail } => {
            assert_eq!(cert, id(CertRole::Intermediate, &not_ca));
            assert_eq!(detail, "it has no basicConstraints CA:TRUE");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Intermediates that issue each other in a loop never reach a root.
    let a_key = ed25519_dalek::SigningKey::from_bytes(&[0x88; 32]);
    let b_key = ed25519_dalek::SigningKey::from_bytes(&[0x99; 32]);
    let cross = |issuer: &str, subject: &str, subject_key: &ed25519_dalek::SigningKey, signer| {
        let cert = builder(
            issuer,
            subject,
            spki_of(&subject_key.verifying_key()),
            vec![basic_constraints(true)],
        )
        .build::<_, ed25519_dalek::Signature>(signer)
        .unwrap();
        pem_of(&cert.to_der().unwrap())
    };
    let a = cross("CN=Loop B", "CN=Loop A", &a_key, &b_key);
    let b = cross("CN=Loop A", "CN=Loop B", &b_key, &a_key);
    let device = builder(
        "CN=Loop A",
        DEVICE,
        spki_of(pki.device.verifying_key()),
        vec![],
    )
    .build::<_, ed25519_dalek::Signature>(&a_key)
    .unwrap();
    let device = pem_of(&device.to_der().unwrap());
    let trust = TrustRoots::empty()
        .with_extra_intermediate(&a)
        .unwrap()
        .with_extra_intermediate(&b)
        .unwrap();
    match attestation::verify(&device, &key, &trust, None).unwrap_err() {
        AttestationError::UnknownIssuer { cert, issuer } => {
            // After A and B, B's issuer A is already on the path: nothing else is named A.
            assert_eq!(cert, id(CertRole::Intermediate, &b));
            assert_eq!(issuer, "CN=Loop A");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn chains_longer_than_the_limit_are_refused() {
    let pki = TestPki::new();
    // root <- I1 <- I2 <- I3 <- I4 <- device: four intermediates and a root is five issuers.
    let keys: Vec<ed25519_dalek::SigningKey> = (1..=4)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[0xa0 + i; 32]))
        .collect();
    let mut trust = pki.trust();
    let mut issuer_name = ROOT.to_owned();
    let mut issuer_key = &pki.root;
    for (i, key) in keys.iter().enumerate() {
        let name = format!("CN=Level {}", i + 1);
        let cert = builder(
            &issuer_name,
            &name,
            spki_of(&key.verifying_key()),
            vec![basic_constraints(true)],
        )
        .build::<_, ed25519_dalek::Signature>(issuer_key)
        .unwrap();
        trust = trust
            .with_extra_intermediate(&cert.to_der().unwrap())
            .unwrap();
        issuer_name = name;
        issuer_key = key;
    }
    let device = builder(
        &issuer_name,
        DEVICE,
        spki_of(pki.device.verifying_key()),
        vec![],
    )
    .build::<_, ed25519_dalek::Signature>(issuer_key)
    .unwrap();
    let device = pem_of(&device.to_der().unwrap());
    match attestation::verify(&device, &pki.standard_key_cert(), &trust, None).unwrap_err() {
        AttestationError::ChainTooLong { cert, limit } => {
            assert_eq!(limit, 4);
            assert_eq!(cert.subject.as_ref(), "CN=Level 1");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_impostor_using_a_yubico_root_name_is_refused() {
    let pki = TestPki::new();
    let device = builder(
        "CN=Yubico PIV Root CA Serial 263751",
        DEVICE,
        spki_of(pki.device.verifying_key()),
        vec![],
    )
    .build::<_, ed25519_dalek::Signature>(&pki.root)
    .unwrap();
    let device = pem_of(&device.to_der().unwrap());
    match verify_yubico(&device, &pki.standard_key_cert()).unwrap_err() {
        AttestationError::IssuerKeyMismatch {
            cert,
            algorithm,
            issuer,
            key,
        } => {
            assert_eq!(cert, id(CertRole::Device, &device));
            assert_eq!(algorithm, "Ed25519");
            assert_eq!(
                issuer,
                id(
                    CertRole::Root,
                    &read(yubico_dir().join("roots/yubico-piv-ca-1.pem"))
                )
            );
            assert_eq!(key, "RSA 2048");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn yubico_extension_problems_are_named() {
    let pki = TestPki::new();
    let device = pki.standard_device_cert();
    let trust = pki.trust();
    let check = |extensions: Vec<Extension>| {
        let key = pki.key_cert("CN=YubiKey PIV Attestation 9c", extensions);
        let err = attestation::verify(&device, &key, &trust, None).unwrap_err();
        (id(CertRole::KeyAttestation, &key), err)
    };
    let mut exts = standard_key_extensions();

    // Missing policy.
    exts.retain(|e| e.extn_id.to_string() != YUBICO_POLICY);
    let (k, err) = check(exts.clone());
    match err {
        AttestationError::MissingExtension {
            key_cert,
            extension,
            oid,
        } => {
            assert_eq!(key_cert, k);
            assert_eq!((extension, oid), ("PIN and touch policy", YUBICO_POLICY));
        }
        other => panic!("unexpected {other:?}"),
    }

    let malformed = |extensions: Vec<Extension>| match check(extensions) {
        (
            k,
            AttestationError::MalformedExtension {
                key_cert,
                extension,
                oid,
                detail,
            },
        ) => {
            assert_eq!(key_cert, k);
            (extension, oid, detail)
        }
        (_, other) => panic!("unexpected {other:?}"),
    };
    let with = |oid: &str, value: &[u8]| {
        let mut exts = standard_key_extensions();
        exts.retain(|e| e.extn_id.to_string() != oid);
        exts.push(ext(oid, false, value));
        exts
    };
    assert_eq!(
        malformed(with(YUBICO_POLICY, &[9, 1])),
        (
            "PIN and touch policy",
            YUBICO_POLICY,
            "unknown PIN policy value 9".to_owned()
        )
    );
    assert_eq!(
        malformed(with(YUBICO_POLICY, &[1, 0])),
        (
            "PIN and touch policy",
            YUBICO_POLICY,
            "unknown touch policy value 0".to_owned()
        )
    );
    assert_eq!(
        malformed(with(YUBICO_POLICY, &[1])),
        (
            "PIN and touch policy",
            YUBICO_POLICY,
            "1 bytes, not 2".to_owned()
        )
    );
    assert_eq!(
        malformed(with(YUBICO_FIRMWARE, &[5, 7])),
        (
            "firmware version",
            YUBICO_FIRMWARE,
            "2 bytes, not 3".to_owned()
        )
    );
    assert_eq!(
        malformed(with(YUBICO_FORM_FACTOR, &[1, 2])),
        (
            "form factor",
            YUBICO_FORM_FACTOR,
            "2 bytes, not 1".to_owned()
        )
    );
    let (_, _, detail) = malformed(with(YUBICO_SERIAL, &[0x04, 0x01, 0x01]));
    assert!(
        detail.starts_with("not a DER INTEGER from 0 to 2^32-1"),
        "{detail}"
    );
    let mut twice = standard_key_extensions();
    twice.push(ext(YUBICO_FIRMWARE, false, &[5, 7, 2]));
    assert_eq!(
        malformed(twice),
        (
            "firmware version",
            YUBICO_FIRMWARE,
            "it appears more than once".to_owned()
        )
    );

    // Bio policies decode.
    let key = pki.key_cert(
        "CN=YubiKey PIV Attestation 9a",
        with(YUBICO_POLICY, &[4, 1]),
    );
    let report = attestation::verify(&device, &key, &trust, None).unwrap();
    assert_eq!(report.pin_policy, PinPolicy::MatchOnce);
    let key = pki.key_cert(
        "CN=YubiKey PIV Attestation 9a",
        with(YUBICO_POLICY, &[5, 1]),
    );
    let report = attestation::verify(&device, &key, &trust, None).unwrap();
    assert_eq!(report.pin_policy, PinPolicy::MatchAlways);
}

#[test]
fn subjects_that_name_no_key_slot_are_refused() {
    let pki = TestPki::new();
    let device = pki.standard_device_cert();
    for subject in [
        "CN=YubiKey PIV Attestation f9",
        "CN=YubiKey PIV Attestation 9b",
        "CN=YubiKey PIV Attestation 9c9",
        "CN=YubiKey PIV Attestation",
        "CN=YubiKey PIV Attestation 9c,O=Elsewhere",
    ] {
        let key = pki.key_cert(subject, vec![ext(YUBICO_FIRMWARE, false, &[5, 7, 1])]);
        match attestation::verify(&device, &key, &pki.trust(), None).unwrap_err() {
            AttestationError::NotAKeyAttestation { key_cert } => {
                assert_eq!(key_cert, id(CertRole::KeyAttestation, &key), "{subject}");
            }
            other => panic!("{subject}: unexpected {other:?}"),
        }
    }
}

#[test]
fn device_certs_that_forbid_issuing_and_unknown_critical_extensions_are_refused() {
    let pki = TestPki::new();
    let key = pki.standard_key_cert();

    let device = pki.device_cert(vec![basic_constraints(false)]);
    match attestation::verify(&device, &key, &pki.trust(), None).unwrap_err() {
        AttestationError::NotACa { cert, detail } => {
            assert_eq!(cert, id(CertRole::Device, &device));
            assert_eq!(detail, "its basicConstraints say CA:FALSE");
        }
        other => panic!("unexpected {other:?}"),
    }

    // keyUsage digitalSignature only (bit 0): BIT STRING 03 02 07 80.
    let device = pki.device_cert(vec![ext("2.5.29.15", true, &[0x03, 0x02, 0x07, 0x80])]);
    match attestation::verify(&device, &key, &pki.trust(), None).unwrap_err() {
        AttestationError::NotACa { detail, .. } => {
            assert_eq!(detail, "its keyUsage does not include keyCertSign");
        }
        other => panic!("unexpected {other:?}"),
    }

    let device = pki.device_cert(vec![ext("1.2.3.4", true, &[0x05, 0x00])]);
    match attestation::verify(&device, &key, &pki.trust(), None).unwrap_err() {
        AttestationError::UnknownCriticalExtension { cert, oid } => {
            assert_eq!(cert, id(CertRole::Device, &device));
            assert_eq!(oid, "1.2.3.4");
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut exts = standard_key_extensions();
    exts.push(ext("1.2.3.5", true, &[0x05, 0x00]));
    let key = pki.key_cert("CN=YubiKey PIV Attestation 9c", exts);
    match attestation::verify(&pki.standard_device_cert(), &key, &pki.trust(), None).unwrap_err() {
        AttestationError::UnknownCriticalExtension { cert, oid } => {
            assert_eq!(cert, id(CertRole::KeyAttestation, &key));
            assert_eq!(oid, "1.2.3.5");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn synthetic_tampering_is_refused() {
    let pki = TestPki::new();
    let device = pki.standard_device_cert();
    let key = der_of(&pki.standard_key_cert());
    // Turn "touch always" (02 02) into "touch never" (02 01) in the policy extension.
    let policy = [0x04, 0x02, 0x02, 0x02];
    let at = find(&key, &policy) + 3;
    let mut tampered = key.clone();
    tampered[at] = 0x01;
    match attestation::verify(&device, &tampered, &pki.trust(), None).unwrap_err() {
        AttestationError::KeyCertSignatureInvalid {
            key_cert,
            device: d,
        } => {
            assert_eq!(key_cert, id(CertRole::KeyAttestation, &tampered));
            assert_eq!(d, id(CertRole::Device, &device));
        }
        other => panic!("unexpected {other:?}"),
    }
}
