//! `awskms:` key references.
//!
//! ```text
//! awskms:alias/release
//! awskms:alias/release?region=eu-west-1
//! awskms:1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1
//! awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
//! awskms:arn:aws:kms:eu-west-1:111122223333:alias/release
//! ```
//!
//! After `awskms:` comes the key as KMS names it: a key id (a UUID, or `mrk-` and 32 hex
//! digits for a multi-Region key), an alias (`alias/NAME`), or the ARN of either. One query
//! attribute may follow: `region`, which must agree with an ARN's region. Without a region the
//! standard AWS chain decides (`AWS_REGION`, the profile's `region`).
//!
//! Credentials and the endpoint never appear in a reference: they come from the standard AWS
//! chain (environment, profile, web identity, instance role) and `AWS_ENDPOINT_URL`, so a
//! reference can travel through argv, logs and ceremony transcripts.
//!
//! Parsing is strict and the printed form is the parsed text: what [`AwsKmsRef`] prints parses
//! back to the same reference.

use std::fmt;
use std::str::FromStr;

/// The scheme of AWS KMS key references.
pub const SCHEME: &str = "awskms:";

/// The longest reference accepted, in bytes (an ARN with the longest alias is about 330).
const MAX_REFERENCE_LEN: usize = 1024;

/// The longest alias, `alias/` included (KMS's own limit).
pub const MAX_ALIAS_LEN: usize = 256;

/// How the key is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyNameKind {
    /// A key id: a UUID, or `mrk-` and 32 hex digits.
    KeyId,
    /// `alias/NAME`.
    Alias,
    /// `arn:…:kms:REGION:ACCOUNT:key/ID`.
    KeyArn,
    /// `arn:…:kms:REGION:ACCOUNT:alias/NAME`.
    AliasArn,
}

/// An Ed25519 key in AWS KMS: the key's name and, optionally, its region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AwsKmsRef {
    /// The key id, alias or ARN, exactly as given: what KMS is sent as `KeyId`.
    key: String,
    kind: KindTag,
    /// The `region` query attribute.
    region: Option<String>,
    /// The region inside an ARN.
    arn_region: Option<String>,
}

/// [`KeyNameKind`], hashable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum KindTag {
    KeyId,
    Alias,
    KeyArn,
    AliasArn,
}

impl From<KindTag> for KeyNameKind {
    fn from(tag: KindTag) -> Self {
        match tag {
            KindTag::KeyId => KeyNameKind::KeyId,
            KindTag::Alias => KeyNameKind::Alias,
            KindTag::KeyArn => KeyNameKind::KeyArn,
            KindTag::AliasArn => KeyNameKind::AliasArn,
        }
    }
}

