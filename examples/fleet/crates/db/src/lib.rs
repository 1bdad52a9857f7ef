//! A tiny in-memory "database": a bounded connection pool over named tables of
//! JSON rows. Enough to give the services real state without a server.

mod pool;

pub use pool::{Connection, Pool, PoolError, Row};
