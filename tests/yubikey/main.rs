//! The YubiKey suite, through the real stack: `hallmark_hsm::yubikey` → the `yubikey` crate →
//! libpcsclite → pcscd → vsmartcard's vpcd → a virtual YubiKey.
//!
//! Needs pcscd running with the vpcd readers (`bash scripts/test.sh` starts it). The tests
//! share those readers, so they run one at a time (nextest test group `pcscd`).

#[cfg(test)]
mod support;

use ed25519_dalek::VerifyingKey;
use hallmark_hsm::yubikey::{
    self, Error, FormFactor, GenerateOptions, KeyOrigin, MAX_MESSAGE_LEN, PinPolicy, SignerOptions,
    Slot, TouchPolicy, YubiKeyRef, YubiKeySigner,
};
use signature::{Keypair, Signer};
use support::*;
use virtual_yubikey::{CardConfig, ManagementAlgorithm, Reader, Touch, VirtualYubiKey};

fn message(i: usize) -> Vec<u8> {
    format!("hallmark test message {i}").into_bytes()
}

#[test]
fn generate_writes_a_certificate_that_openssl_verifies() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let generated = yubikey::generate(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        &GenerateOptions::default(),
        &ui,
    )
    .unwrap();

    // The key is the card's, with the release-signing defaults: PIN once, touch always.
    {
        let state = card.card();
        let slot = &state.slots[&0x9c];
        assert_eq!(slot.key.verifying_key(), generated.verifying_key);
        assert_eq!((slot.pin_policy, slot.touch_policy), (2, 2));
        assert_eq!(state.counters.generate_requests, 1);
        assert_eq!(state.counters.management_authentications, 1);
        assert_eq!(state.counters.pin_attempts, 1);
        assert_eq!(state.counters.touches, 1);
        // The certificate in the slot is exactly the one returned.
        assert_eq!(
            object_certificate(&state.objects[&CERT_9C]),
            generated.certificate_der
        );
    }
    assert_eq!(
        ui.notices(),
        ["touch your YubiKey (serial 12345678) to sign its certificate"]
    );
    assert_eq!(ui.warnings().len(), 2, "{:?}", ui.warnings());
    assert!(ui.warnings()[0].starts_with("YubiKey 12345678 uses the default PIV management key"));
    assert_eq!(
        ui.warnings()[1],
        "YubiKey 12345678 still has the default PIN: change it with `ykman piv access change-pin`"
    );
    assert_eq!(generated.device.serial, SERIAL);
    assert_eq!(generated.device.firmware.to_string(), "5.7.4");
    assert_eq!(generated.device.origin, Some(KeyOrigin::Generated));

    // An independent verifier: OpenSSL checks the self-signature over the TBS bytes.
    let dir = secrets.path("");
    std::fs::write(dir.join("slot.der"), &generated.certificate_der).unwrap();
    run(
        "openssl",
        &[
            "x509", "-inform", "DER", "-in", "slot.der", "-out", "slot.pem",
        ],
        &dir,
    );
    let verified = run(
        "openssl",
        &["verify", "-check_ss_sig", "-CAfile", "slot.pem", "slot.pem"],
        &dir,
    );
    assert_eq!(verified, "slot.pem: OK\n");
    let text = run(
        "openssl",
        &["x509", "-in", "slot.pem", "-noout", "-subject", "-issuer"],
        &dir,
    );
    assert_eq!(
        text,
        "subject=CN = Hallmark signing key (YubiKey 12345678 slot 9c)\n\
         issuer=CN = Hallmark signing key (YubiKey 12345678 slot 9c)\n"
    );
    run(
        "openssl",
        &[
            "x509", "-in", "slot.pem", "-noout", "-pubkey", "-out", "pub.pem",
        ],
        &dir,
    );
    run(
        "openssl",
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
        &dir,
    );
    let spki = std::fs::read(dir.join("pub.der")).unwrap();
    assert_eq!(&spki[spki.len() - 32..], generated.verifying_key.as_bytes());
}

