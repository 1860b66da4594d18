//! The conformance suite: runs against any module (`HALLMARK_TEST_PKCS11_MODULE`).

use std::num::NonZeroUsize;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ed25519_dalek::{Signature, VerifyingKey};
use hallmark_hsm::interact::Headless;
use hallmark_hsm::pkcs11::{
    self, EC_PARAMS_ED25519_NAME, EC_PARAMS_ED25519_OID, Error, PathAttr, Pkcs11Signer, Pkcs11Uri,
};
use hallmark_hsm::secret::SecretError;
use signature::{Keypair, Signer};

use crate::harness::{Fixture, Setup};
use crate::{Recorder, hex, pkcs11_test, unhex};

/// A logged-in read-write session made behind Hallmark's back.
pub(crate) fn raw_session(fx: &Fixture, token: &str) -> Session {
    let ctx = fx.raw();
    let session = ctx.open_rw_session(fx.slot(token)).expect("open session");
    match session.login(
        UserType::User,
        Some(&AuthPin::from(fx.token(token).pin.as_str())),
    ) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(err) => panic!("login: {err}"),
    }
    session
}

/// Puts a known Ed25519 key on the token: private key from its RFC 8032 seed, public key with
/// the given `CKA_EC_PARAMS` and `CKA_EC_POINT` encodings.
fn import_key(
    fx: &Fixture,
    token: &str,
    label: &str,
    id: &[u8],
    seed: &[u8],
    params: &[u8],
    point: &[u8],
) {
    let session = raw_session(fx, token);
    session
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::EcParams(EC_PARAMS_ED25519_OID.to_vec()),
            Attribute::Value(seed.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ])
        .expect("create private key");
    session
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::EcPoint(point.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ])
        .expect("create public key");
}

/// Generates an Ed25519 pair behind Hallmark's back (to make duplicates Hallmark refuses to).
pub(crate) fn raw_generate(fx: &Fixture, token: &str, label: &str, id: &[u8]) {
    let session = raw_session(fx, token);
    session
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(EC_PARAMS_ED25519_OID.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ],
        )
        .expect("generate key pair");
}

fn rfc8032() -> Vec<serde_json::Value> {
    serde_json::from_str(include_str!("../data/ed25519_rfc8032_7_1.json")).expect("vectors")
}

fn sign_with<S: Signer<Signature>>(signer: &S, message: &[u8]) -> Signature {
    signer.sign(message)
}

pkcs11_test! {
    /// Generation makes a sensitive, non-extractable token key pair with a shared random id,
    /// returns its URI, and the key signs through the RustCrypto traits.
    fn generate_then_sign_and_verify(fx) with Setup::one_token(); {
        let request = fx.uri("ci", "release");
        let generated = pkcs11::generate(&request, &Headless).unwrap();
        let uri = &generated.uri;
        assert_eq!(uri.token(), Some("ci"));
        assert_eq!(uri.object(), Some("release"));
        assert_eq!(uri.path_attr(PathAttr::Type), Some("private"));
        assert_eq!(uri.id().map(<[u8]>::len), Some(pkcs11::KEY_ID_LEN));
        assert_eq!(uri.module_path(), Some(fx.module.as_path()));
        assert_eq!(uri.pin_source_text(), request.pin_source_text());
        let serial = fx.raw().get_token_info(fx.slot("ci")).unwrap().serial_number().to_owned();
        assert_eq!(uri.serial(), Some(serial.as_str()));
        // The printed URI is the one a user copies: it parses back to the same key reference.
        assert_eq!(&uri.to_string().parse::<Pkcs11Uri>().unwrap(), uri);

        // Both objects: token objects, same label and id; private key sensitive, never
        // extractable, may sign.
        let session = raw_session(fx, "ci");
        let id = uri.id().unwrap().to_vec();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let found = session
                .find_objects(&[Attribute::Class(class), Attribute::Id(id.clone())])
                .unwrap();
            assert_eq!(found.len(), 1, "{class}");
            let attrs = session
                .get_attributes(found[0], &[AttributeType::Token, AttributeType::Label])
                .unwrap();
            assert!(attrs.contains(&Attribute::Token(true)), "{class}: {attrs:?}");
            assert!(attrs.contains(&Attribute::Label(b"release".to_vec())), "{class}: {attrs:?}");
        }
        let private = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id)])
            .unwrap()[0];
        let attrs = session
            .get_attributes(
                private,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Sign,
                    AttributeType::Value,
                ],
            )
            .unwrap();
        for want in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Sign(true),
        ] {
            assert!(attrs.contains(&want), "{want:?} not in {attrs:?}");
        }
        assert!(!attrs.iter().any(|a| matches!(a, Attribute::Value(_))), "key value readable: {attrs:?}");
        drop(session);

        let signer = Pkcs11Signer::open(uri, Some(&generated.verifying_key), &Headless).unwrap();
        assert_eq!(signer.verifying_key(), generated.verifying_key);
        let message = b"org.acme.database-tool 1.2.3";
        let signature = sign_with(&signer, message);
        generated.verifying_key.verify_strict(message, &signature).unwrap();
        // The request URI (label only) opens the same key.
        let again = Pkcs11Signer::open(&request, None, &Headless).unwrap();
        assert_eq!(again.verifying_key(), generated.verifying_key);
    }
}

