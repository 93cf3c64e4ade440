//! orgscope's domain, with no I/O: the table of resource kinds and their scope
//! policy ([`kind`]), principals and the rules of who may read and write what
//! ([`policy`]), blacklist patterns ([`pattern`]), and how the gateway check
//! reads a proxied request ([`gateway`]).
//!
//! Decisions made here: the policy is a set of pure `#[must_use]` functions on a
//! [`policy::Principal`] value; the store never decides visibility itself, it
//! applies the [`policy::ReadFilter`] built here.
#![forbid(unsafe_code)]

pub mod access;
pub mod gateway;
pub mod ids;
pub mod kind;
pub mod pattern;
pub mod policy;

/// Timestamps are stored and returned as RFC 3339 UTC with microseconds, so
/// that their text order is their time order on every backend.
#[must_use]
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses an RFC 3339 timestamp into the stored form.
pub fn parse_time(s: &str) -> Result<String, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(format_time)
        .map_err(|_| format!("'{s}' is not an RFC 3339 timestamp like 2030-01-31T12:00:00Z"))
}

/// Slugs: lower-case letters, digits and dashes, 2 to 63 characters, starting
/// with a letter; `all`, `tenant` and `none` are reserved for the org filter.
pub fn check_slug(slug: &str) -> Result<(), String> {
    const RESERVED: [&str; 3] = ["all", "tenant", "none"];
    let ok_chars = slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(2..=63).contains(&slug.len())
        || !ok_chars
        || !slug.starts_with(|c: char| c.is_ascii_lowercase())
        || slug.ends_with('-')
    {
        return Err(format!(
            "slug '{slug}' is invalid: use 2-63 lower-case letters, digits and dashes, starting with a letter"
        ));
    }
    if RESERVED.contains(&slug) {
        return Err(format!(
            "slug '{slug}' is reserved (all, tenant and none are)"
        ));
    }
    Ok(())
}
