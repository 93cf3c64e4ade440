//! Cursor pagination (DESIGN section 5): `limit`, `cursor`, `next_cursor`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, backends, enc, ids};

#[tokio::test]
async fn cursors_walk_every_item_once_in_creation_order() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let mut made = Vec::new();
        for i in 0..23 {
            // Every third one in an org, so the filter pages too.
            let org = if i % 3 == 0 {
                json!("alpha")
            } else {
                json!(null)
            };
            let p = s
                .create(
                    &s.admin,
                    "plugins",
                    json!({"name": format!("plugin {i:02}"), "org": org}),
                )
                .await;
            made.push(p["id"].as_str().unwrap().to_owned());
        }

        let walk = |limit: usize, filter: &'static str| {
            let s = &s;
            async move {
                let mut seen: Vec<String> = Vec::new();
                let mut pages = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut path = format!("/api/v1/plugins?limit={limit}{filter}");
                    if let Some(c) = &cursor {
                        path.push_str(&format!("&cursor={}", enc(c)));
                    }
                    let (st, page) = s.get(&s.admin, &path).await;
                    assert_eq!(st, StatusCode::OK, "{backend:?} {path}: {page}");
                    let page_ids = ids(&page);
                    assert!(page_ids.len() <= limit, "{backend:?}: {page}");
                    pages.push(page_ids.len());
                    seen.extend(page_ids);
                    match page["next_cursor"].as_str() {
                        Some(c) => {
                            assert!(!c.is_empty());
                            cursor = Some(c.to_owned());
                        }
                        None => {
                            assert_eq!(page["next_cursor"], json!(null), "{backend:?}");
                            break;
                        }
                    }
                    assert!(pages.len() < 100, "{backend:?}: the cursor never ends");
                }
                (seen, pages)
            }
        };

        let (seen, pages) = walk(5, "").await;
        assert_eq!(pages, [5, 5, 5, 5, 3], "{backend:?}");
        assert_eq!(
            seen, made,
            "{backend:?}: every plugin once, in creation order"
        );
        let names: Vec<String> = s
            .list_all(&s.admin, "/api/v1/plugins?limit=5")
            .await
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..23).map(|i| format!("plugin {i:02}")).collect();
        assert_eq!(names, expected, "{backend:?}");

        // A last page that is exactly full says so: no cursor to an empty page.
        let (seen, pages) = walk(23, "").await;
        assert_eq!((seen.len(), pages), (23, vec![23]), "{backend:?}");
        let (seen, pages) = walk(22, "").await;
        assert_eq!((seen, pages), (made.clone(), vec![22, 1]), "{backend:?}");
        let (seen, pages) = walk(200, "").await;
        assert_eq!((seen, pages), (made.clone(), vec![23]), "{backend:?}");
        let (_, page) = s.get(&s.admin, "/api/v1/plugins").await;
        assert_eq!(ids(&page), made, "{backend:?}: the default limit is 50");
        assert_eq!(page["next_cursor"], json!(null));

        // Paging composes with the org filter.
        let in_alpha: Vec<String> = made.iter().step_by(3).cloned().collect();
        let (seen, pages) = walk(3, "&org=alpha").await;
        assert_eq!(
            (seen, pages),
            (in_alpha.clone(), vec![3, 3, 2]),
            "{backend:?}"
        );
        let tenant_wide: Vec<String> = made
            .iter()
            .filter(|id| !in_alpha.contains(id))
            .cloned()
            .collect();
        let (seen, pages) = walk(4, "&org=tenant").await;
        assert_eq!(
            (seen, pages),
            (tenant_wide, vec![4, 4, 4, 3]),
            "{backend:?}"
        );

        // A cursor past the end is an empty last page.
        let (st, page) = s
            .get(&s.admin, &format!("/api/v1/plugins?cursor={}", made[22]))
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}");
        assert_eq!(ids(&page).len(), 0, "{backend:?}");
        assert_eq!(page["next_cursor"], json!(null), "{backend:?}");

        // Out-of-range limits and foreign cursors are 400 problems.
        for q in [
            "limit=0",
            "limit=201",
            "limit=-1",
            "limit=abc",
            "cursor=bad%20cursor!",
            "limit=5&cursor=bad%20cursor!",
        ] {
            for path in [
                "/api/v1/plugins",
                "/api/v1/orgs",
                "/api/v1/audit",
                "/api/v1/users",
            ] {
                s.expect(
                    &s.admin,
                    Method::GET,
                    &format!("{path}?{q}"),
                    None,
                    StatusCode::BAD_REQUEST,
                )
                .await;
            }
        }
        let detail = s
            .expect(
                &s.admin,
                Method::GET,
                "/api/v1/plugins?limit=0",
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains("limit"), "{backend:?}: {detail}");
        let detail = s
            .expect(
                &s.admin,
                Method::GET,
                "/api/v1/plugins?cursor=bad%20cursor!",
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains("cursor"), "{backend:?}: {detail}");
    }
}