/// OpenSC's PIV driver is another implementation of the card side of PIV: if it reads back the
/// certificate and key Hallmark wrote, other tools see the key.
#[test]
fn other_piv_tools_see_the_generated_key() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Always);
    let module = [
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("OpenSC's PKCS#11 module is missing: run bash scripts/test.sh (it installs opensc)");
    let secrets = Secrets::new();
    let dir = secrets.path("");
    // Slot 9c is PKCS#11 object id 02 in OpenSC's PIV driver. It writes an EdDSA public key
    // as PEM.
    for (kind, file) in [("cert", "cert.der"), ("pubkey", "pub.pem")] {
        run(
            "pkcs11-tool",
            &[
                "--module",
                module,
                "--read-object",
                "--type",
                kind,
                "--id",
                "02",
                "-o",
                file,
            ],
            &dir,
        );
    }
    assert_eq!(
        std::fs::read(dir.join("cert.der")).unwrap(),
        generated.certificate_der
    );
    run(
        "openssl",
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
        &dir,
    );
    let spki = std::fs::read(dir.join("pub.der")).unwrap();
    assert_eq!(&spki[spki.len() - 32..], generated.verifying_key.as_bytes());
}

#[test]
fn generate_uses_the_given_subject_and_policies() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let options = GenerateOptions::new(PinPolicy::Always, TouchPolicy::Cached)
        .with_subject("CN=Release key,O=Acme");
    let generated = yubikey::generate(
        &reference(&secrets, Slot::new(0x82).unwrap(), "123456"),
        &options,
        &ui,
    )
    .unwrap();
    let state = card.card();
    assert_eq!(
        (
            state.slots[&0x82].pin_policy,
            state.slots[&0x82].touch_policy
        ),
        (3, 3)
    );
    let cert =
        <x509_cert::Certificate as x509_cert::der::Decode>::from_der(&generated.certificate_der)
            .unwrap();
    assert_eq!(
        cert.tbs_certificate().subject().to_string(),
        "CN=Release key,O=Acme"
    );

    let err = yubikey::generate(
        &reference(&secrets, Slot::new(0x83).unwrap(), "123456"),
        &GenerateOptions::default().with_subject("not a name"),
        &ui,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate subject \"not a name\" is not a distinguished name such as \"CN=Release signing key\""
    );
    assert!(err.is_usage());
}

#[test]
fn signer_signs_with_pin_once_and_announces_every_touch() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Always);
    let before = card.card().counters.clone();

    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    assert_eq!(signer.verifying_key(), generated.verifying_key);
    let info = signer.device_info();
    assert_eq!(
        (
            info.serial,
            info.slot,
            info.pin_policy,
            info.touch_policy,
            info.reader.as_str()
        ),
        (
            SERIAL,
            Slot::SIGNATURE,
            PinPolicy::Once,
            TouchPolicy::Always,
            "Virtual PCD 00 00"
        )
    );
    // Unlocking asks for the PIN before any signature; signing then asks nothing more.
    signer.unlock().unwrap();
    assert_eq!(card.card().counters.pin_attempts - before.pin_attempts, 1);
    for i in 0..3 {
        let signature = signer.try_sign(&message(i)).unwrap();
        generated
            .verifying_key
            .verify_strict(&message(i), &signature)
            .unwrap();
    }
    let after = card.card().counters.clone();
    assert_eq!(
        after.pin_attempts - before.pin_attempts,
        1,
        "PIN policy once: one VERIFY"
    );
    assert_eq!(after.signatures - before.signatures, 3);
    assert_eq!(after.touches - before.touches, 3);
    assert_eq!(
        ui.notices(),
        vec!["touch your YubiKey (serial 12345678) to sign"; 3]
    );
    assert!(ui.prompts().is_empty(), "the PIN came from its file");
}

