//! The whole story in a browser: sign in, upload into an org through the
//! dialog, find the file under that org's filter, move it through the
//! preview dialog, and see it gone for a member of the old org (from their
//! list and from their knowledge search). Every page kind is audited with
//! axe-core and photographed at desktop and phone width on the way.

use futures_util::FutureExt;
use reqwest::Method;

use crate::browser::Browser;
use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_list_move_and_lose_access_in_a_browser() {
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

pub async fn sign_in(b: &Browser, server: &TestServer, username: &str) {
    b.goto(&server.url("/")).await;
    b.wait_url("the sign-in page", |u| u.contains("/login"))
        .await;
    b.find("#username").await.send_keys(username).await.unwrap();
    b.find("#password")
        .await
        .send_keys(&format!("{username}-password"))
        .await
        .unwrap();
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_url("the files page", |u| u.ends_with("/files"))
        .await;
}

pub async fn sign_out(b: &Browser) {
    b.click(".usermenu summary").await;
    b.click("form[action='/logout'] button").await;
    b.wait_url("the sign-in page", |u| u.contains("/login"))
        .await;
}

async fn story(server: &TestServer, b: &Browser) {
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("alice", &["eng", "mkt"], Some("eng")).await;
    server.user("bob", &["eng"], Some("eng")).await;
    let bob_token = server.api_login("bob", "bob-password").await;

    // The sign-in page.
    b.goto(&server.url("/")).await;
    b.wait_url("the sign-in page", |u| u.contains("/login"))
        .await;
    b.audit("sign-in").await;
    b.shoot("sign-in").await;

    sign_in(b, server, "alice").await;
    assert!(b.text("main").await.contains("No files here yet"));

    // Upload two files into Engineering through the dialog.
    b.click("#upload-open").await;
    let dialog = b.find("#upload-dialog[open]").await;
    let org = b.find("#upload-org").await.prop("value").await.unwrap();
    assert_eq!(
        org.as_deref(),
        Some("eng"),
        "the default org is preselected"
    );
    b.audit("upload-dialog").await;
    b.shoot("upload-dialog").await;
    let dir = server.dir.join("to-upload");
    std::fs::create_dir_all(&dir).unwrap();
    let runbook = dir.join("runbook.md");
    std::fs::write(
        &runbook,
        "# Runbook\n\nThe rotation policy for database credentials is quarterly.\n",
    )
    .unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "Meeting notes: nothing secret here.\n").unwrap();
    b.find("#upload-files")
        .await
        .send_keys(&format!("{}\n{}", runbook.display(), notes.display()))
        .await
        .unwrap();
    let listed = dialog
        .find_all(fantoccini::Locator::Css(".upload-list li"))
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        2,
        "both chosen files are listed before sending"
    );
    b.click("#upload-form button[type=submit]").await;
    b.wait_url("the list of Engineering's files", |u| {
        u.contains("org=eng") && u.contains("uploaded=2")
    })
    .await;
    b.wait_text(".notice", "the upload notice", |t| {
        t.contains("2 files uploaded")
    })
    .await;

    // The file is listed under Engineering's filter (chosen in the toolbar).
    b.click(".sidenav a[href='/files']").await;
    b.wait_url("all files", |u| u.ends_with("/files")).await;
    b.find("#org-filter")
        .await
        .select_by_value("tenant")
        .await
        .unwrap();
    b.wait_url("the tenant-wide filter", |u| u.contains("org=tenant"))
        .await;
    b.wait_text("main", "an empty tenant-wide list", |t| {
        t.contains("No files here yet")
    })
    .await;
    b.find("#org-filter")
        .await
        .select_by_value("eng")
        .await
        .unwrap();
    b.wait_url("Engineering's filter", |u| u.contains("org=eng"))
        .await;
    let table = b
        .wait_text("#file-table", "runbook.md under Engineering", |t| {
            t.contains("runbook.md")
        })
        .await;
    assert!(
        table.contains("Engineering"),
        "each row shows its org: {table}"
    );
    b.find("#file-table a.file-link").await;
    let mut file_url = String::new();
    for link in b
        .client
        .find_all(fantoccini::Locator::Css("#file-table a.file-link"))
        .await
        .unwrap()
    {
        if link.text().await.unwrap() == "runbook.md" {
            file_url = link.attr("href").await.unwrap().unwrap();
        }
    }
    let id = file_url.trim_start_matches("/files/").to_owned();
    assert!(id.starts_with("file_"), "{file_url}");
    // A back-and-forth: the filter is in the URL.
    b.client.back().await.unwrap();
    b.wait_url("the tenant-wide filter again", |u| u.contains("org=tenant"))
        .await;
    b.goto(&server.url("/files?org=eng")).await;
    b.audit("files").await;
    b.shoot("files").await;

    // Bob (in Engineering) finds it before the move: in his list and his search.
    server.extracted(&bob_token, &id).await;
    assert!(
        server
            .file_names(&bob_token)
            .await
            .contains(&"runbook.md".to_owned())
    );
    let (_, hits) = server
        .api(
            Method::GET,
            &bob_token,
            "/api/v1/knowledge/search?q=rotation",
            None,
        )
        .await;
    assert_eq!(hits["items"].as_array().map(Vec::len), Some(1), "{hits}");

    // Alice searches.
    b.goto(&server.url("/knowledge")).await;
    b.find("#q")
        .await
        .send_keys("rotation policy")
        .await
        .unwrap();
    b.find("#ctx").await.select_by_value("eng").await.unwrap();
    b.click("form[role=search] button[type=submit]").await;
    let hits = b
        .wait_text(".hits", "a hit", |t| t.contains("runbook.md"))
        .await;
    assert!(hits.contains("rotation"));
    assert!(
        b.exists(".snippet mark").await,
        "the matches are highlighted"
    );
    b.audit("knowledge").await;
    b.shoot("knowledge").await;

    // Move it to Marketing through the preview dialog.
    b.goto(&server.url(&file_url)).await;
    b.wait_text("h1", "the file's name", |t| t == "runbook.md")
        .await;
    b.audit("file").await;
    b.shoot("file").await;
    // Who has access, and one user checked (the panel swaps in place).
    let panel = b.text("#access").await;
    assert!(panel.contains("member of eng"), "{panel}");
    b.find("#access-user").await.send_keys("bob").await.unwrap();
    b.click("#access form button[type=submit]").await;
    b.wait_text("#access-decision", "bob's decision", |t| {
        t.contains("bob can see and change it")
    })
    .await;
    b.wait_url("the checked user in the URL", |u| u.contains("user=bob"))
        .await;
    b.audit("access-panel").await;
    b.scroll_to("#access").await;
    b.shoot("access-panel").await;
    b.find("#move-to")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.click("form[data-dialog] button[type=submit]").await;
    b.find("#move-dialog[open] #move-confirm").await;
    let lose = b.text("#move-dialog .lose").await;
    assert!(
        lose.contains("bob"),
        "the preview names who loses access: {lose}"
    );
    let confirm = b.text("#move-confirm").await;
    assert_eq!(confirm, "Move to Marketing: 1 person loses access");
    b.audit("move-preview").await;
    b.shoot("move-preview").await;
    b.click("#move-confirm").await;
    b.wait_url("the file page after the move", |u| u.contains("done=moved"))
        .await;
    let context = b.text(".page-head .context").await;
    assert!(context.contains("Marketing"), "{context}");

    // Drag and drop: a file dropped on the zone is listed and uploaded,
    // here into Marketing, chosen in the picker.
    b.goto(&server.url("/files")).await;
    b.click("#upload-open").await;
    b.find("#upload-dialog[open]").await;
    b.find("#upload-org")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.client
        .execute(
            "const t = new DataTransfer();
             t.items.add(new File(['dropped text about budgets'], 'dropped.txt', {type: 'text/plain'}));
             document.querySelector('[data-dropzone]').dispatchEvent(
                 new DragEvent('drop', {dataTransfer: t, bubbles: true, cancelable: true}));",
            vec![],
        )
        .await
        .unwrap();
    b.wait_text(".upload-list", "the dropped file", |t| {
        t.contains("dropped.txt")
    })
    .await;
    b.click("#upload-form button[type=submit]").await;
    b.wait_url("Marketing's files", |u| {
        u.contains("org=mkt") && u.contains("uploaded=1")
    })
    .await;
    let table = b.text("#file-table").await;
    assert!(
        table.contains("dropped.txt") && table.contains("runbook.md"),
        "{table}"
    );

    sign_out(b).await;

    // Bob no longer sees it: not in his list, not in his search, and its
    // page is the same "not found" as an id never used.
    sign_in(b, server, "bob").await;
    let main = b.text("main").await;
    assert!(!main.contains("runbook.md"), "bob still lists it: {main}");
    assert!(
        main.contains("notes.txt"),
        "bob lists what he can see: {main}"
    );
    b.goto(&server.url("/files?org=eng")).await;
    assert!(!b.text("main").await.contains("runbook.md"));
    b.goto(&server.url("/knowledge?q=rotation+policy")).await;
    let found = b.text("main").await;
    assert!(
        found.contains("Nothing matches"),
        "bob still finds it: {found}"
    );
    b.goto(&server.url("/knowledge?q=rotation+policy&org=eng"))
        .await;
    assert!(b.text("main").await.contains("Nothing matches"));
    b.goto(&server.url(&file_url)).await;
    let hidden = b.find("main").await.html(true).await.unwrap();
    assert!(hidden.contains("Not found"), "{hidden}");
    b.audit("not-found").await;
    b.shoot("not-found").await;
    b.goto(&server.url("/files/file_00000000000000000000000000"))
        .await;
    let never = b.find("main").await.html(true).await.unwrap();
    assert_eq!(
        hidden, never,
        "a hidden file reads exactly like one that never existed"
    );
}
