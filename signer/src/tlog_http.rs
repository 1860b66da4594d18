//! Reading a registry's transparency log over HTTP(S): the [`TileReader`] for
//! `hallmark keyring refresh --registry URL`.
//!
//! A small blocking client (`ureq`, rustls with the Mozilla roots): one GET per object
//! (`<URL>/checkpoint`, `<URL>/registry.kel`, `<URL>/tile/…`), each bounded — the reader stops
//! at the caller's byte limit and refuses a longer body — with a timeout of 30 seconds per
//! request and at most 5 redirects. Nothing read is trusted: the checkpoint is verified with
//! the registry's keys and every tile against it.

use std::time::Duration;

use hallmark_keyring::tlog::{FetchError, TileReader};

/// How long one request may take, connection to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A registry location that is neither an `http://` nor an `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not an http:// or https:// URL (give a directory path for a local registry)")]
pub struct NotHttpUrl {
    /// The location given.
    pub url: String,
}

/// A registry's log served at an `http://` or `https://` URL.
pub struct HttpTileReader {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpTileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTileReader")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpTileReader {
    /// A reader of the log at `url` (the directory the registry serves: the one holding
    /// `checkpoint`). Refuses any scheme but `http` and `https`.
    pub fn new(url: &str) -> Result<Self, NotHttpUrl> {
        if !Self::is_url(url) {
            return Err(NotHttpUrl {
                url: url.to_owned(),
            });
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_redirects(5)
            .http_status_as_error(true)
            .build();
        Ok(HttpTileReader {
            base: url.trim_end_matches('/').to_owned(),
            agent: config.into(),
        })
    }

    /// Whether `location` names a URL rather than a directory.
    pub fn is_url(location: &str) -> bool {
        location.starts_with("http://") || location.starts_with("https://")
    }
}

impl TileReader for HttpTileReader {
    fn read(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/{path}", self.base);
        let other = |detail: String| FetchError::Other {
            path: url.clone(),
            detail,
        };
        let mut response = match self.agent.get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(404)) => {
                return Err(FetchError::NotFound { path: url });
            }
            Err(ureq::Error::StatusCode(code)) => {
                return Err(other(format!("the server answered HTTP {code}")));
            }
            Err(e) => return Err(other(e.to_string())),
        };
        match response
            .body_mut()
            .with_config()
            .limit(max_bytes)
            .read_to_vec()
        {
            Ok(bytes) => Ok(bytes),
            Err(ureq::Error::BodyExceedsLimit(_)) => Err(FetchError::TooLarge {
                path: url,
                max: max_bytes,
            }),
            Err(e) => Err(other(e.to_string())),
        }
    }
}