#[test]
fn pin_always_is_verified_before_each_signature() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Always, TouchPolicy::Never);
    let before = card.card().counters.pin_attempts;
    // The PIN comes from a prompt: it is asked for each time.
    let ui = Recorder::answering("123456");
    let signer = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    for i in 0..3 {
        let signature = signer.sign_message(&message(i)).unwrap();
        generated
            .verifying_key
            .verify_strict(&message(i), &signature)
            .unwrap();
    }
    assert_eq!(card.card().counters.pin_attempts - before, 3);
    assert_eq!(ui.prompts(), vec!["PIN for YubiKey 12345678"; 3]);
    assert!(ui.notices().is_empty());
}

#[test]
fn pin_never_and_touch_never_ask_nothing() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(
        Slot::CARD_AUTHENTICATION,
        PinPolicy::Never,
        TouchPolicy::Never,
    );
    let before = card.card().counters.clone();
    let ui = Recorder::default();
    let signer =
        YubiKeySigner::open(&YubiKeyRef::new(Slot::CARD_AUTHENTICATION), None, &ui).unwrap();
    let signature = signer.sign_message(b"no PIN, no touch").unwrap();
    generated
        .verifying_key
        .verify_strict(b"no PIN, no touch", &signature)
        .unwrap();
    let after = card.card().counters.clone();
    assert_eq!(
        after.pin_attempts + after.pin_queries,
        before.pin_attempts + before.pin_queries
    );
    assert!(ui.prompts().is_empty() && ui.notices().is_empty());
}

#[test]
fn cached_touch_is_announced_once() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::AUTHENTICATION, PinPolicy::Never, TouchPolicy::Cached);
    let before = card.card().counters.touches;
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::AUTHENTICATION),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    for i in 0..3 {
        signer.sign_message(&message(i)).unwrap();
    }
    assert_eq!(card.card().counters.touches - before, 1);
    assert_eq!(
        ui.notices(),
        ["touch your YubiKey (serial 12345678) to sign"]
    );
}

#[test]
fn a_different_key_in_the_slot_is_refused_before_signing() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let other = VerifyingKey::from_bytes(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ])
    .unwrap();
    let requests = card.card().counters.signature_requests;
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        Some(&other),
        &Recorder::default(),
    )
    .unwrap_err();
    let found: String = generated
        .verifying_key
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        err.to_string(),
        format!(
            "slot 9c of YubiKey 12345678 holds key {found}, not the expected key \
             d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a: is this the right YubiKey and slot?"
        )
    );
    assert_eq!(card.card().counters.signature_requests, requests);
}

#[test]
fn messages_above_the_cap_are_refused_before_any_device_traffic() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Never, TouchPolicy::Never);
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(&YubiKeyRef::new(Slot::SIGNATURE), None, &ui).unwrap();

    // The largest message goes through command chaining (four APDUs) and verifies.
    let largest = vec![0x5a; MAX_MESSAGE_LEN];
    let signature = signer.sign_message(&largest).unwrap();
    generated
        .verifying_key
        .verify_strict(&largest, &signature)
        .unwrap();

    let apdus = card.card().counters.apdus;
    let err = signer
        .try_sign(&vec![0x5a; MAX_MESSAGE_LEN + 1])
        .unwrap_err();
    assert_eq!(
        device_error(&err).to_string(),
        "message is 1001 bytes; a YubiKey signs at most 1000 (sign a digest of the payload, as Hallmark's formats do)"
    );
    assert!(device_error(&err).is_usage());
    assert_eq!(card.card().counters.apdus, apdus, "nothing was sent");
}

