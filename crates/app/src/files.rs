//! Files as callers see them: the resource with its size, hash and
//! extraction state.

use futures_util::StreamExt;
use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::kind::Kind;
use orgscope_core::policy::{self, Scope, SystemRead};
use orgscope_store::{FileRow, FileSort, NewFile, NewResource, OrgRow, StoreError};
use serde_json::{Value, json};

use crate::audit::{Change, audit};
use crate::blobs::{Blobs, WriteError};
use crate::secrets::hex;
use crate::{Caller, Env, Error, OrNotFound, Result};

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

/// Cursors of sorted listings carry the sort value and the id, hex-encoded
/// so they stay opaque and URL-safe.
fn encode_cursor(value: &str, id: &str) -> String {
    hex(format!("{value}\u{0}{id}").as_bytes())
}

fn decode_cursor(c: &str) -> Result<(String, String)> {
    let bad = || {
        Error::BadRequest(format!(
            "cursor: '{c}' is not a cursor this server gave; use the next_cursor of the previous page"
        ))
    };
    if c.len() > 2048 || !c.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let (value, id) = text.split_once('\u{0}').ok_or_else(bad)?;
    Ok((value.to_owned(), id.to_owned()))
}

pub async fn visible_file(env: &Env<'_>, auth: &Caller, id: &str) -> Result<FileRow> {
    let mut tx = env.store.read().await?;
    tx.file(&policy::read_filter(&auth.principal), id)
        .await
        .or_not_found("file", id)
}

/// The `org` of an upload as a JSON value for [`super::org_field`].
fn org_value(org: Option<&str>) -> Value {
    match org {
        None => json!({}),
        Some("tenant" | "none" | "null") => json!({"org": null}),
        Some(o) => json!({"org": o}),
    }
}

pub fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name: give the file a name of 1-255 characters without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Where the upload goes, decided before a byte of it is stored.
pub struct Target {
    pub tenant: TenantId,
    pub org: Option<OrgId>,
}

pub async fn target(env: &Env<'_>, auth: &Caller, org: Option<&str>) -> Result<Target> {
    let tenant = TenantId::from(auth.tenant()?);
    let mut tx = env.store.read().await?;
    let org = crate::orgs::org_field(&mut tx, auth, &org_value(org)).await?;
    let scope = Scope {
        tenant: tenant.clone(),
        org: org.as_ref().map(OrgRow::org),
    };
    policy::can_place(&auth.principal, kind().policy, &scope)
        .map_err(|d| Error::denied(d, "files in this scope"))?;
    Ok(Target {
        tenant,
        org: scope.org,
    })
}

/// Streams chunks into a new blob, hashing and counting; on any failure the
/// partial blob is removed.
pub async fn store_blob<S, E>(
    blobs: &Blobs,
    key: &str,
    chunks: S,
    max: u64,
) -> Result<(u64, String)>
where
    S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut size: u64 = 0;
    let limited = chunks.map(|chunk| {
        let chunk =
            chunk.map_err(|e| Error::BadRequest(format!("the upload was interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(Error::TooLarge(format!(
                "the file is larger than this server accepts ({max} bytes)"
            )));
        }
        Ok(chunk)
    });
    match blobs.write_stream(key, limited).await {
        Ok(written) => Ok(written),
        Err(failure) => {
            blobs.delete(key).await;
            Err(match failure {
                WriteError::Source(e) => e,
                WriteError::Store(e) => Error::Internal(e),
            })
        }
    }
}

