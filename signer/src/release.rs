//! Signing and verifying releases: many artifacts in one run, one unlock.
//!
//! Signing happens in three steps so that nothing is written unless everything can be:
//!
//! 1. [`plan`] — every artifact exists and no bundle would be overwritten (unless asked);
//!    checked before any key is unlocked or any PIN is asked for;
//! 2. [`hash_all`] — content digests, in parallel across cores;
//! 3. [`sign_all`] — one statement per artifact, every signer signs every statement (a batch
//!    per signer, so a token logs in once), and each bundle is written atomically, carrying
//!    the identity's key events and the signing keys' hardware attestations.

use std::path::{Path, PathBuf};

use hallmark_keyring::bundle::{Attestation, BUNDLE_SUFFIX, Bundle, MAX_BUNDLE_BYTES};
use hallmark_keyring::digest::{ContentDigest, DigestError, DigestOptions, Progress, digest_path};
use hallmark_keyring::envelope::EnvelopeSignature;
use hallmark_keyring::fsutil::{self, StagedWrites, WriteError};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::verify::ExpectedRelease;
use hallmark_keyring::{
    Decision, Envelope, FormatError, KelFile, PackageName, PublicKey, Statement, Timestamp, Version,
};
use rayon::prelude::*;

use crate::keyref::KeyHandle;

/// How many statements are signed between hand-overs to the bundle writer.
const SIGNING_CHUNK: usize = 64;

/// An artifact to sign and the bundle that will be written beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The artifact (file or directory).
    pub path: PathBuf,
    /// Its bundle: `PATH.hallmark.json`.
    pub bundle_path: PathBuf,
}

/// What every statement of a signing run says besides its digest.
#[derive(Clone, Debug)]
pub struct ReleaseInfo {
    /// The package.
    pub name: PackageName,
    /// The version.
    pub version: Version,
    /// Who signs: a bare key or an identity position.
    pub signer: SignerRef,
    /// The key events to carry in each bundle (empty for a bare key).
    pub kel: Vec<Envelope>,
    /// Other identities' logs to carry in each bundle (e.g. the log of the identity that
    /// transferred the package to the signer).
    pub related: Vec<KelFile>,
    /// Hardware attestations of the signing keys, carried in each bundle (see
    /// [`KeyHandle::attestation`]); empty for keys without one.
    pub attestations: Vec<Attestation>,
    /// The creation time written into statements.
    pub created: Timestamp,
}

/// A signed artifact.
#[derive(Clone, Debug)]
pub struct SignedArtifact {
    /// The artifact.
    pub artifact: Artifact,
    /// Its content digest.
    pub digest: ContentDigest,
    /// Its statement.
    pub statement: Statement,
}

/// Why signing a release failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// An artifact does not exist or cannot be examined.
    #[error("cannot sign {}: {source}", path.display())]
    Artifact {
        /// The artifact.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The same artifact was given twice.
    #[error("{} is given more than once", path.display())]
    Duplicate {
        /// The artifact.
        path: PathBuf,
    },
    /// A Hallmark bundle was given where an artifact was expected, without its artifact.
    #[error(
        "{} is a Hallmark bundle, not an artifact: give its artifact {} (the bundle beside it is \
         found by name), or give the artifact with --bundle {}",
        path.display(),
        artifact.display(),
        path.display()
    )]
    BundleGiven {
        /// The bundle.
        path: PathBuf,
        /// The artifact it belongs to, by name.
        artifact: PathBuf,
    },
    /// Bundles exist and replacing them was not asked for.
    #[error(
        "{} already exist{}: {}; nothing was signed. Use --force to replace them",
        if paths.len() == 1 { "a bundle" } else { "bundles" },
        if paths.len() == 1 { "s" } else { "" },
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BundlesExist {
        /// The existing bundles.
        paths: Vec<PathBuf>,
    },
    /// An artifact could not be hashed.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A statement could not be built.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A signer failed part-way; the artifacts signed before the failure have their bundles.
    #[error(
        "{source}\n  signed (bundle written): {}\n  not signed: {}",
        list(signed),
        list(unsigned)
    )]
    Signing {
        /// Artifacts whose bundles were written.
        signed: Vec<PathBuf>,
        /// Artifacts left unsigned.
        unsigned: Vec<PathBuf>,
        /// What failed.
        #[source]
        source: crate::keyref::SignerFailure,
    },
    /// A signer returned a signature that does not verify under its key.
    #[error(
        "{signer} returned a signature that does not verify; the device or key is faulty, nothing was written"
    )]
    BadSignatureFromSigner {
        /// The signer's reference.
        signer: String,
    },
    /// The same key was given twice, or more signers than an envelope holds.
    #[error("{0}")]
    Signers(String),
    /// Writing a bundle failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        "none".to_owned()
    } else {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The signature files Hallmark writes beside an artifact, by suffix, and what each is.
pub const SIGNATURE_SUFFIXES: [(&str, &str); 3] = [
    (BUNDLE_SUFFIX, "Hallmark bundle"),
    (".minisig", "minisign signature"),
    (".sig", "SSH signature"),
];

/// Paths given as artifacts, with the signature files among them set aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GivenPaths {
    /// The artifacts, in the order given.
    pub artifacts: Vec<PathBuf>,
    /// Signature files given beside their own artifacts (`dist/*` matches `dist/a.tar` and
    /// `dist/a.tar.hallmark.json`): not artifacts, left out.
    pub skipped: Vec<PathBuf>,
}

