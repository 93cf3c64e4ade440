//! Reading what a caller sends: JSON bodies and pages, with errors that name
//! the field and say what to send instead.

use orgscope_store::Page;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{Error, Result};

/// Drops the extra row a page fetches (one more than it shows, to know
/// whether another follows) and returns the cursor of
/// the next page, if there is one.
pub fn next_cursor<T>(
    rows: &mut Vec<T>,
    page: &Page,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let asked = usize::try_from(page.limit - 1).unwrap_or(0);
    if rows.len() > asked {
        rows.truncate(asked);
        rows.last().map(cursor_of)
    } else {
        None
    }
}

/// A JSON object body, or a 422 saying so.
pub fn object(body: &Value) -> Result<&serde_json::Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| Error::Invalid("the body must be a JSON object".into()))
}

/// One page of a listing; `next_cursor` is the `cursor` of the next page,
/// null on the last.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an
/// `Option<Option<T>>`: absent is `None`, `null` is `Some(None)` (for `org`:
/// your default org vs tenant-wide; in a change: keep vs clear).
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A required text of a typed body: not blank, at most `max` characters.
pub fn required<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str> {
    if value.trim().is_empty() {
        return Err(Error::Invalid(format!("{field}: must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Error::Invalid(format!(
            "{field}: must be at most {max} characters"
        )));
    }
    Ok(value)
}

/// A required string field of a body.
pub fn text<'a>(body: &'a Value, field: &str, max: usize) -> Result<&'a str> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => Ok(s),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(Error::Invalid(format!("{field}: must not be empty")))
        }
        Some(Value::String(_)) => Err(Error::Invalid(format!(
            "{field}: must be at most {max} characters"
        ))),
        None => Err(Error::Invalid(format!("{field}: is required"))),
        Some(_) => Err(Error::Invalid(format!("{field}: must be a string"))),
    }
}

/// NUL is no text: PostgreSQL cannot store it and no name or command needs
/// it. Refused in every string (and key) of a body, naming where it is.
pub fn refuse_nul(v: &Value, at: &str) -> Result<()> {
    let here = || {
        if at.is_empty() {
            "the body".to_owned()
        } else {
            at.to_owned()
        }
    };
    match v {
        Value::String(s) => no_nul(&here(), s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| refuse_nul(item, &format!("{}[{i}]", here()))),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            no_nul(&path, k)?;
            refuse_nul(item, &path)
        }),
        _ => Ok(()),
    }
}

/// Refuses a text with a NUL character, naming the field.
pub fn no_nul(field: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::Invalid(format!(
            "{field}: contains a NUL character (\\u0000); remove it"
        )));
    }
    Ok(())
}

/// `{items, next_cursor}` from the rows of a page (one more than shown).
pub fn listing<T, V>(
    mut rows: Vec<T>,
    page: &Page,
    cursor_of: impl Fn(&T) -> String,
    render: impl Fn(&T) -> V,
) -> Listing<V> {
    let next_cursor = next_cursor(&mut rows, page, cursor_of);
    Listing {
        items: rows.iter().map(render).collect(),
        next_cursor,
    }
}