pkcs11_test! {
    /// A key with known secret signs the RFC 8032 section 7.1 vectors byte for byte, whichever
    /// CKA_EC_PARAMS and CKA_EC_POINT encodings its public key object uses.
    fn known_keys_sign_rfc8032_vectors_exactly(fx) with Setup::one_token(); {
        for (i, vector) in rfc8032().iter().enumerate() {
            let s = |k: &str| unhex(vector[k].as_str().unwrap());
            let public = s("public_key_hex");
            let mut wrapped = vec![0x04, 0x20];
            wrapped.extend_from_slice(&public);
            // Alternate the encodings tokens use.
            let (params, point) = match i % 4 {
                0 => (EC_PARAMS_ED25519_OID, wrapped.as_slice()),
                1 => (EC_PARAMS_ED25519_NAME, public.as_slice()),
                2 => (EC_PARAMS_ED25519_OID, public.as_slice()),
                _ => (EC_PARAMS_ED25519_NAME, wrapped.as_slice()),
            };
            let label = format!("rfc8032-{i}");
            import_key(fx, "ci", &label, &[i as u8 + 1], &s("secret_key_hex"), params, point);
            let expected = VerifyingKey::from_bytes(&public.clone().try_into().unwrap()).unwrap();
            let signer = Pkcs11Signer::open(&fx.uri("ci", &label), Some(&expected), &Headless)
                .unwrap_or_else(|e| panic!("{}: {e}", vector["name"]));
            let signature = signer.try_sign(&s("message_hex")).unwrap();
            assert_eq!(hex(&signature.to_bytes()), vector["signature_hex"].as_str().unwrap(), "{}", vector["name"]);
        }
    }
}

pkcs11_test! {
    /// One login, one session, every message signed in order, progress reported after each.
    fn batch_signs_every_message_and_reports_progress(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "batch"), &Headless).unwrap();
        let mut signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        signer.set_max_sessions(NonZeroUsize::MIN);
        let messages: Vec<Vec<u8>> = (0..200u32).map(|i| format!("artifact-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let mut seen = Vec::new();
        let signatures = signer.sign_batch(&refs, |done, total| seen.push((done, total))).unwrap();
        assert_eq!(signatures.len(), 200);
        assert_eq!(seen, (1..=200).map(|d| (d, 200)).collect::<Vec<_>>());
        for (message, signature) in messages.iter().zip(&signatures) {
            generated.verifying_key.verify_strict(message, signature).unwrap();
        }
        assert!(signer.sign_batch(&[], |_, _| panic!("no progress for no messages")).unwrap().is_empty());

        // Too large a message is refused before anything is signed.
        let big = vec![0u8; pkcs11::MAX_MESSAGE_LEN + 1];
        let err = signer.sign_batch(&[b"ok", &big], |_, _| {}).unwrap_err();
        assert!(matches!(*err.cause, Error::MessageTooLarge { len, max } if len == big.len() && max == pkcs11::MAX_MESSAGE_LEN));
        assert_eq!((err.signed(), err.not_signed()), (0..0, 0..2));
    }
}

