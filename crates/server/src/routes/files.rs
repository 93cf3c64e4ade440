//! Files: streamed upload (raw body or multipart), listing with sort, get,
//! download with ETag and Range. Rename, delete and re-scope are the generic
//! kind routes (see `kinds`), which call back here for what files add.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use object_store::path::Path as BlobPath;
use object_store::{GetOptions, GetRange};
use orgscope_core::policy::{self, Scope, SystemRead};
use orgscope_store::{FileRow, FileSort, NewFile, NewResource, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use orgscope_app::files::{add_meta, kind, render};

use super::{Change, audit, selector};
use crate::AppState;
use crate::auth::{Auth, hex};
use crate::blobs::Blobs;
use crate::error::{ApiError, ApiResult, AppQuery, OrNotFound};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_files, upload))
        .routes(routes!(get_file))
        .routes(routes!(download))
        // Uploads stream and enforce their own limit (`max_upload`).
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileListQuery {
    /// `all` (default), `tenant` or an org slug or id.
    org: Option<String>,
    /// `name`, `time` (default) or `size`; prefix `-` for descending.
    sort: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Cursors of sorted listings carry the sort value and the id, hex-encoded
/// so they stay opaque and URL-safe.
fn encode_cursor(value: &str, id: &str) -> String {
    hex(format!("{value}\u{0}{id}").as_bytes())
}

fn decode_cursor(c: &str) -> ApiResult<(String, String)> {
    let bad = || {
        ApiError::BadRequest(format!(
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

#[utoipa::path(get, path = "/api/v1/files", tag = "files", params(FileListQuery),
    responses((status = 200, description = "{items, next_cursor}"), (status = 400, description = "bad sort, limit or cursor"),
        (status = 404, description = "no such org for you")))]
async fn list_files(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<FileListQuery>,
) -> ApiResult<Response> {
    let (sort, descending) = match q.sort.as_deref().unwrap_or("time") {
        "name" => (FileSort::Name, false),
        "-name" => (FileSort::Name, true),
        "time" => (FileSort::Time, false),
        "-time" => (FileSort::Time, true),
        "size" => (FileSort::Size, false),
        "-size" => (FileSort::Size, true),
        other => {
            return Err(ApiError::BadRequest(format!(
                "sort: '{other}' is not a sort; use name, time or size, with '-' before for descending"
            )));
        }
    };
    let limit = q.limit.unwrap_or(super::DEFAULT_LIMIT);
    if !(1..=super::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {}, got {limit}",
            super::MAX_LIMIT
        )));
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut tx = state.store.read().await?;
    let sel = selector(&mut tx, &auth, q.org.as_deref()).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = match tx
        .files(&filter, &sel, sort, descending, after, limit + 1)
        .await
    {
        Err(StoreError::NotFound) => {
            return Err(ApiError::BadRequest(
                "cursor: it does not fit this sort; start again without a cursor".into(),
            ));
        }
        other => other?,
    };
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
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
    let items: Vec<Value> = rows.iter().map(render).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

async fn visible_file(state: &AppState, auth: &Auth, id: &str) -> ApiResult<FileRow> {
    let mut tx = state.store.read().await?;
    tx.file(&policy::read_filter(&auth.principal), id)
        .await
        .or_not_found("file", id)
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses((status = 200, description = "the file and its extraction state"), (status = 404, description = "no such file for you")))]
async fn get_file(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let f = visible_file(&state, &auth, &id).await?;
    Ok(axum::Json(render(&f)).into_response())
}

/// A single `bytes=` range, resolved against the size.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: answer the whole file
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    if range.0 >= size || range.0 > range.1 {
        return Some(Err(()));
    }
    Some(Ok(range))
}

fn content_disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[utoipa::path(get, path = "/api/v1/files/{id}/content", tag = "files", params(("id" = String, Path)),
    responses((status = 200, description = "the bytes"), (status = 206, description = "the requested range"),
        (status = 304, description = "If-None-Match matched"), (status = 404, description = "no such file for you"),
        (status = 416, description = "the range is outside the file")))]
