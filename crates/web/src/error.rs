//! The one place a page's failure becomes a response: the status, and a page
//! that says in words what to fix. A thing the viewer cannot see gets the
//! same page as one that never existed (no id, no kind, no detail).

use askama::Template;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::session::{Viewer, see_other};
use crate::views::Layout;

pub enum PageError {
    /// What an operation answered.
    App(orgscope_app::Error),
    /// A change without its CSRF token (or with a wrong one). 403.
    Csrf,
}

impl From<orgscope_app::Error> for PageError {
    fn from(e: orgscope_app::Error) -> PageError {
        PageError::App(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    l: &'a Layout,
    heading: &'a str,
    message: String,
}

const NOT_FOUND: &str = "This page does not exist, or you do not have access to it. \
Check the link, or go back to the list and look for it there.";

impl PageError {
    pub fn status(&self) -> StatusCode {
        use orgscope_app::Error as E;
        match self {
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::App(e) => match e {
                E::BadRequest(_) => StatusCode::BAD_REQUEST,
                E::Unauthorized => StatusCode::UNAUTHORIZED,
                E::Forbidden(_) => StatusCode::FORBIDDEN,
                E::NotFound(_) => StatusCode::NOT_FOUND,
                E::Conflict { .. } => StatusCode::CONFLICT,
                E::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                E::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                E::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                E::BadGateway(_) => StatusCode::BAD_GATEWAY,
                E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                E::Unavailable(_) | E::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// A heading and what to do, in words.
    pub fn words(&self) -> (&'static str, String) {
        use orgscope_app::Error as E;
        match self {
            PageError::Csrf => (
                "This form cannot be accepted",
                "It did not carry this session's security token (it may come from an old page, \
                 another site, or a session that has ended). Nothing was changed. Reload the page \
                 and send the form again."
                    .into(),
            ),
            PageError::App(e) => match e {
                E::NotFound(_) => ("Not found", NOT_FOUND.into()),
                E::Unauthorized => (
                    "Please sign in",
                    "Your session has ended. Sign in again.".into(),
                ),
                E::Forbidden(d) => ("Not allowed", capitalise(d)),
                E::BadRequest(d) | E::Invalid(d) | E::TooLarge(d) => {
                    ("Please check what you sent", capitalise(d))
                }
                E::Conflict { detail, .. } => ("This cannot be done yet", capitalise(detail)),
                E::TooManyRequests(s) => (
                    "Too many attempts",
                    format!("Wait {s} seconds, then try again."),
                ),
                E::BadGateway(d) => ("A service orgscope relies on failed", capitalise(d)),
                E::Internal(d) => {
                    tracing::error!(error = %d, "a page failed");
                    (
                        "Something went wrong on our side",
                        "The error has been logged. Try again in a moment.".into(),
                    )
                }
                E::NotReady(d) => ("Not available here yet", capitalise(d)),
                E::Unavailable(d) => {
                    tracing::error!(error = %d, "the database is unavailable");
                    (
                        "orgscope is unavailable",
                        "The database is not answering. Try again in a moment.".into(),
                    )
                }
            },
        }
    }

    /// The message alone, for forms that show it beside their fields.
    pub fn message(&self) -> String {
        self.words().1
    }
}

/// "org: no org 'x'; …" reads as "Org: no org 'x'; …".
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The error page inside this layout.
pub fn page(l: &Layout, e: PageError) -> Response {
    if let PageError::App(orgscope_app::Error::Unauthorized) = e {
        return see_other("/login");
    }
    let status = e.status();
    let (heading, message) = e.words();
    let mut l = l;
    let titled;
    if l.title.is_empty() {
        titled = Layout {
            title: heading.into(),
            ..Layout::bare(heading)
        };
        l = &titled;
    }
    let mut res = html(&ErrorPage {
        l,
        heading,
        message,
    });
    *res.status_mut() = status;
    res
}

/// The error page before anyone is known (no user menu).
pub fn bare(e: PageError) -> Response {
    let (heading, _) = e.words();
    page(&Layout::bare(heading), e)
}

impl Viewer {
    /// The error page for this viewer, with their layout.
    pub fn fail(&self, e: impl Into<PageError>) -> Response {
        let e = e.into();
        let (heading, _) = e.words();
        page(&Layout::new(heading, "", self), e)
    }
}

/// To the sign-in page, coming back here after (htmx is told to go there
/// whole, not to swap the sign-in page into a part).
pub fn to_login(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let next = if parts.method == axum::http::Method::GET && here != "/" {
        format!("/login?next={}", encode(here))
    } else {
        "/login".to_owned()
    };
    // htmx follows a 303 inside its request: tell it to go there whole.
    if parts.headers.get("hx-request").is_some()
        && let Ok(v) = HeaderValue::from_str(&next)
    {
        return (StatusCode::OK, [("hx-redirect", v)]).into_response();
    }
    see_other(&next)
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A rendered template as an HTML response.
pub fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>",
            )
                .into_response()
        }
    }
}
