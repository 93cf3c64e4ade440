//! Organizations: the list (admins create), an org's page (parent, domain
//! and its proof, members with `can_manage` for those who manage it), and
//! deleting an org with the disposition chosen after its preview.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orgscope_app::Error;
use orgscope_app::orgs::{self, DomainProof, MemberChanges};
use orgscope_store::Page;
use serde::Deserialize;

use super::given;
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{Viewer, see_other};
use crate::views::{self, Choice, Layout, MemberItem, OrgDeletion, OrgItem, bodies};

/// Orgs per page, and members shown on an org's page.
const PAGE: i64 = 100;
const MEMBERS: i64 = 500;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewOrgForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    domain: String,
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage<'a> {
    l: &'a Layout,
    orgs: Vec<OrgItem>,
    next: Option<String>,
    first: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    form: &'a NewOrgForm,
    parents: Vec<Choice>,
}

async fn orgs_page<S: Host>(
    state: &S,
    v: &Viewer,
    cursor: Option<&str>,
    notice: Option<&'static str>,
    failed: Option<(PageError, &NewOrgForm)>,
) -> Response {
    let page = Page {
        limit: PAGE,
        after: cursor.map(str::to_owned),
    };
    let listing = match orgs::list_orgs(&state.env(), &v.caller, &page).await {
        Ok(l) => l,
        Err(e) => return v.fail(e),
    };
    let empty = NewOrgForm::default();
    let (status, error, form) = match failed {
        Some((e, f)) => (e.status(), Some(e.message()), f),
        None => (StatusCode::OK, None, &empty),
    };
    let mut parents = vec![Choice::new("", "None (top level)", form.parent.is_empty())];
    parents.extend(
        v.orgs
            .iter()
            .map(|o| Choice::new(&o.slug, &o.name, form.parent == o.slug)),
    );
    let l = Layout::new("Organizations", "orgs", v);
    let mut res = html(&OrgsPage {
        l: &l,
        orgs: listing
            .items
            .iter()
            .map(|o| views::org(o, &v.orgs, &v.me))
            .collect(),
        next: listing
            .next_cursor
            .map(|c| format!("/orgs?cursor={}", encode(&c))),
        first: cursor.is_some(),
        notice,
        error,
        form,
        parents,
    });
    *res.status_mut() = status;
    res
}

pub async fn list<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("deleted") => Some("The organization was deleted."),
        _ => None,
    };
    orgs_page(&state, &v, given(q.cursor.as_ref()), notice, None).await
}

