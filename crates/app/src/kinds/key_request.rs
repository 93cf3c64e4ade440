//! Key requests: made by developers on their org's portal
//! (`portal::request_key`), approved or denied by a member who may change
//! the org's API management (`key_requests::decide`); never made or changed
//! through the generic routes.

use super::Write;
use crate::{Error, Result};

pub fn check(write: &Write<'_>) -> Result<()> {
    match write {
        Write::Create => Err(Error::Invalid(
            "key requests are made by developers on the org's portal; issue a consumer key directly instead".into(),
        )),
        // Its fields are fixed (core's table); a rename is harmless.
        Write::Update { .. } => Ok(()),
    }
}