async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let f = visible_file(&state, &auth, &id).await?;
    let etag = format!("\"{}\"", f.sha256);
    let size = u64::try_from(f.size).unwrap_or(0);
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    // A Range is honoured only while the file is still the one the client
    // saw (If-Range), as RFC 9110 asks.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok)
        .and_then(|r| parse_range(r, size));
    let (status, range) = match range {
        Some(Err(())) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response());
        }
        Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        None => (StatusCode::OK, None),
    };
    let mut options = GetOptions::default();
    if let Some((a, b)) = range {
        options.range = Some(GetRange::Bounded(a..b + 1));
    }
    let blob = state
        .blobs
        .store
        .get_opts(&BlobPath::from(f.blob_key.as_str()), options)
        .await
        .map_err(|e| ApiError::Internal(format!("blob {}: {e}", f.blob_key)))?;
    let stream = blob.into_stream().map(|r| r.map_err(std::io::Error::other));
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&f.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&f.resource.name),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a header value"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match range {
        Some((a, b)) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(b - a + 1));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")).expect("digits"),
            );
        }
        None => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
    }
    Ok(res)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name (raw uploads; multipart takes the part's file name).
    name: Option<String>,
    /// An org slug or id, or `tenant` for tenant-wide; absent = your default org.
    org: Option<String>,
}

/// The `org` of an upload as a JSON value for [`super::org_field`].
fn org_value(org: Option<&str>) -> Value {
    match org {
        None => json!({}),
        Some("tenant" | "none" | "null") => json!({"org": null}),
        Some(o) => json!({"org": o}),
    }
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::Invalid(
            "name: give the file a name of 1-255 characters without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Where the upload goes, decided before a byte of it is stored.
struct Target {
    tenant: String,
    org: Option<String>,
}

async fn target(state: &AppState, auth: &Auth, org: Option<&str>) -> ApiResult<Target> {
    let tenant = auth.tenant()?.to_owned();
    let mut tx = state.store.read().await?;
    let org = super::org_field(&mut tx, auth, &org_value(org)).await?;
    let scope = Scope {
        tenant: tenant.clone(),
        org: org.map(|o| o.id),
    };
    policy::can_place(&auth.principal, kind().policy, &scope)
        .map_err(|d| ApiError::denied(d, "files in this scope"))?;
    Ok(Target {
        tenant,
        org: scope.org,
    })
}

/// Streams chunks into a new blob, hashing and counting; on any failure the
/// partial blob is removed.
async fn store_blob<S, E>(
    blobs: &Blobs,
    key: &str,
    mut chunks: S,
    max: u64,
) -> ApiResult<(u64, String)>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut writer = blobs
        .writer(key)
        .await
        .map_err(|e| ApiError::Internal(format!("blob {key}: {e}")))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let failure = loop {
        match chunks.next().await {
            None => break None,
            Some(Err(e)) => {
                break Some(ApiError::BadRequest(format!(
                    "the upload was interrupted: {e}"
                )));
            }
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if size > max {
                    break Some(ApiError::TooLarge(format!(
                        "the file is larger than this server accepts ({max} bytes)"
                    )));
                }
                hasher.update(&chunk);
                // Back-pressure: at most two parts in flight keeps memory flat.
                if let Err(e) = writer.wait_for_capacity(2).await {
                    break Some(ApiError::Internal(format!("blob {key}: {e}")));
                }
                writer.put(chunk);
            }
        }
    };
    match failure {
        Some(e) => {
            let _ = writer.abort().await;
            blobs.delete(key).await;
            Err(e)
        }
        None => {
            writer
                .finish()
                .await
                .map_err(|e| ApiError::Internal(format!("blob {key}: {e}")))?;
            Ok((size, hex(&hasher.finalize())))
        }
    }
}

/// A blob that has been written, and what the file will say of it.
struct Stored {
    id: String,
    key: String,
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
}

