//! Files and knowledge through HTTP: the org rules for every role and key
//! access, re-scope in force at once, downloads, limits and search input.

use std::time::Duration;

use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Options, TestServer, backends};

/// Uploads `body` as a raw file; returns the file.
pub(crate) async fn upload(
    s: &TestServer,
    token: &str,
    name: &str,
    org: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut url = format!("{}/api/v1/files?name={name}", s.base);
    if let Some(o) = org {
        url.push_str(&format!("&org={o}"));
    }
    let res = s
        .http
        .post(url)
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Waits until a file's extraction has finished; returns the file.
pub(crate) async fn extracted(s: &TestServer, id: &str) -> Value {
    for _ in 0..200 {
        let (_, f) = s.get(&s.admin, &format!("/api/v1/files/{id}")).await;
        if !["pending", "running"].contains(&f["extraction"]["state"].as_str().unwrap_or("")) {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("extraction of {id} did not finish");
}

async fn names(s: &TestServer, token: &str, path: &str) -> Vec<String> {
    let (status, body) = s.get(token, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let mut n: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["name"]
                .as_str()
                .or(i["file"]["name"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect();
    n.sort();
    n
}

async fn key(s: &TestServer, org: &str, access: &str) -> String {
    let (status, k) = s
        .post(
            &s.admin,
            "/api/v1/api-keys",
            json!({"name": "k", "org": org, "access": access}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{k}");
    k["token"].as_str().unwrap().to_owned()
}

struct World {
    s: TestServer,
    alice: String,
    bob: String,
    auditor: String,
    read_a: String,
    rw_a: String,
    in_a: String,
    in_b: String,
    wide: String,
}

async fn world(backend: Backend) -> World {
    let s = TestServer::start(backend).await;
    s.org("alpha").await;
    s.org("beta").await;
    let alice = s.user("alice", "user", &[("alpha", false)]).await;
    let bob = s.user("bob", "user", &[("beta", false)]).await;
    let auditor = s.user("audrey", "auditor", &[]).await;
    let read_a = key(&s, "alpha", "read").await;
    let rw_a = key(&s, "alpha", "read_write").await;
    let (st, a) = upload(
        &s,
        &alice,
        "a.md",
        Some("alpha"),
        "zebra notes of team alpha",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, b) = upload(&s, &bob, "b.md", Some("beta"), "zebra notes of team beta").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, w) = upload(
        &s,
        &s.admin,
        "wide.md",
        Some("tenant"),
        "zebra notes for everyone",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    let ids: Vec<String> = [a, b, w]
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert_eq!(extracted(&s, id).await["extraction"]["state"], "done");
    }
    World {
        s,
        alice,
        bob,
        auditor,
        read_a,
        rw_a,
        in_a: ids[0].clone(),
        in_b: ids[1].clone(),
        wide: ids[2].clone(),
    }
}

#[tokio::test]
async fn files_and_knowledge_follow_the_org_rules() {
    for backend in backends() {
        let w = world(backend).await;
        let s = &w.s;
        let all = ["a.md", "b.md", "wide.md"];
        // Listing, search without context: what each may see.
        for (who, token, want) in [
            ("admin", &s.admin, &all[..]),
            ("auditor", &w.auditor, &all[..]),
            ("alice", &w.alice, &["a.md", "wide.md"][..]),
            ("bob", &w.bob, &["b.md", "wide.md"][..]),
            ("read key of a", &w.read_a, &["a.md", "wide.md"][..]),
            ("rw key of a", &w.rw_a, &["a.md", "wide.md"][..]),
        ] {
            assert_eq!(
                names(s, token, "/api/v1/files").await,
                want,
                "{backend:?} {who} list"
            );
            assert_eq!(
                names(s, token, "/api/v1/knowledge/search?q=zebra").await,
                want,
                "{backend:?} {who} search"
            );
            assert_eq!(
                names(s, token, "/api/v1/knowledge").await,
                want,
                "{backend:?} {who} entries"
            );
        }
        // A context org: its entries and tenant-wide ones, never another org's, even for an admin.
        assert_eq!(
            names(s, &s.admin, "/api/v1/knowledge/search?q=zebra&org=alpha").await,
            ["a.md", "wide.md"]
        );
        assert_eq!(
            names(s, &s.admin, "/api/v1/knowledge/search?q=zebra&org=tenant").await,
            ["wide.md"]
        );
        let (st, _) = s
            .get(&w.alice, "/api/v1/knowledge/search?q=zebra&org=beta")
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "alice cannot name org beta");
        // Get and download: hidden is 404, like an id never used.
        for (token, id, want) in [
            (&w.alice, &w.in_b, StatusCode::NOT_FOUND),
            (&w.read_a, &w.in_b, StatusCode::NOT_FOUND),
            (&w.alice, &w.in_a, StatusCode::OK),
            (&w.bob, &w.wide, StatusCode::OK),
            (&w.auditor, &w.in_b, StatusCode::OK),
        ] {
            let (st, _) = s.get(token, &format!("/api/v1/files/{id}")).await;
            assert_eq!(st, want, "{backend:?} get {id}");
            let (st, _, _) = s
                .call(
                    Method::GET,
                    &format!("/api/v1/files/{id}/content"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(st, want, "{backend:?} download {id}");
        }
        let (_, hidden, _) = s
            .call(
                Method::GET,
                &format!("/api/v1/files/{}/content", w.in_b),
                Some(&w.alice),
                None,
            )
            .await;
        let (_, unused, _) = s
            .call(
                Method::GET,
                "/api/v1/files/file_0000/content",
                Some(&w.alice),
                None,
            )
            .await;
        assert_eq!(
            hidden.to_string().replace(&w.in_b, "ID"),
            unused.to_string().replace("file_0000", "ID")
        );
        // Writes: read-only principals get 403 on what they see.
        for token in [&w.auditor, &w.read_a] {
            let (st, _) = s
                .patch(
                    token,
                    &format!("/api/v1/files/{}", w.in_a),
                    json!({"name": "x"}),
                )
                .await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{backend:?}");
            let (st, _) = upload(s, token, "x.md", Some("alpha"), "x").await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{backend:?}");
        }
        // A user reads a tenant-wide file someone else made but cannot change it.
        let (st, _) = s
            .delete(&w.alice, &format!("/api/v1/files/{}", w.wide))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // Uploading into an org one is not in is as if it did not exist.
        let (st, body) = upload(s, &w.alice, "x.md", Some("beta"), "x").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // A member renames; the rw key of the org deletes.
        let (st, f) = s
            .patch(
                &w.alice,
                &format!("/api/v1/files/{}", w.in_a),
                json!({"name": "alpha.md"}),
            )
            .await;
        assert_eq!((st, f["name"].as_str()), (StatusCode::OK, Some("alpha.md")));
        assert_eq!(
            f["size"], 25,
            "an update answers the file with its metadata"
        );
        let (st, _) = s
            .delete(&w.rw_a, &format!("/api/v1/files/{}", w.in_a))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert_eq!(
            names(s, &w.alice, "/api/v1/knowledge/search?q=zebra").await,
            ["wide.md"]
        );
        assert!(
            std::fs::read_dir(s.dir.join("blobs/files"))
                .unwrap()
                .count()
                == 2,
            "the deleted file's blob is gone"
        );
    }
}

#[tokio::test]
async fn a_rescope_is_in_force_on_the_next_request() {
    for backend in backends() {
        let w = world(backend).await;
        let s = &w.s;
        let path = format!("/api/v1/files/{}/rescope", w.in_a);
        // Alice may not move her file into an org she is not in.
        let (st, _) = s.post(&w.alice, &path, json!({"org": "beta"})).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, report) = s
            .post(&s.admin, &path, json!({"org": "beta", "preview": true}))
            .await;
        assert_eq!(st, StatusCode::OK, "{report}");
        assert_eq!(report["impact"]["users_losing_access"], json!(["alice"]));
        assert_eq!(report["impact"]["users_gaining_access"], json!(["bob"]));
        assert_eq!(report["impact"]["derived"]["knowledge_entries"], 1);
        // The preview changed nothing.
        let (st, _) = s.get(&w.alice, &format!("/api/v1/files/{}", w.in_a)).await;
        assert_eq!(st, StatusCode::OK);
        let (st, moved) = s.post(&s.admin, &path, json!({"org": "beta"})).await;
        assert_eq!(st, StatusCode::OK, "{moved}");
        assert_eq!(moved["resource"]["org"]["slug"], "beta");
        let (st, _) = s.get(&w.alice, &format!("/api/v1/files/{}", w.in_a)).await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "{backend:?}: old org loses it at once"
        );
        assert_eq!(
            names(s, &w.alice, "/api/v1/knowledge/search?q=alpha").await,
            Vec::<String>::new()
        );
        assert_eq!(
            names(s, &w.bob, "/api/v1/knowledge/search?q=alpha").await,
            ["a.md"]
        );
        // Making someone else's file tenant-wide is its creator's or an admin's call.
        let (st, _) = s.post(&w.bob, &path, json!({"org": null})).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{backend:?}");
        let (_, log) = s.get(&s.admin, "/api/v1/audit?limit=200").await;
        let entry = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "file.rescope")
            .unwrap();
        assert_eq!(entry["before"]["org"]["slug"], "alpha");
        assert_eq!(entry["after"]["resource"]["org"]["slug"], "beta");
    }
}

#[tokio::test]
async fn downloads_carry_type_etag_and_ranges() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (_, f) = upload(
        &s,
        &s.admin,
        "notes%20%C3%A9t%C3%A9.txt",
        None,
        "0123456789abcdef",
    )
    .await;
    let id = f["id"].as_str().unwrap();
    let sha =
        orgscope_server::auth::hex(&<sha2::Sha256 as sha2::Digest>::digest(b"0123456789abcdef"));
    assert_eq!(f["sha256"], sha.as_str());
    let url = format!("{}/api/v1/files/{id}/content", s.base);
    let res = s.http.get(&url).bearer_auth(&s.admin).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''notes%20%C3%A9t%C3%A9.txt")
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", f["sha256"].as_str().unwrap()));
    assert_eq!(res.text().await.unwrap(), "0123456789abcdef");
    let part = s
        .http
        .get(&url)
        .bearer_auth(&s.admin)
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 4-7/16");
    assert_eq!(part.text().await.unwrap(), "4567");
    let tail = s
        .http
        .get(&url)
        .bearer_auth(&s.admin)
        .header("range", "bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.text().await.unwrap(), "def");
    let bad = s
        .http
        .get(&url)
        .bearer_auth(&s.admin)
        .header("range", "bytes=99-")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let same = s
        .http
        .get(&url)
        .bearer_auth(&s.admin)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn uploads_are_checked_before_they_are_kept() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            max_upload: Some(1000),
            ..Options::default()
        },
    )
    .await;
    let (st, body) = upload(&s, &s.admin, "big.txt", Some("default"), &"x".repeat(1001)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Without Content-Length (chunked), the limit holds while streaming.
    let chunks =
        futures_util::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 100])));
    let res = s
        .http
        .post(format!("{}/api/v1/files?name=chunked.txt", s.base))
        .bearer_auth(&s.admin)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (st, _) = upload(&s, &s.admin, "", None, "x").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing of the refused uploads was kept.
    assert!(names(&s, &s.admin, "/api/v1/files").await.is_empty());
    assert_eq!(
        std::fs::read_dir(s.dir.join("blobs/files"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    // Multipart: the org part, then the file part.
    let form = reqwest::multipart::Form::new().text("org", "default").part(
        "file",
        reqwest::multipart::Part::text("multipart body").file_name("m.txt"),
    );
    let res = s
        .http
        .post(format!("{}/api/v1/files", s.base))
        .bearer_auth(&s.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let f: Value = res.json().await.unwrap();
    assert_eq!(
        (
            f["name"].as_str(),
            f["org"]["slug"].as_str(),
            f["size"].as_i64()
        ),
        (Some("m.txt"), Some("default"), Some(14))
    );
}

#[tokio::test]
async fn files_that_cannot_be_read_say_why_and_stay_downloadable() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (_, png) = upload(&s, &s.admin, "pic.png", None, "\u{89}PNG not really").await;
    let (_, pdf) = upload(
        &s,
        &s.admin,
        "broken.pdf",
        None,
        "%PDF-1.4 this is not a pdf",
    )
    .await;
    let (_, html) = upload(
        &s,
        &s.admin,
        "page.html",
        None,
        "<p>Hello <b>quokka</b> &amp; friends</p><script>nope()</script>",
    )
    .await;
    let png = extracted(&s, png["id"].as_str().unwrap()).await;
    assert_eq!(png["extraction"]["state"], "unsupported");
    let pdf = extracted(&s, pdf["id"].as_str().unwrap()).await;
    assert_eq!(pdf["extraction"]["state"], "failed");
    assert!(pdf["extraction"]["error"].as_str().unwrap().contains("PDF"));
    let (st, _, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/files/{}/content", pdf["id"].as_str().unwrap()),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    extracted(&s, html["id"].as_str().unwrap()).await;
    let (_, hits) = s.get(&s.admin, "/api/v1/knowledge/search?q=quokka").await;
    assert_eq!(
        hits["items"][0]["snippet"],
        "Hello <mark>quokka</mark> &amp; friends"
    );
    let (_, none) = s.get(&s.admin, "/api/v1/knowledge/search?q=nope").await;
    assert_eq!(none["items"], json!([]), "script text is not knowledge");
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// No search input yields a 500 or a syntax error, on any backend.
#[test]
fn search_input_never_breaks_the_query() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers: Vec<TestServer> = rt.block_on(async {
        let mut out = Vec::new();
        for backend in backends() {
            let s = TestServer::start(backend).await;
            let (_, f) = upload(&s, &s.admin, "t.md", None, "some searchable text").await;
            extracted(&s, f["id"].as_str().unwrap()).await;
            out.push(s);
        }
        out
    });
    let cases = std::env::var("ORGSCOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    let queries = prop_oneof![
        any::<String>(),
        "[\"'*^:(){}\\[\\]+\\-~ ORANDNTEAR]{0,40}",
        "[a-z\"*]{1,8}( (AND|OR|NOT|NEAR) [a-z\"*(]{1,8}){0,5}",
        Just(String::new()),
        Just("x".repeat(5000)),
        Just("word ".repeat(300)),
    ];
    runner
        .run(&queries, |q| {
            rt.block_on(async {
                for s in &servers {
                    let res = s
                        .http
                        .get(format!(
                            "{}/api/v1/knowledge/search?q={}",
                            s.base,
                            encode(&q)
                        ))
                        .bearer_auth(&s.admin)
                        .send()
                        .await
                        .unwrap();
                    let st = res.status();
                    prop_assert!(
                        st == StatusCode::OK || st == StatusCode::BAD_REQUEST,
                        "{q:?}: {st}"
                    );
                }
                Ok(())
            })
        })
        .unwrap();
    // The one searchable word is still found: the fuzzing ran real queries.
    rt.block_on(async {
        for s in &servers {
            assert_eq!(
                names(s, &s.admin, "/api/v1/knowledge/search?q=searchable").await,
                ["t.md"]
            );
        }
    });
}

/// Placement is checked before the first byte is stored and again in the
/// transaction that makes the file: a member removed while their upload
/// streams gets no file (and leaves no blob).
#[tokio::test]
async fn a_member_removed_during_an_upload_gets_no_file() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("eng").await;
        let (_, alice) = s.fast_user("alice", "user", &[("eng", false)]).await;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        let upload = s
            .http
            .post(format!("{}/api/v1/files?name=slow.txt&org=eng", s.base))
            .bearer_auth(&alice)
            .header("content-type", "text/plain")
            .body(body)
            .send();
        let upload = tokio::spawn(upload);
        tx.send(Ok(b"first part ".to_vec())).await.unwrap();
        // The first bytes are in: the placement check has passed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, _) = s.delete(&s.admin, "/api/v1/orgs/eng/members/alice").await;
        assert_eq!(st, StatusCode::OK);
        tx.send(Ok(b"last part".to_vec())).await.unwrap();
        drop(tx);
        let res = upload.await.unwrap().unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{backend:?}");
        let files = s.list_all(&s.admin, "/api/v1/files").await;
        assert!(files.is_empty(), "{backend:?}: {files:?}");
        let blobs = std::fs::read_dir(s.dir.join("blobs").join("files"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(blobs, 0, "{backend:?}: the partial blob is gone");
    }
}

/// A PDF of `pages` pages of text, written by hand: its objects, then the
/// cross-reference table of their byte offsets.
fn pdf(pages: usize) -> String {
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            (0..pages)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    for i in 0..pages {
        let mut text = String::from("BT /F1 10 Tf 50 780 Td 12 TL\n");
        for line in 0..60 {
            text.push_str(&format!(
                "(page {i} line {line} of the wombat report) Tj T*\n"
            ));
        }
        text.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{text}\nendstream",
            text.len()
        ));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (n, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", n + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out
}

/// An extraction past the time limit ends as `failed`, naming the limit, as
/// soon as the limit passes: the file does not wait for the parser.
#[tokio::test]
async fn an_extraction_past_its_time_limit_fails_naming_it() {
    // About a second of parsing in a debug build.
    let document = pdf(300);
    // Without a tight limit the same PDF is read: it is a real one.
    let s = TestServer::start(Backend::Sqlite).await;
    let started = std::time::Instant::now();
    let (_, f) = upload(&s, &s.admin, "report.pdf", None, &document).await;
    let f = extracted_within(&s, f["id"].as_str().unwrap(), Duration::from_secs(120)).await;
    let parse = started.elapsed();
    assert_eq!(f["extraction"]["state"], "done", "{f}");
    let (_, hits) = s.get(&s.admin, "/api/v1/knowledge/search?q=wombat").await;
    assert!(!hits["items"].as_array().unwrap().is_empty(), "{hits}");

    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            extract_time_limit: Some(Duration::from_millis(1)),
            ..Options::default()
        },
    )
    .await;
    let started = std::time::Instant::now();
    let (_, f) = upload(&s, &s.admin, "report.pdf", None, &document).await;
    let f = extracted_within(&s, f["id"].as_str().unwrap(), Duration::from_secs(120)).await;
    let given_up = started.elapsed();
    assert_eq!(f["extraction"]["state"], "failed", "{f}");
    assert!(
        f["extraction"]["error"]
            .as_str()
            .unwrap()
            .contains("time limit of 1 ms"),
        "{f}"
    );
    assert!(
        given_up < parse / 2,
        "failed after {given_up:?}; the whole parse takes {parse:?}"
    );
}

/// Waits until a file's extraction has finished, for up to `wait`.
async fn extracted_within(s: &TestServer, id: &str, wait: Duration) -> Value {
    let until = std::time::Instant::now() + wait;
    while std::time::Instant::now() < until {
        let (_, f) = s.get(&s.admin, &format!("/api/v1/files/{id}")).await;
        if !["pending", "running"].contains(&f["extraction"]["state"].as_str().unwrap_or("")) {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("extraction of {id} did not finish in {wait:?}");
}