#[test]
fn batches_report_progress() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Always);
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    let messages: Vec<Vec<u8>> = (0..20).map(message).collect();
    let mut progress = Vec::new();
    let signatures = signer
        .sign_batch(&messages, |done, total| progress.push((done, total)))
        .unwrap();
    assert_eq!(progress, (1..=20).map(|i| (i, 20)).collect::<Vec<_>>());
    let notices: Vec<String> = (1..=20)
        .map(|i| format!("touch your YubiKey (serial 12345678) to sign ({i} of 20)"))
        .collect();
    assert_eq!(ui.notices(), notices);
    for (m, s) in messages.iter().zip(&signatures) {
        generated.verifying_key.verify_strict(m, s).unwrap();
    }
}

#[test]
fn removal_mid_batch_says_what_was_and_was_not_signed() {
    let _guard = exclusive();
    let mut card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    {
        let mut state = card.card();
        state.faults.remove_at_signature = Some(state.counters.signature_requests + 4);
    }
    let messages: Vec<Vec<u8>> = (0..10).map(message).collect();
    let err = signer.sign_batch(&messages, |_, _| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signed messages 1 to 3 of 10; messages 4 to 10 were not signed: \
         YubiKey 12345678 was removed while signing"
    );
    assert_eq!((err.signatures.len(), err.total), (3, 10));
    for (m, s) in messages.iter().zip(&err.signatures) {
        generated.verifying_key.verify_strict(m, s).unwrap();
    }
    assert!(matches!(
        err.source,
        Error::DeviceRemoved { serial: SERIAL, .. }
    ));
    card.wait_removed().unwrap();
}

#[test]
fn attestation_exports_the_key_and_device_certificates() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Always);
    let before = card.card().counters.clone();
    let attestation = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE)).unwrap();
    let after = card.card().counters.clone();
    assert_eq!(after.attestations - before.attestations, 1);
    assert_eq!(
        after.pin_attempts, before.pin_attempts,
        "attestation needs no PIN"
    );

    let authority = virtual_yubikey::test_authority().unwrap();
    assert_eq!(attestation.device_certificate_der, authority.f9_der());
    assert_eq!(
        attestation.device.form_factor,
        Some(FormFactor::UsbCKeychain)
    );
    assert_eq!(attestation.device.pin_policy, PinPolicy::Once);

    let cert = <x509_cert::Certificate as x509_cert::der::Decode>::from_der(
        &attestation.key_certificate_der,
    )
    .unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.subject().to_string(), "CN=YubiKey PIV Attestation 9c");
    assert_eq!(tbs.issuer().to_string(), "CN=YubiKey PIV Attestation");
    assert_eq!(
        tbs.subject_public_key_info().subject_public_key.raw_bytes(),
        generated.verifying_key.as_bytes()
    );
    let policy = tbs
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id.to_string() == "1.3.6.1.4.1.41482.3.8")
        .unwrap();
    assert_eq!(
        policy.extn_value.as_bytes(),
        [2, 2],
        "PIN once, touch always"
    );

    // OpenSSL chains the export to the test root: root → intermediate → F9 → per-key.
    let secrets = Secrets::new();
    let dir = secrets.path("");
    let pem = |der: &[u8]| virtual_yubikey::TestAuthority::pem(der).unwrap();
    std::fs::write(dir.join("root.pem"), pem(authority.root_der())).unwrap();
    std::fs::write(
        dir.join("chain.pem"),
        pem(authority.intermediate_der()) + &pem(&attestation.device_certificate_der),
    )
    .unwrap();
    std::fs::write(dir.join("key.pem"), pem(&attestation.key_certificate_der)).unwrap();
    let verified = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "key.pem",
        ],
        &dir,
    );
    assert_eq!(verified, "key.pem: OK\n");
}

