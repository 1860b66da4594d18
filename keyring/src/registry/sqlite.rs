//! The registry directory's state in SQLite (`state.db`), so that opening a registry reads a
//! few rows instead of the whole log.
//!
//! The database is derived data: `log.jsonl` is the record, appended and flushed first, and the
//! database is updated in the same run after it, in one transaction that also records how many
//! bytes of the log it covers. A process killed between the two leaves the database behind the
//! log; the next open replays the log's tail into it. A missing or damaged database is rebuilt
//! from the whole log (`hallmark registry rebuild-state`). SQLite runs in write-ahead-log mode
//! with `synchronous=NORMAL` and an exclusive lock held while the registry is open: a
//! transaction is atomic whatever happens, and one lost to a power cut is replayed from the
//! log like any other lag.
//!
//! Tables: `meta` (registry identity, head, counts, log bytes covered), `kels` (each
//! identity's key event log as a key event log file), `holders`, `releases`, `published`,
//! `events`, `names`, `entries` — one row per thing the checks look up.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use crate::hashlog::Head;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::Kel;
use crate::kel::file::KelFile;
use crate::registry::store::{
    Changes, Counts, EntryInfo, Published, Release, Store, StoreError, StoreMut,
};
use crate::statement::{Namespace, PackageName, Version};

/// The database file in a registry directory.
pub const STATE_FILE: &str = "state.db";

/// The schema this code writes; a database with another is rebuilt.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kels (identity TEXT PRIMARY KEY, events BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS holders (namespace TEXT NOT NULL, identity TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS holders_namespace ON holders (namespace);
CREATE TABLE IF NOT EXISTS releases (
    name TEXT NOT NULL, version TEXT NOT NULL, identity TEXT NOT NULL, content TEXT NOT NULL,
    statement TEXT NOT NULL, idx INTEGER NOT NULL, time TEXT NOT NULL, yanked TEXT,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS published (
    statement TEXT PRIMARY KEY, idx INTEGER NOT NULL, identity TEXT NOT NULL,
    envelope TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (digest TEXT PRIMARY KEY, idx INTEGER NOT NULL,
    identity TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, identity TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, digest TEXT NOT NULL,
    time TEXT NOT NULL, registry_sequence INTEGER NOT NULL, offset INTEGER NOT NULL);
";

/// A registry's state in a SQLite database.
pub struct SqliteStore {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| StoreError(format!("the state holds an invalid {what} {text:?}: {e}")))
}

fn int(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError(format!("the state holds a negative count {value}")))
}

