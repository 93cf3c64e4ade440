//! A resource the viewer cannot see shows exactly the page of an id never
//! used; pages need a session; `/` leads where it should.

use reqwest::StatusCode;

use crate::harness::TestServer;

#[tokio::test]
async fn a_hidden_file_reads_like_an_unused_id() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("ops", "Operations").await;
    server.user("dan", &["eng"], Some("eng")).await;
    server.user("erin", &["ops"], Some("ops")).await;
    let erin = server.api_login("erin", "erin-password").await;
    let hidden = server
        .upload(&erin, "ops-secret.md", "ops", "ops only")
        .await;
    let dan = server.api_login("dan", "dan-password").await;
    let get = |path: String| {
        server
            .http
            .get(server.url(&path))
            .header("cookie", format!("orgscope_session={dan}"))
            .send()
    };
    for (a, b) in [
        (
            format!("/files/{hidden}"),
            "/files/file_never_used".to_owned(),
        ),
        (
            format!("/files/{hidden}/move?to=eng"),
            "/files/file_never_used/move?to=eng".to_owned(),
        ),
        (
            format!("/files/{hidden}/delete"),
            "/files/file_never_used/delete".to_owned(),
        ),
        (
            "/files?org=ops".to_owned(),
            "/files?org=never-used".to_owned(),
        ),
    ] {
        let (ra, rb) = (get(a.clone()).await.unwrap(), get(b.clone()).await.unwrap());
        assert_eq!(ra.status(), StatusCode::NOT_FOUND, "{a}");
        assert_eq!(rb.status(), StatusCode::NOT_FOUND, "{b}");
        let (ta, tb) = (ra.text().await.unwrap(), rb.text().await.unwrap());
        assert_eq!(ta, tb, "{a} and {b} differ");
        assert!(!ta.contains("ops-secret") && !ta.contains(&hidden), "{ta}");
    }
}

#[tokio::test]
async fn pages_need_a_session_and_home_leads_there() {
    let server = TestServer::start().await;
    let res = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let res = server
        .http
        .get(server.url("/files?org=eng"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/login?next=%2Ffiles%3Forg%3Deng"
    );
    let admin = server.admin.clone();
    let res = server
        .http
        .get(server.url("/"))
        .header("cookie", format!("orgscope_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/files");
    // Assets are served by the binary, cached by their versioned URL.
    let page = server
        .http
        .get(server.url("/files"))
        .header("cookie", format!("orgscope_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let css = html
        .split("href=\"/static/app.css")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let res = server
        .http
        .get(server.url(&format!("/static/app.css{css}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let res = server
        .http
        .get(server.url("/static/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}