impl GivenPaths {
    /// A one-line note about what was left out, or `None` when nothing was.
    pub fn note(&self) -> Option<String> {
        match self.skipped.as_slice() {
            [] => None,
            [one] => Some(format!(
                "skipped {}: the signature of an artifact given beside it, not an artifact",
                one.display()
            )),
            many => Some(format!(
                "skipped {} signature files given beside their artifacts ({}, …): they are not \
                 artifacts",
                many.len(),
                many[0].display()
            )),
        }
    }
}

/// Sets aside the signature files among paths given as artifacts, so that a glob such as
/// `dist/*` neither signs last run's bundles nor verifies bundles as artifacts.
///
/// A path ending in a signature suffix (`.hallmark.json`, `.minisig`, `.sig`) whose artifact —
/// the same path without the suffix — is also given, is left out. A Hallmark bundle given
/// without its artifact is refused ([`ReleaseError::BundleGiven`]): it is never an artifact.
/// A lone `.minisig` or `.sig` file stays an artifact (anything may be signed, signatures
/// included), but only when its own artifact is not part of the run.
pub fn without_signature_files(paths: &[PathBuf]) -> Result<GivenPaths, ReleaseError> {
    use std::os::unix::ffi::OsStrExt as _;

    let given: std::collections::HashSet<&[u8]> =
        paths.iter().map(|p| p.as_os_str().as_bytes()).collect();
    let mut out = GivenPaths {
        artifacts: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
    };
    for path in paths {
        let bytes = path.as_os_str().as_bytes();
        let signed = SIGNATURE_SUFFIXES.iter().find_map(|(suffix, _)| {
            let base = bytes.strip_suffix(suffix.as_bytes())?;
            // `dist/.sig` is a file named `.sig`, not the signature of `dist/`.
            (!base.is_empty() && !base.ends_with(b"/")).then_some((base, *suffix))
        });
        match signed {
            Some((base, _)) if given.contains(base) => out.skipped.push(path.clone()),
            Some((base, suffix)) if suffix == BUNDLE_SUFFIX => {
                return Err(ReleaseError::BundleGiven {
                    path: path.clone(),
                    artifact: PathBuf::from(std::ffi::OsStr::from_bytes(base)),
                });
            }
            _ => out.artifacts.push(path.clone()),
        }
    }
    Ok(out)
}

/// Checks the artifacts and their bundle paths before anything is unlocked.
pub fn plan(paths: &[PathBuf], force: bool) -> Result<Vec<Artifact>, ReleaseError> {
    let mut artifacts: Vec<Artifact> = Vec::with_capacity(paths.len());
    let mut existing = Vec::new();
    // Two spellings of one artifact (`a.tar`, `./a.tar`, `dir/../a.tar`) would write one bundle
    // twice: bundles are told apart by their directory, resolved once per spelling, and name.
    let mut seen = std::collections::HashSet::with_capacity(paths.len());
    let mut dirs: std::collections::HashMap<PathBuf, PathBuf> = std::collections::HashMap::new();
    for path in paths {
        let artifact_error = |source| ReleaseError::Artifact {
            path: path.clone(),
            source,
        };
        std::fs::metadata(path).map_err(artifact_error)?;
        let bundle_path = Bundle::path_for(path);
        let parent = match bundle_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir = match dirs.get(parent) {
            Some(dir) => dir.clone(),
            None => {
                let dir = std::fs::canonicalize(parent).map_err(artifact_error)?;
                dirs.insert(parent.to_path_buf(), dir.clone());
                dir
            }
        };
        let name = bundle_path
            .file_name()
            .map(Path::new)
            .unwrap_or(&bundle_path);
        if !seen.insert(dir.join(name)) {
            return Err(ReleaseError::Duplicate { path: path.clone() });
        }
        if !force && fsutil::exists_no_follow(&bundle_path) {
            existing.push(bundle_path.clone());
        }
        artifacts.push(Artifact {
            path: path.clone(),
            bundle_path,
        });
    }
    if !existing.is_empty() {
        return Err(ReleaseError::BundlesExist { paths: existing });
    }
    Ok(artifacts)
}