fn sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |e: rusqlite::Error| StoreError(format!("{}: {e}", path.display()));
        let conn = Connection::open(path).map_err(err)?;
        // The registry's lock already keeps a second writer out; holding SQLite's lock for
        // the connection's life also keeps the write-ahead log's index in memory, so reading
        // the state creates no file (nothing to fail on a full disk before the log append).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let store = SqliteStore {
            path: path.to_owned(),
            conn,
        };
        match store.meta("schema")? {
            None => {
                store
                    .conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(err)?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError(format!(
                    "{} has schema version {v}, not {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        Ok(store)
    }

    /// Removes the database at `path` and its write-ahead files.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError(format!("{}: {e}", self.path.display()))
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    fn meta_u64(&self, key: &str) -> Result<u64, StoreError> {
        self.meta(key)?.map_or(Ok(0), |v| parse(key, &v))
    }
}

impl Store for SqliteStore {
    fn registry(&self) -> Result<Option<IdentityId>, StoreError> {
        self.meta("registry")?
            .map(|v| parse("identity", &v))
            .transpose()
    }

    fn head(&self) -> Result<Head, StoreError> {
        Ok(Head {
            len: self.meta_u64("head_len")?,
            digest: self
                .meta("head_digest")?
                .map(|v| parse("digest", &v))
                .transpose()?,
            time: self
                .meta("head_time")?
                .map(|v| parse("time", &v))
                .transpose()?,
        })
    }

    fn kel(&self, identity: &IdentityId) -> Result<Option<Arc<Kel>>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT events FROM kels WHERE identity = ?1")
            .and_then(|mut s| s.query_row([identity.to_string()], |r| r.get(0)).optional())
            .map_err(self.err())?;
        let Some(bytes) = bytes else { return Ok(None) };
        let file = KelFile::from_json(&bytes).map_err(|e| {
            StoreError(format!(
                "the state's key event log of {identity} is damaged: {e}"
            ))
        })?;
        let kel = Kel::verify(&file.events).map_err(|e| {
            StoreError(format!(
                "the state's key event log of {identity} does not verify: {e}"
            ))
        })?;
        Ok(Some(Arc::new(kel)))
    }

    fn holders_overlapping(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<(Namespace, IdentityId)>, StoreError> {
        // Namespaces containing it are its prefixes at dots; those it contains sort between
        // `ns.` and `ns/` ('/' follows '.').
        let ns = namespace.as_str();
        let mut prefixes: Vec<&str> = ns.match_indices('.').map(|(i, _)| &ns[..i]).collect();
        prefixes.push(ns);
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT namespace, identity FROM holders WHERE namespace = ?1 \
                 OR (namespace > ?2 AND namespace < ?3)",
            )
            .map_err(self.err())?;
        for (i, prefix) in prefixes.iter().enumerate() {
            let last = i + 1 == prefixes.len();
            let (lo, hi) = if last {
                (format!("{ns}."), format!("{ns}/"))
            } else {
                (String::new(), String::new())
            };
            let rows = stmt
                .query_map(params![prefix, lo, hi], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(self.err())?;
            for row in rows {
                let (n, id) = row.map_err(self.err())?;
                out.push((parse("namespace", &n)?, parse("identity", &id)?));
            }
        }
        Ok(out)
    }

    fn release(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<Release>, StoreError> {
        let row: Option<(String, String, String, i64, String, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT identity, content, statement, idx, time, yanked FROM releases \
                 WHERE name = ?1 AND version = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![name.as_str(), version.as_str()], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()
            })
            .map_err(self.err())?;
        row.map(|(identity, content, statement, index, time, yanked)| {
            Ok(Release {
                identity: parse("identity", &identity)?,
                content: parse("content digest", &content)?,
                statement: parse("digest", &statement)?,
                index: int(index)?,
                time: parse("time", &time)?,
                yanked,
            })
        })
        .transpose()
    }

    fn published(&self, statement: &Sha256Digest) -> Result<Option<Published>, StoreError> {
        let row: Option<(i64, String, String)> = self
            .conn
            .prepare_cached("SELECT idx, identity, envelope FROM published WHERE statement = ?1")
            .and_then(|mut s| {
                s.query_row([statement.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(self.err())?;
        row.map(|(index, identity, envelope)| {
            Ok(Published {
                index: int(index)?,
                identity: parse("identity", &identity)?,
                envelope: parse("digest", &envelope)?,
            })
        })
        .transpose()
    }

    fn event(&self, digest: &Sha256Digest) -> Result<Option<(u64, IdentityId)>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached("SELECT idx, identity FROM events WHERE digest = ?1")
            .and_then(|mut s| {
                s.query_row([digest.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(self.err())?;
        row.map(|(index, identity)| Ok((int(index)?, parse("identity", &identity)?)))
            .transpose()
    }

    fn name_owner(&self, name: &PackageName) -> Result<Option<IdentityId>, StoreError> {
        let row: Option<String> = self
            .conn
            .prepare_cached("SELECT identity FROM names WHERE name = ?1")
            .and_then(|mut s| s.query_row([name.as_str()], |r| r.get(0)).optional())
            .map_err(self.err())?;
        row.map(|identity| parse("identity", &identity)).transpose()
    }

    fn names(&self) -> Result<Vec<(PackageName, IdentityId)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, identity FROM names")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (name, identity) = row.map_err(self.err())?;
            out.push((parse("name", &name)?, parse("identity", &identity)?));
        }
        Ok(out)
    }

    fn entry(&self, index: u64) -> Result<Option<EntryInfo>, StoreError> {
        let row: Option<(String, String, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT digest, time, registry_sequence, offset FROM entries WHERE idx = ?1",
            )
            .and_then(|mut s| {
                s.query_row([sql(index)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(self.err())?;
        row.map(|(digest, time, seq, offset)| {
            Ok(EntryInfo {
                digest: parse("digest", &digest)?,
                time: parse("time", &time)?,
                registry_sequence: int(seq)?,
                offset: int(offset)?,
            })
        })
        .transpose()
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        Ok(Counts {
            publishes: self.meta_u64("publishes")?,
            key_events: self.meta_u64("key_events")?,
            yanks: self.meta_u64("yanks")?,
        })
    }
}

impl StoreMut for SqliteStore {
    fn commit(&mut self, changes: &Changes, log_bytes: u64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| StoreError(format!("{}: {e}", path.display()));
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .map_err(err)?;
            let mut set = |k: &str, v: String| meta.execute(params![k, v]).map(|_| ());
            if let Some(registry) = changes.registry {
                set("registry", registry.to_string()).map_err(err)?;
            }
            set("head_len", changes.head.len.to_string()).map_err(err)?;
            if let Some(d) = changes.head.digest {
                set("head_digest", d.to_string()).map_err(err)?;
            }
            if let Some(t) = changes.head.time {
                set("head_time", t.to_string()).map_err(err)?;
            }
            set("publishes", changes.counts.publishes.to_string()).map_err(err)?;
            set("key_events", changes.counts.key_events.to_string()).map_err(err)?;
            set("yanks", changes.counts.yanks.to_string()).map_err(err)?;
            set("log_bytes", log_bytes.to_string()).map_err(err)?;

            let mut kels = tx
                .prepare_cached("INSERT OR REPLACE INTO kels (identity, events) VALUES (?1, ?2)")
                .map_err(err)?;
            for (identity, kel) in &changes.kels {
                kels.execute(params![
                    identity.to_string(),
                    KelFile::from_kel(kel).to_json()
                ])
                .map_err(err)?;
            }
            let mut holders = tx
                .prepare_cached("INSERT INTO holders (namespace, identity) VALUES (?1, ?2)")
                .map_err(err)?;
            for (ns, identity) in &changes.holders {
                holders
                    .execute(params![ns.as_str(), identity.to_string()])
                    .map_err(err)?;
            }
            let mut releases = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO releases \
                     (name, version, identity, content, statement, idx, time, yanked) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for ((name, version), r) in &changes.releases {
                releases
                    .execute(params![
                        name.as_str(),
                        version.as_str(),
                        r.identity.to_string(),
                        r.content.to_string(),
                        r.statement.to_string(),
                        sql(r.index),
                        r.time.to_string(),
                        r.yanked
                    ])
                    .map_err(err)?;
            }
            let mut published = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO published (statement, idx, identity, envelope) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (statement, p) in &changes.published {
                published
                    .execute(params![
                        statement.to_string(),
                        sql(p.index),
                        p.identity.to_string(),
                        p.envelope.to_string()
                    ])
                    .map_err(err)?;
            }
            let mut events = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO events (digest, idx, identity) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for (digest, (index, identity)) in &changes.events {
                events
                    .execute(params![
                        digest.to_string(),
                        sql(*index),
                        identity.to_string()
                    ])
                    .map_err(err)?;
            }
            let mut names = tx
                .prepare_cached("INSERT OR IGNORE INTO names (name, identity) VALUES (?1, ?2)")
                .map_err(err)?;
            for (name, identity) in &changes.names {
                names
                    .execute(params![name.as_str(), identity.to_string()])
                    .map_err(err)?;
            }
            let mut entries = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO entries \
                     (idx, digest, time, registry_sequence, offset) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let first = changes.head.len - changes.entries.len() as u64;
            for (i, e) in changes.entries.iter().enumerate() {
                entries
                    .execute(params![
                        sql(first + i as u64),
                        e.digest.to_string(),
                        e.time.to_string(),
                        sql(e.registry_sequence),
                        sql(e.offset)
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn log_bytes(&self) -> Result<u64, StoreError> {
        self.meta_u64("log_bytes")
    }
}