/// Why an `awskms:` reference does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The text does not start with `awskms:`.
    #[error("key reference {0:?} does not start with `awskms:`")]
    NotAwsKms(String),
    /// Longer than any key name.
    #[error("AWS KMS key reference is {len} bytes long; key names are at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nothing after the scheme.
    #[error(
        "AWS KMS key reference names no key: write awskms:alias/NAME, awskms:KEY-ID or \
         awskms:arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"
    )]
    MissingKey,
    /// Not a key id, an alias or a KMS ARN.
    #[error(
        "{0:?} is not an AWS KMS key name: give alias/NAME, a key id \
         (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-…) or the key's or alias's ARN"
    )]
    BadKeyName(String),
    /// An alias with characters or a length KMS refuses.
    #[error(
        "alias {0:?} is not a valid AWS KMS alias: after alias/ use 1 to 250 letters, digits, \
         '/', '_' or '-'"
    )]
    BadAlias(String),
    /// An alias reserved for AWS managed keys.
    #[error(
        "alias {0:?} is reserved for AWS managed keys (alias/aws/…), which are never Ed25519 \
         signing keys; choose another alias"
    )]
    ReservedAlias(String),
    /// An ARN that is not a KMS key or alias ARN.
    #[error(
        "{arn:?} is not an AWS KMS key or alias ARN ({reason}): expected \
         arn:aws:kms:REGION:ACCOUNT:key/KEY-ID or …:alias/NAME"
    )]
    BadArn {
        /// The ARN.
        arn: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A region that is not a region name.
    #[error("{0:?} is not an AWS region name (e.g. us-east-1, eu-west-1)")]
    BadRegion(String),
    /// The region attribute disagrees with the ARN.
    #[error(
        "the reference says region={query} but its ARN is in {arn}: drop ?region= or make it \
         agree"
    )]
    RegionConflict {
        /// The `region` attribute.
        query: String,
        /// The ARN's region.
        arn: String,
    },
    /// An attribute without `=`.
    #[error("attribute {0:?} in AWS KMS key reference has no `=`")]
    NoValue(String),
    /// An attribute given twice.
    #[error("attribute {0:?} appears twice in AWS KMS key reference")]
    Duplicate(String),
    /// Credentials, profiles or endpoints in a reference.
    #[error(
        "{0} is not accepted in a key reference: credentials, profiles and endpoints come from \
         the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID…, web identity, instance role; \
         AWS_ENDPOINT_URL), never from a reference that ends up in argv and logs"
    )]
    NotInReference(String),
    /// Any other attribute.
    #[error("unknown attribute {0:?} in AWS KMS key reference: the only attribute is region=")]
    Unknown(String),
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `8-4-4-4-12` hex digits, or `mrk-` and 32 hex digits.
fn is_key_id(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("mrk-") {
        return rest.len() == 32 && is_hex(rest);
    }
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && is_hex(g))
}

fn check_alias(alias: &str) -> Result<(), RefError> {
    let Some(name) = alias.strip_prefix("alias/") else {
        return Err(RefError::BadAlias(alias.to_owned()));
    };
    if name.is_empty()
        || alias.len() > MAX_ALIAS_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(RefError::BadAlias(alias.to_owned()));
    }
    if name == "aws" || name.starts_with("aws/") {
        return Err(RefError::ReservedAlias(alias.to_owned()));
    }
    Ok(())
}