pkcs11_test! {
    /// A long batch is shared out over several sessions that share the one login: every
    /// signature still signs its own message, progress only grows and ends at the total, and
    /// the sessions stay open for the next batch. A short batch opens none.
    fn batch_shares_out_over_sessions(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "pool"), &Headless).unwrap();
        let mut signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        signer.set_max_sessions(NonZeroUsize::new(3).unwrap());
        assert_eq!(signer.max_sessions().get(), 3);
        let messages: Vec<Vec<u8>> = (0..300u32).map(|i| format!("artifact-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

        assert_eq!(signer.sign_batch(&refs[..7], |_, _| {}).unwrap().len(), 7);
        assert_eq!(signer.open_sessions(), 1);

        for round in 0..2 {
            let mut seen = Vec::new();
            let signatures = signer.sign_batch(&refs, |done, total| seen.push((done, total))).unwrap();
            assert_eq!(signer.open_sessions(), 3, "round {round}");
            assert_eq!(signatures.len(), 300);
            for (message, signature) in messages.iter().zip(&signatures) {
                generated.verifying_key.verify_strict(message, signature).unwrap();
            }
            assert_eq!(seen.last(), Some(&(300, 300)));
            assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0 && w[1].1 == 300), "{seen:?}");
        }

        // Fewer sessions asked for later: the extra ones are closed.
        signer.set_max_sessions(NonZeroUsize::new(2).unwrap());
        assert_eq!(signer.open_sessions(), 2);
        assert_eq!(signer.sign_batch(&refs, |_, _| {}).unwrap().len(), 300);
    }
}

pkcs11_test! {
    /// Device errors reach `Signer::try_sign` callers as this module's error, by downcast.
    fn try_sign_errors_downcast_to_the_module_error(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        let err = signer.try_sign(&vec![0u8; pkcs11::MAX_MESSAGE_LEN + 1]).unwrap_err();
        let source = std::error::Error::source(&err).expect("source");
        let inner = source.downcast_ref::<Error>().expect("a hallmark_hsm::pkcs11::Error");
        assert!(matches!(inner, Error::MessageTooLarge { .. }), "{inner}");

        // Someone finalises the library under us: the next signature fails with a device error.
        fx.raw().finalize().unwrap();
        let err = signer.try_sign(b"x").unwrap_err();
        let inner = std::error::Error::source(&err).unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.rv(), Some(cryptoki::error::RvError::CryptokiNotInitialized), "{inner}");
        assert!(!inner.is_usage());
    }
}

pkcs11_test! {
    /// Listing shows every slot (SoftHSM's empty one too), each token's flags and Ed25519
    /// support, and each key with its id, public key and a URI that opens it.
    fn list_reports_slots_tokens_and_keys(fx) with Setup::tokens(&["ci", "spare"]); {
        let a = pkcs11::generate(&fx.uri("ci", "a"), &Headless).unwrap();
        let b = pkcs11::generate(&fx.uri("ci", "b"), &Headless).unwrap();
        let module_uri: Pkcs11Uri = format!("pkcs11:?module-path={}", fx.module.display()).parse().unwrap();
        let slots = pkcs11::list(&module_uri, &Headless).unwrap();
        let tokens: Vec<_> = slots.iter().filter_map(|s| s.token.as_ref()).filter(|t| t.flags.initialized).collect();
        let mut labels: Vec<_> = tokens.iter().map(|t| t.label.as_str()).collect();
        labels.sort_unstable();
        assert_eq!(labels, ["ci", "spare"]);
        if fx.softhsm {
            assert_eq!(slots.len(), 3, "two tokens and SoftHSM's empty slot: {slots:#?}");
            let empty = slots.iter().find(|s| s.token.as_ref().is_some_and(|t| !t.flags.initialized)).unwrap();
            assert!(empty.token.as_ref().unwrap().keys.is_empty());
        }
        let ci = tokens.iter().find(|t| t.label == "ci").unwrap();
        assert!(ci.ed25519);
        assert!(ci.flags.login_required && ci.flags.user_pin_initialized);
        assert!(!ci.flags.user_pin_locked && !ci.flags.user_pin_final_try && !ci.flags.user_pin_count_low);
        assert!(!ci.logged_in);
        assert_eq!(ci.keys.len(), 2);
        for generated in [&a, &b] {
            let key = ci.keys.iter().find(|k| Some(&k.id[..]) == generated.uri.id()).unwrap();
            assert_eq!(key.verifying_key, Some(generated.verifying_key));
            assert_eq!(key.label.as_deref(), generated.uri.object());
            assert_eq!(key.id_hex(), hex(generated.uri.id().unwrap()));
            assert_eq!(key.has_private_key, None);
            // The listed URI (module path, no PIN source) opens the key with a PIN prompt.
            let listed: Pkcs11Uri = key.uri.parse().unwrap();
            let ui = Recorder::answering(&fx.token("ci").pin);
            let signer = Pkcs11Signer::open(&listed, Some(&generated.verifying_key), &ui).unwrap();
            assert_eq!(ui.asked(), ["PIN for token 'ci'"]);
            assert_eq!(signer.key_uri(), &listed);
        }
        assert!(tokens.iter().find(|t| t.label == "spare").unwrap().keys.is_empty());

        // Narrowed to one token and logged in: private keys are seen too.
        let mut narrowed = fx.uri("ci", "a");
        narrowed.set_path_attr(PathAttr::Object, None).unwrap();
        let slots = pkcs11::list(&narrowed, &Headless).unwrap();
        assert_eq!(slots.len(), 1);
        let token = slots[0].token.as_ref().unwrap();
        assert!(token.logged_in);
        assert!(token.keys.iter().all(|k| k.has_private_key == Some(true)), "{token:#?}");
    }
}

