//! What the load examples share: a server on port 0 over their store, and
//! the session of their user `bench` (password `bench-user-password`).

use std::path::Path;

use orgscope_server::{AppState, blobs::Blobs, crypto::MasterKey};
use orgscope_store::Store;

/// Serves `store` (blobs under `dir`) and logs `bench` in; returns the base
/// URL, a client and the session token.
pub async fn serve_as_bench(store: &Store, dir: &Path) -> (String, reqwest::Client, String) {
    let blobs = Blobs::local(&dir.join("blobs")).unwrap();
    let state = AppState::new(store.clone(), MasterKey::generate(), blobs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(orgscope_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let token = login(&http, &base, "bench", "bench-user-password").await;
    (base, http, token)
}

/// Signs `username` in; returns the session token.
pub async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned()
}