pub async fn create<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(form): axum::Form<NewOrgForm>,
) -> Response {
    let input = bodies::new_org(&form.slug, &form.name, &form.parent, &form.domain);
    match orgs::create_org(&state.env(), &v.caller, &input).await {
        Ok(o) => see_other(&format!("/orgs/{}?done=created", encode(&o.slug))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            orgs_page(&state, &v, None, None, Some((e.into(), &form))).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage<'a> {
    l: &'a Layout,
    o: &'a OrgItem,
    members: Vec<MemberItem>,
    more_members: bool,
    manages: bool,
    restructure: bool,
    parents: Vec<Choice>,
    /// Whom the add-member field suggests: the users the viewer may name
    /// who are not members yet.
    addable: Vec<String>,
    /// The portal's settings, for those who manage the org.
    portal: Option<orgscope_app::portal::PortalSettings>,
    accents: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn read_org<S: Host>(state: &S, v: &Viewer, org: &str) -> Result<OrgItem, Error> {
    let o = orgs::get_org(&state.env(), &v.caller, org).await?;
    Ok(views::org(&o, &v.orgs, &v.me))
}

async fn org_page<S: Host>(
    state: &S,
    v: &Viewer,
    org: &str,
    notice: Option<&'static str>,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let o = match read_org(state, v, org).await {
        Ok(o) => o,
        Err(e) => return v.fail(e),
    };
    let page = Page {
        limit: MEMBERS,
        after: None,
    };
    let members = match orgs::list_members(&env, &v.caller, &o.id, &page).await {
        Ok(m) => m,
        Err(e) => return v.fail(e),
    };
    let manages = match orgscope_app::choices::manages_org(&env, &v.caller, &o.id).await {
        Ok(m) => m,
        Err(e) => return v.fail(e),
    };
    let addable = if manages {
        match orgscope_app::choices::nameable_users(&env, &v.caller).await {
            Ok(names) => names
                .into_iter()
                .filter(|n| !members.items.iter().any(|m| m.user.username == *n))
                .collect(),
            Err(e) => return v.fail(e),
        }
    } else {
        Vec::new()
    };
    let portal = if manages {
        match orgscope_app::portal::settings(&env, &v.caller, &o.id).await {
            Ok(p) => Some(p),
            Err(e) => return v.fail(e),
        }
    } else {
        None
    };
    let accents = orgscope_app::portal::ACCENTS
        .iter()
        .map(|a| Choice::new(*a, *a, portal.as_ref().is_some_and(|p| p.accent == *a)))
        .collect();
    let mut parents = vec![Choice::new(
        "",
        "None (top level)",
        o.parent_slug.is_empty(),
    )];
    parents.extend(
        v.orgs
            .iter()
            .filter(|c| c.id != o.id)
            .map(|c| Choice::new(&c.slug, &c.name, c.slug == o.parent_slug)),
    );
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new(o.name.clone(), "orgs", v);
    let mut res = html(&OrgPage {
        l: &l,
        o: &o,
        members: members.items.iter().map(views::member).collect(),
        more_members: members.next_cursor.is_some(),
        manages,
        restructure: v.powers.restructure_orgs,
        parents,
        addable,
        portal,
        accents,
        notice,
        error,
    });
    *res.status_mut() = status;
    res
}

pub async fn show<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("created") => Some("The organization was created. Add its members below."),
        Some("saved") => Some("The organization was saved."),
        Some("verified") => Some("The domain is proved: the portal answers on it."),
        Some("added") => Some("The member was added."),
        Some("changed") => Some("The membership was changed."),
        Some("removed") => Some("The member was removed."),
        Some("portal") => Some("The portal's settings were saved."),
        Some("logo") => Some("The portal shows the new logo."),
        Some("logo-removed") => Some("The portal's logo was removed."),
        _ => None,
    };
    org_page(&state, &v, &org, notice, None).await
}

/// After a change: back to the org (by its slug now), or the page with
/// the error in words.
async fn after<S: Host, T>(
    state: &S,
    v: &Viewer,
    org: &str,
    result: Result<T, Error>,
    slug: impl FnOnce(&T) -> String,
    done: &str,
) -> Response {
    match result {
        Ok(t) => see_other(&format!("/orgs/{}?done={done}", encode(&slug(&t)))),
        Err(
            e @ (Error::Invalid(_)
            | Error::Forbidden(_)
            | Error::Conflict { .. }
            | Error::BadGateway(_)),
        ) => org_page(state, v, org, None, Some(e.into())).await,
        Err(Error::NotFound(what)) if what.starts_with("no member") => {
            let who = what.split('\'').nth(1).unwrap_or_default();
            let e = Error::Invalid(format!(
                "user: there is no user '{who}' in this tenant; check the username"
            ));
            org_page(state, v, org, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain: String,
    slug: Option<String>,
    parent: Option<String>,
}

pub async fn edit<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    axum::Form(f): axum::Form<EditForm>,
) -> Response {
    let was = match read_org(&state, &v, &org).await {
        Ok(o) => o,
        Err(e) => return v.fail(e),
    };
    let changes = bodies::org_changes(
        &was,
        &f.name,
        &f.domain,
        f.slug.as_deref(),
        f.parent.as_deref(),
    );
    let result = orgs::update_org(&state.env(), &v.caller, &was.id, &changes).await;
    after(&state, &v, &org, result, |o| o.slug.clone(), "saved").await
}

pub async fn verify<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
) -> Response {
    let result = orgs::verify_domain(&state.env(), &v.caller, &org, &DomainProof::default()).await;
    after(&state, &v, &org, result, |o| o.slug.clone(), "verified").await
}

#[derive(Deserialize, Default)]
pub struct MemberForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    can_manage: Option<String>,
}