pkcs11_test! {
    /// Device facts for ceremony transcripts.
    fn device_info_names_module_token_and_key(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "release"), &Headless).unwrap();
        let signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        let info = signer.device_info();
        let token_info = fx.raw().get_token_info(fx.slot("ci")).unwrap();
        assert_eq!(info.module, std::fs::canonicalize(&fx.module).unwrap());
        assert_eq!(info.slot_id, fx.slot("ci").id());
        assert_eq!(info.token_label, "ci");
        assert_eq!(info.model, token_info.model());
        assert_eq!(info.manufacturer, token_info.manufacturer_id());
        assert_eq!(info.serial, token_info.serial_number());
        assert_eq!(info.key_label.as_deref(), Some("release"));
        assert_eq!(info.key_id_hex, hex(generated.uri.id().unwrap()));
        assert_eq!(info.key_uri, generated.uri.to_string());
        let library = fx.raw().get_library_info().unwrap();
        assert_eq!(info.library.description, library.library_description());
        assert_eq!(info.library.version, library.library_version().to_string());
    }
}

pkcs11_test! {
    /// Environment fallback: no module in the URI and HALLMARK_PKCS11_MODULE unset.
    fn no_module_anywhere_is_a_usage_error(fx) with Setup::one_token(); {
        // The child inherits the runner's environment; this test is only meaningful when the
        // variable is unset, which the harness does not change.
        let uri: Pkcs11Uri = "pkcs11:token=ci;object=x".parse().unwrap();
        match std::env::var_os(pkcs11::MODULE_ENV) {
            None => {
                let err = Pkcs11Signer::open(&uri, None, &Headless).unwrap_err();
                assert!(matches!(err, Error::NoModule { .. }), "{err}");
                assert!(err.is_usage());
                assert!(err.to_string().contains("HALLMARK_PKCS11_MODULE"), "{err}");
            }
            Some(module) => {
                assert_eq!(pkcs11::resolve_module_path(&uri).unwrap(), std::path::PathBuf::from(module));
            }
        }
        let _ = fx;
    }
}

pkcs11_test! {
    fn token_not_present_lists_the_tokens_that_are(fx) with Setup::tokens(&["ci", "other"]); {
        let mut uri = fx.uri("ci", "release");
        uri.set_path_attr(PathAttr::Token, Some("missing")).unwrap();
        let err = Pkcs11Signer::open(&uri, None, &Headless).unwrap_err();
        let Error::TokenNotPresent { wanted, mut present, module } = err else { panic!("{err}") };
        assert_eq!(wanted, "pkcs11:token=missing");
        assert_eq!(module, std::fs::canonicalize(&fx.module).unwrap());
        present.sort();
        let ctx = fx.raw();
        let mut expected: Vec<String> = ["ci", "other"]
            .iter()
            .map(|l| {
                let slot = fx.slot(l);
                let serial = ctx.get_token_info(slot).unwrap().serial_number().to_owned();
                format!("'{l}' (serial {serial}, slot {})", slot.id())
            })
            .collect();
        expected.sort();
        assert_eq!(present, expected);
    }
}

