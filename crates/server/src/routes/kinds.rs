//! The generic routes of every kind in core's table: list, create, get,
//! update, delete and re-scope, under the scope policy of the kind.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use orgscope_app::access::AccessQuery;
use orgscope_app::resources::{self, MAX_NAME, Rescope};
use orgscope_core::kind::{Behaviour, FieldType, KINDS, Kind, has_own_create, has_own_read};
use serde_json::{Map, Value, json};

pub use orgscope_app::resources::render;

use super::KindListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, AppQuery};

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for kind in KINDS {
        let item = patch(move |s, a, p, b| update(kind, s, a, p, b))
            .delete(move |s, a, p| remove(kind, s, a, p));
        let item = if has_own_read(kind) {
            item
        } else {
            let collection = get(move |s, a, q| list(kind, s, a, q));
            let collection = if has_own_create(kind) {
                collection
            } else {
                collection.post(move |s, a, b| create(kind, s, a, b))
            };
            router = router.route(&format!("/api/v1/{}", kind.path), collection);
            item.get(move |s, a, p| read(kind, s, a, p))
        };
        router = router
            .route(&format!("/api/v1/{}/{{id}}", kind.path), item)
            .route(
                &format!("/api/v1/{}/{{id}}/rescope", kind.path),
                post(move |s, a, p, b| rescope(kind, s, a, p, b)),
            )
            .route(
                &format!("/api/v1/{}/{{id}}/access", kind.path),
                get(move |s, a, p, q| access(kind, s, a, p, q)),
            );
    }
    router
}

// The edge: each route reads its input, calls the operation, answers JSON.

async fn list(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<KindListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    let (items, next) = resources::list_filtered(
        &state.env(),
        &auth,
        kind,
        q.org.as_deref(),
        &page,
        &q.filters(),
    )
    .await?;
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

async fn read(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(resources::read(&state.env(), &auth, kind, &id).await?).into_response())
}