/// Computes content digests of many paths in parallel. `progress`, when given, hears about
/// every path's files and bytes (asking for it costs one `stat` per file, so leave it out when
/// nobody watches).
pub fn hash_all(
    paths: &[&Path],
    progress: Option<&dyn Progress>,
) -> Result<Vec<ContentDigest>, DigestError> {
    let options = match progress {
        Some(progress) => DigestOptions::new().with_progress(progress),
        None => DigestOptions::new(),
    };
    if let [only] = paths {
        // One path: no thread pool to start (a tree still hashes its files in parallel).
        return Ok(vec![digest_path(only, &options)?]);
    }
    paths
        .par_iter()
        .map(|path| digest_path(path, &options))
        .collect()
}

/// Builds, signs and writes one bundle per artifact. Every signer signs every statement.
pub fn sign_all(
    signers: &[&dyn KeyHandle],
    info: &ReleaseInfo,
    artifacts: &[Artifact],
    digests: &[ContentDigest],
    force: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SignedArtifact>, ReleaseError> {
    let mut keyids: Vec<_> = signers
        .iter()
        .map(|s| PublicKey::new(s.verifying_key()).key_id())
        .collect();
    keyids.sort();
    if let Some(pair) = keyids.windows(2).find(|w| w[0] == w[1]) {
        return Err(ReleaseError::Signers(format!(
            "key {} is given more than once",
            pair[0].short()
        )));
    }
    if signers.is_empty() || signers.len() > hallmark_keyring::envelope::MAX_SIGNATURES {
        return Err(ReleaseError::Signers(format!(
            "give 1 to {} signing keys",
            hallmark_keyring::envelope::MAX_SIGNATURES
        )));
    }
    let mut statements = Vec::with_capacity(artifacts.len());
    let mut envelopes = Vec::with_capacity(artifacts.len());
    for digest in digests {
        let statement = Statement {
            name: info.name.clone(),
            version: info.version.clone(),
            digest: *digest,
            signer: info.signer.clone(),
            created: info.created,
        };
        envelopes.push(statement.to_envelope()?);
        statements.push(statement);
    }
    let inputs: Vec<Vec<u8>> = envelopes.iter().map(Envelope::signing_input).collect();
    let input_refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let keys: Vec<(PublicKey, String)> = signers
        .iter()
        .map(|s| (PublicKey::new(s.verifying_key()), s.describe().reference))
        .collect();
    let total = artifacts.len();

    // Signing is a pipeline: this thread has the signers sign a chunk of statements (a token
    // signs one at a time), while a second thread checks the signatures of the previous chunk
    // and stages its bundles; one flush then commits every bundle. A failed signer keeps what
    // every signer signed before the failure.
    let (staged, complete, failure) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<Envelope>)>();
        let writer = scope.spawn(|| -> Result<StagedWrites, ReleaseError> {
            let mut staged = StagedWrites::new(0o644, force);
            for (start, chunk) in rx {
                for (offset, envelope) in chunk.into_iter().enumerate() {
                    let index = start + offset;
                    for (key, reference) in &keys {
                        if !matches!(envelope.signature_by(key), Ok(Some(_))) {
                            return Err(ReleaseError::BadSignatureFromSigner {
                                signer: reference.clone(),
                            });
                        }
                    }
                    let mut bundle = Bundle::new(envelope);
                    bundle.kel = info.kel.clone();
                    bundle.related = info.related.clone();
                    bundle.attestations = info.attestations.clone();
                    staged.stage(&artifacts[index].bundle_path, &bundle.to_json())?;
                }
            }
            Ok(staged)
        });

        let mut complete = 0;
        let mut failure: Option<crate::keyref::SignerFailure> = None;
        let mut pending = envelopes.into_iter();
        'chunks: for start in (0..total).step_by(SIGNING_CHUNK) {
            let end = (start + SIGNING_CHUNK).min(total);
            let mut chunk: Vec<Envelope> = pending.by_ref().take(end - start).collect();
            let mut signed_here = end - start;
            for (index, signer) in signers.iter().enumerate() {
                let done_before = start * signers.len() + index * (end - start);
                let signatures = match signer
                    .sign_batch(&input_refs[start..end], &|n| progress(done_before + n))
                {
                    Ok(signatures) => signatures,
                    Err(err) => {
                        signed_here = signed_here.min(err.signed.len());
                        failure = Some(err.source);
                        err.signed
                    }
                };
                let keyid = keys[index].0.key_id();
                for (envelope, signature) in chunk.iter_mut().zip(signatures).take(signed_here) {
                    // Distinct signers were checked above, so adding cannot collide.
                    let _ = envelope.add_signature(EnvelopeSignature {
                        keyid,
                        sig: signature.to_bytes(),
                    });
                }
                if failure.is_some() {
                    break;
                }
            }
            chunk.truncate(signed_here);
            complete = start + signed_here;
            // The writer stops early on a bad signature; then there is no point signing on.
            if tx.send((start, chunk)).is_err() || failure.is_some() {
                break 'chunks;
            }
        }
        drop(tx);
        let staged = writer.join().unwrap_or_else(|_| {
            Err(ReleaseError::Signers(
                "the bundle writer stopped unexpectedly".to_owned(),
            ))
        });
        (staged, complete, failure)
    });
    let staged = staged?;
    if staged.len() != complete {
        return Err(ReleaseError::Signers(
            "not every signed bundle was staged".to_owned(),
        ));
    }
    staged.commit()?;

    let signed = artifacts
        .iter()
        .zip(statements)
        .take(complete)
        .map(|(artifact, statement)| SignedArtifact {
            artifact: artifact.clone(),
            digest: statement.digest,
            statement,
        })
        .collect();
    if let Some(source) = failure {
        return Err(ReleaseError::Signing {
            signed: artifacts[..complete]
                .iter()
                .map(|a| a.path.clone())
                .collect(),
            unsigned: artifacts[complete..]
                .iter()
                .map(|a| a.path.clone())
                .collect(),
            source,
        });
    }
    Ok(signed)
}

