//! The "who has access" panel: shown to those the app lets ask (admins,
//! auditors, writers of the scope) with each rule's group, and one user's
//! decision with its rule; absent for anyone else.

use reqwest::StatusCode;

use crate::harness::TestServer;

#[tokio::test]
async fn the_panel_names_the_rules_and_checks_a_user() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("ops", "Operations").await;
    server.user("alice", &["eng"], Some("eng")).await;
    server.user("bob", &["eng"], Some("eng")).await;
    server.user("olga", &["ops"], Some("ops")).await;
    let alice = server.api_login("alice", "alice-password").await;
    let bob = server.api_login("bob", "bob-password").await;
    let id = server.upload(&alice, "plan.md", "eng", "the plan").await;

    // A writer of eng sees the groups: admins, members of eng (named).
    let (status, page) = server.page(&alice, &format!("/files/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Who has access"), "{page}");
    assert!(page.contains("member of eng"), "{page}");
    assert!(page.contains("alice") && page.contains("bob"), "{page}");
    assert!(page.contains(">admin<"), "{page}");

    // One user's decision, with the rule (a denial names what would allow it).
    let (_, page) = server.page(&alice, &format!("/files/{id}?user=bob")).await;
    assert!(page.contains("bob can see and change it"), "{page}");
    let (_, page) = server
        .page(&server.admin, &format!("/files/{id}?user=olga"))
        .await;
    assert!(page.contains("olga cannot see it"), "{page}");
    assert!(page.contains("not a member of eng"), "{page}");
    // Someone the asker cannot name reads as nobody.
    let (status, page) = server.page(&alice, &format!("/files/{id}?user=olga")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("no user “olga” you can name"), "{page}");

    // htmx asks for the panel alone.
    let res = server
        .http
        .get(server.url(&format!("/files/{id}?user=bob")))
        .header("cookie", format!("orgscope_session={alice}"))
        .header("hx-request", "true")
        .header("hx-target", "access")
        .send()
        .await
        .unwrap();
    let part = res.text().await.unwrap();
    assert!(part.trim_start().starts_with("<section"), "{part}");
    assert!(part.contains("bob can see and change it"));

    // A tenant-wide file bob sees but may not change: no panel for him.
    let wide = server
        .upload(&server.admin, "handbook.md", "tenant", "for all")
        .await;
    let (status, page) = server.page(&bob, &format!("/files/{wide}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("handbook.md"));
    assert!(!page.contains("Who has access"), "{page}");
    let (_, page) = server.page(&server.admin, &format!("/files/{wide}")).await;
    assert!(page.contains("Who has access") && page.contains("tenant-wide"));
}