pub async fn add_member<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    axum::Form(f): axum::Form<MemberForm>,
) -> Response {
    let input = bodies::new_member(&f.user, f.can_manage.is_some());
    let result = orgs::add_member(&state.env(), &v.caller, &org, &input).await;
    after(&state, &v, &org, result, |_| org.clone(), "added").await
}

#[derive(Deserialize, Default)]
pub struct ManageForm {
    #[serde(default)]
    can_manage: String,
}

pub async fn set_manage<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path((org, user)): Path<(String, String)>,
    axum::Form(f): axum::Form<ManageForm>,
) -> Response {
    let input = MemberChanges {
        can_manage: f.can_manage == "true",
    };
    let result = orgs::update_member(&state.env(), &v.caller, &org, &user, &input).await;
    after(&state, &v, &org, result, |_| org.clone(), "changed").await
}

pub async fn remove_member<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path((org, user)): Path<(String, String)>,
) -> Response {
    let result = orgs::remove_member(&state.env(), &v.caller, &org, &user).await;
    after(&state, &v, &org, result, |_| org.clone(), "removed").await
}

#[derive(Template)]
#[template(path = "org_delete.html")]
struct DeletePage<'a> {
    l: &'a Layout,
    o: &'a OrgItem,
    choice: &'a str,
    choices: Vec<Choice>,
    impact: Option<OrgDeletion>,
    /// The disposition was given: the preview is of it.
    chosen: bool,
    confirm: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DisposalForm {
    #[serde(default)]
    choice: String,
}

/// Where an org's resources may go, as a picker.
fn dispositions(v: &Viewer, o: &OrgItem, choice: &str) -> Vec<Choice> {
    let mut out = vec![Choice::new(
        "",
        "Choose what happens to what it owns…",
        choice.is_empty(),
    )];
    out.extend(v.orgs.iter().filter(|c| c.id != o.id).map(|c| {
        let value = format!("move:{}", c.slug);
        let selected = choice == value;
        Choice::new(value, format!("Move them to {}", c.name), selected)
    }));
    out.push(Choice::new(
        "tenant",
        "Make them tenant-wide",
        choice == "tenant",
    ));
    out.push(Choice::new(
        "delete",
        "Delete them with the organization",
        choice == "delete",
    ));
    out
}

fn confirm_label(v: &Viewer, o: &OrgItem, choice: &str, i: &OrgDeletion) -> String {
    let what = match choice {
        "delete" if i.owns_total > 0 => format!(", deleting {} resources", i.owns_total),
        "tenant" if i.owns_total > 0 => ", its resources become tenant-wide".to_owned(),
        c if c.starts_with("move:") && i.owns_total > 0 => {
            let to = &c[5..];
            let name = v
                .orgs
                .iter()
                .find(|o| o.slug == to)
                .map_or(to, |o| o.name.as_str());
            format!(", its resources move to {name}")
        }
        _ => String::new(),
    };
    let who = match i.losing_count {
        0 => String::new(),
        1 => ": 1 person loses access".to_owned(),
        n => format!(": {n} people lose access"),
    };
    format!("Delete {}{what}{who}", o.name)
}

async fn delete_view<S: Host>(
    state: &S,
    v: &Viewer,
    org: &str,
    choice: &str,
    failed: Option<PageError>,
) -> Response {
    let o = match read_org(state, v, org).await {
        Ok(o) => o,
        Err(e) => return v.fail(e),
    };
    let preview = orgs::delete_org(
        &state.env(),
        &v.caller,
        &o.id,
        &bodies::disposal(choice, true),
    )
    .await;
    let (impact, mut error, mut status) = match preview {
        Ok(Some(p)) => (Some(views::org_deletion(&p.impact)), None, StatusCode::OK),
        Ok(None) => (None, None, StatusCode::OK),
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
    let confirm = impact
        .as_ref()
        .map(|i| confirm_label(v, &o, choice, i))
        .unwrap_or_default();
    let l = Layout::new(format!("Delete {}", o.name), "orgs", v);
    let mut res = html(&DeletePage {
        l: &l,
        o: &o,
        choice,
        choices: dispositions(v, &o, choice),
        chosen: !choice.is_empty(),
        impact,
        confirm,
        error,
    });
    *res.status_mut() = status;
    res
}

/// The preview: what the org owns, and with a disposition chosen, who
/// loses access; the confirm button names the effect.
pub async fn delete_page<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    Query(f): Query<DisposalForm>,
) -> Response {
    delete_view(&state, &v, &org, f.choice.trim(), None).await
}