/// Why an artifact could not be verified at all (as opposed to a verdict refusing it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyInputError {
    /// No bundle where one was expected.
    #[error("no bundle for {}: expected {}", artifact.display(), bundle.display())]
    NoBundle {
        /// The artifact.
        artifact: PathBuf,
        /// Where the bundle was looked for.
        bundle: PathBuf,
    },
    /// The bundle could not be read.
    #[error("cannot read bundle {}: {detail}", path.display())]
    ReadBundle {
        /// The bundle.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The bundle is not a valid Hallmark bundle.
    #[error("bundle {} is damaged or not a Hallmark bundle: {source}", path.display())]
    BadBundle {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// The artifact could not be hashed.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// Reads and parses a bundle file.
pub fn read_bundle(artifact: &Path, bundle_path: &Path) -> Result<Bundle, VerifyInputError> {
    let bytes =
        fsutil::read_bounded(bundle_path, MAX_BUNDLE_BYTES as u64).map_err(|e| match e {
            fsutil::ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                VerifyInputError::NoBundle {
                    artifact: artifact.to_owned(),
                    bundle: bundle_path.to_owned(),
                }
            }
            other => VerifyInputError::ReadBundle {
                path: bundle_path.to_owned(),
                detail: other.to_string(),
            },
        })?;
    Bundle::from_json(&bytes).map_err(|source| VerifyInputError::BadBundle {
        path: bundle_path.to_owned(),
        source,
    })
}

/// The release each artifact must be, from `--expect NAME@VERSION` given `expect.len()` times
/// for `count` artifacts: never (no expectation), once (the same for every artifact), or once
/// per artifact in order.
pub fn expectations(
    expect: &[String],
    count: usize,
) -> Result<Vec<Option<ExpectedRelease>>, ExpectationError> {
    let parsed = expect
        .iter()
        .map(|text| text.parse::<ExpectedRelease>())
        .collect::<Result<Vec<_>, _>>()?;
    match parsed.as_slice() {
        [] => Ok(vec![None; count]),
        [one] => Ok(vec![Some(one.clone()); count]),
        many if many.len() == count => Ok(many.iter().cloned().map(Some).collect()),
        many => Err(ExpectationError::Count {
            given: many.len(),
            artifacts: count,
        }),
    }
}

/// Why the expected releases cannot be matched with the artifacts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectationError {
    /// An expectation is not `NAME@VERSION`.
    #[error(transparent)]
    Parse(#[from] FormatError),
    /// Neither one expectation nor one per artifact.
    #[error(
        "--expect is given {given} times for {artifacts} artifacts: give it once for all of them, or once per artifact in order"
    )]
    Count {
        /// How many were given.
        given: usize,
        /// How many artifacts there are.
        artifacts: usize,
    },
}

