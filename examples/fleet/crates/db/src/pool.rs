use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// A stored row: its key, its document and when it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub doc: Value,
    pub written_at_ms: u64,
}

type Tables = BTreeMap<String, BTreeMap<String, Row>>;

/// Why a connection could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    Exhausted { size: usize },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Exhausted { size } => write!(f, "all {size} connections are in use"),
        }
    }
}

impl std::error::Error for PoolError {}

/// A bounded pool of connections to one in-memory database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    size: usize,
    in_use: AtomicUsize,
    tables: Mutex<Tables>,
}

impl Pool {
    /// A pool of `size` connections to the in-memory database `url`.
    pub fn new(url: &str, size: usize) -> Self {
        Pool {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                size: size.max(1),
                in_use: AtomicUsize::new(0),
                tables: Mutex::new(Tables::new()),
            }),
        }
    }

    /// A pool for the database named by `settings.database_url`.
    pub fn connect(settings: &config::Settings) -> Self {
        Pool::new(&settings.database_url, settings.pool_size)
    }

    /// A pool configured from the environment of `service` (see the `config` crate).
    pub fn from_env(service: &str) -> Self {
        Pool::connect(&config::Settings::from_env(service))
    }

    /// Checks out a connection; it goes back to the pool when dropped.
    pub fn get(&self) -> Result<Connection, PoolError> {
        let size = self.inner.size;
        self.inner
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < size).then_some(n + 1)
            })
            .map_err(|_| PoolError::Exhausted { size })?;
        Ok(Connection {
            pool: self.inner.clone(),
        })
    }

    /// Pool statistics as JSON.
    pub fn status(&self) -> Value {
        let tables = self.inner.tables.lock().expect("db lock");
        let rows: BTreeMap<&str, usize> =
            tables.iter().map(|(t, r)| (t.as_str(), r.len())).collect();
        json!({
            "url": self.inner.url,
            "size": self.inner.size,
            "in_use": self.inner.in_use.load(Ordering::Acquire),
            "tables": rows,
        })
    }
}

/// A checked-out connection.
#[derive(Debug)]
pub struct Connection {
    pool: Arc<Inner>,
}

impl Connection {
    /// Inserts or replaces `key` in `table`.
    pub fn put(&self, table: &str, key: &str, doc: Value) -> Row {
        let row = Row {
            key: key.to_owned(),
            doc,
            written_at_ms: common::unix_millis(),
        };
        self.tables()
            .entry(table.to_owned())
            .or_default()
            .insert(key.to_owned(), row.clone());
        row
    }

    pub fn get(&self, table: &str, key: &str) -> Option<Row> {
        self.tables().get(table)?.get(key).cloned()
    }

    /// Every row of `table`, by key.
    pub fn scan(&self, table: &str) -> Vec<Row> {
        self.tables()
            .get(table)
            .map(|rows| rows.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn count(&self, table: &str) -> usize {
        self.tables().get(table).map_or(0, BTreeMap::len)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.pool.tables.lock().expect("db lock")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.pool.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_connections_return() {
        let pool = Pool::connect(&config::Settings::for_tests("db"));
        {
            let conn = pool.get().unwrap();
            conn.put("users", "u1", json!({"name": "ada"}));
            assert_eq!(conn.get("users", "u1").unwrap().doc["name"], "ada");
            assert_eq!(conn.count("users"), 1);
            assert_eq!(pool.status()["in_use"], 1);
        }
        assert_eq!(pool.status()["in_use"], 0);
    }

    #[test]
    fn pool_is_bounded() {
        let pool = Pool::connect(&config::Settings::for_tests("db"));
        let _a = pool.get().unwrap();
        let _b = pool.get().unwrap();
        assert_eq!(pool.get().unwrap_err(), PoolError::Exhausted { size: 2 });
    }
}
