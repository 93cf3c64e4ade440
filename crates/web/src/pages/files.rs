//! Files: the list with its org filter, upload (with an org picker and
//! progress), the file's page (download, rename, delete) and moving it to
//! another org through a preview of who loses and gains access.

use askama::Template;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orgscope_app::blobs::Blobs;
use orgscope_app::choices::Placements;
use orgscope_app::files::{self, Stored, check_name, commit_file, guess_type, store_blob};
use orgscope_app::secrets::ct_eq;
use orgscope_app::{Error, resources};
use serde::Deserialize;

use super::moving::{MoveDialog, MoveForm, MovePage, target};
use super::{access, given};
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{CSRF_FIELD, Viewer, see_other, wants_main, wants_part};
use crate::views::{self, AccessPanel, Badge, Choice, FileItem, Layout, bodies};

/// Files per page.
const PAGE: i64 = 50;

const SORTS: [(&str, &str); 6] = [
    ("-time", "Newest first"),
    ("time", "Oldest first"),
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
    ("-size", "Largest first"),
    ("size", "Smallest first"),
];

pub struct FilesView {
    files: Vec<FileItem>,
    context: Badge,
    filter: Vec<Choice>,
    sorts: Vec<Choice>,
    next: Option<String>,
    first: Option<String>,
    notice: Option<String>,
}

/// The upload form: where files may go, the default preselected.
pub struct UploadView {
    context: Badge,
    options: Vec<Choice>,
    needs_choice: bool,
    tenant_wide: bool,
    max: String,
}

#[derive(Template)]
#[template(path = "files.html")]
struct FilesPage<'a> {
    l: &'a Layout,
    p: &'a FilesView,
    u: &'a UploadView,
}

#[derive(Template)]
#[template(path = "files.html", block = "main")]
struct FilesMain<'a> {
    l: &'a Layout,
    p: &'a FilesView,
    u: &'a UploadView,
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage<'a> {
    l: &'a Layout,
    u: &'a UploadView,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    org: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    uploaded: Option<u32>,
    done: Option<String>,
}

/// The org filter: all, tenant-wide, then each org the viewer can see.
pub fn filter_choices(v: &Viewer, org: Option<&str>) -> Vec<Choice> {
    let mut out = vec![
        Choice::new("all", "All my organizations", org.is_none()),
        Choice::new("tenant", "Tenant-wide", org == Some("tenant")),
    ];
    out.extend(v.orgs.iter().map(|o| {
        Choice::new(
            &o.slug,
            &o.name,
            org == Some(o.slug.as_str()) || org == Some(o.id.as_str()),
        )
    }));
    out
}

/// The selector as the URL carries it (`all` is the default: left out).
pub fn org_param(org: Option<&str>) -> Option<&str> {
    org.filter(|o| *o != "all")
}

fn list_url(org: Option<&str>, sort: &str, cursor: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(o) = org {
        q.push(format!("org={}", encode(o)));
    }
    if sort != "-time" {
        q.push(format!("sort={}", encode(sort)));
    }
    if let Some(c) = cursor {
        q.push(format!("cursor={}", encode(c)));
    }
    if q.is_empty() {
        "/files".into()
    } else {
        format!("/files?{}", q.join("&"))
    }
}

async fn upload_view<S: Host>(
    state: &S,
    v: &Viewer,
    org: Option<&str>,
) -> Result<UploadView, Error> {
    let placements: Placements =
        orgscope_app::choices::placements_among(&v.caller, files::kind(), &v.orgs)?;
    let preselect = placements.default_org.clone();
    let mut options: Vec<Choice> = placements
        .orgs
        .iter()
        .map(|o| {
            Choice::new(
                &o.slug,
                &o.name,
                preselect.as_deref() == Some(o.id.as_str()),
            )
        })
        .collect();
    if placements.tenant_wide {
        options.push(Choice::new(
            "tenant",
            "Tenant-wide (everyone in the tenant)",
            false,
        ));
    }
    Ok(UploadView {
        context: Badge::selector(org, &v.orgs),
        needs_choice: preselect.is_none(),
        options,
        tenant_wide: placements.tenant_wide,
        max: views::size(i64::try_from(state.max_upload()).unwrap_or(i64::MAX)),
    })
}