/// A blob that has been written, and what the file will say of it.
pub struct Stored {
    pub id: String,
    pub key: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// Records a stored blob as a file, in one transaction with its audit entry;
/// the file becomes visible only now. Then extraction starts, off this request.
pub async fn commit_file(
    env: &Env<'_>,
    auth: &Caller,
    target: &Target,
    blob: Stored,
) -> Result<Value> {
    let result = async {
        let mut tx = env.store.write().await?;
        // Placement was checked before the first byte was stored; the upload
        // took time, so it is checked again in the transaction that inserts.
        let now = crate::caller::principal_now(&mut tx, auth).await?;
        let scope = Scope {
            tenant: target.tenant.clone(),
            org: target.org.clone(),
        };
        policy::can_place(&now, kind().policy, &scope)
            .map_err(|d| Error::denied(d, "files in this scope"))?;
        tx.resource_insert(&NewResource {
            id: blob.id.clone(),
            tenant_id: target.tenant.to_string(),
            kind: "file".into(),
            org_id: target.org.as_deref().map(str::to_owned),
            name: blob.name.clone(),
            fields: "{}".into(),
            secret: None,
            created_by: Some(auth.actor_id()),
        })
        .await?;
        tx.file_insert(&NewFile {
            id: blob.id.clone(),
            blob_key: blob.key.clone(),
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            sha256: blob.sha256.clone(),
            content_type: blob.content_type.clone(),
        })
        .await?;
        let row = tx
            .file(
                &policy::system_filter(&target.tenant, None, SystemRead::AlreadyAdmitted),
                &blob.id,
            )
            .await?;
        let out = render(&row);
        audit(
            &mut tx,
            auth,
            Some(&target.tenant),
            Change {
                action: "file.create",
                kind: "file",
                target: &blob.id,
                org: target.org.as_deref(),
                before: None,
                after: Some(out.clone()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Error>(out)
    }
    .await;
    match result {
        Ok(out) => {
            let (store, blobs, limit) =
                (env.store.clone(), env.blobs.clone(), env.extract_time_limit);
            tokio::spawn(
                async move { crate::extract::extract(&store, &blobs, limit, &blob.id).await },
            );
            Ok(out)
        }
        Err(e) => {
            env.blobs.delete(&blob.key).await;
            Err(e)
        }
    }
}

pub fn guess_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("md" | "markdown") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// A page of the files the caller can see, narrowed by `org` and sorted by
/// `sort` (`name`, `time`, `size`; `-` first for descending), with the
/// cursor of the next page (it carries the sort value).
/// What a file listing narrows to: `q` (the name contains it), a content
/// type, an extraction state.
#[derive(Clone, Debug, Default)]
pub struct FileFilters {
    pub q: Option<String>,
    pub content_type: Option<String>,
    pub extraction: Option<String>,
}

const EXTRACTION_STATES: &[&str] = &["pending", "running", "done", "failed", "unsupported"];

impl FileFilters {
    fn narrow(&self) -> Result<orgscope_store::Narrow> {
        if let Some(e) = &self.extraction
            && !EXTRACTION_STATES.contains(&e.as_str())
        {
            return Err(Error::BadRequest(format!(
                "extraction: '{e}' is not one of {}",
                EXTRACTION_STATES.join(", ")
            )));
        }
        Ok(orgscope_store::Narrow {
            name: crate::resources::name_contains(self.q.as_deref())?,
            content_type: self.content_type.clone(),
            extraction: self.extraction.clone(),
            ..Default::default()
        })
    }
}

pub async fn list(
    env: &Env<'_>,
    auth: &Caller,
    org: Option<&str>,
    sort: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
    filters: &FileFilters,
) -> Result<(Vec<Value>, Option<String>)> {
    let narrow = filters.narrow()?;
    let (sort, descending) = match sort.unwrap_or("time") {
        "name" => (FileSort::Name, false),
        "-name" => (FileSort::Name, true),
        "time" => (FileSort::Time, false),
        "-time" => (FileSort::Time, true),
        "size" => (FileSort::Size, false),
        "-size" => (FileSort::Size, true),
        other => {
            return Err(Error::BadRequest(format!(
                "sort: '{other}' is not a sort; use name, time or size, with '-' before for descending"
            )));
        }
    };
    let after = cursor.map(decode_cursor).transpose()?;
    let mut tx = env.store.read().await?;
    let sel = crate::orgs::selector(&mut tx, auth, org).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = match tx
        .files(&filter, &sel, (sort, descending), after, limit + 1, &narrow)
        .await
    {
        Err(StoreError::NotFound) => {
            return Err(Error::BadRequest(
                "cursor: it does not fit this sort; start again without a cursor".into(),
            ));
        }
        other => other?,
    };
    let next = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.last().map(|f| {
            let value = match sort {
                FileSort::Name => f.resource.name.clone(),
                FileSort::Time => f.resource.created_at.clone(),
                FileSort::Size => f.size.to_string(),
            };
            encode_cursor(&value, &f.resource.id)
        })
    } else {
        None
    };
    Ok((rows.iter().map(render).collect(), next))
}
