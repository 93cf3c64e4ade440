//! orgscope's application layer: the operations a principal performs, each
//! one function that owns its transaction, asks core inside it (a check
//! that allows a write is made in the transaction that writes), writes the
//! audit entry and runs the side effects. The edges (the JSON API, the CLI)
//! translate to and from these; nothing here knows HTTP.
//!
//! This crate is being grown out of the server's handlers one family at a
//! time (docs/ARCHITECTURE.md says how far it is): today it holds the
//! caller, the domain error, secrets, the blob store, secrets at rest, the
//! audit append, orgs as callers name them, the rules in force, and the
//! generic operations on every kind ([`resources`]).
#![forbid(unsafe_code)]

pub mod agents;
pub mod audit;
pub mod blobs;
pub mod caller;
pub mod chat;
pub mod crypto;
pub mod dns;
pub mod error;
pub mod extract;
pub mod files;
pub mod gateway_check;
pub mod input;
pub mod kinds;
pub mod knowledge;
pub mod limits;
pub mod me;
pub mod orgs;
pub mod resources;
pub mod secrets;
pub mod tenants;
pub mod users;

pub use caller::{Caller, Credential};
pub use error::{Error, OrNotFound, Result};

/// What operations run against: the metadata store, the blob store and the
/// master key that seals secrets at rest. The edges lend it from their state.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub store: &'a orgscope_store::Store,
    pub master_key: &'a crypto::MasterKey,
    pub blobs: &'a blobs::Blobs,
    /// The resolver asked for org domain proofs (none: proofs fail, saying so).
    pub dns_server: Option<std::net::SocketAddr>,
}