async fn create(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = resources::create(&state.env(), &auth, kind, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

async fn update(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = resources::update(&state.env(), &auth, kind, &id, &body).await?;
    Ok(axum::Json(out).into_response())
}

async fn remove(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    resources::remove(&state.env(), &auth, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rescope(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Rescope>,
) -> ApiResult<Response> {
    let out = resources::rescope(&state.env(), &auth, kind, &id, &body).await?;
    Ok(axum::Json(out).into_response())
}

async fn access(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<AccessQuery>,
) -> ApiResult<Response> {
    let out = orgscope_app::access::explain(&state.env(), &auth, kind, &id, &q).await?;
    Ok(axum::Json(out).into_response())
}

/// A JSON Schema for a field of the kinds table: `input` as a body takes
/// it, else as a resource answers it (where unset fields are null).
fn field_schema(ty: &FieldType, input: bool) -> Value {
    use FieldType::*;
    let nullable = |t: &str| {
        if input { json!(t) } else { json!([t, "null"]) }
    };
    match ty {
        Text(max) => json!({"type": nullable("string"), "maxLength": max}),
        Choice(c) if input => json!({"type": "string", "enum": c}),
        Choice(_) => json!({"type": nullable("string")}),
        Timestamp => json!({"type": ["string", "null"], "format": "date-time"}),
        Patterns => json!({"type": nullable("array"), "items": {"type": "string"}}),
        Secret => json!({"type": "string", "writeOnly": true}),
        Bool => json!({"type": nullable("boolean")}),
        Int(min, max) if input => json!({"type": "integer", "minimum": min, "maximum": max}),
        Int(..) => json!({"type": nullable("integer")}),
        Choices(c) if input => json!({"type": "array", "items": {"type": "string", "enum": c}}),
        Choices(_) => json!({"type": nullable("array"), "items": {"type": "string"}}),
        Ref(k) => json!({"type": nullable("string"), "description": format!("a {k} id")}),
        Refs(k) => {
            json!({"type": nullable("array"), "items": {"type": "string"}, "description": format!("{k} ids")})
        }
        Labels => json!({"type": nullable("object"), "additionalProperties": {"type": "string"}}),
        Tags => {
            json!({"type": nullable("array"), "items": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,63}$"}, "maxItems": 32})
        }
        Document(max) => {
            json!({"type": nullable("object"), "description": format!("at most {max} bytes as JSON")})
        }
        ReadOnly => json!({"readOnly": true}),
    }
}

/// The component name of a kind's resource schema.
pub fn schema_name(kind: &Kind) -> String {
    format!("resource.{}", kind.name)
}

/// A resource of `kind` as the API answers it: the common fields, the
/// kind's own (never its secret) and what its behaviour adds.
fn resource_schema(kind: &Kind) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"type": "string"}));
    props.insert(
        "kind".into(),
        json!({"type": "string", "enum": [kind.name]}),
    );
    props.insert(
        "org".into(),
        json!({"oneOf": [{"$ref": "#/components/schemas/OrgRef"}, {"type": "null"}],
            "description": "its org; null when tenant-wide"}),
    );
    props.insert("name".into(), json!({"type": "string"}));
    for f in kind.fields {
        if Some(f.name) == kind.secret_field() {
            continue;
        }
        let mut schema = field_schema(&f.ty, false);
        schema["description"] = json!(f.doc);
        if let Some(d) = f
            .default
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        {
            schema["default"] = d;
        }
        props.insert(f.name.into(), schema);
    }
    for (name, schema) in orgscope_app::kinds::presented_fields(kind) {
        props.insert(name.into(), schema);
    }
    if kind.issues_secret() {
        props.insert(
            "token".into(),
            json!({"type": "string", "description": "the secret: in the answer that made it, never again"}),
        );
    }
    props.insert("created_by".into(), json!({"type": ["string", "null"]}));
    props.insert("created_at".into(), json!({"type": "string"}));
    props.insert("updated_at".into(), json!({"type": "string"}));
    json!({"type": "object", "description": kind.doc, "properties": props,
        "required": ["id", "kind", "org", "name", "created_at", "updated_at"]})
}

/// The OpenAPI paths of every kind, generated from the kinds table, and the
/// component schemas of their resources and pages (`resource.<kind>`,
/// `page.<kind>`).
pub fn openapi_paths() -> (Map<String, Value>, Map<String, Value>) {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let problem = json!({"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    for kind in KINDS {
        schemas.insert(schema_name(kind), resource_schema(kind));
        let resource_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(kind))});
        let mut props = Map::new();
        props.insert(
            "name".into(),
            json!({"type": "string", "maxLength": MAX_NAME}),
        );
        props.insert("org".into(), json!({"type": ["string", "null"], "description": "Org slug or id; null = tenant-wide; absent = your default org"}));
        let mut required = vec![json!("name")];
        for f in kind.fields {
            let mut schema = field_schema(&f.ty, true);
            schema["description"] = json!(f.doc);
            props.insert(f.name.into(), schema);
            if f.required {
                required.push(json!(f.name));
            }
        }
        let body = json!({"type": "object", "properties": props, "required": required});
        let item = json!({"description": "the resource", "content": {"application/json": {"schema": resource_ref}}});
        schemas.insert(
            format!("page.{}", kind.name),
            json!({"type": "object",
                "properties": {"items": {"type": "array", "items": resource_ref},
                    "next_cursor": {"type": ["string", "null"], "description": "the cursor of the next page; null on the last"}},
                "required": ["items", "next_cursor"]}),
        );
        let page = json!({"description": "a page of what you can see", "content": {"application/json": {"schema":
            {"$ref": format!("#/components/schemas/page.{}", kind.name)}}}});
        let tag = json!([kind.path]);
        let id_param =
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        let policy = format!("{:?}", kind.policy);
        if !has_own_read(kind) {
            let mut params = vec![
                json!({"name": "org", "in": "query", "schema": {"type": "string"}, "description": "all | tenant | org slug or id"}),
                json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": super::MAX_LIMIT}}),
                json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}),
                json!({"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}, "description": "the name contains this, ignoring case"}),
            ];
            if kind.behaviour == Behaviour::Task {
                params.push(
                    json!({"name": "status", "in": "query", "schema": {"type": "string",
                    "enum": ["queued", "running", "succeeded", "failed", "refused", "cancelled"]}}),
                );
            }
            if kind.ref_target("agent") == Some("agent") {
                params.push(json!({"name": "agent", "in": "query", "schema": {"type": "string"}, "description": "an agent's id"}));
            }
            if kind.behaviour == Behaviour::Job {
                params
                    .push(json!({"name": "enabled", "in": "query", "schema": {"type": "boolean"}}));
            }
            let mut collection = json!({
            "get": {"tags": tag, "summary": format!("List {} ({})", kind.path, kind.doc), "operationId": format!("list_{}", kind.name),
                "parameters": params,
                "responses": {"200": page, "400": problem, "401": problem, "404": problem}},
            "post": {"tags": tag, "summary": format!("Create a {} (scope policy: {policy})", kind.name), "operationId": format!("create_{}", kind.name),
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"201": item, "401": problem, "403": problem, "422": problem}},
            });
            if has_own_create(kind) {
                // Documented by the kind's own handler; merged in lib.rs.
                collection.as_object_mut().map(|m| m.remove("post"));
            }
            paths.insert(format!("/api/v1/{}", kind.path), collection);
        }
        let mut patch_body = body.clone();
        patch_body["required"] = json!([]);
        let mut item_path = json!({
            "get": {"tags": tag, "operationId": format!("get_{}", kind.name), "parameters": id_param, "responses": {"200": item, "401": problem, "404": problem}},
            "patch": {"tags": tag, "operationId": format!("update_{}", kind.name), "parameters": id_param,
                "requestBody": {"required": true, "content": {"application/json": {"schema": patch_body}}},
                "responses": {"200": item, "403": problem, "404": problem, "422": problem}},
            "delete": {"tags": tag, "operationId": format!("delete_{}", kind.name), "parameters": id_param, "responses": {"204": {"description": "deleted"}, "403": problem, "404": problem}},
        });
        if has_own_read(kind) {
            // Documented by the kind's own handlers; merged in lib.rs.
            item_path.as_object_mut().map(|m| m.remove("get"));
        }
        paths.insert(format!("/api/v1/{}/{{id}}", kind.path), item_path);
        paths.insert(format!("/api/v1/{}/{{id}}/access", kind.path), json!({
            "get": {"tags": tag, "operationId": format!("access_{}", kind.name),
                "summary": "Who can see and change it, and why; or one user's or key's decision",
                "parameters": [id_param[0],
                    {"name": "user", "in": "query", "schema": {"type": "string"}, "description": "one user's decision (username or id)"},
                    {"name": "key", "in": "query", "schema": {"type": "string"}, "description": "one org key's decision (its id)"},
                    {"name": "group", "in": "query", "schema": {"type": "string"}, "description": "more names of one group (its rule)"},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the groups, a decision, or a page of a group", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AccessAnswer"}}}},
                    "400": problem, "403": problem, "404": problem}},
        }));
        paths.insert(format!("/api/v1/{}/{{id}}/rescope", kind.path), json!({
            "post": {"tags": tag, "operationId": format!("rescope_{}", kind.name), "parameters": id_param,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rescope"}}}},
                "responses": {"200": {"description": "the impact, and the resource unless previewing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rescoped"}}}}, "403": problem, "404": problem, "409": problem, "422": problem}},
        }));
    }
    (paths, schemas)
}