pkcs11_test! {
    /// A wrong PIN is sent once, never retried, and the error carries the token's retry state.
    fn wrong_pin_reports_the_retry_state(fx) with Setup::one_token(); {
        let wrong = fx.write_file("wrong-pin", "999999\n");
        let uri: Pkcs11Uri = format!(
            "pkcs11:token=ci;object=k?module-path={}&pin-source={}",
            fx.module.display(),
            wrong.display()
        )
        .parse()
        .unwrap();
        let err = Pkcs11Signer::open(&uri, None, &Headless).unwrap_err();
        let Error::WrongPin { token, retry } = &err else { panic!("{err}") };
        assert_eq!(token.label, "ci");
        assert!(!retry.locked);
        if fx.softhsm {
            // SoftHSM2 sets COUNT_LOW after a failure and has no retry limit.
            assert!(retry.count_low && !retry.final_try, "{retry:?}");
            assert_eq!(
                err.to_string(),
                format!("wrong PIN for {token}: the token reports that wrong PINs were entered (retry count low)")
            );
        }
        assert!(!err.is_usage());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("999999"), "{shown}");
    }
}

pkcs11_test! {
    /// A PIN the token cannot accept is refused before it is sent: no retry is used.
    fn pin_of_impossible_length_is_not_sent(fx) with Setup::one_token(); {
        let short = fx.write_file("short-pin", "1");
        let uri: Pkcs11Uri = format!(
            "pkcs11:token=ci?module-path={}&pin-source=file:{}",
            fx.module.display(),
            short.display()
        )
        .parse()
        .unwrap();
        let err = pkcs11::generate(&uri.clone().tap_object("x"), &Headless).unwrap_err();
        let Error::PinShape { len, min, max, .. } = err else { panic!("{err}") };
        let info = fx.raw().get_token_info(fx.slot("ci")).unwrap();
        assert_eq!((len, min, max), (1, info.min_pin_length(), info.max_pin_length()));
        // Nothing reached the token: it reports no failed login.
        assert!(!info.user_pin_count_low());
    }
}

trait TapObject {
    fn tap_object(self, object: &str) -> Pkcs11Uri;
}

impl TapObject for Pkcs11Uri {
    fn tap_object(mut self, object: &str) -> Pkcs11Uri {
        self.set_path_attr(PathAttr::Object, Some(object)).unwrap();
        self
    }
}

pkcs11_test! {
    /// Without a PIN source the PIN is asked for once; a pipeline (no terminal) is told what to
    /// use instead.
    fn pin_prompt_and_headless_refusal(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let uri: Pkcs11Uri = format!("pkcs11:token=ci;object=k?module-path={}", fx.module.display()).parse().unwrap();
        let ui = Recorder::answering(&fx.token("ci").pin);
        let signer = Pkcs11Signer::open(&uri, Some(&generated.verifying_key), &ui).unwrap();
        let messages: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        signer.sign_batch(&messages, |_, _| {}).unwrap();
        assert_eq!(ui.asked(), ["PIN for token 'ci'"]);
        // While that signer is open the token is logged in for the whole process: a second
        // signer needs no PIN.
        let second = Pkcs11Signer::open(&uri, None, &Headless).unwrap();
        drop((signer, second));

        let err = Pkcs11Signer::open(&uri, None, &Headless).unwrap_err();
        assert!(matches!(err, Error::Pin(SecretError::NoTerminal { .. })), "{err}");
        assert!(err.is_usage());
    }
}

pkcs11_test! {
    /// pin-value works, loudly; the PIN appears in no Debug or Display output.
    fn pin_value_warns_and_the_pin_never_shows(fx) with Setup::one_token(); {
        let pin = fx.token("ci").pin.clone();
        pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let uri: Pkcs11Uri = format!(
            "pkcs11:token=ci;object=k?module-path={}&pin-value={pin}",
            fx.module.display()
        )
        .parse()
        .unwrap();
        let ui = Recorder::default();
        let signer = Pkcs11Signer::open(&uri, None, &ui).unwrap();
        let warnings = ui.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("pin-value=") && warnings[0].contains("pin-source=file:PATH"), "{warnings:?}");
        assert!(ui.asked().is_empty());

        let mut shown = format!("{signer:?} {uri} {uri:?} {:?} {}", signer.device_info(), signer.key_uri());
        assert!(!signer.key_uri().to_string().contains("pin-value"));
        // Errors made while that PIN is in play.
        let mut wrong_key = uri.clone();
        wrong_key.set_path_attr(PathAttr::Object, Some("absent")).unwrap();
        let err = Pkcs11Signer::open(&wrong_key, None, &ui).unwrap_err();
        shown.push_str(&format!("{err} {err:?}"));
        let other = pkcs11::generate(&fx.uri("ci", "other"), &Headless).unwrap();
        let err = Pkcs11Signer::open(&uri, Some(&other.verifying_key), &ui).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }), "{err}");
        shown.push_str(&format!("{err} {err:?}"));
        assert!(!shown.contains(&pin), "PIN {pin} leaked in: {shown}");
    }
}