/// Records a stored blob as a file, in one transaction with its audit entry;
/// the file becomes visible only now. Then extraction starts, off this request.
async fn commit_file(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    blob: Stored,
) -> ApiResult<Value> {
    let result = async {
        let mut tx = state.store.write().await?;
        // Placement was checked before the first byte was stored; the upload
        // took time, so it is checked again in the transaction that inserts.
        let now = crate::auth::principal_now(&mut tx, auth).await?;
        let scope = Scope {
            tenant: target.tenant.clone(),
            org: target.org.clone(),
        };
        policy::can_place(&now, kind().policy, &scope)
            .map_err(|d| ApiError::denied(d, "files in this scope"))?;
        tx.resource_insert(&NewResource {
            id: blob.id.clone(),
            tenant_id: target.tenant.clone(),
            kind: "file".into(),
            org_id: target.org.clone(),
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
        Ok::<_, ApiError>(out)
    }
    .await;
    match result {
        Ok(out) => {
            let state = state.clone();
            tokio::spawn(async move { crate::extract::extract(&state, &blob.id).await });
            Ok(out)
        }
        Err(e) => {
            state.blobs.delete(&blob.key).await;
            Err(e)
        }
    }
}

fn guess_type(name: &str) -> &'static str {
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

#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadQuery),
    request_body(content_type = "application/octet-stream", description = "the raw file, or multipart/form-data with `org` then `file` parts"),
    responses((status = 201, description = "the file; extraction follows"), (status = 403, description = "not allowed in that scope"),
        (status = 413, description = "over the size limit"), (status = 422, description = "bad name or org")))]
async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<UploadQuery>,
    request: Request,
) -> ApiResult<Response> {
    let max = state.max_upload;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max + 64 * 1024) {
        return Err(ApiError::TooLarge(format!(
            "the file is larger than this server accepts ({max} bytes)"
        )));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let id = orgscope_store::new_id(kind().prefix);
    let key = Blobs::key_for(&id);
    let out =
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| {
                ApiError::BadRequest(format!("the multipart body cannot be read: {e}"))
            })?;
            let mut org = q.org.clone();
            let mut stored = None;
            while let Some(field) = multipart.next_field().await.map_err(|e| {
                ApiError::BadRequest(format!("the multipart body cannot be read: {e}"))
            })? {
                match field.name() {
                    Some("org") => {
                        if stored.is_some() {
                            return Err(ApiError::Invalid(
                                "org: send the org part before the file part".into(),
                            ));
                        }
                        let text = field.text().await.map_err(|e| {
                            ApiError::BadRequest(format!("the org part cannot be read: {e}"))
                        })?;
                        crate::error::no_nul("org", &text)?;
                        org = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
                    }
                    Some("file") if stored.is_none() => {
                        let name = check_name(
                            q.name.as_deref().or(field.file_name()).ok_or_else(|| {
                                ApiError::Invalid(
                                    "name: the file part has no file name; add ?name=".into(),
                                )
                            })?,
                        )?;
                        let ct = field
                            .content_type()
                            .filter(|t| *t != "application/octet-stream")
                            .map_or_else(|| guess_type(&name).to_owned(), str::to_owned);
                        let target = target(&state, &auth, org.as_deref()).await?;
                        let (size, sha256) = store_blob(&state.blobs, &key, field, max).await?;
                        let blob = Stored {
                            id: id.clone(),
                            key: key.clone(),
                            name,
                            content_type: ct,
                            size,
                            sha256,
                        };
                        stored = Some((target, blob));
                    }
                    Some("file") => {
                        return Err(ApiError::Invalid("file: send one file per request".into()));
                    }
                    _ => {}
                }
            }
            let Some((target, blob)) = stored else {
                return Err(ApiError::Invalid(
                    "file: the multipart body has no `file` part".into(),
                ));
            };
            commit_file(&state, &auth, &target, blob).await?
        } else {
            let name = check_name(q.name.as_deref().ok_or_else(|| {
                ApiError::Invalid("name: give the file's name as ?name=".into())
            })?)?;
            let target = target(&state, &auth, q.org.as_deref()).await?;
            // curl's --data-binary says form-urlencoded: that is no type of the file.
            let ct = if content_type.is_empty()
                || content_type == "application/octet-stream"
                || content_type.starts_with("application/x-www-form-urlencoded")
            {
                guess_type(&name).to_owned()
            } else {
                content_type
            };
            let stream = request.into_body().into_data_stream();
            let (size, sha256) = store_blob(&state.blobs, &key, stream, max).await?;
            let blob = Stored {
                id,
                key,
                name,
                content_type: ct,
                size,
                sha256,
            };
            commit_file(&state, &auth, &target, blob).await?
        };
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}