#[test]
fn attestation_through_an_open_signer_keeps_the_pin_verified() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let generated = generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        Some(&generated.verifying_key),
        &ui,
    )
    .unwrap();
    signer.sign_message(b"first").unwrap();
    let before = card.card().counters.clone();
    let attestation = signer.attestation().unwrap();
    assert_eq!(
        attestation.device_certificate_der,
        virtual_yubikey::test_authority().unwrap().f9_der()
    );
    assert_eq!(attestation.device.serial, SERIAL);
    signer.sign_message(b"second").unwrap();
    let after = card.card().counters.clone();
    assert_eq!(after.attestations - before.attestations, 1);
    assert_eq!(
        after.pin_attempts, before.pin_attempts,
        "the PIN verified before the attestation still holds"
    );
}

#[test]
fn attestation_errors() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let err = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "slot 9c of YubiKey 12345678 holds no key: create one"
    );
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    // The `yubikey` crate would index an empty success reply and panic.
    card.card().faults.empty_attestation = true;
    let err = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot attest slot 9c of YubiKey 12345678: the device answered ATTEST with no certificate"
    );
}

#[test]
fn no_device() {
    let _guard = exclusive();
    require_empty_readers();
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        None,
        &Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "no YubiKey found: plug one in");
    assert!(matches!(err, Error::NoDevice { .. }));
    assert_eq!(yubikey::list().unwrap(), []);
}

#[test]
fn a_yubikey_held_by_another_program_is_named() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    // Another program (gpg's scdaemon, say) holds the card exclusively.
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let held = ctx
        .connect(
            c"Virtual PCD 00 00",
            pcsc::ShareMode::Exclusive,
            pcsc::Protocols::T1,
        )
        .unwrap();
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        None,
        &Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no YubiKey found: plug one in (the card in Virtual PCD 00 00 is held by another \
         program: close it, e.g. gpg-agent or scdaemon)"
    );
    drop(held);
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        None,
        &Recorder::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::SlotEmpty { .. }), "{err}");
}

#[test]
fn several_devices_need_a_serial() {
    let _guard = exclusive();
    let _first = insert(CardConfig::new(222));
    let _second = VirtualYubiKey::insert(CardConfig::new(111), Reader::Second).unwrap();
    let err = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "several YubiKeys are connected (serials 111, 222): name one in the key reference, \
         e.g. yubikey:serial=111;slot=9c"
    );
    let err = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE).with_serial(333)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no YubiKey with serial 333 is connected (connected: 111, 222)"
    );
    // Naming one reaches that one.
    let err = yubikey::attest(&YubiKeyRef::new(Slot::SIGNATURE).with_serial(111)).unwrap_err();
    assert!(matches!(err, Error::SlotEmpty { serial: 111, .. }), "{err}");
    let serials: Vec<u32> = yubikey::list().unwrap().iter().map(|d| d.serial).collect();
    assert_eq!(serials, [111, 222]);
}

#[test]
fn firmware_before_5_7_is_refused_before_any_key_command() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL).version(5, 4, 3));
    let secrets = Secrets::new();
    let err = yubikey::generate(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        &GenerateOptions::default(),
        &Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 has firmware 5.4.3; Ed25519 keys need firmware 5.7.0 or later \
         (firmware cannot be upgraded: use a newer YubiKey)"
    );
    let counters = card.card().counters.clone();
    assert_eq!(
        (
            counters.generate_requests,
            counters.management_authentications
        ),
        (0, 0)
    );
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::SIGNATURE),
        None,
        &Recorder::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::FirmwareTooOld { .. }), "{err}");
    let report = yubikey::list().unwrap();
    assert_eq!(report.len(), 1);
    assert!(!report[0].supports_ed25519);
}

#[test]
fn an_empty_slot_is_named() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let err = YubiKeySigner::open(
        &YubiKeyRef::new(Slot::KEY_MANAGEMENT),
        None,
        &Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "slot 9d of YubiKey 12345678 holds no key: create one"
    );
}

