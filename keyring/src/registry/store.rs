//! Where the registry's state lives: the [`Store`] trait the checks read through, the
//! [`Changes`] one run makes, and an in-memory implementation.
//!
//! The checks in [`super::State`] never hold a copy of everything: they ask the store for the
//! one key event log, release, namespace or publish they need, and keep what they stage in a
//! [`Changes`] overlay that is written to the store ([`StoreMut::commit`]) only after the log
//! entries that carry it are durable. A service with its own database implements [`Store`] and
//! [`StoreMut`] and reuses the checks; the registry directory uses SQLite
//! ([`super::sqlite::SqliteStore`]), and [`MemoryStore`] holds a state being rebuilt from a
//! log (`verify-log`, `rebuild-state`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::digest::ContentDigest;
use crate::hashlog::Head;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::Kel;
use crate::statement::{Namespace, PackageName, Version};
use crate::time::Timestamp;

/// A published version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The publishing identity.
    pub identity: IdentityId,
    /// The content digest.
    pub content: ContentDigest,
    /// The statement's payload digest.
    pub statement: Sha256Digest,
    /// The log entry.
    pub index: u64,
    /// When it was accepted.
    pub time: Timestamp,
    /// The reason it was yanked, if it was.
    pub yanked: Option<String>,
}

/// An accepted statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The log entry that records it.
    pub index: u64,
    /// The publishing identity.
    pub identity: IdentityId,
    /// SHA-256 of the whole envelope as accepted (payload and signatures), so that a
    /// resubmission is the same only if its signatures are.
    pub envelope: Sha256Digest,
}

/// What the state keeps of each log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// SHA-256 of the entry's payload.
    pub digest: Sha256Digest,
    /// The entry's time.
    pub time: Timestamp,
    /// The position of the registry's key event log current at the entry.
    pub registry_sequence: u64,
    /// Where the entry's line starts in `log.jsonl`, in bytes.
    pub offset: u64,
}

/// Publishes, key events and yanks in the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Publishes.
    pub publishes: u64,
    /// Key events.
    pub key_events: u64,
    /// Yanks.
    pub yanks: u64,
}

/// Why the store could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Read access to a registry's state: what the checks ask.
pub trait Store {
    /// The registry's identity (entry 0), if the log has one.
    fn registry(&self) -> Result<Option<IdentityId>, StoreError>;
    /// The log's head as the state records it.
    fn head(&self) -> Result<Head, StoreError>;
    /// The key event log held for an identity.
    fn kel(&self, identity: &IdentityId) -> Result<Option<Arc<Kel>>, StoreError>;
    /// The registered namespaces that contain `namespace` or that it contains, with their
    /// registrants.
    fn holders_overlapping(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<(Namespace, IdentityId)>, StoreError>;
    /// A published version.
    fn release(&self, name: &PackageName, version: &Version)
    -> Result<Option<Release>, StoreError>;
    /// An accepted statement, by payload digest.
    fn published(&self, statement: &Sha256Digest) -> Result<Option<Published>, StoreError>;
    /// An accepted key event, by payload digest: its log entry and identity.
    fn event(&self, digest: &Sha256Digest) -> Result<Option<(u64, IdentityId)>, StoreError>;
    /// The first publisher of a name.
    fn name_owner(&self, name: &PackageName) -> Result<Option<IdentityId>, StoreError>;
    /// Every published name with its first publisher (for the look-alike check).
    fn names(&self) -> Result<Vec<(PackageName, IdentityId)>, StoreError>;
    /// What the state keeps of a log entry.
    fn entry(&self, index: u64) -> Result<Option<EntryInfo>, StoreError>;
    /// Publishes, key events and yanks.
    fn counts(&self) -> Result<Counts, StoreError>;
}

/// Write access: applies a run's changes at once.
pub trait StoreMut: Store {
    /// Applies `changes` atomically, recording that the state now covers the log up to byte
    /// `log_bytes` of `log.jsonl` (0 when the store does not track a file).
    fn commit(&mut self, changes: &Changes, log_bytes: u64) -> Result<(), StoreError>;
    /// Bytes of `log.jsonl` the state covers.
    fn log_bytes(&self) -> Result<u64, StoreError>;
}

/// What a run adds to the state: everything is keyed as in the store, and wins over it.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// The registry's identity, once entry 0 is applied.
    pub registry: Option<IdentityId>,
    /// The head after the changes.
    pub head: Head,
    /// Key event logs that changed.
    pub kels: HashMap<IdentityId, Arc<Kel>>,
    /// Namespaces registered.
    pub holders: Vec<(Namespace, IdentityId)>,
    /// Releases published or yanked.
    pub releases: HashMap<(PackageName, Version), Release>,
    /// Statements accepted.
    pub published: HashMap<Sha256Digest, Published>,
    /// Key events accepted.
    pub events: HashMap<Sha256Digest, (u64, IdentityId)>,
    /// Names published for the first time.
    pub names: HashMap<PackageName, IdentityId>,
    /// The new entries, from the store's head on.
    pub entries: Vec<EntryInfo>,
    /// Counts after the changes.
    pub counts: Counts,
}

