//! Users (admins), your account's personal tokens and org access keys:
//! secrets shown once with a copy button, revoking, and a plain user kept
//! out of the admin pages (a 403 page that says who may; no nav entry).

use futures_util::FutureExt;
use reqwest::{Method, StatusCode};

use crate::browser::Browser;
use crate::e2e::{sign_in, sign_out};
use crate::harness::TestServer;

#[tokio::test]
async fn a_plain_user_cannot_see_the_admin_pages() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.user("pat", &["eng"], Some("eng")).await;
    let pat = server.api_login("pat", "pat-password").await;
    let (status, page) = server.page(&pat, "/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Not allowed"), "{page}");
    assert!(
        page.contains("Only admins and auditors see the tenant&#x27;s users")
            || page.contains("Only admins and auditors see the tenant"),
        "{page}"
    );
    assert!(!page.contains("admin-password") && !page.contains(">admin<"));
    // No entry for it in the nav, on any page.
    let (_, files) = server.page(&pat, "/files").await;
    assert!(!files.contains("href=\"/users\""), "{files}");
    assert!(!files.contains("href=\"/audit\""), "{files}");
    // A form post changes nothing either.
    let (status, _, _) = server
        .post_form(
            &pat,
            "/users",
            &[
                ("username", "x"),
                ("password", "pw-long-enough"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, users) = server
        .api(Method::GET, &server.admin, "/api/v1/users", None)
        .await;
    assert!(
        !users["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "x"),
        "{users}"
    );
    // The admin sees both.
    let (status, page) = server.page(&server.admin, "/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("pat"));
    let (_, files) = server.page(&server.admin, "/files").await;
    assert!(files.contains("href=\"/users\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_tokens_and_keys_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let outcome = std::panic::AssertUnwindSafe(story(&server, &browser))
        .catch_unwind()
        .await;
    browser.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn story(server: &TestServer, b: &Browser) {
    server.org("eng", "Engineering").await;
    server.user("rita", &["eng"], Some("eng")).await;

    // The admin makes a user, then an auditor of them, then disables them.
    b.goto(&server.url("/login")).await;
    b.find("#username").await.send_keys("admin").await.unwrap();
    b.find("#password")
        .await
        .send_keys(crate::harness::ADMIN_PASSWORD)
        .await
        .unwrap();
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_url("the files page", |u| u.ends_with("/files"))
        .await;
    b.click(".sidenav a[href='/users']").await;
    b.find("#new-user input[name=username]")
        .await
        .send_keys("sam")
        .await
        .unwrap();
    b.find("#new-user input[name=password]")
        .await
        .send_keys("sam-password")
        .await
        .unwrap();
    b.find("#new-user select[name=default_org]")
        .await
        .select_by_value("eng")
        .await
        .unwrap();
    b.click("#new-user button[type=submit]").await;
    b.wait_url("the users after creating", |u| u.contains("done=created"))
        .await;
    b.find("#role-sam")
        .await
        .select_by_value("auditor")
        .await
        .unwrap();
    b.click("form[action='/users/sam'] button.small:not(.danger)")
        .await;
    b.wait_url("the users after the change", |u| u.contains("done=changed"))
        .await;
    let (_, sam) = server
        .api(Method::GET, &server.admin, "/api/v1/users/sam", None)
        .await;
    assert_eq!(sam["role"], "auditor", "{sam}");
    b.click("button[aria-label='Disable sam']").await;
    b.wait_text("#user-table", "sam disabled", |t| t.contains("disabled"))
        .await;
    b.audit("users").await;
    b.shoot("users").await;
    sign_out(b).await;

    // Rita makes a personal token and an org key; each secret shows once.
    sign_in(b, server, "rita").await;
    b.click(".usermenu summary").await;
    b.click(".usermenu a[href='/account']").await;
    b.find("#new-token input[name=name]")
        .await
        .send_keys("laptop")
        .await
        .unwrap();
    b.click("#new-token button[type=submit]").await;
    let secret = b.text("#secret-value").await;
    assert!(secret.starts_with("ost_") || secret.len() > 20, "{secret}");
    let (s, me) = server.api(Method::GET, &secret, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "the token works: {me}");
    assert_eq!(me["username"], "rita");
    b.audit("account").await;
    b.shoot("account").await;
    b.goto(&server.url("/account")).await;
    assert!(!b.exists("#secret-value").await, "shown once only");
    b.click("button[aria-label='Revoke laptop']").await;
    b.wait_url("the account after revoking", |u| u.contains("done=revoked"))
        .await;
    let (s, _) = server.api(Method::GET, &secret, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked token is refused");

    b.click(".sidenav a[href='/keys']").await;
    b.find("#new-key input[name=name]")
        .await
        .send_keys("build agent")
        .await
        .unwrap();
    b.find("#new-key select[name=access]")
        .await
        .select_by_value("read_write")
        .await
        .unwrap();
    b.click("#new-key button[type=submit]").await;
    let key = b.text("#secret-value").await;
    let (s, me) = server.api(Method::GET, &key, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "the key works: {me}");
    let table = b.text("#key-table").await;
    assert!(
        table.contains("build agent") && table.contains("Engineering"),
        "{table}"
    );
    b.audit("keys").await;
    b.shoot("keys").await;
    b.click("button[aria-label='Revoke build agent']").await;
    b.wait_url("the keys after revoking", |u| u.contains("done=revoked"))
        .await;
    let (s, _) = server.api(Method::GET, &key, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
