//! The conformance suite: runs against any endpoint that speaks KMS's API (here ministack).

use std::num::NonZeroUsize;

use ed25519_dalek::Signature;
use hallmark_hsm::awskms::{self, AwsKmsSigner, Error, MAX_MESSAGE_LEN};
use serde_json::json;
use signature::{Keypair, Signer};

use crate::awskms_test;
use crate::emulator::{REGION, base64};
use crate::harness::{Prepared, Setup, ok};

fn sign_with<S: Signer<Signature>>(signer: &S, message: &[u8]) -> Signature {
    signer.sign(message)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

awskms_test! {
    /// Generation makes an Ed25519 SIGN_VERIFY key tagged for Hallmark, with the alias; the key
    /// signs pure Ed25519 through the RustCrypto traits, and the signature verifies strictly
    /// and with the emulator's own Verify.
    fn generate_then_sign_and_verify(fx) with Setup::plain(); {
        let request = fx.reference("alias/release");
        let generated = awskms::generate(&request).unwrap();
        assert_eq!(generated.reference.to_string(), format!("awskms:alias/release?region={REGION}"));
        assert_eq!(generated.region, REGION);
        assert!(generated.arn.starts_with(&format!("arn:aws:kms:{REGION}:")), "{}", generated.arn);

        // What KMS holds: the key behind the alias, its spec, usage, description and tag.
        let described = ok(fx.admin.calls(json!([{"service": "kms", "op": "describe_key", "params": {"KeyId": "alias/release"}}])));
        let meta = &described["KeyMetadata"];
        assert_eq!(meta["Arn"], generated.arn.as_str());
        assert_eq!(meta["KeySpec"], "ECC_NIST_EDWARDS25519");
        assert_eq!(meta["KeyUsage"], "SIGN_VERIFY");
        assert!(meta["Description"].as_str().unwrap().contains("Hallmark Ed25519 package-signing key (alias/release)"));
        let tags = ok(fx.admin.calls(json!([{"service": "kms", "op": "list_resource_tags", "params": {"KeyId": meta["KeyId"]}}])));
        assert_eq!(tags["Tags"], json!([{"TagKey": "hallmark", "TagValue": "package-signing"}]));

        let signer = AwsKmsSigner::open(&generated.reference, Some(&generated.verifying_key)).unwrap();
        assert_eq!(signer.verifying_key(), generated.verifying_key);
        assert_eq!(signer.arn(), generated.arn);
        let message = b"org.acme.database-tool 1.2.3";
        let signature = sign_with(&signer, message);
        generated.verifying_key.verify_strict(message, &signature).unwrap();
        let verdict = fx.admin.kms_verify(&generated.arn, message, &signature.to_bytes());
        assert_eq!(verdict["ok"]["SignatureValid"], true, "{verdict}");
        // A signature over other bytes does not pass the emulator's Verify: it really checks.
        let verdict = fx.admin.kms_verify(&generated.arn, b"other", &signature.to_bytes());
        assert_eq!(verdict["error"]["code"], "KMSInvalidSignatureException", "{verdict}");

        // The same key by key id and by ARN; the public key the emulator reports is the same.
        for key in [meta["KeyId"].as_str().unwrap(), generated.arn.as_str()] {
            let again = AwsKmsSigner::open(&fx.reference(key), None).unwrap();
            assert_eq!(again.verifying_key(), generated.verifying_key);
        }
        let public = ok(fx.admin.calls(json!([{"service": "kms", "op": "get_public_key", "params": {"KeyId": "alias/release"}}])));
        let der = awskms_spki(public["PublicKey"].as_str().unwrap());
        assert_eq!(awskms::decode_spki(&der).unwrap(), generated.verifying_key);
        assert_eq!(awskms::public_key(&request).unwrap(), (generated.verifying_key, generated.arn.clone()));
    }
}

/// The SubjectPublicKeyInfo bytes from the emulator's base64.
fn awskms_spki(b64: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in b64.bytes().filter(|&c| c != b'=') {
        bits = (bits << 6) | alphabet.iter().position(|&a| a == c).unwrap() as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

awskms_test! {
    /// A batch keeps several requests in flight; every signature signs its own message and is
    /// verified; progress only grows and ends at the total.
    fn batch_signs_every_message_concurrently(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/batch")).unwrap();
        let mut signer = AwsKmsSigner::open(&generated.reference, None).unwrap();
        assert_eq!(signer.concurrency().get(), 8);
        for concurrency in [1, 8] {
            signer.set_concurrency(NonZeroUsize::new(concurrency).unwrap());
            let messages: Vec<Vec<u8>> = (0..120u32).map(|i| format!("artifact-{i}").into_bytes()).collect();
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let mut seen = Vec::new();
            let signatures = signer.sign_batch(&refs, |done, total| seen.push((done, total))).unwrap();
            assert_eq!(signatures.len(), 120);
            assert_eq!(seen, (1..=120).map(|d| (d, 120)).collect::<Vec<_>>());
            for (message, signature) in messages.iter().zip(&signatures) {
                generated.verifying_key.verify_strict(message, signature).unwrap();
            }
        }
        assert!(signer.sign_batch(&[], |_, _| panic!("no progress for no messages")).unwrap().is_empty());
    }
}

awskms_test! {
    /// KMS signs at most 4,096 bytes with ED25519_SHA_512. The emulator does not enforce that
    /// (it signs 4,097 bytes when asked directly), so Hallmark does, before sending anything.
    fn messages_over_4096_bytes_are_refused_before_sending(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/cap")).unwrap();
        let signer = AwsKmsSigner::open(&generated.reference, None).unwrap();
        let big = vec![7u8; MAX_MESSAGE_LEN + 1];
        let direct = fx.admin.calls(json!([{
            "service": "kms", "op": "sign",
            "params": {"KeyId": generated.arn, "Message": base64(&big), "MessageType": "RAW", "SigningAlgorithm": "ED25519_SHA_512"},
            "blobs": ["Message"],
        }]));
        assert!(direct[0].get("ok").is_some(), "the emulator enforces the cap now: {}", direct[0]);

        let err = signer.sign_message(&big).unwrap_err();
        assert!(matches!(err, Error::MessageTooLarge { len, max: 4096 } if len == 4097), "{err}");
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "message of 4097 bytes is larger than the 4096 bytes AWS KMS signs with ED25519_SHA_512; \
             sign a digest of the payload instead"
        );
        // Exactly 4,096 bytes is signed.
        let edge = vec![7u8; MAX_MESSAGE_LEN];
        let signature = signer.sign_message(&edge).unwrap();
        generated.verifying_key.verify_strict(&edge, &signature).unwrap();
        // In a batch, before anything is signed.
        let err = signer.sign_batch(&[b"ok", &big], |_, _| panic!("nothing signed")).unwrap_err();
        assert!(matches!(*err.cause, Error::MessageTooLarge { .. }));
        assert_eq!((err.signed(), err.not_signed()), (0..0, 0..2));
    }
}

awskms_test! {
    /// Errors reach `Signer::try_sign` callers as this module's error, by downcast.
    fn try_sign_errors_downcast_to_the_module_error(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/k")).unwrap();
        let signer = AwsKmsSigner::open(&generated.reference, None).unwrap();
        let err = signer.try_sign(&vec![0u8; MAX_MESSAGE_LEN + 1]).unwrap_err();
        let inner = std::error::Error::source(&err).unwrap().downcast_ref::<Error>().unwrap();
        assert!(matches!(inner, Error::MessageTooLarge { .. }), "{inner}");

        fx.admin.admin_ok("kms", "disable_key", json!({"KeyId": generated.arn}));
        let err = signer.try_sign(b"x").unwrap_err();
        let inner = std::error::Error::source(&err).unwrap().downcast_ref::<Error>().unwrap();
        assert!(matches!(inner, Error::KeyDisabled { key } if *key == generated.arn), "{inner}");
        assert!(!inner.is_usage());
    }
}

awskms_test! {
    /// The expected key is checked before any signature.
    fn expected_key_mismatch_is_refused(fx) with Setup::plain(); {
        let a = awskms::generate(&fx.reference("alias/a")).unwrap();
        let b = awskms::generate(&fx.reference("alias/b")).unwrap();
        let err = AwsKmsSigner::open(&a.reference, Some(&b.verifying_key)).unwrap_err();
        let Error::KeyMismatch { key, expected, found } = &err else { panic!("{err}") };
        assert_eq!(key, &a.arn);
        assert_eq!(expected, &hex(b.verifying_key.as_bytes()));
        assert_eq!(found, &hex(a.verifying_key.as_bytes()));
        assert!(!err.is_usage());
    }
}

awskms_test! {
    /// Requests name the key by the ARN read at open: an alias moved to another key meanwhile
    /// does not change the key that signs.
    fn an_alias_moved_after_open_changes_nothing(fx) with Setup::plain(); {
        let a = awskms::generate(&fx.reference("alias/moving")).unwrap();
        let b = awskms::generate(&fx.reference("alias/other")).unwrap();
        let signer = AwsKmsSigner::open(&a.reference, None).unwrap();
        fx.admin.admin_ok("kms", "update_alias", json!({"AliasName": "alias/moving", "TargetKeyId": b.arn}));
        let signature = signer.sign_message(b"m").unwrap();
        a.verifying_key.verify_strict(b"m", &signature).unwrap();
        // Opened again, the alias now names the other key.
        let again = AwsKmsSigner::open(&a.reference, None).unwrap();
        assert_eq!(again.verifying_key(), b.verifying_key);
    }
}

awskms_test! {
    /// A key that exists in another region: not found, naming the region asked.
    fn wrong_region_is_key_not_found_in_that_region(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/regional")).unwrap();
        let elsewhere = fx.reference("alias/regional?region=eu-west-1");
        let err = AwsKmsSigner::open(&elsewhere, None).unwrap_err();
        let Error::KeyNotFound { key, region } = &err else { panic!("{err}") };
        assert_eq!((key.as_str(), region.as_str()), ("alias/regional", "eu-west-1"));
        assert!(!err.is_usage());
        assert!(err.to_string().contains("KMS keys live in one region"), "{err}");
        // An ARN carries its region: the key is found whatever AWS_REGION says.
        let by_arn = fx.reference(&generated.arn);
        assert_eq!(by_arn.region(), Some(REGION));
        AwsKmsSigner::open(&by_arn, None).unwrap();
    }
}

awskms_test! {
    /// A disabled key is refused when opened (the check signature); disabled in the middle of
    /// a batch, the batch says what was and was not signed.
    fn disabled_key_is_refused_and_a_batch_reports_what_was_signed(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/disabled")).unwrap();
        let signer = AwsKmsSigner::open(&generated.reference, None).unwrap();
        let messages: Vec<Vec<u8>> = (0..60u8).map(|i| vec![i; 64]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let admin = fx.admin.clone();
        let arn = generated.arn.clone();
        let err = signer
            .sign_batch(&refs, |done, _| {
                if done == 10 {
                    admin.admin_ok("kms", "disable_key", json!({"KeyId": arn}));
                }
            })
            .unwrap_err();
        assert!(matches!(&*err.cause, Error::KeyDisabled { key } if *key == generated.arn), "{err}");
        let signed = err.signed();
        assert!(signed.end >= 10 && signed.end < 60, "{signed:?}");
        assert_eq!(err.not_signed(), signed.end..60);
        assert_eq!(err.signatures.len(), signed.end);
        for (m, s) in messages.iter().zip(&err.signatures) {
            generated.verifying_key.verify_strict(m, s).unwrap();
        }
        assert_eq!(
            err.to_string(),
            format!(
                "signed {0} of 60 messages (indices 0..{0}), not signed: {1} (indices {0}..60): {2}",
                signed.end, 60 - signed.end, err.cause
            )
        );

        let err = AwsKmsSigner::open(&generated.reference, None).unwrap_err();
        assert!(matches!(&err, Error::KeyDisabled { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("the AWS KMS key {} is disabled; enable it (aws kms enable-key) or use another key", generated.arn)
        );
        fx.admin.admin_ok("kms", "enable_key", json!({"KeyId": generated.arn}));
        AwsKmsSigner::open(&generated.reference, None).unwrap();
    }
}

awskms_test! {
    fn key_pending_deletion_is_refused(fx) with Setup::plain(); {
        let generated = awskms::generate(&fx.reference("alias/doomed")).unwrap();
        fx.admin.admin_ok("kms", "schedule_key_deletion", json!({"KeyId": generated.arn, "PendingWindowInDays": 7}));
        let err = AwsKmsSigner::open(&generated.reference, None).unwrap_err();
        assert!(matches!(&err, Error::KeyPendingDeletion { key } if *key == generated.arn), "{err}");
        assert!(err.to_string().contains("cancel the deletion"), "{err}");
        assert!(!err.is_usage());
    }
}

awskms_test! {
    /// Keys that are not Ed25519 signing keys are named with what they are.
    fn keys_of_another_spec_or_usage_are_named(fx) with Setup::plain(); {
        let (p256, p256_arn) = fx.admin.create_key("ECC_NIST_P256", "SIGN_VERIFY");
        let err = AwsKmsSigner::open(&fx.reference(&p256), None).unwrap_err();
        let Error::WrongKeySpec { key, found } = &err else { panic!("{err}") };
        assert_eq!((key.as_str(), found.as_str()), (p256_arn.as_str(), "ECC_NIST_P256"));
        assert!(err.to_string().contains("ECC_NIST_EDWARDS25519"), "{err}");
        let (rsa, _) = fx.admin.create_key("RSA_2048", "ENCRYPT_DECRYPT");
        let err = awskms::public_key(&fx.reference(&rsa)).unwrap_err();
        assert!(matches!(&err, Error::WrongKeySpec { found, .. } if found == "RSA_2048"), "{err}");
        // KMS itself only makes Ed25519 keys for SIGN_VERIFY; the emulator makes one for
        // ENCRYPT_DECRYPT when asked, which shows the usage check.
        let (odd, _) = fx.admin.create_key("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT");
        let err = AwsKmsSigner::open(&fx.reference(&odd), None).unwrap_err();
        assert!(matches!(&err, Error::WrongKeyUsage { found, .. } if found == "ENCRYPT_DECRYPT"), "{err}");
        // A symmetric key has no public key at all.
        let (symmetric, _) = fx.admin.create_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
        let err = AwsKmsSigner::open(&fx.reference(&symmetric), None).unwrap_err();
        assert!(!err.is_usage(), "{err}");
    }
}

awskms_test! {
    fn generate_refuses_an_alias_in_use_and_needs_an_alias(fx) with Setup::plain(); {
        let first = awskms::generate(&fx.reference("alias/release")).unwrap();
        let keys_before = ok(fx.admin.calls(json!([{"service": "kms", "op": "list_keys", "params": {}}])))["Keys"].as_array().unwrap().len();
        let err = awskms::generate(&fx.reference("alias/release")).unwrap_err();
        let Error::AliasTaken { alias, region, existing } = &err else { panic!("{err}") };
        assert_eq!((alias.as_str(), region.as_str(), existing.as_str()), ("alias/release", REGION, first.arn.as_str()));
        assert!(err.is_usage());
        let keys_after = ok(fx.admin.calls(json!([{"service": "kms", "op": "list_keys", "params": {}}])))["Keys"].as_array().unwrap().len();
        assert_eq!(keys_after, keys_before, "nothing new was made");

        let by_id = fx.reference("1234abcd-12ab-34cd-56ef-1234567890ab");
        let err = awskms::generate(&by_id).unwrap_err();
        assert!(matches!(&err, Error::UnusableReference { .. }), "{err}");
        assert!(err.is_usage());
    }
}

awskms_test! {
    /// Listing shows the aliases that name Ed25519 signing keys, each with its public key,
    /// Hallmark's tag and whether it can sign; other keys are left out.
    fn list_reports_ed25519_aliases(fx) with Setup::plain(); {
        let ours = awskms::generate(&fx.reference("alias/ours")).unwrap();
        let (theirs, _) = fx.admin.create_key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY");
        fx.admin.admin_ok("kms", "create_alias", json!({"AliasName": "alias/theirs", "TargetKeyId": theirs}));
        let (p256, _) = fx.admin.create_key("ECC_NIST_P256", "SIGN_VERIFY");
        fx.admin.admin_ok("kms", "create_alias", json!({"AliasName": "alias/ecdsa", "TargetKeyId": p256}));
        let off = awskms::generate(&fx.reference("alias/off")).unwrap();
        fx.admin.admin_ok("kms", "disable_key", json!({"KeyId": off.arn}));

        let listing = awskms::list(None).unwrap();
        assert_eq!(listing.region, REGION);
        let aliases: Vec<&str> = listing.keys.iter().map(|k| k.alias.as_str()).collect();
        assert_eq!(aliases, ["alias/off", "alias/ours", "alias/theirs"]);
        let key = |alias: &str| listing.keys.iter().find(|k| k.alias == alias).unwrap();
        assert_eq!(key("alias/ours").verifying_key, Some(ours.verifying_key));
        assert_eq!(key("alias/ours").hallmark_tag, Some(true));
        assert_eq!(key("alias/ours").problem, None);
        assert_eq!(key("alias/ours").reference, ours.reference);
        assert_eq!(key("alias/theirs").hallmark_tag, Some(false));
        assert_eq!(key("alias/theirs").key_id, theirs);
        assert_eq!(key("alias/off").problem.as_deref(), Some("key state Disabled"));
        // The listed reference opens the key.
        let signer = AwsKmsSigner::open(&key("alias/ours").reference, Some(&ours.verifying_key)).unwrap();
        signer.sign_message(b"x").unwrap();
        // Another region has none.
        assert!(awskms::list(Some("eu-west-1")).unwrap().keys.is_empty());
    }
}

awskms_test! {
    /// Nothing listens on the endpoint: a clear error after the transient retries.
    fn endpoint_unreachable(fx) with Setup::prepared(|_, _| {
        let closed = crate::emulator::free_port();
        Prepared::default().set("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}")).value("PORT", closed.to_string())
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/any"), None).unwrap_err();
        let Error::EndpointUnreachable { endpoint, attempts, .. } = &err else { panic!("{err}") };
        assert_eq!(endpoint, &format!("http://127.0.0.1:{}", fx.value("PORT")));
        assert_eq!(*attempts, awskms::MAX_TRANSIENT_ATTEMPTS);
        assert!(!err.is_usage());
        assert!(err.to_string().contains("check the network, the region, and AWS_ENDPOINT_URL"), "{err}");
    }
}

awskms_test! {
    /// No credentials anywhere in the chain (no variables, empty profile files, no instance
    /// metadata): refused before any request, saying where credentials come from.
    fn no_credentials(fx) with Setup::prepared(|_, _| {
        Prepared::default().unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY")
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/any"), None).unwrap_err();
        assert!(matches!(&err, Error::NoCredentials { .. }), "{err}");
        assert!(!err.is_usage());
        let text = err.to_string();
        assert!(text.starts_with("no AWS credentials: none of the standard sources has any"), "{text}");
        assert!(text.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "{text}");
        let err = awskms::generate(&fx.reference("alias/any")).unwrap_err();
        assert!(matches!(&err, Error::NoCredentials { .. }), "{err}");
    }
}

awskms_test! {
    /// No region from the chain: the reference's region suffices, and without one the error
    /// says where a region comes from.
    fn region_from_the_reference_or_a_clear_error(fx) with Setup::prepared(|_, _| {
        Prepared::default().unset("AWS_REGION")
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/r"), None).unwrap_err();
        assert!(matches!(&err, Error::NoRegion { .. }), "{err}");
        assert!(err.is_usage());
        let generated = awskms::generate(&fx.reference(&format!("alias/r?region={REGION}"))).unwrap();
        AwsKmsSigner::open(&generated.reference, Some(&generated.verifying_key)).unwrap();
    }
}

awskms_test! {
    /// Region and credentials from a named profile in the shared files, as a workstation has
    /// them: the standard chain, not Hallmark's own reading.
    fn credentials_and_region_from_a_profile(fx) with Setup::prepared(|_, dir| {
        std::fs::write(dir.join("aws-config"), format!("[profile ci]\nregion = {REGION}\n")).unwrap();
        std::fs::write(dir.join("aws-credentials"), "[ci]\naws_access_key_id = test\naws_secret_access_key = test\n").unwrap();
        Prepared::default()
            .unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY").unset("AWS_REGION")
            .set("AWS_PROFILE", "ci")
    }); {
        let generated = awskms::generate(&fx.reference("alias/profiled")).unwrap();
        assert_eq!(generated.region, REGION);
        let signer = AwsKmsSigner::open(&generated.reference, Some(&generated.verifying_key)).unwrap();
        signer.sign_message(b"from a profile").unwrap();
    }
}
