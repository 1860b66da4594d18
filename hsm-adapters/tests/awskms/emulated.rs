//! Failures the emulator produces when set up behind Hallmark's back: IAM users whose policies
//! lack a permission (ministack with `AUTH=true` evaluates IAM policies and checks SigV4),
//! STS sessions that expire, and throttling from a fault injector in front of the emulator.

use std::time::{Duration, Instant};

use hallmark_hsm::awskms::{self, AwsKmsSigner, Error};
use serde_json::json;
use signature::Keypair;

use crate::awskms_test;
use crate::emulator::{Emulator, Throttler, admin_call};
use crate::harness::{Prepared, Setup, ok};

/// An Ed25519 key with an alias, made with the root credentials; its ARN is the value `ARN`.
fn key_with_alias(emulator: &Emulator, alias: &str) -> String {
    let admin = emulator.admin();
    let (id, arn) = admin.create_key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY");
    admin.admin_ok(
        "kms",
        "create_alias",
        json!({"AliasName": alias, "TargetKeyId": id}),
    );
    arn
}

/// Runs the child with an IAM user's credentials.
fn as_user(emulator: &Emulator, name: &str, actions: &[&str]) -> Prepared {
    let arn = key_with_alias(emulator, "alias/release");
    let (access, secret) = emulator.admin().iam_user(name, actions);
    Prepared::default()
        .set("AWS_ACCESS_KEY_ID", access)
        .set("AWS_SECRET_ACCESS_KEY", secret)
        .value("ARN", arn)
}

awskms_test! {
    /// A caller without kms:GetPublicKey is told that permission; one with it but without
    /// kms:Sign is told kms:Sign, when the key opens (the check signature), before any work.
    fn access_denied_names_the_missing_permission(fx) with Setup::prepared(|emulator, _| {
        let prepared = as_user(emulator, "signer", &["kms:GetPublicKey"]);
        let (access, secret) = emulator.admin().iam_user("nobody", &[]);
        prepared.value("NOBODY", format!("{access}:{secret}"))
    }); {
        let reference = fx.reference("alias/release");
        let err = AwsKmsSigner::open(&reference, None).unwrap_err();
        let Error::AccessDenied { operation, permission, key, message } = &err else { panic!("{err}") };
        assert_eq!((*operation, *permission), ("Sign", "kms:Sign"));
        assert_eq!(key, &fx.value("ARN"));
        assert!(message.contains("is not authorized to perform: kms:Sign"), "{message}");
        assert_eq!(err.missing_permission(), Some("kms:Sign"));
        assert!(!err.is_usage());
        assert!(err.to_string().starts_with(&format!(
            "access denied: Sign on {} needs the IAM permission kms:Sign, which the caller does not have",
            fx.value("ARN")
        )), "{err}");
        // Reading the public key needs only kms:GetPublicKey.
        awskms::public_key(&reference).unwrap();
        // Creating a key needs more.
        let err = awskms::generate(&fx.reference("alias/new")).unwrap_err();
        assert_eq!(err.missing_permission(), Some("kms:DescribeKey"), "{err}");
    }
}