/// [`verify_all_with_keys`], refusing an artifact whose bundle is for another release than the
/// one expected of it (`expected[i]` for `artifacts[i]`).
pub fn verify_all_with_keys_expecting(
    artifacts: &[PathBuf],
    bundle: Option<&Path>,
    keys: &[PublicKey],
    expected: &[Option<ExpectedRelease>],
    done: &(dyn Fn() + Sync),
) -> Vec<Result<Decision, VerifyInputError>> {
    let verify_one = |(i, artifact): (usize, &PathBuf)| {
        let bundle = bundle.map_or_else(|| Bundle::path_for(artifact), Path::to_path_buf);
        let expect = expected.get(i).and_then(Option::as_ref);
        let result = verify_with_keys_expecting(artifact, &bundle, keys, expect);
        done();
        result
    };
    if let [only] = artifacts {
        vec![verify_one((0, only))]
    } else {
        artifacts.par_iter().enumerate().map(verify_one).collect()
    }
}

/// [`verify_with_keys`], refusing a bundle for another release than `expected`.
pub fn verify_with_keys_expecting(
    artifact: &Path,
    bundle_path: &Path,
    keys: &[PublicKey],
    expected: Option<&ExpectedRelease>,
) -> Result<Decision, VerifyInputError> {
    let bundle = read_bundle(artifact, bundle_path)?;
    let actual = digest_path(artifact, &DigestOptions::default())?;
    hallmark_keyring::verify::verify_with_keys_expecting(&bundle, keys, &actual, expected).map_err(
        |source| VerifyInputError::BadBundle {
            path: bundle_path.to_owned(),
            source,
        },
    )
}

/// Verifies artifacts against keys given by the user, in parallel when there are several (one
/// artifact starts no thread pool). `bundle` names the bundle when a single artifact's is not
/// beside it; `done` is called as each artifact is finished with.
pub fn verify_all_with_keys(
    artifacts: &[PathBuf],
    bundle: Option<&Path>,
    keys: &[PublicKey],
    done: &(dyn Fn() + Sync),
) -> Vec<Result<Decision, VerifyInputError>> {
    let verify_one = |artifact: &PathBuf| {
        let bundle = bundle.map_or_else(|| Bundle::path_for(artifact), Path::to_path_buf);
        let result = verify_with_keys(artifact, &bundle, keys);
        done();
        result
    };
    if let [only] = artifacts {
        vec![verify_one(only)]
    } else {
        artifacts.par_iter().map(verify_one).collect()
    }
}

/// Verifies one artifact against keys given by the user.
pub fn verify_with_keys(
    artifact: &Path,
    bundle_path: &Path,
    keys: &[PublicKey],
) -> Result<Decision, VerifyInputError> {
    let bundle = read_bundle(artifact, bundle_path)?;
    let actual = digest_path(artifact, &DigestOptions::default())?;
    hallmark_keyring::verify::verify_with_keys(&bundle, keys, &actual).map_err(|source| {
        VerifyInputError::BadBundle {
            path: bundle_path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn signature_files_beside_their_artifacts_are_set_aside() {
        let given = without_signature_files(&paths(&[
            "d/a.tar",
            "d/a.tar.hallmark.json",
            "d/a.tar.minisig",
            "d/a.tar.sig",
            "d/b.sig",
            "d/.sig",
            "d/",
        ]))
        .unwrap();
        assert_eq!(
            given.artifacts,
            paths(&["d/a.tar", "d/b.sig", "d/.sig", "d/"])
        );
        assert_eq!(
            given.skipped,
            paths(&["d/a.tar.hallmark.json", "d/a.tar.minisig", "d/a.tar.sig"])
        );
        // A bundle is never an artifact, even beside a bundle of its own.
        let given = without_signature_files(&paths(&[
            "a.hallmark.json",
            "a.hallmark.json.hallmark.json",
        ]))
        .unwrap_err();
        assert!(
            matches!(given, ReleaseError::BundleGiven { ref artifact, .. } if artifact == Path::new("a"))
        );
    }
}