#[test]
fn a_wrong_pin_reports_retries_and_is_never_retried() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let before = card.card().counters.pin_attempts;
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer =
        YubiKeySigner::open(&reference(&secrets, Slot::SIGNATURE, "654321"), None, &ui).unwrap();
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "wrong PIN for YubiKey 12345678: 2 retries left before the PIN is blocked"
    );
    assert_eq!(
        card.card().counters.pin_attempts - before,
        1,
        "one PIN sent, not retried"
    );
    assert_eq!(card.card().pin_retries_left, 2);
    // Each signing request the user makes sends the PIN once more.
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "wrong PIN for YubiKey 12345678: 1 retry left before the PIN is blocked"
    );
    // The last retry is not spent unless the caller allows it.
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the PIN of YubiKey 12345678 has only ONE retry left; no PIN was sent, because a wrong \
         one would block it. Make sure the PIN source is right, then allow the final try \
         explicitly"
    );
    assert!(matches!(err, Error::PinFinalTry { serial: SERIAL }));
    assert_eq!(card.card().counters.pin_attempts - before, 2);
    drop(signer);
    let signer = YubiKeySigner::open_with(
        &reference(&secrets, Slot::SIGNATURE, "654321"),
        None,
        &SignerOptions::new().allow_final_pin_try(true),
        &ui,
    )
    .unwrap();
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the PIN of YubiKey 12345678 is blocked (that was the last retry): \
         unblock it with the PUK (`ykman piv access unblock-pin`)"
    );
    assert_eq!(card.card().counters.pin_attempts - before, 3);
}

#[test]
fn a_blocked_pin_is_never_sent() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    card.card().pin_retries_left = 0;
    let before = card.card().counters.pin_attempts;
    let secrets = Secrets::new();
    let ui = Recorder::answering("123456");
    let signer = YubiKeySigner::open(&YubiKeyRef::new(Slot::SIGNATURE), None, &ui).unwrap();
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the PIN of YubiKey 12345678 is blocked; no PIN was sent: \
         unblock it with the PUK (`ykman piv access unblock-pin`)"
    );
    assert_eq!(card.card().counters.pin_attempts, before);
    assert!(
        ui.prompts().is_empty(),
        "nobody was asked for a PIN that cannot be used"
    );
    drop(secrets);
}

#[test]
fn a_malformed_pin_is_never_sent() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let before = card.card().counters.pin_attempts;
    let secrets = Secrets::new();
    for (pin, len) in [("12345", 5), ("123456789", 9)] {
        let ui = Recorder::default();
        let signer =
            YubiKeySigner::open(&reference(&secrets, Slot::SIGNATURE, pin), None, &ui).unwrap();
        let err = signer.sign_message(b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the PIN for YubiKey 12345678 must be 6 to 8 bytes long, got {len}; \
                 it was not sent, so no retry was used"
            )
        );
        assert!(err.is_usage());
    }
    assert_eq!(card.card().counters.pin_attempts, before);
    assert_eq!(card.card().pin_retries_left, 3);
}

#[test]
fn a_missing_touch_times_out() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Always);
    card.card().faults.touch = Touch::TimesOut;
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer =
        YubiKeySigner::open(&reference(&secrets, Slot::SIGNATURE, "123456"), None, &ui).unwrap();
    let err = signer.sign_message(b"x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 was not touched in time (slot 9c needs a touch to sign): \
         run again and touch the YubiKey when it blinks"
    );
    assert_eq!(
        ui.notices(),
        ["touch your YubiKey (serial 12345678) to sign"]
    );
    assert_eq!(card.card().counters.touch_timeouts, 1);
    // Touching works again on the next request, without another PIN.
    card.card().faults.touch = Touch::Given;
    let before = card.card().counters.pin_attempts;
    signer.sign_message(b"x").unwrap();
    assert_eq!(card.card().counters.pin_attempts, before);
}

