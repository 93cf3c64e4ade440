//! One error type for every handler and one `IntoResponse`: the status is
//! chosen here, bodies are RFC 9457 problem+json, and a 5xx logs the detail
//! and sends a generic problem.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgscope_core::policy::Denied;
use orgscope_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use orgscope_app::input::{no_nul, refuse_nul};

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be read (bad query, bad cursor).
    BadRequest(String),
    /// 401: no credentials, or credentials that do not (or no longer) work.
    Unauthorized,
    /// 403: the thing is visible but this action is not allowed.
    Forbidden(String),
    /// 404: the thing does not exist *for this principal*. The detail names
    /// only what the caller asked for, so hidden and unused ids read the same.
    NotFound(String),
    /// 405: the route exists, the method does not (see `Allow`).
    MethodNotAllowed,
    /// 409: the change conflicts with existing data; `blocking` lists what.
    Conflict { detail: String, blocking: Value },
    /// 413: the body is larger than the server accepts.
    TooLarge(String),
    /// 415: the body is not JSON.
    UnsupportedMediaType(String),
    /// 422: the body is well-formed but a value in it is not acceptable.
    Invalid(String),
    /// 429: too many attempts; retry after this many seconds.
    TooManyRequests(u64),
    /// 502: an upstream the server relies on (the model endpoint) failed;
    /// the detail names it.
    BadGateway(String),
    /// 504: the model endpoint took too long; the detail names it.
    GatewayTimeout(String),
    /// 500: logged, never described to the client.
    Internal(String),
    /// 503: a dependency (the database) is not answering.
    Unavailable(String),
    /// 503: a service this needs is not set up or not answering (the mail
    /// relay); the detail says what to do.
    NotReady(String),
}

impl ApiError {
    pub fn not_found(what: &str, reference: &str) -> ApiError {
        ApiError::NotFound(format!("no {what} '{reference}'"))
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            detail: detail.into(),
            blocking: Value::Null,
        }
    }

    /// A denial from the policy, for a resource the caller can see.
    pub fn denied(d: Denied, what: &str) -> ApiError {
        match d {
            Denied::ReadOnly => ApiError::Forbidden(format!(
                "your access is read-only: you cannot change {what}"
            )),
            Denied::NotAllowed => {
                ApiError::Forbidden(format!("you are not allowed to change {what}"))
            }
            Denied::OrgRequired => ApiError::Invalid(format!(
                "org: cannot place {what} tenant-wide: this kind always belongs to an org; give an org slug or id"
            )),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    blocking: &'a Value,
}

impl ApiError {
    /// The problem+json body: what the client may hear of this error (a 5xx
    /// logs its detail and says only that). Streams send it as their error
    /// event.
    pub fn problem(&self) -> Value {
        let status = self.status();
        let null = Value::Null;
        let (detail, blocking) = match self {
            ApiError::Unauthorized => (
                "missing, invalid, expired or revoked credentials: log in (POST /api/v1/auth/login) and send `Authorization: Bearer <token>`".to_owned(),
                &null,
            ),
            ApiError::MethodNotAllowed => (
                "this route does not take that method; the Allow header lists those it takes"
                    .to_owned(),
                &null,
            ),
            ApiError::TooManyRequests(secs) => {
                (format!("too many attempts: retry in {secs} seconds"), &null)
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ("the server failed; the error has been logged".to_owned(), &null)
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "unavailable");
                ("the database is not answering".to_owned(), &null)
            }
            ApiError::Conflict { detail, blocking } => (detail.clone(), blocking),
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::TooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Invalid(d)
            | ApiError::BadGateway(d)
            | ApiError::GatewayTimeout(d)
            | ApiError::NotReady(d) => (d.clone(), &null),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        serde_json::to_value(Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            detail: &detail,
            blocking,
        })
        .unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orgscope\""),
            );
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        orgscope_app::Error::from(e).into()
    }
}

/// The one place the domain error becomes an HTTP one.
impl From<orgscope_app::Error> for ApiError {
    fn from(e: orgscope_app::Error) -> ApiError {
        use orgscope_app::Error as E;
        match e {
            E::BadRequest(d) => ApiError::BadRequest(d),
            E::Unauthorized => ApiError::Unauthorized,
            E::Forbidden(d) => ApiError::Forbidden(d),
            E::NotFound(d) => ApiError::NotFound(d),
            E::Conflict { detail, blocking } => ApiError::Conflict { detail, blocking },
            E::Invalid(d) => ApiError::Invalid(d),
            E::TooLarge(d) => ApiError::TooLarge(d),
            E::TooManyRequests(s) => ApiError::TooManyRequests(s),
            E::BadGateway(d) => ApiError::BadGateway(d),
            E::Internal(d) => ApiError::Internal(d),
            E::Unavailable(d) => ApiError::Unavailable(d),
            E::NotReady(d) => ApiError::NotReady(d),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Maps a store `NotFound` to a 404 naming what the caller asked for.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str, reference: &str) -> ApiResult<T>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &str, reference: &str) -> ApiResult<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(what, reference),
            e => e.into(),
        })
    }
}

/// A JSON body read into its typed request struct, answering in
/// problem+json: not JSON is a 400, a field that does not fit (unknown,
/// missing, wrong type) a 422 naming it.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => typed(v).map(AppJson),
            Err(rejection) => Err(match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::TooLarge("the JSON body is too large (limit 1 MiB)".into())
                }
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                    "send the body as JSON with `Content-Type: application/json`".into(),
                ),
                _ => ApiError::BadRequest(format!(
                    "the body is not valid JSON: {}",
                    rejection.body_text()
                )),
            }),
        }
    }
}

/// A JSON value read into a typed body; what does not fit is a 422 naming
/// where (`name: invalid type: ...`, `the body: unknown field ...`).
fn typed<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    refuse_nul(&v, "")?;
    serde_path_to_error::deserialize(v).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { "the body".to_owned() } else { at };
        ApiError::Invalid(format!("{at}: {}", e.inner()))
    })
}

/// A JSON body that may be left out (then the type's default), for the
/// operations whose body only adds options.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::TooLarge("the JSON body is too large (limit 1 MiB)".into()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        typed(v).map(OptionalJson)
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections answer in problem+json.
pub struct AppQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for AppQuery<T>
where
    axum::extract::Query<T>: axum::extract::FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(AppQuery(v)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "the query string is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}
