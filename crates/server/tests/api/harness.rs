//! Starts a server on port 0 over a fresh database and talks to it.

use std::path::PathBuf;

use orgscope_server::{AppState, crypto::MasterKey};
use orgscope_store::Store;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sqlx::Connection;

pub const ADMIN_PASSWORD: &str = "admin-password";

/// The password of users made by [`TestServer::fast_user`].
pub const FAST_PASSWORD: &str = "fast-user-password";

/// One argon2 hash of [`FAST_PASSWORD`] for the whole test binary: hashing is
/// slow in debug builds, and most tests need users, not password checks.
static FAST_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    orgscope_server::auth::hash_password(FAST_PASSWORD).expect("hash the fast password")
});

/// The backends to run a test on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if std::env::var("ORGSCOPE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        out.push(Backend::Postgres);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How [`TestServer::start_with`] differs from the default server.
#[derive(Default)]
pub struct Options {
    /// The largest upload accepted (default: the server's default).
    pub max_upload: Option<u64>,
    /// The blob store (default: a local folder of the test's own).
    pub blobs: Option<orgscope_server::blobs::Blobs>,
    /// A model endpoint for chat (default: none, retrieval-only answers).
    pub llm: Option<orgscope_server::llm::Llm>,
    /// The nameservers asked for domain proofs, in order (default: the
    /// machine's).
    pub dns: Vec<std::net::SocketAddr>,
    /// The proxy style of the gateway check (default: nginx).
    pub proxy_style: Option<orgscope_core::gateway::ProxyStyle>,
    /// Proxies whose X-Forwarded-For names the client (default: none).
    pub trusted_proxies: Vec<orgscope_server::client::Network>,
    /// How long one file's text extraction may take (default: the server's).
    pub extract_time_limit: Option<std::time::Duration>,
    /// The relay portal mail goes through (default: none, no sign-ups).
    pub mailer: Option<orgscope_app::mail::Mailer>,
}

