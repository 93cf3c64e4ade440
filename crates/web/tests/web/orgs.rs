//! Organizations in a browser: an admin creates one (with a domain to
//! prove), a member with `can_manage` adds a member and lets them manage,
//! and deleting an org previews the disposition before its confirm button.

use futures_util::FutureExt;

use crate::browser::Browser;
use crate::e2e::sign_in;
use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgs_members_and_deletion_in_a_browser() {
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
    server.user("mia", &["eng"], Some("eng")).await;
    server.user("noah", &[], None).await;
    server.user("admin2", &[], None).await;
    // mia manages Engineering.
    let (s, body) = server
        .api(
            reqwest::Method::PATCH,
            &server.admin,
            "/api/v1/orgs/eng/members/mia",
            Some(serde_json::json!({"can_manage": true})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{body}");

    // A manager adds a member, and lets them manage.
    sign_in(b, server, "mia").await;
    b.click(".sidenav a[href='/orgs']").await;
    b.wait_url("the orgs page", |u| u.ends_with("/orgs")).await;
    assert!(!b.exists("#org-open").await, "only admins create orgs");
    b.audit("orgs").await;
    b.shoot("orgs").await;
    b.click("#org-table a[href='/orgs/eng']").await;
    b.find("#add-member").await;
    b.find("#member-user")
        .await
        .send_keys("noah")
        .await
        .unwrap();
    b.click("#add-member button[type=submit]").await;
    b.wait_url("the org after adding", |u| u.contains("done=added"))
        .await;
    let members = b.text("#member-table").await;
    assert!(members.contains("noah"), "{members}");
    b.click("form[action='/orgs/eng/members/noah/manage'] button")
        .await;
    b.wait_url("the org after the change", |u| u.contains("done=changed"))
        .await;
    let (_, m) = server
        .api(
            reqwest::Method::GET,
            &server.admin,
            "/api/v1/orgs/eng/members/noah",
            None,
        )
        .await;
    assert_eq!(m["can_manage"], true, "{m}");
    // A name that is no user: said in words, nothing added.
    b.find("#member-user")
        .await
        .send_keys("nobody")
        .await
        .unwrap();
    b.click("#add-member button[type=submit]").await;
    b.wait_text(".alert", "the error", |t| t.contains("no user 'nobody'"))
        .await;
    b.goto(&server.url("/orgs/eng")).await;
    b.audit("org").await;
    b.shoot("org").await;
    crate::e2e::sign_out(b).await;

    // An admin creates an org with a domain, then deletes it through the preview.
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
    b.goto(&server.url("/orgs")).await;
    b.click("#org-open").await;
    b.find("#new-org input[name=name]")
        .await
        .send_keys("Marketing")
        .await
        .unwrap();
    b.find("#new-org input[name=slug]")
        .await
        .send_keys("mkt")
        .await
        .unwrap();
    b.find("#new-org input[name=domain]")
        .await
        .send_keys("mkt.example.com")
        .await
        .unwrap();
    b.click("#new-org button[type=submit]").await;
    b.wait_url("the new org", |u| u.contains("/orgs/mkt?done=created"))
        .await;
    let facts = b.text("main").await;
    assert!(
        facts.contains("mkt.example.com") && facts.contains("not proved yet"),
        "{facts}"
    );
    server
        .upload(&server.admin, "brief.md", "mkt", "campaign brief")
        .await;
    b.click("a[href='/orgs/mkt/delete']").await;
    b.find("#disposition")
        .await
        .select_by_value("move:eng")
        .await
        .unwrap();
    b.click("form[action='/orgs/mkt/delete'] button[type=submit]")
        .await;
    let confirm = b.text("#org-delete-confirm").await;
    assert_eq!(
        confirm, "Delete Marketing, its resources move to Engineering",
        "the button names the effect"
    );
    b.audit("org-delete").await;
    b.shoot("org-delete").await;
    b.click("#org-delete-confirm").await;
    b.wait_url("the orgs after deletion", |u| u.contains("done=deleted"))
        .await;
    let names = server.file_names(&server.admin).await;
    assert!(names.contains(&"brief.md".to_owned()));
    let (_, f) = server
        .api(reqwest::Method::GET, &server.admin, "/api/v1/files", None)
        .await;
    assert_eq!(f["items"][0]["org"]["slug"], "eng", "{f}");

    // The audit log, filtered by kind in its toolbar; the export keeps the query.
    b.click(".sidenav a[href='/audit']").await;
    b.find("#f-kind").await.send_keys("org").await.unwrap();
    b.click(".audit-filters button[type=submit]").await;
    b.wait_url("the filtered log", |u| u.contains("kind=org"))
        .await;
    let log = b
        .wait_text("#audit-table", "the org entries", |t| {
            t.contains("org.delete")
        })
        .await;
    assert!(
        log.contains("org.create") && !log.contains("file.create"),
        "{log}"
    );
    let export = b.find("#audit-export").await.attr("href").await.unwrap();
    assert_eq!(export.as_deref(), Some("/api/v1/audit/export?kind=org"));
    let (status, body) = server
        .page(&server.admin, "/api/v1/audit/export?kind=org")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        body.lines().all(|l| l.contains("\"kind\":\"org\"")),
        "{body}"
    );
    b.audit("audit").await;
    b.shoot("audit").await;
}

#[tokio::test]
async fn the_add_member_field_suggests_whom_the_viewer_may_name() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("ops", "Operations").await;
    server.user("mia", &["eng", "ops"], Some("eng")).await;
    server.user("olga", &["ops"], None).await;
    server.user("noah", &[], None).await;
    let (s, body) = server
        .api(
            reqwest::Method::PATCH,
            &server.admin,
            "/api/v1/orgs/eng/members/mia",
            Some(serde_json::json!({"can_manage": true})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{body}");
    let suggested = |page: &str| -> Vec<String> {
        let list = page
            .split("<datalist id=\"member-choices\">")
            .nth(1)
            .unwrap();
        let list = list.split("</datalist>").next().unwrap();
        list.split("value=\"")
            .skip(1)
            .map(|v| v.split('"').next().unwrap().to_owned())
            .collect()
    };
    // A manager: the members of her orgs who are not members here.
    let mia = server.api_login("mia", "mia-password").await;
    let (_, page) = server.page(&mia, "/orgs/eng").await;
    assert_eq!(suggested(&page), vec!["olga".to_owned()], "{page}");
    // An admin: every enabled user of the tenant who is not a member.
    let (_, page) = server.page(&server.admin, "/orgs/eng").await;
    let names = suggested(&page);
    assert!(
        names.contains(&"noah".to_owned()) && names.contains(&"olga".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"mia".to_owned()), "{names:?}");
}