impl Changes {
    /// Starts from a store's head and counts.
    pub fn over<S: Store + ?Sized>(store: &S) -> Result<Self, StoreError> {
        Ok(Changes {
            registry: store.registry()?,
            head: store.head()?,
            counts: store.counts()?,
            ..Changes::default()
        })
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records where the new entries' lines were written: the first at `offset`, each line
    /// `lengths` bytes long with its newline.
    pub fn place(&mut self, mut offset: u64, lengths: impl IntoIterator<Item = u64>) {
        for (entry, len) in self.entries.iter_mut().zip(lengths) {
            entry.offset = offset;
            offset += len;
        }
    }
}

/// A state held in memory: for a log replayed in full, and for tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    changes: Changes,
    entries: Vec<EntryInfo>,
    log_bytes: u64,
}

impl Store for MemoryStore {
    fn registry(&self) -> Result<Option<IdentityId>, StoreError> {
        Ok(self.changes.registry)
    }
    fn head(&self) -> Result<Head, StoreError> {
        Ok(self.changes.head)
    }
    fn kel(&self, identity: &IdentityId) -> Result<Option<Arc<Kel>>, StoreError> {
        Ok(self.changes.kels.get(identity).cloned())
    }
    fn holders_overlapping(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<(Namespace, IdentityId)>, StoreError> {
        Ok(self
            .changes
            .holders
            .iter()
            .filter(|(h, _)| h.contains(namespace) || namespace.contains(h))
            .cloned()
            .collect())
    }
    fn release(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<Release>, StoreError> {
        Ok(self
            .changes
            .releases
            .get(&(name.clone(), version.clone()))
            .cloned())
    }
    fn published(&self, statement: &Sha256Digest) -> Result<Option<Published>, StoreError> {
        Ok(self.changes.published.get(statement).copied())
    }
    fn event(&self, digest: &Sha256Digest) -> Result<Option<(u64, IdentityId)>, StoreError> {
        Ok(self.changes.events.get(digest).copied())
    }
    fn name_owner(&self, name: &PackageName) -> Result<Option<IdentityId>, StoreError> {
        Ok(self.changes.names.get(name).copied())
    }
    fn names(&self) -> Result<Vec<(PackageName, IdentityId)>, StoreError> {
        Ok(self
            .changes
            .names
            .iter()
            .map(|(n, i)| (n.clone(), *i))
            .collect())
    }
    fn entry(&self, index: u64) -> Result<Option<EntryInfo>, StoreError> {
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .copied())
    }
    fn counts(&self) -> Result<Counts, StoreError> {
        Ok(self.changes.counts)
    }
}

impl StoreMut for MemoryStore {
    fn commit(&mut self, changes: &Changes, log_bytes: u64) -> Result<(), StoreError> {
        let held = &mut self.changes;
        held.registry = changes.registry.or(held.registry);
        held.head = changes.head;
        held.counts = changes.counts;
        held.kels
            .extend(changes.kels.iter().map(|(k, v)| (*k, v.clone())));
        held.holders.extend(changes.holders.iter().cloned());
        held.releases
            .extend(changes.releases.iter().map(|(k, v)| (k.clone(), v.clone())));
        held.published
            .extend(changes.published.iter().map(|(k, v)| (*k, *v)));
        held.events
            .extend(changes.events.iter().map(|(k, v)| (*k, *v)));
        held.names
            .extend(changes.names.iter().map(|(k, v)| (k.clone(), *v)));
        self.entries.extend(changes.entries.iter().copied());
        self.log_bytes = log_bytes;
        Ok(())
    }
    fn log_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.log_bytes)
    }
}
