//! A change without the session's CSRF token is refused (403) and changes
//! nothing; with it, the same change goes through.

use reqwest::{Method, StatusCode};

use crate::harness::TestServer;

fn cookie(session: &str) -> String {
    format!("orgscope_session={session}")
}

#[tokio::test]
async fn a_form_post_without_the_token_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.user("carol", &["eng"], Some("eng")).await;
    let session = server.api_login("carol", "carol-password").await;
    let id = server.upload(&session, "plan.md", "eng", "the plan").await;
    let token = orgscope_app::secrets::csrf_token(&session);
    let post = |path: String, form: String| {
        server
            .http
            .post(server.url(&path))
            .header("cookie", cookie(&session))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
    };

    // No token, a wrong one, another session's: refused, nothing renamed.
    let other = server.api_login("carol", "carol-password").await;
    for form in [
        "name=renamed.md".to_owned(),
        "csrf=&name=renamed.md".to_owned(),
        "csrf=0000&name=renamed.md".to_owned(),
        format!(
            "csrf={}&name=renamed.md",
            orgscope_app::secrets::csrf_token(&other)
        ),
    ] {
        let res = post(format!("/files/{id}/rename"), form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{form}");
        let page = res.text().await.unwrap();
        assert!(page.contains("Nothing was changed"), "{page}");
        assert_eq!(server.file_names(&session).await, ["plan.md"], "{form}");
    }
    // Nor is a delete, a move or a sign-out without it.
    for path in [
        format!("/files/{id}/delete"),
        format!("/files/{id}/move"),
        "/logout".into(),
    ] {
        let res = post(path.clone(), "to=tenant".into()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(server.file_names(&session).await, ["plan.md"]);
    let (_, f) = server
        .api(Method::GET, &session, &format!("/api/v1/files/{id}"), None)
        .await;
    assert_eq!(f["org"]["slug"], "eng", "the move was refused");
    // An upload without it stores nothing.
    let form = reqwest::multipart::Form::new().text("org", "eng").part(
        "file",
        reqwest::multipart::Part::text("x").file_name("sneaky.txt"),
    );
    let res = server
        .http
        .post(server.url("/files/upload"))
        .header("cookie", cookie(&session))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.file_names(&session).await, ["plan.md"]);
    // The session still works: sign-out was refused too.
    let (s, _) = server.api(Method::GET, &session, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);

    // With the token the same post goes through (the check is not a wall).
    let res = post(
        format!("/files/{id}/rename"),
        format!("csrf={token}&name=renamed.md"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.file_names(&session).await, ["renamed.md"]);
    // And an upload whose first part is the token stores its file.
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .text("org", "eng")
        .part(
            "file",
            reqwest::multipart::Part::text("y").file_name("fine.txt"),
        );
    let res = server
        .http
        .post(server.url("/files/upload"))
        .header("cookie", cookie(&session))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        server
            .file_names(&session)
            .await
            .contains(&"fine.txt".to_owned())
    );
}

#[tokio::test]
async fn signing_in_needs_the_forms_own_token() {
    let server = TestServer::start().await;
    // Without the sign-in page's cookie and field: refused, no session made.
    let res = server
        .http
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=admin&password={}",
            crate::harness::ADMIN_PASSWORD
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());
    // With them, signed in.
    let page = server.http.get(server.url("/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = server
        .http
        .post(server.url("/login"))
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={token}&username=admin&password={}",
            crate::harness::ADMIN_PASSWORD
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("orgscope_session=oss_")),
        "{cookies:?}"
    );
}
