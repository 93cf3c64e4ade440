//! Tenants: superusers only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgscope_store::{StoreError, TenantRow};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Change, ListQuery, audit, listing, only_fields, text};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tenants, create_tenant))
}

/// `POST /api/v1/tenants`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TenantBody {
    slug: String,
    name: String,
}

fn render_tenant(t: &TenantRow) -> Value {
    json!({"id": t.id, "kind": "tenant", "slug": t.slug, "name": t.name, "created_at": t.created_at})
}

fn superuser(auth: &Auth) -> ApiResult<()> {
    if orgscope_core::policy::spans_tenants(&auth.principal) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only superusers manage tenants".into()))
    }
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(ListQuery),
    responses((status = 200, description = "{items, next_cursor}"), (status = 403, description = "superusers only")))]
async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    superuser(&auth)?;
    let page = q.page()?;
    let mut tx = state.store.read().await?;
    let rows = tx.tenants(&page).await?;
    Ok(axum::Json(listing(rows, &page, |t| t.id.clone(), render_tenant)).into_response())
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantBody,
    responses((status = 201, description = "the tenant, with its default org"), (status = 403, description = "superusers only"),
        (status = 409, description = "slug taken")))]
async fn create_tenant(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    superuser(&auth)?;
    only_fields(&body, &["slug", "name"])?;
    let slug = text(&body, "slug", 63)?.to_owned();
    orgscope_core::check_slug(&slug).map_err(ApiError::Invalid)?;
    let name = text(&body, "name", 200)?.to_owned();
    let mut tx = state.store.write().await?;
    let tenant = tx.tenant_create(&slug, &name).await.map_err(|e| match e {
        StoreError::Duplicate(_) => {
            ApiError::conflict("slug: a tenant with that slug already exists; choose another")
        }
        e => e.into(),
    })?;
    let org = tx
        .org_create(&tenant.id, "default", "Default", None, None)
        .await?;
    let mut out = render_tenant(&tenant);
    out["default_org"] = json!({"id": org.id, "slug": org.slug});
    audit(
        &mut tx,
        &auth,
        Some(&tenant.id),
        Change {
            action: "tenant.create",
            kind: "tenant",
            target: &tenant.id,
            org: None,
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}