pkcs11_test! {
    fn key_not_found_lists_the_keys_that_exist(fx) with Setup::one_token(); {
        let a = pkcs11::generate(&fx.uri("ci", "a"), &Headless).unwrap();
        let b = pkcs11::generate(&fx.uri("ci", "b"), &Headless).unwrap();
        let err = Pkcs11Signer::open(&fx.uri("ci", "absent"), None, &Headless).unwrap_err();
        let Error::KeyNotFound { uri, token, available } = &err else { panic!("{err}") };
        let mut available = available.clone();
        assert_eq!(uri, &fx.uri("ci", "absent").to_string());
        assert_eq!(token.label, "ci");
        available.sort();
        let mut expected = vec![a.uri.to_string(), b.uri.to_string()];
        expected.sort();
        assert_eq!(available, expected);
        assert!(err.is_usage());
    }
}

pkcs11_test! {
    /// Two keys share a label: Hallmark lists both URIs (which differ in id) and uses neither;
    /// each listed URI opens exactly its key.
    fn several_keys_match_lists_their_uris(fx) with Setup::one_token(); {
        raw_generate(fx, "ci", "dup", &[1]);
        raw_generate(fx, "ci", "dup", &[2]);
        let err = Pkcs11Signer::open(&fx.uri("ci", "dup"), None, &Headless).unwrap_err();
        let Error::SeveralKeys { matching, .. } = &err else { panic!("{err}") };
        assert_eq!(matching.len(), 2);
        assert!(err.is_usage());
        let mut keys = Vec::new();
        for uri in matching {
            let uri: Pkcs11Uri = uri.parse().unwrap();
            assert_eq!(uri.object(), Some("dup"));
            keys.push(Pkcs11Signer::open(&uri, None, &Headless).unwrap().verifying_key());
        }
        assert_ne!(keys[0], keys[1]);
        let mut ids: Vec<_> = matching.iter().map(|u| u.parse::<Pkcs11Uri>().unwrap().id().unwrap().to_vec()).collect();
        ids.sort();
        assert_eq!(ids, [vec![1], vec![2]]);
    }
}

pkcs11_test! {
    fn generate_refuses_a_label_in_use(fx) with Setup::one_token(); {
        let first = pkcs11::generate(&fx.uri("ci", "release"), &Headless).unwrap();
        let err = pkcs11::generate(&fx.uri("ci", "release"), &Headless).unwrap_err();
        let Error::LabelTaken { label, existing, .. } = &err else { panic!("{err}") };
        assert_eq!(label, "release");
        assert_eq!(existing, &first.uri.to_string());
        assert!(err.is_usage());
        // Nothing new was made.
        let session = raw_session(fx, "ci");
        assert_eq!(session.find_objects(&[Attribute::Label(b"release".to_vec())]).unwrap().len(), 2);
    }
}

pkcs11_test! {
    /// The expected key is checked before any signature.
    fn expected_key_mismatch_is_refused(fx) with Setup::one_token(); {
        let a = pkcs11::generate(&fx.uri("ci", "a"), &Headless).unwrap();
        let b = pkcs11::generate(&fx.uri("ci", "b"), &Headless).unwrap();
        let err = Pkcs11Signer::open(&a.uri, Some(&b.verifying_key), &Headless).unwrap_err();
        let Error::KeyMismatch { expected, found, uri, .. } = &err else { panic!("{err}") };
        assert_eq!(expected, &hex(b.verifying_key.as_bytes()));
        assert_eq!(found, &hex(a.verifying_key.as_bytes()));
        assert_eq!(uri, &a.uri.to_string());
    }
}

