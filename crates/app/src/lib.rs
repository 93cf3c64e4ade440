//! orgscope's application layer: the operations a principal performs, each
//! one function that owns its transaction, asks core inside it (a check
//! that allows a write is made in the transaction that writes), writes the
//! audit entry and runs the side effects. The edges (the JSON API, the CLI)
//! translate to and from these; nothing here knows HTTP.
//!
//! One module per family of operations: the generic ones of every kind
//! ([`resources`], with kinds that have behaviour in [`kinds`]), [`files`],
//! [`knowledge`], [`chat`], [`orgs`], [`users`], [`me`], [`tenants`],
//! [`audit`], [`agents`] (claims, reveal, webhooks, the scheduler),
//! [`gateway_check`] and [`api_gateways`], the developer [`portal`] (with
//! [`key_requests`] and [`openapi`] references); beside them who is calling ([`caller`]), the domain
//! [`error`], and what the operations run on (secrets, blobs, extraction).
//! docs/ARCHITECTURE.md walks one request through the layers.
#![forbid(unsafe_code)]

pub mod access;
pub mod agents;
pub mod api_gateways;
pub mod audit;
pub mod blobs;
pub mod caller;
pub mod chat;
pub mod choices;
pub mod crypto;
pub mod dns;
pub mod error;
pub mod extract;
pub mod files;
pub mod gateway_check;
pub mod input;
pub mod key_requests;
pub mod kinds;
pub mod knowledge;
pub mod limits;
pub mod mail;
pub mod me;
pub mod openapi;
pub mod orgs;
pub mod portal;
pub mod resources;
pub mod secrets;
pub mod tenants;
pub mod tickets;
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
    /// The nameservers asked for org domain proofs (none: proofs fail,
    /// saying so).
    pub dns: Option<&'a dns::Nameservers>,
    /// How long one file's text extraction may take before it ends as
    /// `failed` ([`extract::DEFAULT_TIME_LIMIT`]).
    pub extract_time_limit: std::time::Duration,
}
