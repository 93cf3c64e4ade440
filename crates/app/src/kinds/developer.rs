//! Developers of an org's APIs: an e-mail address to reach them.

use serde_json::{Map, Value};

use super::text;
use crate::{Error, Result};

pub fn check(fields: &Map<String, Value>) -> Result<()> {
    let email = text(fields, "email");
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(Error::Invalid(format!(
            "email: '{email}' is not an email address"
        )));
    }
    Ok(())
}
