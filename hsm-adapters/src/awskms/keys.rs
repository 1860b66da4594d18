//! Creating, listing and reading Ed25519 keys in AWS KMS.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};
use ed25519_dalek::VerifyingKey;

use super::client::{Kms, Op};
use super::error::Error;
use super::reference::AwsKmsRef;
use super::signer::fetch_public_key;
use super::types::{GeneratedKey, ListedKey, Listing};
use super::{TAG_KEY, TAG_VALUE};

/// Creates an Ed25519 signing key (`CreateKey` with key spec `ECC_NIST_EDWARDS25519`, usage
/// `SIGN_VERIFY`, a description and the tag `hallmark=package-signing`) and the alias the
/// reference names, then reads its public key.
///
/// The alias must not exist yet (`DescribeKey` checks first). If someone creates it between
/// that check and `CreateAlias`, the new key is scheduled for deletion (the shortest window,
/// 7 days) and the error says so.
pub fn generate(reference: &AwsKmsRef) -> Result<GeneratedKey, Error> {
    let Some(alias) = reference.alias() else {
        return Err(Error::UnusableReference {
            reference: reference.to_string(),
            reason: "a new key is named by its alias: give awskms:alias/NAME (KMS chooses the \
                     key id)"
                .to_owned(),
        });
    };
    let alias = alias.to_owned();
    let kms = Kms::connect(reference.region(), &reference.to_string())?;
    let core = &kms.core;
    kms.block_on(async {
        match core
            .call(Op::DescribeKey, &alias, || {
                core.client.describe_key().key_id(&alias).send()
            })
            .await
        {
            Ok(existing) => {
                return Err(Error::AliasTaken {
                    alias: alias.clone(),
                    region: core.region.clone(),
                    existing: existing
                        .key_metadata()
                        .and_then(|m| m.arn())
                        .unwrap_or("another key")
                        .to_owned(),
                });
            }
            Err(Error::KeyNotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let description = format!(
            "Hallmark Ed25519 package-signing key ({alias}). Rotate it through a Hallmark \
             ceremony; KMS key rotation does not apply to asymmetric keys."
        );
        let tag = Tag::builder()
            .tag_key(TAG_KEY)
            .tag_value(TAG_VALUE)
            .build()
            .map_err(|e| Error::Service {
                operation: Op::CreateKey.name(),
                key: alias.clone(),
                code: "invalid request".to_owned(),
                message: e.to_string(),
            })?;
        let created = core
            .call(Op::CreateKey, &alias, || {
                core.client
                    .create_key()
                    .key_spec(KeySpec::EccNistEdwards25519)
                    .key_usage(KeyUsageType::SignVerify)
                    .description(&description)
                    .tags(tag.clone())
                    .send()
            })
            .await?;
        let key_id = created
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .unwrap_or_default();
        if let Err(err) = core
            .call(Op::CreateAlias, &alias, || {
                core.client
                    .create_alias()
                    .alias_name(&alias)
                    .target_key_id(&key_id)
                    .send()
            })
            .await
        {
            // The key without its alias would be an orphan nobody signs with.
            let _ = core
                .call(Op::ScheduleKeyDeletion, &key_id, || {
                    core.client
                        .schedule_key_deletion()
                        .key_id(&key_id)
                        .pending_window_in_days(7)
                        .send()
                })
                .await;
            return Err(match err {
                Error::Service { code, .. } if code == "AlreadyExistsException" => {
                    Error::AliasTaken {
                        alias: alias.clone(),
                        region: core.region.clone(),
                        existing: format!(
                            "a key created meanwhile; the new key {key_id} was scheduled for \
                             deletion"
                        ),
                    }
                }
                other => other,
            });
        }
        let info = fetch_public_key(core, &key_id).await?;
        let mut named = AwsKmsRef::new(&alias)?;
        named = named.with_region(&core.region)?;
        Ok(GeneratedKey {
            verifying_key: info.verifying_key,
            reference: named,
            arn: info.arn,
            region: core.region.clone(),
        })
    })
}

/// Reads a key's public key (`GetPublicKey` only: no signature, no other permission), checked
/// to be an Ed25519 signing key. Returns it with the key's ARN.
pub fn public_key(reference: &AwsKmsRef) -> Result<(VerifyingKey, String), Error> {
    let kms = Kms::connect(reference.region(), &reference.to_string())?;
    let info = kms.block_on(fetch_public_key(&kms.core, reference.key()))?;
    Ok((info.verifying_key, info.arn))
}

/// Lists the aliases in a region (the chain's, unless given) that name Ed25519 signing keys,
/// with each key's public key and whether it carries Hallmark's tag. Needs `kms:ListAliases`,
/// `kms:DescribeKey` and `kms:GetPublicKey`; `kms:ListResourceTags` is optional.
pub fn list(region: Option<&str>) -> Result<Listing, Error> {
    let what = region.map_or_else(|| "awskms:".to_owned(), |r| format!("awskms:?region={r}"));
    let kms = Kms::connect(region, &what)?;
    let core = &kms.core;
    kms.block_on(async {
        let mut aliases = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = core
                .call(Op::ListAliases, "-", || {
                    core.client.list_aliases().set_marker(marker.clone()).send()
                })
                .await?;
            for alias in page.aliases() {
                if let (Some(name), Some(target)) = (alias.alias_name(), alias.target_key_id())
                    && !name.starts_with("alias/aws/")
                {
                    aliases.push((name.to_owned(), target.to_owned()));
                }
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        aliases.sort();
        let mut keys = Vec::new();
        for (alias, key_id) in aliases {
            let metadata = core
                .call(Op::DescribeKey, &key_id, || {
                    core.client.describe_key().key_id(&key_id).send()
                })
                .await?;
            let Some(metadata) = metadata.key_metadata() else {
                continue;
            };
            if metadata.key_spec() != Some(&KeySpec::EccNistEdwards25519)
                || metadata.key_usage() != Some(&KeyUsageType::SignVerify)
            {
                continue;
            }
            let Ok(reference) = AwsKmsRef::new(&alias).and_then(|r| r.with_region(&core.region))
            else {
                continue;
            };
            let mut problem = match metadata.key_state().map(|s| s.as_str()) {
                Some("Enabled") | None => None,
                Some(state) => Some(format!("key state {state}")),
            };
            let (verifying_key, arn) = match fetch_public_key(core, &key_id).await {
                Ok(info) => (Some(info.verifying_key), Some(info.arn)),
                Err(err) => {
                    problem.get_or_insert(err.to_string());
                    (None, metadata.arn().map(str::to_owned))
                }
            };
            let hallmark_tag = core
                .call(Op::ListResourceTags, &key_id, || {
                    core.client.list_resource_tags().key_id(&key_id).send()
                })
                .await
                .ok()
                .map(|tags| {
                    tags.tags()
                        .iter()
                        .any(|t| t.tag_key() == TAG_KEY && t.tag_value() == TAG_VALUE)
                });
            keys.push(ListedKey {
                alias,
                reference,
                key_id: metadata.key_id().to_owned(),
                verifying_key,
                arn,
                hallmark_tag,
                problem,
            });
        }
        Ok(Listing {
            region: core.region.clone(),
            endpoint: core.endpoint.clone(),
            keys,
        })
    })
}
