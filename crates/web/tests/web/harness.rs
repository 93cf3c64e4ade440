//! A real orgscope server on port 0 over a fresh SQLite database, and the
//! JSON API to set up what a test needs (orgs, users, memberships).

use std::path::PathBuf;

use orgscope_server::{AppState, crypto::MasterKey};
use orgscope_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password";

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub dir: PathBuf,
    pub store: Store,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(None).await
    }

    /// A server whose chat answers come from this model endpoint.
    pub async fn start_with(llm: Option<orgscope_server::llm::Llm>) -> TestServer {
        TestServer::start_full(llm, None).await
    }

    /// A server whose portal mail goes through this relay.
    pub async fn start_mailing(mailer: orgscope_app::mail::Mailer) -> TestServer {
        TestServer::start_full(None, Some(mailer)).await
    }

    async fn start_full(
        llm: Option<orgscope_server::llm::Llm>,
        mailer: Option<orgscope_app::mail::Mailer>,
    ) -> TestServer {
        let dir = std::env::temp_dir().join(orgscope_store::new_id("orgscope-web-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
        let store = Store::connect(&url).await.expect("open the test store");
        orgscope_server::bootstrap(&store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        let blobs = orgscope_server::blobs::Blobs::local(&dir.join("blobs")).expect("blob folder");
        let state = AppState::new(store.clone(), MasterKey::generate(), blobs)
            .with_llm(llm)
            .with_mailer(mailer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(orgscope_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let mut server = TestServer {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            admin: String::new(),
            dir,
            store,
            _shutdown: tx,
        };
        server.admin = server.api_login("admin", ADMIN_PASSWORD).await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Makes the superuser `root` in the store (admins cannot make one);
    /// its password is `root-password`.
    pub async fn superuser(&self) {
        let hash = orgscope_app::secrets::hash_password("root-password").unwrap();
        let mut tx = self.store.write().await.unwrap();
        tx.user_create(None, "root", &hash, "superuser", None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// A session token from the JSON API.
    pub async fn api_login(&self, username: &str, password: &str) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let value = res.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    /// An org made by the admin.
    pub async fn org(&self, slug: &str, name: &str) {
        let (s, b) = self
            .api(
                reqwest::Method::POST,
                &self.admin,
                "/api/v1/orgs",
                Some(json!({"slug": slug, "name": name})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "create org {slug}: {b}");
    }

    /// A user with memberships and a default org; their password is `<name>-password`.
    pub async fn user(&self, username: &str, orgs: &[&str], default_org: Option<&str>) {
        let password = format!("{username}-password");
        let (s, b) = self
            .api(
                reqwest::Method::POST,
                &self.admin,
                "/api/v1/users",
                Some(json!({"username": username, "password": password, "role": "user"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "create user {username}: {b}");
        for org in orgs {
            let (s, b) = self
                .api(
                    reqwest::Method::POST,
                    &self.admin,
                    &format!("/api/v1/orgs/{org}/members"),
                    Some(json!({"user": username, "can_manage": false})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "add {username} to {org}: {b}");
        }
        if let Some(d) = default_org {
            let (s, b) = self
                .api(
                    reqwest::Method::PATCH,
                    &self.admin,
                    &format!("/api/v1/users/{username}"),
                    Some(json!({"default_org": d})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "default org of {username}: {b}");
        }
    }

    /// Uploads a file through the JSON API; returns its id.
    pub async fn upload(&self, token: &str, name: &str, org: &str, text: &str) -> String {
        let res = self
            .http
            .post(self.url(&format!("/api/v1/files?name={name}&org={org}")))
            .bearer_auth(token)
            .body(text.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Waits until a file's text is searchable.
    pub async fn extracted(&self, token: &str, id: &str) {
        for _ in 0..200 {
            let (_, f) = self
                .api(
                    reqwest::Method::GET,
                    token,
                    &format!("/api/v1/files/{id}"),
                    None,
                )
                .await;
            match f["extraction"]["state"].as_str() {
                Some("done") => return,
                Some("failed" | "unsupported") => panic!("extraction of {id} failed: {f}"),
                _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        panic!("extraction of {id} did not finish");
    }

    /// An API gateway of `org` (no tags: it serves the org's untagged
    /// APIs), made by the admin: its secret.
    pub async fn api_gateway(&self, org: &str) -> String {
        let (s, b) = self
            .api(
                reqwest::Method::POST,
                &self.admin,
                "/api/v1/api-gateways",
                Some(serde_json::json!({"name": format!("{org}-edge"), "org": org})),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "{b}");
        b["token"].as_str().unwrap().to_owned()
    }

    /// A page as a session's holder gets it: its status and HTML.
    pub async fn page(&self, session: &str, path: &str) -> (StatusCode, String) {
        let res = self
            .http
            .get(self.url(path))
            .header("cookie", format!("orgscope_session={session}"))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    /// A form posted with the session's CSRF token: status, `Location`, body.
    pub async fn post_form(
        &self,
        session: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
        let csrf = orgscope_app::secrets::csrf_token(session);
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let res = self
            .http
            .post(self.url(path))
            .header("cookie", format!("orgscope_session={session}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, res.text().await.unwrap())
    }

    /// The names of the files a token's holder lists.
    pub async fn file_names(&self, token: &str) -> Vec<String> {
        let (_, b) = self
            .api(reqwest::Method::GET, token, "/api/v1/files", None)
            .await;
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
