//! The domain error of every operation. The edges map it to what they speak
//! (problem+json, a page, a CLI message) in one place each; each variant's
//! doc says what it means, and the HTTP status the server gives it.

use orgscope_core::policy::Denied;
use orgscope_store::StoreError;
use serde_json::Value;

#[derive(Debug)]
pub enum Error {
    /// The request cannot be read (bad query, bad cursor, an ambiguous
    /// proxied path). 400.
    BadRequest(String),
    /// No credentials, or credentials that do not (or no longer) work. 401.
    Unauthorized,
    /// The thing is visible but this action is not allowed. 403.
    Forbidden(String),
    /// The thing does not exist *for this principal*. The detail names only
    /// what the caller asked for, so hidden and unused ids read the same. 404.
    NotFound(String),
    /// The change conflicts with existing data; `blocking` lists what. 409.
    Conflict { detail: String, blocking: Value },
    /// Over a size the server accepts (an upload). 413.
    TooLarge(String),
    /// A value is well-formed but not acceptable; the detail names it. 422.
    Invalid(String),
    /// Too many attempts; retry after this many seconds. 429.
    TooManyRequests(u64),
    /// An upstream the operation relies on (the model endpoint, DNS) failed;
    /// the detail names it. 502.
    BadGateway(String),
    /// A bug or a broken dependency: logged, never described to clients. 500.
    Internal(String),
    /// The database is not answering. 503.
    Unavailable(String),
    /// A service the operation needs is not set up here, or not answering
    /// (the mail relay of portal sign-ups); the detail says what to do. 503.
    NotReady(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    #[must_use]
    pub fn not_found(what: &str, reference: &str) -> Error {
        Error::NotFound(format!("no {what} '{reference}'"))
    }

    pub fn conflict(detail: impl Into<String>) -> Error {
        Error::Conflict {
            detail: detail.into(),
            blocking: Value::Null,
        }
    }

    /// A denial from the policy, for a resource the caller can see.
    #[must_use]
    pub fn denied(d: Denied, what: &str) -> Error {
        match d {
            Denied::ReadOnly => Error::Forbidden(format!(
                "your access is read-only: you cannot change {what}"
            )),
            Denied::NotAllowed => Error::Forbidden(format!("you are not allowed to change {what}")),
            Denied::OrgRequired => Error::Invalid(format!(
                "org: cannot place {what} tenant-wide: this kind always belongs to an org; give an org slug or id"
            )),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            // Callers that can name the missing thing map NotFound themselves.
            StoreError::NotFound => Error::NotFound("not found".into()),
            StoreError::Duplicate(what) => {
                Error::conflict(format!("that {what} is already taken: choose another"))
            }
            StoreError::Referenced => {
                Error::conflict("other records still refer to this one: move or delete them first")
            }
            StoreError::Unavailable(e) => Error::Unavailable(e),
            StoreError::Other(e) => Error::Internal(e.to_string()),
            // Only opening a store migrates; an operation never meets this.
            StoreError::Migration(e) => Error::Internal(e),
        }
    }
}

/// Maps a store `NotFound` to a "no such thing" naming what was asked for.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str, reference: &str) -> Result<T>;
}

impl<T> OrNotFound<T> for std::result::Result<T, StoreError> {
    fn or_not_found(self, what: &str, reference: &str) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => Error::not_found(what, reference),
            e => e.into(),
        })
    }
}