awskms_test! {
    fn access_denied_for_get_public_key_and_create_key(fx) with Setup::prepared(|emulator, _| {
        as_user(emulator, "describer", &["kms:DescribeKey"])
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        assert_eq!(err.missing_permission(), Some("kms:GetPublicKey"), "{err}");
        let err = awskms::generate(&fx.reference("alias/new")).unwrap_err();
        let Error::AccessDenied { operation: "CreateKey", permission: "kms:CreateKey", key, .. } = &err else { panic!("{err}") };
        assert_eq!(key, "alias/new");
    }
}

awskms_test! {
    /// The least-privilege policies of docs/hardware/aws-kms.md: one to sign, one to create keys.
    fn documented_policies_are_enough(fx) with Setup::prepared(|emulator, _| {
        let prepared = as_user(emulator, "ci", &["kms:Sign", "kms:GetPublicKey"]);
        let (access, secret) = emulator.admin().iam_user(
            "custodian",
            &["kms:CreateKey", "kms:CreateAlias", "kms:DescribeKey", "kms:GetPublicKey", "kms:TagResource", "kms:ListAliases", "kms:ListResourceTags"],
        );
        prepared.value("CUSTODIAN", format!("{access}:{secret}"))
    }); {
        let signer = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap();
        let messages: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 32]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures = signer.sign_batch(&refs, |_, _| {}).unwrap();
        for (m, s) in messages.iter().zip(&signatures) {
            signer.verifying_key().verify_strict(m, s).unwrap();
        }
        // The signing policy cannot create keys.
        let err = awskms::generate(&fx.reference("alias/new")).unwrap_err();
        assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
        // The custodian's can; ministack checks the request under those credentials.
        let custodian = fx.value("CUSTODIAN");
        let (access, secret) = custodian.split_once(':').unwrap();
        let made = admin_call(&fx.admin.endpoint, (access, secret, None), json!([
            {"service": "kms", "op": "create_key", "params": {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY", "Tags": [{"TagKey": "hallmark", "TagValue": "package-signing"}]}},
        ]));
        assert!(made[0].get("ok").is_some(), "{}", made[0]);
    }
}

awskms_test! {
    /// A wrong secret: KMS says the request signature does not match.
    fn wrong_secret_is_refused_credentials(fx) with Setup::prepared(|emulator, _| {
        let prepared = as_user(emulator, "u", &["kms:GetPublicKey", "kms:Sign"]);
        prepared.set("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        let Error::InvalidCredentials { code, endpoint, .. } = &err else { panic!("{err}") };
        assert_eq!(code, "InvalidSignatureException");
        assert_eq!(endpoint, &fx.admin.endpoint);
        assert!(!err.is_usage());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("not-the-secret"), "{shown}");
    }
}

awskms_test! {
    /// Credentials of an assumed-role session that has expired (a one-second session, waited
    /// out): KMS says the token expired, and so does Hallmark.
    fn expired_session_credentials(fx) with Setup::prepared(|emulator, _| {
        let arn = key_with_alias(emulator, "alias/release");
        let admin = emulator.admin();
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}]});
        admin.admin_ok("iam", "create_role", json!({"RoleName": "release", "AssumeRolePolicyDocument": trust.to_string()}));
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]});
        admin.admin_ok("iam", "put_role_policy", json!({"RoleName": "release", "PolicyName": "kms", "PolicyDocument": policy.to_string()}));
        let session = admin.admin_ok("sts", "assume_role", json!({
            "RoleArn": "arn:aws:iam::000000000000:role/release", "RoleSessionName": "ci", "DurationSeconds": 1,
        }));
        let credentials = &session["Credentials"];
        let (access, secret, token) = (
            credentials["AccessKeyId"].as_str().unwrap().to_owned(),
            credentials["SecretAccessKey"].as_str().unwrap().to_owned(),
            credentials["SessionToken"].as_str().unwrap().to_owned(),
        );
        // Wait until the emulator itself reports the session expired.
        let started = Instant::now();
        loop {
            let result = admin_call(&admin.endpoint, (&access, &secret, Some(&token)),
                json!([{"service": "kms", "op": "list_keys", "params": {}}]));
            if result[0]["error"]["code"] == "ExpiredTokenException" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "session never expired: {}", result[0]);
            std::thread::sleep(Duration::from_millis(200));
        }
        Prepared::default()
            .set("AWS_ACCESS_KEY_ID", access)
            .set("AWS_SECRET_ACCESS_KEY", secret)
            .set("AWS_SESSION_TOKEN", token)
            .value("ARN", arn)
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        let Error::ExpiredCredentials { detail } = &err else { panic!("{err}") };
        assert_eq!(detail, "ExpiredTokenException: The security token included in the request is expired");
        assert!(!err.is_usage());
        assert!(err.to_string().contains("get new ones"), "{err}");
    }
}

awskms_test! {
    /// An access key the endpoint does not know.
    fn unknown_access_key(fx) with Setup::prepared(|emulator, _| {
        key_with_alias(emulator, "alias/release");
        Prepared::default().set("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN12")
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        assert!(matches!(&err, Error::InvalidCredentials { code, .. } if code == "UnrecognizedClientException"), "{err}");
    }
}

awskms_test! {
    /// The fault injector throttles the first three Sign requests: the signer backs off and
    /// retries, the key opens, and a batch of 20 signs; exactly 3 + 1 + 20 Sign requests
    /// arrived.
    fn throttling_is_retried_with_backoff(fx) with Setup::prepared(|emulator, _| {
        let arn = key_with_alias(emulator, "alias/release");
        let throttler = Throttler::start(emulator.port(), 3);
        let endpoint = throttler.endpoint();
        let throttler = std::rc::Rc::new(throttler);
        let seen = std::rc::Rc::clone(&throttler);
        Prepared {
            after: Some(Box::new(move || assert_eq!(seen.sign_requests(), 3 + 1 + 20))),
            keep: vec![Box::new(throttler)],
            ..Prepared::default()
        }
        .set("AWS_ENDPOINT_URL", endpoint)
        .value("ARN", arn)
    }); {
        let signer = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap();
        let messages: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 32]).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures = signer.sign_batch(&refs, |_, _| {}).unwrap();
        for (m, s) in messages.iter().zip(&signatures) {
            signer.verifying_key().verify_strict(m, s).unwrap();
        }
    }
}