fn notice(q: &ListQuery) -> Option<String> {
    if let Some(n) = q.uploaded {
        return Some(if n == 1 {
            "1 file uploaded.".into()
        } else {
            format!("{n} files uploaded.")
        });
    }
    match q.done.as_deref() {
        Some("deleted") => Some("The file was deleted.".into()),
        _ => None,
    }
}

pub async fn list<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let org = org_param(given(q.org.as_ref()));
    let sort = given(q.sort.as_ref()).unwrap_or("-time").to_owned();
    let cursor = given(q.cursor.as_ref());
    let env = state.env();
    let (items, next) = match files::list(
        &env,
        &v.caller,
        org,
        Some(&sort),
        cursor,
        PAGE,
        &Default::default(),
    )
    .await
    {
        Ok(page) => page,
        Err(e) => return v.fail(e),
    };
    let upload = match upload_view(&state, &v, org).await {
        Ok(u) => u,
        Err(e) => return v.fail(e),
    };
    let page = FilesView {
        files: items.iter().map(|f| views::file(f, &v.orgs)).collect(),
        context: Badge::selector(org, &v.orgs),
        filter: filter_choices(&v, org),
        sorts: SORTS
            .iter()
            .map(|(val, label)| Choice::new(*val, *label, *val == sort))
            .collect(),
        next: next.as_deref().map(|c| list_url(org, &sort, Some(c))),
        first: cursor.map(|_| list_url(org, &sort, None)),
        notice: notice(&q),
    };
    let l = Layout::new("Files", "files", &v);
    if wants_main(&headers) {
        html(&FilesMain {
            l: &l,
            p: &page,
            u: &upload,
        })
    } else {
        html(&FilesPage {
            l: &l,
            p: &page,
            u: &upload,
        })
    }
}

/// The upload form as a page of its own (without JavaScript).
pub async fn upload_page<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let org = org_param(given(q.org.as_ref()));
    match upload_view(&state, &v, org).await {
        Ok(u) => html(&UploadPage {
            l: &Layout::new("Upload files", "files", &v),
            u: &u,
        }),
        Err(e) => v.fail(e),
    }
}

/// How an upload failed, for the script (JSON) or the person (a page).
fn upload_failed(v: &Viewer, scripted: bool, e: PageError) -> Response {
    if scripted {
        let status = e.status();
        let body = serde_json::json!({ "error": e.message() });
        return (status, axum::Json(body)).into_response();
    }
    match e {
        PageError::App(e) => v.fail(e),
        PageError::Csrf => crate::error::bare(PageError::Csrf),
    }
}

