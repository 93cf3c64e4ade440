//! Starts a server on port 0 over a fresh database and talks to it.

use std::path::PathBuf;

use orgscope_server::{AppState, crypto::MasterKey};
use orgscope_store::Store;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sqlx::Connection;

pub const ADMIN_PASSWORD: &str = "admin-password";

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

pub struct TestServer {
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
        TestServer::start_with_limit(backend, orgscope_server::DEFAULT_MAX_UPLOAD).await
    }

    /// A server that accepts uploads up to `max_upload` bytes.
    pub async fn start_with_limit(backend: Backend, max_upload: u64) -> TestServer {
        TestServer::start_with(backend, max_upload, None).await
    }

    /// A server with its own upload limit and blob store (default: a local folder).
    pub async fn start_with(
        backend: Backend,
        max_upload: u64,
        blobs: Option<orgscope_server::blobs::Blobs>,
    ) -> TestServer {
        let dir = std::env::temp_dir().join(orgscope_store::new_id("orgscope-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = database(backend, &dir).await;
        let store = Store::connect(&url).await.expect("open the test store");
        orgscope_server::bootstrap(&store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        let blobs = match blobs {
            Some(b) => b,
            None => orgscope_server::blobs::Blobs::local(&dir.join("blobs")).expect("blob folder"),
        };
        let state =
            AppState::new(store.clone(), MasterKey::generate(), blobs).with_max_upload(max_upload);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(orgscope_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let mut server = TestServer {
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
            req = req.bearer_auth(t);
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

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