awskms_test! {
    /// Throttled every time: the signer gives up after its last retry and says so.
    fn throttling_after_the_last_retry_is_reported(fx) with Setup::prepared(|emulator, _| {
        key_with_alias(emulator, "alias/release");
        let throttler = Throttler::start(emulator.port(), usize::MAX);
        let endpoint = throttler.endpoint();
        let throttler = std::rc::Rc::new(throttler);
        let seen = std::rc::Rc::clone(&throttler);
        Prepared {
            after: Some(Box::new(move || {
                assert_eq!(seen.sign_requests(), awskms::MAX_THROTTLED_ATTEMPTS as usize)
            })),
            keep: vec![Box::new(throttler)],
            ..Prepared::default()
        }
        .set("AWS_ENDPOINT_URL", endpoint)
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        let Error::Throttled { operation, attempts, message, .. } = &err else { panic!("{err}") };
        assert_eq!((*operation, *attempts), ("Sign", awskms::MAX_THROTTLED_ATTEMPTS));
        assert_eq!(message, "Rate exceeded");
        assert!(!err.is_usage());
        assert!(err.to_string().contains("lower HALLMARK_AWSKMS_CONCURRENCY"), "{err}");
        let _ = ok(fx.admin.calls(json!([{"service": "kms", "op": "list_keys", "params": {}}])));
    }
}

/// A JWT as GitHub's OIDC provider issues it (the emulator reads its claims without checking
/// the signature, so the signature part is a placeholder).
fn github_token(sub: &str) -> String {
    let b64url = |text: &str| {
        crate::emulator::base64(text.as_bytes())
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    };
    let header = b64url(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64url(
        &json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "sts.amazonaws.com",
            "sub": sub,
        })
        .to_string(),
    );
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

/// The CI path: a role that trusts GitHub's OIDC provider for one repository's tags, with the
/// signing policy; the job has only the web identity token file and the role's ARN.
fn web_identity(emulator: &Emulator, dir: &std::path::Path, sub: &str) -> Prepared {
    let arn = key_with_alias(emulator, "alias/release");
    let admin = emulator.admin();
    let provider = "arn:aws:iam::000000000000:oidc-provider/token.actions.githubusercontent.com";
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/tool:ref:refs/tags/v*"},
        },
    }]});
    admin.admin_ok(
        "iam",
        "create_role",
        json!({"RoleName": "release-signing", "AssumeRolePolicyDocument": trust.to_string()}),
    );
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Sign", "kms:GetPublicKey"], "Resource": arn}]});
    admin.admin_ok("iam", "put_role_policy", json!({"RoleName": "release-signing", "PolicyName": "sign", "PolicyDocument": policy.to_string()}));
    let token = dir.join("oidc-token");
    std::fs::write(&token, github_token(sub)).unwrap();
    Prepared::default()
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set(
            "AWS_ROLE_ARN",
            "arn:aws:iam::000000000000:role/release-signing",
        )
        .set("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string())
        .set("AWS_ROLE_SESSION_NAME", "release")
        .value("ARN", arn)
}

awskms_test! {
    /// Credentials by web identity, as a GitHub Actions job gets them with OIDC: the SDK's chain
    /// exchanges the token for the role's session (AssumeRoleWithWebIdentity, checked against
    /// the role's trust policy), and the role may sign.
    fn web_identity_role_signs(fx) with Setup::prepared(|emulator, dir| {
        web_identity(emulator, dir, "repo:acme/tool:ref:refs/tags/v1.2.0")
    }); {
        // The role's policy names the key by its ARN (as docs/hardware/aws-kms.md advises).
        // AWS authorizes a request naming an alias against the key the alias names; ministack
        // authorizes it against the alias, so here the job names the key by its ARN.
        let signer = AwsKmsSigner::open(&fx.reference(&fx.value("ARN")), None).unwrap();
        assert_eq!(signer.arn(), fx.value("ARN"));
        let signature = signer.sign_message(b"released from CI").unwrap();
        signer.verifying_key().verify_strict(b"released from CI", &signature).unwrap();
        // The role cannot create keys.
        let err = awskms::generate(&fx.reference("alias/new")).unwrap_err();
        assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
    }
}

awskms_test! {
    /// A token for a branch the trust policy does not admit: STS refuses the role, and the
    /// error says the credentials could not be loaded, before any KMS request.
    fn web_identity_outside_the_trust_policy_is_refused(fx) with Setup::prepared(|emulator, dir| {
        web_identity(emulator, dir, "repo:acme/tool:ref:refs/heads/feature")
    }); {
        let err = AwsKmsSigner::open(&fx.reference("alias/release"), None).unwrap_err();
        let Error::CredentialsUnavailable { detail } = &err else { panic!("{err}") };
        assert!(detail.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"), "{detail}");
        assert!(!err.is_usage());
    }
}