#[test]
fn a_key_without_its_certificate_is_reported() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    card.card().faults.touch = Touch::TimesOut;
    let secrets = Secrets::new();
    let err = yubikey::generate(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        &GenerateOptions::default(),
        &Recorder::default(),
    )
    .unwrap_err();
    let key: String = card.card().slots[&0x9c]
        .key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        err.to_string(),
        format!(
            "slot 9c of YubiKey 12345678 now holds a new key ({key}) but its certificate was not \
             written: YubiKey 12345678 was not touched in time (slot 9c needs a touch to sign): \
             run again and touch the YubiKey when it blinks. Run the generation again with \
             --force to replace the key"
        )
    );
    assert!(!card.card().objects.contains_key(&CERT_9C));
}

#[test]
fn a_short_generate_reply_is_an_error_not_a_panic() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    card.card().faults.short_generate_reply = true;
    let secrets = Secrets::new();
    let err = yubikey::generate(
        &reference(&secrets, Slot::SIGNATURE, "123456"),
        &GenerateOptions::default(),
        &Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 gave an invalid answer while generating an Ed25519 key: \
         the reply is too short to hold a public key"
    );
}

#[test]
fn management_key_errors() {
    let _guard = exclusive();
    let custom = "00112233445566778899aabbccddeeff0011223344556677";
    let custom_bytes: Vec<u8> = (0..24)
        .map(|i| u8::from_str_radix(&custom[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let card =
        insert(CardConfig::new(SERIAL).management_key(ManagementAlgorithm::Aes192, &custom_bytes));
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let options = GenerateOptions::new(PinPolicy::Never, TouchPolicy::Never);
    let base = YubiKeyRef::new(Slot::SIGNATURE).with_serial(SERIAL);

    // Not the default, and none given.
    let err = yubikey::generate(&base, &options, &ui).unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 does not use the default management key: give yours with \
         management-key-source=file:PATH, env:NAME or prompt in the key reference"
    );
    // Malformed: refused before anything is sent.
    for (text, reason) in [
        ("zz", "expected hexadecimal digits only"),
        (
            "00112233445566778899aabbccddeeff",
            "this YubiKey has a AES-192 management key, which is 48 hex digits; got 32",
        ),
    ] {
        let r = base
            .clone()
            .with_management_key_source(secrets.file("mgm", text));
        let err = yubikey::generate(&r, &options, &ui).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "management key for YubiKey 12345678: {reason}; nothing was sent to the device"
            )
        );
        assert!(err.is_usage());
    }
    assert_eq!(card.card().counters.management_failures, 0);
    // Wrong: the device rejects it, and no key is generated.
    let wrong = base
        .clone()
        .with_management_key_source(secrets.file("mgm", &"01".repeat(24)));
    let err = yubikey::generate(&wrong, &options, &ui).unwrap_err();
    let path = secrets.path("mgm");
    assert_eq!(
        err.to_string(),
        format!(
            "YubiKey 12345678 rejected the management key from file {}: \
             it is not the management key set on this YubiKey",
            path.display()
        )
    );
    assert_eq!(card.card().counters.management_failures, 1);
    assert_eq!(card.card().counters.generate_requests, 0);
    // Right: from a file, with a trailing newline.
    let right = base.with_management_key_source(secrets.file("mgm", &format!("{custom}\n")));
    yubikey::generate(&right, &options, &ui).unwrap();
    assert_eq!(card.card().counters.generate_requests, 1);
}

#[test]
fn generation_never_overwrites_a_key_unless_asked() {
    let _guard = exclusive();
    let card = insert(CardConfig::new(SERIAL));
    let first = generate_key(Slot::SIGNATURE, PinPolicy::Never, TouchPolicy::Never);
    let secrets = Secrets::new();
    let r = reference(&secrets, Slot::SIGNATURE, "123456");
    let options = GenerateOptions::new(PinPolicy::Never, TouchPolicy::Never);
    let err = yubikey::generate(&r, &options, &Recorder::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "slot 9c of YubiKey 12345678 already holds a key; generating would destroy it. \
         Choose another slot, or replace it on purpose (--force) once nothing depends on it"
    );
    assert_eq!(
        card.card().slots[&0x9c].key.verifying_key(),
        first.verifying_key
    );
    let second =
        yubikey::generate(&r, &options.replacing_existing(), &Recorder::default()).unwrap();
    assert_ne!(second.verifying_key, first.verifying_key);
    assert_eq!(
        card.card().slots[&0x9c].key.verifying_key(),
        second.verifying_key
    );
}

