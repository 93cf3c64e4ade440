//! Files as callers see them: the resource with its size, hash and
//! extraction state.

use orgscope_core::kind::Kind;
use orgscope_store::FileRow;
use serde_json::{Value, json};

pub fn kind() -> &'static Kind {
    orgscope_core::kind::by_path("files").expect("files are in the kinds table")
}

/// The file fields beside the resource's.
pub fn add_meta(out: &mut Value, f: &FileRow) {
    out["size"] = json!(f.size);
    out["sha256"] = json!(f.sha256);
    out["content_type"] = json!(f.content_type);
    out["extraction"] = json!({
        "state": f.extraction, "error": f.extraction_error, "entries": f.entries,
    });
}

pub fn render(f: &FileRow) -> Value {
    let mut out = crate::resources::render(kind(), &f.resource);
    add_meta(&mut out, f);
    out
}