pub struct TestServer {
    /// The database this server uses (a second replica may open it too).
    pub database_url: String,
    /// The server's state (to reach what a running server does by itself).
    pub state: AppState,
    pub backend: Backend,
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub store: Store,
    pub dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A database URL of its own for one test server.
async fn database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Backend::Postgres => {
            sqlx::any::install_default_drivers();
            let url = std::env::var("ORGSCOPE_TEST_DATABASE_URL").expect("set");
            let name = orgscope_store::new_id("orgscope_test");
            let mut conn = sqlx::AnyConnection::connect(&url)
                .await
                .expect("connect to ORGSCOPE_TEST_DATABASE_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            let (head, _) = url.rsplit_once('/').expect("a database URL ends in /NAME");
            format!("{head}/{name}")
        }
    }
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, Options::default()).await
    }

    /// A server configured other than by default.
    pub async fn start_with(backend: Backend, options: Options) -> TestServer {
        let dir = std::env::temp_dir().join(orgscope_store::new_id("orgscope-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = database(backend, &dir).await;
        let store = Store::connect(&url).await.expect("open the test store");
        orgscope_server::bootstrap(&store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        let blobs = match options.blobs {
            Some(b) => b,
            None => orgscope_server::blobs::Blobs::local(&dir.join("blobs")).expect("blob folder"),
        };
        let mut state = AppState::new(store.clone(), MasterKey::generate(), blobs)
            .with_max_upload(
                options
                    .max_upload
                    .unwrap_or(orgscope_server::DEFAULT_MAX_UPLOAD),
            )
            .with_llm(options.llm)
            .with_mailer(options.mailer);
        if !options.dns.is_empty() {
            state = state.with_dns_servers(options.dns);
        }
        if let Some(style) = options.proxy_style {
            state = state.with_proxy_style(style);
        }
        state = state.with_trusted_proxies(options.trusted_proxies);
        if let Some(limit) = options.extract_time_limit {
            state = state.with_extract_time_limit(limit);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let kept = state.clone();
        tokio::spawn(orgscope_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let mut server = TestServer {
            database_url: url.clone(),
            state: kept,
            backend,
            base,
            http: reqwest::Client::new(),
            admin: String::new(),
            store,
            dir,
            shutdown: Some(tx),
        };
        server.admin = server.login("admin", ADMIN_PASSWORD).await;
        server
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body, _) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {username}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Sends a request; returns the status, the JSON body (null if none or
    /// not JSON) and the headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = authenticate(req, t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value, headers)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.call(Method::GET, path, Some(token), None).await;
        (s, b)
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, b, _) = self.call(Method::POST, path, Some(token), Some(body)).await;
        (s, b)
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, b, _) = self
            .call(Method::PATCH, path, Some(token), Some(body))
            .await;
        (s, b)
    }

    pub async fn delete(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.call(Method::DELETE, path, Some(token), None).await;
        (s, b)
    }

    /// Creates an org as the admin; returns its id.
    pub async fn org(&self, slug: &str) -> String {
        let (s, b) = self
            .post(
                &self.admin,
                "/api/v1/orgs",
                json!({"slug": slug, "name": slug}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "create org {slug}: {b}");
        b["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user as the admin, with memberships `(org slug, can_manage)`,
    /// and returns a session token for them.
    pub async fn user(&self, username: &str, role: &str, orgs: &[(&str, bool)]) -> String {
        let password = format!("{username}-password");
        let (s, b) = self
            .post(
                &self.admin,
                "/api/v1/users",
                json!({"username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "create user {username}: {b}");
        for (org, can_manage) in orgs {
            let (s, b) = self
                .post(
                    &self.admin,
                    &format!("/api/v1/orgs/{org}/members"),
                    json!({"user": username, "can_manage": can_manage}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "add {username} to {org}: {b}");
        }
        self.login(username, &password).await
    }
}

/// The argon2 hash of [`FAST_PASSWORD`], for users made in the store.
pub fn fast_hash() -> &'static str {
    &FAST_HASH
}

/// A credential for [`TestServer::call`] and [`TestServer::raw`]: a bearer
/// token, `x-api-key:<key>` for an org key in that header, `tenant:<slug>:<token>`
/// for a superuser acting in a tenant, or
/// `cookie:<session>:<csrf token>` for a browser's session cookie (see
/// [`TestServer::cookie_login`]), sent with its CSRF header.
fn authenticate(req: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    if let Some(key) = token.strip_prefix("x-api-key:") {
        return req.header("x-api-key", key);
    }
    // `tenant:<slug>:<token>`: a superuser's token acting in that tenant.
    if let Some((tenant, token)) = token
        .strip_prefix("tenant:")
        .and_then(|t| t.split_once(':'))
    {
        return req
            .header(orgscope_server::auth::TENANT_HEADER, tenant)
            .bearer_auth(token);
    }
    match token
        .strip_prefix("cookie:")
        .and_then(|c| c.split_once(':'))
    {
        Some((session, csrf)) => req
            .header("cookie", format!("orgscope_session={session}"))
            .header("x-csrf-token", csrf),
        None => req.bearer_auth(token),
    }
}

/// A tenant made by [`TestServer::other_tenant`].
pub struct OtherTenant {
    /// The session token of its admin.
    pub admin: String,
    pub admin_id: String,
    pub default_org: String,
}

/// A response as it came over the wire: status, headers and the body text.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Raw {
    /// The body as JSON (null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status, and returns its detail.
    #[track_caller]
    pub fn problem(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status.as_u16(), "{}", self.text);
        let detail = body["detail"].as_str().unwrap_or_default().to_owned();
        assert!(!detail.is_empty(), "a problem has a detail: {}", self.text);
        detail
    }
}

/// Percent-encodes a query-string value.
pub fn enc(v: &str) -> String {
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

/// The `id`s of a listing's items, in order.
pub fn ids(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {listing}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// An id of `prefix` that no row has: the same shape as a real one.
pub fn unused_id(prefix: &str) -> String {
    orgscope_store::new_id(prefix)
}

impl TestServer {
    /// Sends any request: extra headers, and a raw body with its content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Raw {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = authenticate(req, t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((content_type, bytes)) = body {
            if !content_type.is_empty() {
                req = req.header("content-type", content_type);
            }
            req = req.body(bytes);
        }
        let res = req.send().await.expect("request");
        Raw {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await.unwrap(),
        }
    }

    /// Sends a JSON request and asserts the status (and, for errors, a
    /// problem+json body); returns the response.
    pub async fn expect(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Raw {
        let r = self.raw_json(method.clone(), path, Some(token), body).await;
        assert_eq!(
            r.status, status,
            "{:?}: {method} {path}: {}",
            self.backend, r.text
        );
        if !status.is_success() {
            r.problem(status);
        }
        r
    }

    /// [`TestServer::raw`] with an optional JSON body.
    pub async fn raw_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Raw {
        let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
        self.raw(method, path, token, &[], body).await
    }

    /// Logs in with an explicit tenant (needed once the server has several).
    pub async fn login_in(
        &self,
        tenant: Option<&str>,
        username: &str,
        password: &str,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut body = json!({"username": username, "password": password});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Logs in as a browser does; returns a credential that [`TestServer::call`]
    /// sends as the session cookie with its CSRF header.
    pub async fn cookie_login(
        &self,
        tenant: Option<&str>,
        username: &str,
        password: &str,
    ) -> String {
        let (st, body, headers) = self.login_in(tenant, username, password).await;
        assert_eq!(st, StatusCode::OK, "login as {username}: {body}");
        let cookie = headers["set-cookie"].to_str().unwrap();
        let session = cookie
            .strip_prefix("orgscope_session=")
            .and_then(|c| c.split(';').next())
            .expect("a session cookie");
        assert_eq!(session, body["token"].as_str().unwrap());
        format!("cookie:{session}:{}", body["csrf_token"].as_str().unwrap())
    }

    /// Lets the tenant's consumer keys pass the check that names no API
    /// gateway (new tenants start without it).
    pub async fn shared_gateway_check(&self) {
        let (st, b) = self
            .patch(
                &self.admin,
                "/api/v1/tenant/gateways",
                json!({"shared_check": true}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }

    /// Makes the superuser `root` in the store (admins cannot make one) and
    /// returns its session token.
    pub async fn superuser(&self) -> String {
        let mut tx = self.store.write().await.unwrap();
        tx.user_create(None, "root", fast_hash(), "superuser", None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (st, login, _) = self.login_in(None, "root", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "superuser login: {login}");
        login["token"].as_str().unwrap().to_owned()
    }

    /// Makes, as the superuser `root`, a second tenant and its admin
    /// `<slug>-admin`.
    pub async fn other_tenant(&self, root: &str, slug: &str) -> OtherTenant {
        let (st, tenant) = self
            .post(root, "/api/v1/tenants", json!({"slug": slug, "name": slug}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "create tenant {slug}: {tenant}");
        let username = format!("{slug}-admin");
        let password = format!("{slug}-admin-password");
        let body = json!({"username": username, "password": password, "role": "admin"});
        let r = self
            .raw(
                Method::POST,
                "/api/v1/users",
                Some(root),
                &[("x-orgscope-tenant", slug)],
                Some(("application/json", serde_json::to_vec(&body).unwrap())),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create {username}: {}",
            r.text
        );
        let (st, login, _) = self.login_in(Some(slug), &username, &password).await;
        assert_eq!(st, StatusCode::OK, "login as {username}: {login}");
        OtherTenant {
            admin: login["token"].as_str().unwrap().to_owned(),
            admin_id: r.json()["id"].as_str().unwrap().to_owned(),
            default_org: tenant["default_org"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// The id of the (first) tenant.
    pub async fn tenant_id(&self) -> String {
        let (s, me) = self.get(&self.admin, "/api/v1/me").await;
        assert_eq!(s, StatusCode::OK, "{me}");
        me["tenant"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a user of the first tenant straight in the store (with a
    /// pre-computed hash of [`FAST_PASSWORD`]), adds the memberships through
    /// the API as the admin, and opens a session the way login does, without
    /// paying for argon2. Returns `(user id, session token)`.
    pub async fn fast_user(
        &self,
        username: &str,
        role: &str,
        orgs: &[(&str, bool)],
    ) -> (String, String) {
        let tenant = self.tenant_id().await;
        let mut tx = self.store.write().await.unwrap();
        let user = tx
            .user_create(Some(&tenant), username, fast_hash(), role, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let token = self.fast_session(&user.id).await;
        for (org, can_manage) in orgs {
            let (s, b) = self
                .post(
                    &self.admin,
                    &format!("/api/v1/orgs/{org}/members"),
                    json!({"user": username, "can_manage": can_manage}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "add {username} to {org}: {b}");
        }
        (user.id, token)
    }

    /// Creates `n` users named `{prefix}{i}` straight in the store, members
    /// of `orgs` (ids), in one transaction: a crowd for tests that count.
    pub async fn crowd(&self, prefix: &str, n: usize, orgs: &[&str]) {
        let tenant = self.tenant_id().await;
        let mut tx = self.store.write().await.unwrap();
        for i in 0..n {
            let user = tx
                .user_create(
                    Some(&tenant),
                    &format!("{prefix}{i:04}"),
                    fast_hash(),
                    "user",
                    None,
                )
                .await
                .unwrap();
            for org in orgs {
                tx.member_put(org, &user.id, false).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    }

    /// Opens a session for a user the way login does, without argon2.
    pub async fn fast_session(&self, user: &str) -> String {
        let token = orgscope_server::auth::new_secret(orgscope_server::auth::SESSION_PREFIX);
        let expires =
            orgscope_core::format_time(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
        let mut tx = self.store.write().await.unwrap();
        tx.token_create(
            &orgscope_server::auth::hash_secret(&token),
            "session",
            user,
            "login",
            Some(&expires),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        token
    }

    /// Creates a resource; asserts 201 and returns it.
    pub async fn create(&self, token: &str, kind: &str, body: Value) -> Value {
        let (s, b) = self.post(token, &format!("/api/v1/{kind}"), body).await;
        assert_eq!(s, StatusCode::CREATED, "create {kind}: {b}");
        b
    }

    /// Creates an org access key in `org` as `token`'s user; returns
    /// `(key id, key secret)`.
    pub async fn org_key(&self, token: &str, org: &str, access: &str) -> (String, String) {
        let key = self
            .create(
                token,
                "api-keys",
                json!({"name": format!("{org} {access} key"), "org": org, "access": access}),
            )
            .await;
        (
            key["id"].as_str().unwrap().to_owned(),
            key["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Every item of a listing, following `next_cursor` (`path` has no `?`
    /// or ends its query so that `&cursor=` can follow).
    pub async fn list_all(&self, token: &str, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}cursor={}", enc(c)),
                None => path.to_owned(),
            };
            let (s, b) = self.get(token, &url).await;
            assert_eq!(s, StatusCode::OK, "GET {url}: {b}");
            out.extend(b["items"].as_array().unwrap().iter().cloned());
            match b["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        out
    }
}

impl TestServer {
    /// A second replica: another server over this one's database, with its
    /// master key, behind the same trusted proxies, on a port of its own.
    /// Nothing is shared with the first but the database.
    pub async fn replica(&self) -> TestServer {
        let dir = std::env::temp_dir().join(orgscope_store::new_id("orgscope-replica"));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&self.database_url)
            .await
            .expect("open the shared store");
        let state = AppState::new(
            store.clone(),
            self.state.master_key.clone(),
            orgscope_server::blobs::Blobs::local(&self.dir.join("blobs")).expect("blob folder"),
        )
        .with_trusted_proxies(self.state.trusted_proxies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(orgscope_server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            database_url: self.database_url.clone(),
            state,
            backend: self.backend,
            base,
            http: reqwest::Client::new(),
            admin: self.admin.clone(),
            store,
            dir,
            shutdown: Some(tx),
        }
    }

    /// Writes the gateway's batched key uses now.
    pub async fn flush_gateway(&self) {
        self.state.gateway.flush(&self.state.store).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The knowledge entries a search for `word` finds, once extraction has
/// made some (it runs in the background after an upload).
pub async fn wait_for_knowledge(s: &TestServer, token: &str, word: &str) -> Vec<Value> {
    for _ in 0..500 {
        let (_, hits) = s
            .get(token, &format!("/api/v1/knowledge/search?q={}", enc(word)))
            .await;
        if let Some(items) = hits["items"].as_array().filter(|i| !i.is_empty()) {
            return items.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no knowledge entry says '{word}'");
}