pub async fn delete<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    axum::Form(f): axum::Form<DisposalForm>,
) -> Response {
    let choice = f.choice.trim();
    match orgs::delete_org(
        &state.env(),
        &v.caller,
        &org,
        &bodies::disposal(choice, false),
    )
    .await
    {
        Ok(_) => see_other("/orgs?done=deleted"),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            delete_view(&state, &v, &org, choice, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct PortalForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    intro: String,
    #[serde(default)]
    accent: String,
    signup_open: Option<String>,
}

/// The org's portal settings (its admins and managers).
pub async fn portal<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    axum::Form(f): axum::Form<PortalForm>,
) -> Response {
    let input = orgscope_app::portal::PortalSettings {
        title: Some(f.title),
        intro: Some(f.intro),
        accent: f.accent,
        signup_open: f.signup_open.is_some(),
        logo: false,
    };
    let result = orgscope_app::portal::update_settings(&state.env(), &v.caller, &org, &input).await;
    after(&state, &v, &org, result, |_| org.clone(), "portal").await
}

/// `POST /orgs/{org}/portal/logo`: multipart with `csrf` first, then the
/// `logo` image (read no further than the largest a portal takes).
pub async fn portal_logo<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
    req: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    use orgscope_app::portal::MAX_LOGO;
    let read = async {
        let mut multipart = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|e| Error::BadRequest(format!("the upload could not be read: {e}")))?;
        let mut csrf_ok = !v.csrf_in_body;
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| Error::BadRequest(format!("the upload was interrupted: {e}")))?
        {
            if field.name() == Some(crate::session::CSRF_FIELD) && !csrf_ok {
                let given = field.text().await.unwrap_or_default();
                csrf_ok = orgscope_app::secrets::ct_eq(given.as_bytes(), v.csrf.as_bytes());
                continue;
            }
            if !csrf_ok {
                return Ok(None);
            }
            if field.name() != Some("logo") {
                continue;
            }
            let mut image = Vec::new();
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| Error::BadRequest(format!("the upload was interrupted: {e}")))?
            {
                image.extend_from_slice(&chunk);
                if image.len() > MAX_LOGO {
                    break; // enough to refuse it
                }
            }
            if image.is_empty() {
                return Err(Error::Invalid(
                    "logo: choose an image file to upload".into(),
                ));
            }
            return Ok(Some(image));
        }
        if csrf_ok {
            Err(Error::Invalid(
                "logo: choose an image file to upload".into(),
            ))
        } else {
            Ok(None)
        }
    };
    let image = match read.await {
        Ok(Some(image)) => image,
        Ok(None) => return crate::error::bare(crate::error::PageError::Csrf),
        Err(e) => return org_page(&state, &v, &org, None, Some(e.into())).await,
    };
    let result = orgscope_app::portal::set_logo(&state.env(), &v.caller, &org, Some(&image)).await;
    after(
        &state,
        &v,
        &org,
        result.map_err(too_large_is_invalid),
        |()| org.clone(),
        "logo",
    )
    .await
}

/// A refused size is shown on the form like any other mistake.
fn too_large_is_invalid(e: Error) -> Error {
    match e {
        Error::TooLarge(m) => Error::Invalid(m),
        e => e,
    }
}

/// `POST /orgs/{org}/portal/logo/remove`.
pub async fn portal_logo_remove<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(org): Path<String>,
) -> Response {
    let result = orgscope_app::portal::set_logo(&state.env(), &v.caller, &org, None).await;
    after(&state, &v, &org, result, |()| org.clone(), "logo-removed").await
}
