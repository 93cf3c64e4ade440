//! People: the users of the tenant (admins create them, change their role,
//! disable them; auditors read the list) and your own account with its
//! personal tokens (each secret shown once, with a copy button).
//!
//! A page the viewer's role does not open answers what the operation
//! answers: a 403 page that says who may (docs/DECISIONS.md, web UI).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orgscope_app::Error;
use orgscope_app::me::{self, NewToken};
use orgscope_app::users::{self, NewUser, UserChanges};
use orgscope_store::Page;
use serde::Deserialize;

use super::given;
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{Viewer, see_other};
use crate::views::{Badge, Choice, Layout, SecretOnce, When, bodies};

/// Users per page.
const PAGE: i64 = 100;

/// A user in the list.
pub struct UserItem {
    username: String,
    role: String,
    default_org: Option<Badge>,
    disabled: bool,
    created: When,
    roles: Vec<Choice>,
    myself: bool,
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    default_org: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    l: &'a Layout,
    users: Vec<UserItem>,
    next: Option<String>,
    first: bool,
    can_create: bool,
    roles: Vec<Choice>,
    orgs: Vec<Choice>,
    form: &'a NewUserForm,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

fn role_choices(v: &Viewer, current: &str) -> Vec<Choice> {
    v.powers
        .grantable_roles
        .iter()
        .map(|r| Choice::new(*r, *r, *r == current))
        .collect()
}

async fn users_page<S: Host>(
    state: &S,
    v: &Viewer,
    cursor: Option<&str>,
    notice: Option<&'static str>,
    failed: Option<(PageError, &NewUserForm)>,
) -> Response {
    let page = Page {
        limit: PAGE,
        after: cursor.map(str::to_owned),
    };
    let listing = match users::list_users(&state.env(), &v.caller, &page).await {
        Ok(l) => l,
        // The API's words point at its own route; these at the page.
        Err(Error::Forbidden(_)) => {
            return v.fail(Error::Forbidden(
                "only admins and auditors see the tenant's users. Your own account, \
                 tokens and default organization are under “Your account” in the user menu"
                    .into(),
            ));
        }
        Err(e) => return v.fail(e),
    };
    let empty = NewUserForm::default();
    let (status, error, form) = match failed {
        Some((e, f)) => (e.status(), Some(e.message()), f),
        None => (StatusCode::OK, None, &empty),
    };
    let me = v.caller.principal.user_id().unwrap_or_default().to_owned();
    let users = listing
        .items
        .iter()
        .map(|u| UserItem {
            username: u.username.clone(),
            role: u.role.clone(),
            default_org: u
                .default_org
                .as_ref()
                .map(|o| Badge::of_ref(Some(o), &v.orgs)),
            disabled: u.disabled,
            created: When::of(&u.created_at),
            roles: role_choices(v, &u.role),
            myself: u.id == me,
        })
        .collect();
    let mut orgs = vec![Choice::new("", "None", form.default_org.is_empty())];
    orgs.extend(
        v.orgs
            .iter()
            .map(|o| Choice::new(&o.slug, &o.name, form.default_org == o.slug)),
    );
    let l = Layout::new("Users", "users", v);
    let mut res = html(&UsersPage {
        l: &l,
        users,
        next: listing
            .next_cursor
            .map(|c| format!("/users?cursor={}", encode(&c))),
        first: cursor.is_some(),
        can_create: !v.powers.grantable_roles.is_empty(),
        roles: role_choices(
            v,
            if form.role.is_empty() {
                "user"
            } else {
                &form.role
            },
        ),
        orgs,
        form,
        notice,
        error,
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
        Some("created") => Some("The user was created."),
        Some("changed") => Some("The user was changed."),
        _ => None,
    };
    users_page(&state, &v, given(q.cursor.as_ref()), notice, None).await
}

pub async fn create<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<NewUserForm>,
) -> Response {
    let input = NewUser {
        username: f.username.trim().to_owned(),
        password: f.password.clone(),
        role: bodies::some(&f.role),
        default_org: bodies::some(&f.default_org),
    };
    match users::create_user(&state.env(), &v.caller, &input).await {
        Ok(_) => see_other("/users?done=created"),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            let f = NewUserForm {
                password: String::new(),
                ..f
            };
            users_page(&state, &v, None, None, Some((e.into(), &f))).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct ChangeForm {
    role: Option<String>,
    disabled: Option<String>,
}

/// A role, or disabling/enabling, of one user.
pub async fn change<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(user): Path<String>,
    axum::Form(f): axum::Form<ChangeForm>,
) -> Response {
    let input = UserChanges {
        role: f.role.as_deref().and_then(bodies::some),
        disabled: f.disabled.as_deref().map(|d| d == "true"),
        ..UserChanges::default()
    };
    match users::update_user(&state.env(), &v.caller, &user, &input).await {
        Ok(_) => see_other("/users?done=changed"),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            users_page(
                &state,
                &v,
                None,
                None,
                Some((e.into(), &NewUserForm::default())),
            )
            .await
        }
        Err(e) => v.fail(e),
    }
}

/// A personal token in the list.
pub struct TokenItem {
    id: String,
    name: String,
    created: When,
    expires: Option<When>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    l: &'a Layout,
    tokens: Vec<TokenItem>,
    defaults: Vec<Choice>,
    /// A token just made: its secret, shown this once.
    new_token: Option<SecretOnce>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn account_page<S: Host>(
    state: &S,
    v: &Viewer,
    new_token: Option<SecretOnce>,
    notice: Option<&'static str>,
    failed: Option<PageError>,
) -> Response {
    let tokens = match me::tokens(&state.env(), &v.caller).await {
        Ok(t) => t,
        Err(e) => return v.fail(e),
    };
    let current = v.me.default_org.clone().unwrap_or_default();
    let mut defaults = vec![Choice::new("", "None", current.is_empty())];
    defaults.extend(v.me.memberships.iter().map(|m| {
        let name = v
            .orgs
            .iter()
            .find(|o| o.slug == m.slug)
            .map_or(m.slug.clone(), |o| o.name.clone());
        Choice::new(&m.slug, name, m.slug == current)
    }));
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None if new_token.is_some() => (StatusCode::CREATED, None),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new("Your account", "account", v);
    let mut res = html(&AccountPage {
        l: &l,
        tokens: tokens
            .iter()
            .map(|t| TokenItem {
                id: t.id.clone(),
                name: t.name.clone(),
                created: When::of(&t.created_at),
                expires: t.expires_at.as_deref().map(When::of),
            })
            .collect(),
        defaults,
        new_token,
        notice,
        error,
    });
    *res.status_mut() = status;
    res
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn account<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("revoked") => Some("The token was revoked: it no longer works."),
        Some("saved") => Some("Your default organization was saved."),
        _ => None,
    };
    account_page(&state, &v, None, notice, None).await
}

#[derive(Deserialize, Default)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires: String,
}

