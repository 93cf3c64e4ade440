//! The change-of-org dialog that files and every other kind share: its
//! page and htmx partial, its form, and the target it names.

use askama::Template;
use orgscope_app::Error;
use serde::Deserialize;

use crate::views::{Impact, Layout, Subject};

#[derive(Template)]
#[template(path = "move.html")]
pub struct MovePage<'a> {
    pub l: &'a Layout,
    pub f: &'a Subject,
    pub to: &'a str,
    pub impact: Option<Impact>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "move.html", block = "dialog")]
pub struct MoveDialog<'a> {
    pub l: &'a Layout,
    pub f: &'a Subject,
    pub to: &'a str,
    pub impact: Option<Impact>,
    pub error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct MoveForm {
    #[serde(default)]
    pub to: String,
}

/// `to` as the operation takes it: `tenant` is tenant-wide.
pub fn target(to: &str) -> Result<Option<&str>, Error> {
    match to.trim() {
        "" => Err(Error::Invalid(
            "Move to: choose an organization (or Tenant-wide where offered)".into(),
        )),
        "tenant" => Ok(None),
        org => Ok(Some(org)),
    }
}