/// `POST /files/upload`: multipart with `csrf` (unless sent as the header),
/// `org`, then one or more `file` parts, each stored as it streams in.
pub async fn upload<S: Host>(State(state): State<S>, v: Viewer, req: Request) -> Response {
    // The page's script sends the token as a header and wants JSON back.
    let scripted = !v.csrf_in_body;
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            return upload_failed(
                &v,
                scripted,
                Error::BadRequest(format!("the upload could not be read: {e}")).into(),
            );
        }
    };
    let env = state.env();
    let mut csrf_ok = !v.csrf_in_body;
    let mut org: Option<String> = None;
    let mut uploaded = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return upload_failed(
                    &v,
                    scripted,
                    Error::BadRequest(format!("the upload was interrupted: {e}")).into(),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == CSRF_FIELD && !csrf_ok {
            let given = field.text().await.unwrap_or_default();
            csrf_ok = ct_eq(given.as_bytes(), v.csrf.as_bytes());
            continue;
        }
        // Nothing is read, let alone stored, before the token is proved.
        if !csrf_ok {
            return upload_failed(&v, scripted, PageError::Csrf);
        }
        match name.as_str() {
            "org" => {
                let text = field.text().await.unwrap_or_default();
                org = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            }
            "file" => {
                let Some(file_name) = field
                    .file_name()
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                else {
                    continue; // an empty file input
                };
                let Some(org) = org.as_deref() else {
                    return upload_failed(&v, scripted, Error::Invalid(
                        "Organization: choose where the files go (an organization, or Tenant-wide where offered)".into(),
                    ).into());
                };
                let result = async {
                    let name = check_name(&file_name)?;
                    let content_type = field
                        .content_type()
                        .filter(|t| *t != "application/octet-stream")
                        .map_or_else(|| guess_type(&name).to_owned(), str::to_owned);
                    let target = files::target(&env, &v.caller, Some(org)).await?;
                    let id = orgscope_store::new_id(files::kind().prefix);
                    let key = Blobs::key_for(&id);
                    let (size, sha256) =
                        store_blob(env.blobs, &key, field, state.max_upload()).await?;
                    let blob = Stored {
                        id,
                        key,
                        name,
                        content_type,
                        size,
                        sha256,
                    };
                    commit_file(&env, &v.caller, &target, blob).await
                }
                .await;
                match result {
                    Ok(out) => uploaded.push(out),
                    Err(e) => return upload_failed(&v, scripted, e.into()),
                }
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return upload_failed(&v, scripted, PageError::Csrf);
    }
    if uploaded.is_empty() {
        return upload_failed(
            &v,
            scripted,
            Error::Invalid("Files: choose at least one file to upload".into()).into(),
        );
    }
    if scripted {
        let files: Vec<_> = uploaded
            .iter()
            .map(|f| serde_json::json!({"id": f["id"], "name": f["name"]}))
            .collect();
        return (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({ "uploaded": files })),
        )
            .into_response();
    }
    let org = org.unwrap_or_default();
    see_other(&format!(
        "/files?org={}&uploaded={}",
        encode(&org),
        uploaded.len()
    ))
}

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage<'a> {
    l: &'a Layout,
    f: &'a FileItem,
    move_options: Vec<Choice>,
    name_value: &'a str,
    notice: Option<&'static str>,
    error: Option<String>,
    access: Option<AccessPanel>,
}

/// The access panel alone, for htmx's "check a user".
#[derive(Template)]
#[template(path = "access_panel.html")]
struct AccessPart<'a> {
    a: &'a AccessPanel,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
    /// The access panel's "check a user".
    user: Option<String>,
}

async fn read_file<S: Host>(state: &S, v: &Viewer, id: &str) -> Result<FileItem, Error> {
    let value = resources::read(&state.env(), &v.caller, files::kind(), id).await?;
    Ok(views::file(&value, &v.orgs))
}

/// Where the file could move: where the viewer may place files, but not
/// where it already is.
fn move_options(v: &Viewer, f: &FileItem) -> Result<Vec<Choice>, Error> {
    let p = orgscope_app::choices::placements_among(&v.caller, files::kind(), &v.orgs)?;
    let mut out: Vec<Choice> = p
        .orgs
        .iter()
        .filter(|o| f.org_slug.as_deref() != Some(o.slug.as_str()))
        .map(|o| Choice::new(&o.slug, &o.name, false))
        .collect();
    if p.tenant_wide && f.org_slug.is_some() {
        out.push(Choice::new(
            "tenant",
            "Tenant-wide (everyone in the tenant)",
            false,
        ));
    }
    Ok(out)
}

async fn file_page<S: Host>(
    state: &S,
    v: &Viewer,
    id: &str,
    notice: Option<&'static str>,
    error: Option<(PageError, String)>,
    user: Option<&str>,
) -> Response {
    let f = match read_file(state, v, id).await {
        Ok(f) => f,
        Err(e) => return v.fail(e),
    };
    let base = format!("/files/{}", encode(&f.id));
    let access = match access::panel(state, v, files::kind(), &f.id, &base, user).await {
        Ok(a) => a,
        Err(e) => return v.fail(e),
    };
    let move_options = match move_options(v, &f) {
        Ok(o) => o,
        Err(e) => return v.fail(e),
    };
    let (status, error, name_value) = match error {
        Some((e, typed)) => (e.status(), Some(e.message()), typed),
        None => (StatusCode::OK, None, f.name.clone()),
    };
    let l = Layout::new(f.name.clone(), "files", v);
    let mut res = html(&FilePage {
        l: &l,
        f: &f,
        move_options,
        name_value: &name_value,
        notice,
        error,
        access,
    });
    *res.status_mut() = status;
    res
}

