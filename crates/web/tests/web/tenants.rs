//! A superuser chooses the tenant to work in (kept in a cookie, as the API
//! takes `X-Orgscope-Tenant`); tenant users cannot, and the cookie means
//! nothing to them.

use futures_util::FutureExt;
use reqwest::StatusCode;

use crate::browser::Browser;
use crate::harness::TestServer;

/// A page fetched with the session and, maybe, a chosen tenant.
async fn page_in(
    server: &TestServer,
    session: &str,
    tenant: Option<&str>,
    path: &str,
) -> (StatusCode, String, String) {
    let mut cookie = format!("orgscope_session={session}");
    if let Some(t) = tenant {
        cookie.push_str(&format!("; orgscope_tenant={t}"));
    }
    let res = server
        .http
        .get(server.url(path))
        .header("cookie", cookie)
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

#[tokio::test]
async fn a_superuser_chooses_the_tenant_and_nobody_else_can() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;

    // One tenant: it is the one.
    let (status, _, files) = page_in(&server, &root, None, "/files").await;
    assert_eq!(status, StatusCode::OK);
    assert!(files.contains("href=\"/tenants\""), "{files}");

    // A second tenant, made on the page.
    let (status, location, body) = server
        .post_form(&root, "/tenants", &[("slug", "acme"), ("name", "Acme")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/tenants?created=acme");
    let (status, _, body) = server
        .post_form(&root, "/tenants", &[("slug", "acme"), ("name", "Again")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("already exists"), "{body}");

    // Two tenants and none chosen: every page leads to the choice, and a
    // change is refused without touching anything.
    let (status, location, _) = page_in(&server, &root, None, "/orgs").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/tenants");
    let (status, _, list) = page_in(&server, &root, None, "/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("acme") && list.contains("default"), "{list}");
    assert!(list.contains("Choose the tenant to work in"), "{list}");
    let (status, _, body) = server
        .post_form(&root, "/orgs", &[("slug", "lost"), ("name", "Lost")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("hoose the tenant to work in"), "{body}");

    // Choosing sets the cookie; the pages are then that tenant's.
    let (status, location, _) = server
        .post_form(&root, "/tenants/enter", &[("tenant", "acme")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/files");
    let (status, _, orgs) = page_in(&server, &root, Some("acme"), "/orgs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !orgs.contains("Engineering"),
        "acme shows default's org: {orgs}"
    );
    let (_, _, orgs) = page_in(&server, &root, Some("default"), "/orgs").await;
    assert!(orgs.contains("Engineering"), "{orgs}");
    // A tenant that is gone (or never was): choose again.
    let (status, location, _) = page_in(&server, &root, Some("nope"), "/orgs").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/tenants")
    );
    let (status, _, body) = server
        .post_form(&root, "/tenants/enter", &[("tenant", "nope")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The tenant's admin: no such page, no such choice, and the cookie is
    // nothing to them.
    let admin = &server.admin;
    let (status, _, body) = page_in(&server, admin, None, "/tenants").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("acme"), "{body}");
    let (status, _, _) = server
        .post_form(admin, "/tenants/enter", &[("tenant", "acme")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, orgs) = page_in(&server, admin, Some("acme"), "/orgs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(orgs.contains("Engineering"), "{orgs}");
    assert!(!orgs.contains("href=\"/tenants\""), "{orgs}");
    let (status, _, _) = server
        .post_form(admin, "/tenants", &[("slug", "evil"), ("name", "Evil")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_switches_tenant_in_a_browser() {
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
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    let (status, _, _) = server
        .post_form(&root, "/tenants", &[("slug", "acme"), ("name", "Acme")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    b.goto(&server.url("/")).await;
    b.wait_url("the sign-in page", |u| u.contains("/login"))
        .await;
    b.find("#username").await.send_keys("root").await.unwrap();
    b.find("#password")
        .await
        .send_keys("root-password")
        .await
        .unwrap();
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_url("the tenant choice", |u| u.ends_with("/tenants"))
        .await;
    b.audit("tenants").await;
    b.shoot("tenants").await;
    b.click("button[aria-label='Work here in acme']").await;
    b.wait_url("the files page", |u| u.ends_with("/files"))
        .await;
    b.click(".usermenu summary").await;
    b.wait_text(".usermenu .menu", "the tenant in the menu", |t| {
        t.contains("Acme")
    })
    .await;
    b.goto(&server.url("/tenants")).await;
    b.wait_text("#tenant-table", "acme marked as current", |t| {
        t.contains("acme (working here)")
    })
    .await;
}