/// `expires` from a date input (`YYYY-MM-DD`, the end of that day in UTC)
/// or RFC 3339 as typed.
pub fn expiry(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        None
    } else if v.len() == 10 {
        Some(format!("{v}T23:59:59Z"))
    } else {
        Some(v.to_owned())
    }
}

pub async fn create_token<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    let input = NewToken {
        name: f.name.trim().to_owned(),
        expires_at: expiry(&f.expires),
    };
    match me::create_token(&state.env(), &v.caller, &input).await {
        Ok(t) => {
            let secret = t.token.unwrap_or_default();
            let shown = SecretOnce {
                title: format!("Your new token “{}”", t.name),
                value: secret,
            };
            account_page(&state, &v, Some(shown), None, None).await
        }
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            account_page(&state, &v, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

pub async fn revoke_token<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    match me::revoke_token(&state.env(), &v.caller, &id).await {
        Ok(()) => see_other("/account?done=revoked"),
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct DefaultForm {
    #[serde(default)]
    default_org: String,
}

/// Your own default org.
pub async fn set_default<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<DefaultForm>,
) -> Response {
    let Some(me) = v.caller.principal.user_id().map(str::to_owned) else {
        return v.fail(Error::Forbidden(
            "only users have a default organization".into(),
        ));
    };
    let input = UserChanges {
        default_org: Some(bodies::some(&f.default_org)),
        ..UserChanges::default()
    };
    match users::update_user(&state.env(), &v.caller, &me, &input).await {
        Ok(_) => see_other("/account?done=saved"),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_))) => {
            account_page(&state, &v, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}
