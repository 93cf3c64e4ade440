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
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use orgscope_app::files::{self, Stored, check_name, commit_file, guess_type, store_blob, target};
pub use orgscope_app::files::{add_meta, kind, render};

use crate::AppState;
use crate::auth::Auth;
use crate::blobs::Blobs;
use crate::error::{ApiError, ApiResult, AppQuery};

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
#[serde(deny_unknown_fields)]
pub struct FileListQuery {
    /// `all` (default), `tenant` or an org slug or id.
    org: Option<String>,
    /// `name`, `time` (default) or `size`; prefix `-` for descending.
    sort: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only files whose name contains this, ignoring case.
    q: Option<String>,
    /// Only files of this content type, e.g. `text/markdown`.
    content_type: Option<String>,
    /// Only files whose knowledge extraction is pending, running, done, failed or unsupported.
    extraction: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/files", tag = "files", params(FileListQuery),
    responses((status = 200, description = "a page of the files you can see", body = ref("#/components/schemas/page.file")), (status = 400, description = "bad sort, limit or cursor"),
        (status = 404, description = "no such org for you")))]
async fn list_files(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<FileListQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(super::DEFAULT_LIMIT);
    if !(1..=super::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {}, got {limit}",
            super::MAX_LIMIT
        )));
    }
    let (items, next) = files::list(
        &state.env(),
        &auth,
        q.org.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        limit,
        &files::FileFilters {
            q: q.q.clone(),
            content_type: q.content_type.clone(),
            extraction: q.extraction.clone(),
        },
    )
    .await?;

    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses((status = 200, description = "the file and its extraction state", body = ref("#/components/schemas/resource.file")), (status = 404, description = "no such file for you")))]
async fn get_file(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let f = files::visible_file(&state.env(), &auth, &id).await?;
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
    // A name is stored as given, but never sent with a path in it: a
    // client that saves what it is told must not write outside its folder.
    let name = &name.replace(['/', '\\'], "_");
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
    responses((status = 200, description = "the bytes", body = Vec<u8>, content_type = "application/octet-stream"), (status = 206, description = "the requested range", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "If-None-Match matched"), (status = 404, description = "no such file for you"),
        (status = 416, description = "the range is outside the file")))]
async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let f = files::visible_file(&state.env(), &auth, &id).await?;
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
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name (raw uploads; multipart takes the part's file name).
    name: Option<String>,
    /// An org slug or id, or `tenant` for tenant-wide; absent = your default org.
    org: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadQuery),
    request_body(content_type = "application/octet-stream", description = "the raw file, or multipart/form-data with `org` then `file` parts"),
    responses((status = 201, description = "the file; extraction follows", body = ref("#/components/schemas/resource.file")), (status = 403, description = "not allowed in that scope"),
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
                        let target = target(&state.env(), &auth, org.as_deref()).await?;
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
            commit_file(&state.env(), &auth, &target, blob).await?
        } else {
            let name = check_name(q.name.as_deref().ok_or_else(|| {
                ApiError::Invalid("name: give the file's name as ?name=".into())
            })?)?;
            let target = target(&state.env(), &auth, q.org.as_deref()).await?;
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
            commit_file(&state.env(), &auth, &target, blob).await?
        };
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}
