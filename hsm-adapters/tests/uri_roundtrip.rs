//! Any key reference Hallmark prints parses back to the same value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use hallmark_hsm::pkcs11::{PathAttr, Pkcs11Uri};
use proptest::prelude::*;

proptest! {
    #[test]
    fn printed_uris_parse_back(
        token in "\\PC*",
        object in proptest::option::of("\\PC*"),
        serial in proptest::option::of("[ -~]{0,16}"),
        id in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)),
        module in proptest::option::of("/[ -~]{1,40}"),
        pin_file in proptest::option::of("/[!-~]{1,40}"),
        vendor in proptest::option::of("[ -~]{0,20}"),
    ) {
        let mut uri = Pkcs11Uri::new();
        uri.set_path_attr(PathAttr::Token, Some(&token)).unwrap();
        uri.set_path_attr(PathAttr::Object, object.as_deref()).unwrap();
        uri.set_path_attr(PathAttr::Serial, serial.as_deref()).unwrap();
        uri.set_id(id);
        uri.set_module_path(module.map(Into::into)).unwrap();
        if let Some(pin_file) = &pin_file {
            uri.set_pin_source(Some(&format!("file:{pin_file}"))).unwrap();
        }
        let mut text = uri.to_string();
        if let Some(vendor) = &vendor {
            // Vendor attributes survive too (appended in their encoded form).
            let encoded: String = vendor.bytes().map(|b| format!("%{b:02X}")).collect();
            text.push_str(if text.contains('?') { "&" } else { "?" });
            text.push_str(&format!("x-vendor={encoded}"));
        }
        let parsed: Pkcs11Uri = text.parse().unwrap();
        prop_assert_eq!(parsed.token(), Some(token.as_str()));
        prop_assert_eq!(parsed.object(), object.as_deref());
        prop_assert_eq!(parsed.serial(), serial.as_deref());
        prop_assert_eq!(parsed.id(), uri.id());
        prop_assert_eq!(parsed.module_path(), uri.module_path());
        prop_assert_eq!(parsed.pin_source_text(), uri.pin_source_text());
        if vendor.is_none() {
            prop_assert_eq!(&parsed, &uri);
        }
        // Printing is canonical.
        let reprinted: Pkcs11Uri = parsed.to_string().parse().unwrap();
        prop_assert_eq!(reprinted.to_string(), parsed.to_string());
    }

    #[test]
    fn parsing_never_panics(text in "pkcs11:[ -~\\n]{0,80}") {
        let _ = text.parse::<Pkcs11Uri>();
    }
}
