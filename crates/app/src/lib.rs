//! orgscope's application layer: the operations a principal performs, each
//! one function that owns its transaction, asks core inside it (a check
//! that allows a write is made in the transaction that writes), writes the
//! audit entry and runs the side effects. The edges (the JSON API, the CLI)
//! translate to and from these; nothing here knows HTTP.
//!
//! This crate is being grown out of the server's handlers one family at a
//! time (docs/ARCHITECTURE.md says how far it is): today it holds the
//! caller, the domain error, secrets, the blob store, secrets at rest and
//! the audit append.
#![forbid(unsafe_code)]

pub mod audit;
pub mod blobs;
pub mod caller;
pub mod crypto;
pub mod error;
pub mod secrets;

pub use caller::{Caller, Credential};
pub use error::{Error, OrNotFound, Result};