#[test]
fn list_reports_ed25519_keys() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    let a = generate_key(Slot::AUTHENTICATION, PinPolicy::Once, TouchPolicy::Never);
    let c = generate_key(Slot::SIGNATURE, PinPolicy::Always, TouchPolicy::Always);
    let report = yubikey::list().unwrap();
    assert_eq!(report.len(), 1);
    let device = &report[0];
    assert_eq!(
        (
            device.serial,
            device.firmware.to_string(),
            device.supports_ed25519
        ),
        (SERIAL, "5.7.4".to_owned(), true)
    );
    let keys: Vec<_> = device
        .keys
        .iter()
        .map(|k| {
            (
                k.slot,
                k.verifying_key,
                k.pin_policy,
                k.touch_policy,
                k.origin,
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (
                Slot::AUTHENTICATION,
                a.verifying_key,
                PinPolicy::Once,
                TouchPolicy::Never,
                Some(KeyOrigin::Generated)
            ),
            (
                Slot::SIGNATURE,
                c.verifying_key,
                PinPolicy::Always,
                TouchPolicy::Always,
                Some(KeyOrigin::Generated)
            ),
        ]
    );
}

#[test]
fn a_reset_by_another_program_is_reported() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer =
        YubiKeySigner::open(&reference(&secrets, Slot::SIGNATURE, "123456"), None, &ui).unwrap();
    signer.sign_message(b"first").unwrap();
    // Another program opens the YubiKey; dropping its handle resets the card.
    drop(::yubikey::YubiKey::open().unwrap());
    let err = signer.sign_message(b"second").unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 was reset by another program while signing; \
         close other programs using it and run again"
    );
}

#[test]
fn a_pin_verification_cleared_by_another_program_is_reported() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let secrets = Secrets::new();
    let ui = Recorder::default();
    let signer =
        YubiKeySigner::open(&reference(&secrets, Slot::SIGNATURE, "123456"), None, &ui).unwrap();
    signer.sign_message(b"first").unwrap();
    // Another program selects the PIV application (which clears the PIN verification) and
    // leaves the card without resetting it.
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let other = ctx
        .connect(
            c"Virtual PCD 00 00",
            pcsc::ShareMode::Shared,
            pcsc::Protocols::T1,
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let reply = other
        .transmit(&[0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8], &mut buf)
        .unwrap();
    assert_eq!(&reply[reply.len() - 2..], [0x90, 0x00]);
    other
        .disconnect(pcsc::Disposition::LeaveCard)
        .map_err(|(_, e)| e)
        .unwrap();
    let err = signer.sign_message(b"second").unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 12345678 no longer holds the PIN verification for slot 9c: another program \
         probably used or reset it; run again"
    );
}

#[test]
fn errors_and_references_carry_no_secret() {
    let _guard = exclusive();
    let _card = insert(CardConfig::new(SERIAL));
    generate_key(Slot::SIGNATURE, PinPolicy::Once, TouchPolicy::Never);
    let secrets = Secrets::new();
    let r = reference(&secrets, Slot::SIGNATURE, "876543");
    let ui = Recorder::default();
    let signer = YubiKeySigner::open(&r, None, &ui).unwrap();
    let err = signer.sign_message(b"x").unwrap_err();
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{r:?}"),
        r.to_string(),
        format!("{signer:?}"),
    ] {
        assert!(!shown.contains("876543"), "{shown}");
    }
}

#[test]
fn the_signer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<YubiKeySigner<'static>>();
}
