//! Tests that need SoftHSM2 itself: its mechanism configuration and its token file.

use hallmark_hsm::interact::Headless;
use hallmark_hsm::pkcs11::{self, Error, LoginOptions, Pkcs11Signer, Pkcs11Uri};

use crate::conformance::raw_generate;
use crate::harness::{
    CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED, Fixture, Setup,
};
use crate::pkcs11_test;

fn count_low(fx: &Fixture) -> bool {
    fx.raw()
        .get_token_info(fx.slot("ci"))
        .unwrap()
        .user_pin_count_low()
}

pkcs11_test! {
    /// A token without Ed25519 (SoftHSM2 with the mechanisms switched off) is named, with the
    /// missing mechanism and a pointer to the docs; listing shows it too.
    fn generation_on_a_token_without_ed25519(fx) with Setup {
        softhsm_mechanisms: "ALL,-CKM_EC_EDWARDS_KEY_PAIR_GEN,-CKM_EDDSA",
        ..Setup::one_token().softhsm()
    }; {
        let err = pkcs11::generate(&fx.uri("ci", "release"), &Headless).unwrap_err();
        let Error::MechanismNotSupported { token, model, mechanism } = &err else { panic!("{err}") };
        assert_eq!((token.label.as_str(), model.as_str(), *mechanism), ("ci", "SoftHSM v2", "CKM_EC_EDWARDS_KEY_PAIR_GEN"));
        assert!(err.to_string().ends_with("see docs/hardware/pkcs11.md for tokens that do"), "{err}");
        assert!(!err.is_usage());
        let module_uri: Pkcs11Uri = format!("pkcs11:token=ci?module-path={}", fx.module.display()).parse().unwrap();
        let slots = pkcs11::list(&module_uri, &Headless).unwrap();
        assert!(!slots[0].token.as_ref().unwrap().ed25519);
    }
}

pkcs11_test! {
    /// A key exists but the token will not sign with CKM_EDDSA.
    fn signing_on_a_token_without_eddsa(fx) with Setup {
        softhsm_mechanisms: "ALL,-CKM_EDDSA",
        ..Setup::one_token().softhsm()
    }; {
        raw_generate(fx, "ci", "k", &[7]);
        let err = Pkcs11Signer::open(&fx.uri("ci", "k"), None, &Headless).unwrap_err();
        let Error::MechanismNotSupported { mechanism, .. } = &err else { panic!("{err}") };
        assert_eq!(*mechanism, "CKM_EDDSA");
    }
}

pkcs11_test! {
    /// A locked PIN is refused before any PIN is sent. (SoftHSM2 has no retry limit, so the
    /// harness sets the flags in its token file; SoftHSM2 itself would accept the PIN, and
    /// would clear COUNT_LOW if it had been sent.)
    fn locked_pin_is_refused_without_sending_it(fx) with Setup {
        softhsm_token_flags: vec![(0, CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW)],
        ..Setup::one_token().softhsm()
    }; {
        let err = Pkcs11Signer::open(&fx.uri("ci", "k"), None, &Headless).unwrap_err();
        let Error::PinLocked { token } = &err else { panic!("{err}") };
        assert_eq!(token.label, "ci");
        assert!(err.to_string().contains("no PIN was sent"), "{err}");
        let err = pkcs11::generate(&fx.uri("ci", "k"), &Headless).unwrap_err();
        assert!(matches!(err, Error::PinLocked { .. }), "{err}");
        // Even allowing the final try does not send a PIN to a locked token.
        let err = Pkcs11Signer::open_with(&fx.uri("ci", "k"), None, &LoginOptions::new().allow_final_pin_try(true), &Headless).unwrap_err();
        assert!(matches!(err, Error::PinLocked { .. }), "{err}");
        assert!(count_low(fx), "a PIN reached the token");
    }
}

pkcs11_test! {
    /// On the final try Hallmark refuses unless the caller allows it explicitly.
    fn final_try_needs_explicit_permission(fx) with Setup {
        softhsm_token_flags: vec![(0, CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW)],
        ..Setup::one_token().softhsm()
    }; {
        let uri = fx.uri("ci", "k");
        let err = pkcs11::generate(&uri, &Headless).unwrap_err();
        let Error::PinFinalTry { token } = &err else { panic!("{err}") };
        assert_eq!(token.label, "ci");
        assert!(count_low(fx), "a PIN reached the token");
        let allow = LoginOptions::new().allow_final_pin_try(true);
        let generated = pkcs11::generate_with(&uri, &allow, &Headless).unwrap();
        // The PIN was sent and accepted: SoftHSM2 clears COUNT_LOW on a good login.
        assert!(!count_low(fx));
        let err = Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap_err();
        assert!(matches!(err, Error::PinFinalTry { .. }), "{err}");
        Pkcs11Signer::open_with(&generated.uri, None, &allow, &Headless).unwrap();
    }
}