pkcs11_test! {
    /// A key of another type under the label is named, not silently skipped.
    fn non_ed25519_key_is_named(fx) with Setup::one_token(); {
        let session = raw_session(fx, "ci");
        let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::Token(true), Attribute::EcParams(p256), Attribute::Label(b"ecdsa".to_vec())],
                &[Attribute::Token(true), Attribute::Sign(true), Attribute::Label(b"ecdsa".to_vec())],
            )
            .unwrap();
        drop(session);
        let err = Pkcs11Signer::open(&fx.uri("ci", "ecdsa"), None, &Headless).unwrap_err();
        let Error::NotEd25519 { key_type, .. } = &err else { panic!("{err}") };
        assert_eq!(key_type, "CKK_EC");
    }
}

pkcs11_test! {
    /// Another part of the process logs the token out mid-batch: the signer logs in again once
    /// and finishes the batch.
    fn batch_survives_one_logout_behind_its_back(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let mut signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        signer.set_max_sessions(NonZeroUsize::MIN);
        let other = fx.raw().open_ro_session(fx.slot("ci")).unwrap();
        let messages: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures = signer
            .sign_batch(&refs, |done, _| {
                if done == 10 {
                    // Login state is per token, shared by all sessions: this logs out the signer.
                    other.logout().unwrap();
                }
            })
            .unwrap();
        assert_eq!(signatures.len(), 50);
        for (m, s) in messages.iter().zip(&signatures) {
            generated.verifying_key.verify_strict(m, s).unwrap();
        }
    }
}

pkcs11_test! {
    /// The token is logged out between two batches that sign through several sessions: every
    /// session of the pool fails, the first session logs in again once and signs the whole
    /// batch, and the next batch opens a new pool.
    fn pooled_batch_survives_a_logout(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let mut signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        signer.set_max_sessions(NonZeroUsize::new(3).unwrap());
        let other = fx.raw().open_ro_session(fx.slot("ci")).unwrap();
        let messages: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert_eq!(signer.sign_batch(&refs, |_, _| {}).unwrap().len(), 50);
        assert_eq!(signer.open_sessions(), 3);

        other.logout().unwrap();
        let mut seen = Vec::new();
        let signatures = signer.sign_batch(&refs, |done, total| seen.push((done, total))).unwrap();
        assert_eq!(signatures.len(), 50);
        for (m, s) in messages.iter().zip(&signatures) {
            generated.verifying_key.verify_strict(m, s).unwrap();
        }
        // Nothing was signed before the first session logged in again; from then on, one by one.
        assert_eq!(seen, (1..=50).map(|d| (d, 50)).collect::<Vec<_>>());
        assert_eq!(signer.open_sessions(), 1);

        assert_eq!(signer.sign_batch(&refs, |_, _| {}).unwrap().len(), 50);
        assert_eq!(signer.open_sessions(), 3);
    }
}

pkcs11_test! {
    /// The library is finalised and re-initialised under the signer (every session handle
    /// becomes invalid): the signer re-opens once; the second time the batch stops and says
    /// exactly what was and was not signed.
    ///
    /// One session only: finalising a module while another thread is inside it is undefined.
    fn batch_reopens_once_then_reports_what_was_signed(fx) with Setup::one_token(); {
        let generated = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap();
        let mut signer = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap();
        signer.set_max_sessions(NonZeroUsize::MIN);
        let reset = || {
            fx.raw().finalize().unwrap();
            fx.raw();
        };
        let messages: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 64]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let err = signer
            .sign_batch(&refs, |done, _| {
                if done == 5 || done == 20 {
                    reset();
                }
            })
            .unwrap_err();
        assert!(
            matches!(*err.cause, Error::SessionLost { rv: cryptoki::error::RvError::SessionHandleInvalid, .. }),
            "{err}"
        );
        assert_eq!(err.signed(), 0..20);
        assert_eq!(err.not_signed(), 20..40);
        assert_eq!(err.total, 40);
        for (m, s) in messages.iter().zip(&err.signatures) {
            generated.verifying_key.verify_strict(m, s).unwrap();
        }
        assert_eq!(
            err.to_string(),
            format!("signed 20 of 40 messages (indices 0..20), not signed: 20 (indices 20..40): {}", err.cause)
        );
        // A new batch re-opens again and signs.
        assert_eq!(signer.sign_batch(&refs[..3], |_, _| {}).unwrap().len(), 3);
    }
}
