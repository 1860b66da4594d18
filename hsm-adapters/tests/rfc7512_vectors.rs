//! Every example of RFC 7512 section 3.3 parses to exactly the attributes the RFC gives, in its
//! single-line and its folded form, and prints to a URI that parses back to the same value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;

use hallmark_hsm::pkcs11::{PathAttr, Pkcs11Uri};
use serde_json::Value;

fn examples() -> Vec<Value> {
    let text = include_str!("data/rfc7512_examples.json");
    let json: Value = serde_json::from_str(text).expect("vectors are JSON");
    json["examples"].as_array().expect("examples array").clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The attributes a parsed URI holds, in the vector file's shape.
fn observed(uri: &Pkcs11Uri) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut path = BTreeMap::new();
    for attr in PathAttr::ALL {
        if attr == PathAttr::Id {
            if let Some(id) = uri.id() {
                path.insert("id_hex".to_owned(), hex(id));
            }
        } else if let Some(value) = uri.path_attr(attr) {
            path.insert(attr.name().to_owned(), value.to_owned());
        }
    }
    let mut query = BTreeMap::new();
    if let Some(v) = uri.module_name() {
        query.insert("module-name".to_owned(), v.to_owned());
    }
    if let Some(v) = uri.module_path() {
        query.insert("module-path".to_owned(), v.display().to_string());
    }
    if let Some(v) = uri.pin_source_text() {
        query.insert("pin-source".to_owned(), v.to_owned());
    }
    if let Some(v) = uri.pin_value() {
        query.insert("pin-value".to_owned(), v.expose().to_owned());
    }
    (path, query)
}

fn expected_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn there_are_thirteen_examples() {
    assert_eq!(examples().len(), 13);
}

#[test]
fn every_rfc_example_parses_to_exactly_its_attributes() {
    for example in examples() {
        let description = example["description"].as_str().unwrap();
        for field in ["uri", "uri_as_printed_in_rfc"] {
            let text = example[field].as_str().unwrap();
            let uri: Pkcs11Uri = text
                .parse()
                .unwrap_or_else(|e| panic!("{description} ({field}): {e}"));
            let (path, query) = observed(&uri);
            assert_eq!(
                path,
                expected_map(&example["path_attributes"]),
                "{description} ({field})"
            );
            assert_eq!(
                query,
                expected_map(&example["query_attributes"]),
                "{description} ({field})"
            );

            let vendor_path: BTreeMap<String, String> =
                uri.vendor_path_attributes().iter().cloned().collect();
            assert_eq!(
                vendor_path,
                expected_map(&example["vendor_path_attributes"]),
                "{description}"
            );
            let mut vendor_query: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, value) in uri.vendor_query_attributes() {
                vendor_query
                    .entry(name.clone())
                    .or_default()
                    .push(value.clone());
            }
            let want: BTreeMap<String, Vec<String>> = example["vendor_query_attributes"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let values = v.as_array().unwrap();
                            (
                                k.clone(),
                                values
                                    .iter()
                                    .map(|s| s.as_str().unwrap().to_owned())
                                    .collect(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(vendor_query, want, "{description}");
        }
    }
}

#[test]
fn every_rfc_example_prints_to_a_uri_that_parses_back_to_the_same_value() {
    for example in examples() {
        let description = example["description"].as_str().unwrap();
        let uri: Pkcs11Uri = example["uri"].as_str().unwrap().parse().unwrap();
        let printed = uri.to_string();
        let again: Pkcs11Uri = printed.parse().unwrap_or_else(|e| panic!("{printed}: {e}"));
        // pin-value is never printed; everything else survives.
        assert_eq!(again, uri.without_pin_value(), "{description}: {printed}");
        assert!(again.pin_value().is_none());
        // Printing is canonical: printing again gives the same text.
        assert_eq!(again.to_string(), printed, "{description}");
    }
}

#[test]
fn canonical_forms_of_selected_examples() {
    let print = |s: &str| s.parse::<Pkcs11Uri>().unwrap().to_string();
    assert_eq!(
        print(
            "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06"
        ),
        "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%BA%DD%CA%FE%04%05%06"
    );
    assert_eq!(
        print(
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin"
        ),
        "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc."
    );
    assert_eq!(
        print(
            "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b"
        ),
        "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b"
    );
}
