//! Delete requests (spec §8): Loki's API, store and gRPC service, plus our redaction
//! extension.
//!
//! * [`store::DeleteStore`]: requests, shards and cache generation numbers in the bucket
//!   (Loki's SQLite layout), the interface of the processing pass;
//! * [`boltdb`]: reader of Loki's default BoltDB DB (migrated once; offline tools);
//! * [`sqlite`]: the SQLite layout;
//! * [`api`]: the HTTP API ([`query`] validates delete queries, [`params`] parses times).

pub mod api;
pub mod boltdb;
pub mod grpc;
pub mod model;
pub mod params;
pub mod query;
pub mod setup;
pub mod sqlite;
pub mod store;

pub use boltdb::{DeleteDb, DeleteRequest};
pub use model::{
    DueRequest, NewRequest, Progress, Redaction, RequestKind, StoredRequest, TimeRange,
};
pub use store::{DeleteStore, StoreConfig, StoreError};