/// Whether `text` is a region name: lowercase letters and digits in dash-separated groups,
/// ending in a number (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn is_region(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    text.len() <= 32
        && groups.len() >= 3
        && groups.iter().all(|g| {
            !g.is_empty()
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && groups
            .last()
            .is_some_and(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && groups[0].bytes().all(|b| b.is_ascii_lowercase())
}

/// Splits and checks an ARN; returns its region and whether it names an alias.
fn parse_arn(arn: &str) -> Result<(String, KindTag), RefError> {
    let bad = |reason| RefError::BadArn {
        arn: arn.to_owned(),
        reason,
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return Err(bad("it has fewer than six ':'-separated parts"));
    };
    if !(partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        }))
    {
        return Err(bad("the partition is not aws or aws-…"));
    }
    if service != "kms" {
        return Err(bad("the service is not kms"));
    }
    if !is_region(region) {
        return Err(bad("the region is not a region name"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the account is not 12 digits"));
    }
    if let Some(id) = resource.strip_prefix("key/") {
        if !is_key_id(id) {
            return Err(bad("the key id is not a KMS key id"));
        }
        return Ok((region.to_owned(), KindTag::KeyArn));
    }
    if resource.starts_with("alias/") {
        check_alias(resource)?;
        return Ok((region.to_owned(), KindTag::AliasArn));
    }
    Err(bad("the resource is neither key/… nor alias/…"))
}

impl AwsKmsRef {
    /// A reference to `alias/NAME` (or any key name [`FromStr`] accepts after `awskms:`), in
    /// the region the AWS chain chooses.
    pub fn new(key: &str) -> Result<AwsKmsRef, RefError> {
        format!("{SCHEME}{key}").parse()
    }

    /// The same reference in `region` (which must agree with an ARN's).
    pub fn with_region(mut self, region: &str) -> Result<AwsKmsRef, RefError> {
        if !is_region(region) {
            return Err(RefError::BadRegion(region.to_owned()));
        }
        if let Some(arn) = &self.arn_region
            && arn != region
        {
            return Err(RefError::RegionConflict {
                query: region.to_owned(),
                arn: arn.clone(),
            });
        }
        self.region = Some(region.to_owned());
        Ok(self)
    }

    /// The key id, alias or ARN, as sent to KMS.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How the key is named.
    pub fn kind(&self) -> KeyNameKind {
        self.kind.into()
    }

    /// The alias (`alias/NAME`) the reference names, directly or by ARN.
    pub fn alias(&self) -> Option<&str> {
        match self.kind {
            KindTag::Alias => Some(&self.key),
            KindTag::AliasArn => self.key.find(":alias/").map(|at| &self.key[at + 1..]),
            KindTag::KeyId | KindTag::KeyArn => None,
        }
    }

    /// The region the reference fixes: its `region` attribute, else its ARN's region. `None`
    /// leaves the choice to the AWS chain.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref().or(self.arn_region.as_deref())
    }

    /// The `region` attribute only.
    pub fn region_attribute(&self) -> Option<&str> {
        self.region.as_deref()
    }
}

impl FromStr for AwsKmsRef {
    type Err = RefError;

    fn from_str(text: &str) -> Result<Self, RefError> {
        let Some(rest) = text.strip_prefix(SCHEME) else {
            return Err(RefError::NotAwsKms(text.chars().take(100).collect()));
        };
        if text.len() > MAX_REFERENCE_LEN {
            return Err(RefError::TooLong {
                len: text.len(),
                max: MAX_REFERENCE_LEN,
            });
        }
        let (key, query) = match rest.split_once('?') {
            Some((key, query)) => (key, Some(query)),
            None => (rest, None),
        };
        if key.is_empty() {
            return Err(RefError::MissingKey);
        }
        let (kind, arn_region) = if key.starts_with("arn:") {
            let (region, kind) = parse_arn(key)?;
            (kind, Some(region))
        } else if key.starts_with("alias/") {
            check_alias(key)?;
            (KindTag::Alias, None)
        } else if is_key_id(key) {
            (KindTag::KeyId, None)
        } else {
            return Err(RefError::BadKeyName(key.chars().take(300).collect()));
        };
        let mut reference = AwsKmsRef {
            key: key.to_owned(),
            kind,
            region: None,
            arn_region,
        };
        if let Some(query) = query {
            for attribute in query.split('&') {
                let Some((name, value)) = attribute.split_once('=') else {
                    return Err(RefError::NoValue(attribute.chars().take(100).collect()));
                };
                match name {
                    "region" => {
                        if reference.region.is_some() {
                            return Err(RefError::Duplicate(name.to_owned()));
                        }
                        reference = reference.with_region(value).map_err(|err| match err {
                            RefError::BadRegion(r) => {
                                RefError::BadRegion(r.chars().take(100).collect())
                            }
                            other => other,
                        })?;
                    }
                    "profile" | "endpoint" | "endpoint-url" | "access-key-id"
                    | "secret-access-key" | "session-token" | "role-arn" => {
                        return Err(RefError::NotInReference(name.to_owned()));
                    }
                    other => return Err(RefError::Unknown(other.chars().take(100).collect())),
                }
            }
        }
        Ok(reference)
    }
}

impl fmt::Display for AwsKmsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.key)?;
        if let Some(region) = &self.region {
            write!(f, "?region={region}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_name_form_parses_and_prints_back() {
        for (text, kind, region, alias) in [
            (
                "awskms:alias/release",
                KeyNameKind::Alias,
                None,
                Some("alias/release"),
            ),
            (
                "awskms:alias/ci/release_2-b?region=eu-west-1",
                KeyNameKind::Alias,
                Some("eu-west-1"),
                Some("alias/ci/release_2-b"),
            ),
            (
                "awskms:1234abcd-12ab-34cd-56ef-1234567890ab",
                KeyNameKind::KeyId,
                None,
                None,
            ),
            (
                "awskms:mrk-1234abcd12ab34cd56ef1234567890ab?region=us-gov-west-1",
                KeyNameKind::KeyId,
                Some("us-gov-west-1"),
                None,
            ),
            (
                "awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                KeyNameKind::KeyArn,
                Some("eu-west-1"),
                None,
            ),
            (
                "awskms:arn:aws-cn:kms:cn-north-1:111122223333:alias/release?region=cn-north-1",
                KeyNameKind::AliasArn,
                Some("cn-north-1"),
                Some("alias/release"),
            ),
        ] {
            let reference: AwsKmsRef = text.parse().unwrap();
            assert_eq!(reference.kind(), kind, "{text}");
            assert_eq!(reference.region(), region, "{text}");
            assert_eq!(reference.alias(), alias, "{text}");
            assert_eq!(reference.to_string(), text);
            assert!(!reference.key().contains('?'));
        }
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        let err = |text: &str| text.parse::<AwsKmsRef>().unwrap_err();
        assert_eq!(err("awskms:"), RefError::MissingKey);
        assert_eq!(err("awskms:?region=us-east-1"), RefError::MissingKey);
        assert_eq!(
            err("awskms:release"),
            RefError::BadKeyName("release".into())
        );
        assert_eq!(err("awskms:alias/"), RefError::BadAlias("alias/".into()));
        assert_eq!(
            err("awskms:alias/a b"),
            RefError::BadAlias("alias/a b".into())
        );
        assert_eq!(
            err(&format!("awskms:alias/{}", "a".repeat(251))),
            RefError::BadAlias(format!("alias/{}", "a".repeat(251)))
        );
        AwsKmsRef::new(&format!("alias/{}", "a".repeat(250))).unwrap();
        assert_eq!(
            err("awskms:alias/aws/ebs"),
            RefError::ReservedAlias("alias/aws/ebs".into())
        );
        assert_eq!(
            err("awskms:1234abcd-12ab-34cd-56ef-1234567890a"),
            RefError::BadKeyName("1234abcd-12ab-34cd-56ef-1234567890a".into())
        );
        assert_eq!(
            err("awskms:alias/r?region=EU-WEST-1"),
            RefError::BadRegion("EU-WEST-1".into())
        );
        assert_eq!(
            err("awskms:alias/r?region=eu-west-1&region=eu-west-1"),
            RefError::Duplicate("region".into())
        );
        assert_eq!(
            err("awskms:alias/r?region"),
            RefError::NoValue("region".into())
        );
        assert_eq!(
            err("awskms:alias/r?profile=prod"),
            RefError::NotInReference("profile".into())
        );
        assert_eq!(
            err("awskms:alias/r?secret-access-key=x"),
            RefError::NotInReference("secret-access-key".into())
        );
        assert_eq!(
            err("awskms:alias/r?color=red"),
            RefError::Unknown("color".into())
        );
        assert_eq!(
            err(
                "awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1"
            ),
            RefError::RegionConflict {
                query: "us-east-1".into(),
                arn: "eu-west-1".into()
            }
        );
        for (arn, reason) in [
            (
                "arn:aws:s3:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "the service is not kms",
            ),
            (
                "arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "the account is not 12 digits",
            ),
            (
                "arn:gcp:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "the partition is not aws or aws-…",
            ),
            (
                "arn:aws:kms:eu-west-1:111122223333:keyring/x",
                "the resource is neither key/… nor alias/…",
            ),
            (
                "arn:aws:kms:eu-west-1:111122223333:key/x",
                "the key id is not a KMS key id",
            ),
            (
                "arn:aws:kms:eu-west-1",
                "it has fewer than six ':'-separated parts",
            ),
            (
                "arn:aws:kms:west:111122223333:alias/a",
                "the region is not a region name",
            ),
        ] {
            assert_eq!(
                err(&format!("awskms:{arn}")),
                RefError::BadArn {
                    arn: arn.into(),
                    reason
                },
                "{arn}"
            );
        }
        assert_eq!(
            err("pkcs11:token=x"),
            RefError::NotAwsKms("pkcs11:token=x".into())
        );
        assert!(matches!(
            err(&format!("awskms:alias/{}", "a".repeat(2000))),
            RefError::TooLong { .. }
        ));
    }

    #[test]
    fn regions_are_region_names() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "ap-southeast-5",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1-",
            "-us-east-1",
            "us--1",
            "1-east-1",
            "us_east_1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