pub async fn show<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let user = given(q.user.as_ref());
    if wants_part(&headers, "access") {
        return match access::panel(
            &state,
            &v,
            files::kind(),
            &id,
            &format!("/files/{}", encode(&id)),
            user,
        )
        .await
        {
            Ok(Some(a)) => html(&AccessPart { a: &a }),
            Ok(None) => v.fail(Error::Forbidden(
                "you may not see who has access to this file".into(),
            )),
            Err(e) => v.fail(e),
        };
    }
    let notice = match q.done.as_deref() {
        Some("renamed") => Some("The file was renamed."),
        Some("moved") => {
            Some("The file was moved. Access follows its new organization from now on.")
        }
        _ => None,
    };
    file_page(&state, &v, &id, notice, None, user).await
}

#[derive(Deserialize, Default)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

pub async fn rename<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RenameForm>,
) -> Response {
    let body = bodies::rename(form.name.trim());
    match resources::update(&state.env(), &v.caller, files::kind(), &id, &body).await {
        Ok(_) => see_other(&format!("/files/{}?done=renamed", encode(&id))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            file_page(&state, &v, &id, None, Some((e.into(), form.name)), None).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage<'a> {
    l: &'a Layout,
    f: &'a FileItem,
}

/// The delete confirmation as a page of its own (without JavaScript).
pub async fn delete_page<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    match read_file(&state, &v, &id).await {
        Ok(f) => html(&DeletePage {
            l: &Layout::new("Delete a file", "files", &v),
            f: &f,
        }),
        Err(e) => v.fail(e),
    }
}

pub async fn delete<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    match resources::remove(&state.env(), &v.caller, files::kind(), &id).await {
        Ok(()) => see_other("/files?done=deleted"),
        Err(e @ (Error::Forbidden(_) | Error::Conflict { .. })) => {
            file_page(&state, &v, &id, None, Some((e.into(), String::new())), None).await
        }
        Err(e) => v.fail(e),
    }
}

async fn move_page<S: Host>(
    state: &S,
    v: &Viewer,
    headers: &HeaderMap,
    id: &str,
    to: &str,
    failed: Option<PageError>,
) -> Response {
    let f = match read_file(state, v, id).await {
        Ok(f) => f,
        Err(e) => return v.fail(e),
    };
    let preview = match target(to) {
        Ok(org) => {
            resources::rescope(
                &state.env(),
                &v.caller,
                files::kind(),
                id,
                &bodies::rescope(org, true),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (impact, mut error, mut status) = match preview {
        Ok(out) => (Some(views::impact(&out, &v.orgs)), None, StatusCode::OK),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            let e = PageError::from(e);
            (None, Some(e.message()), e.status())
        }
        Err(e) => return v.fail(e),
    };
    if let Some(e) = failed {
        status = e.status();
        error = Some(e.message());
    }
    let l = Layout::new(format!("Move {}", f.name), "files", v);
    let f = f.subject();
    let mut res = if headers.get("hx-request").is_some() {
        html(&MoveDialog {
            l: &l,
            f: &f,
            to,
            impact,
            error,
        })
    } else {
        html(&MovePage {
            l: &l,
            f: &f,
            to,
            impact,
            error,
        })
    };
    *res.status_mut() = status;
    res
}

/// The preview of a move: who loses and gains access, what follows, what blocks.
pub async fn move_preview<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(form): Query<MoveForm>,
) -> Response {
    move_page(&state, &v, &headers, &id, &form.to, None).await
}

pub async fn move_confirm<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Response {
    let result = match target(&form.to) {
        Ok(org) => {
            resources::rescope(
                &state.env(),
                &v.caller,
                files::kind(),
                &id,
                &bodies::rescope(org, false),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&format!("/files/{}?done=moved", encode(&id))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            move_page(&state, &v, &headers, &id, &form.to, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}
