//! Files on S3-compatible storage (a real server: `.ci/run` starts moto), when
//! `ORGSCOPE_TEST_S3_ENDPOINT` and `ORGSCOPE_TEST_S3_BUCKET` are set.

use object_store::ObjectStoreExt;
use object_store::path::Path as BlobPath;
use reqwest::StatusCode;

use crate::harness::{Backend, Options, TestServer};

fn s3() -> Option<orgscope_server::blobs::Blobs> {
    let endpoint = std::env::var("ORGSCOPE_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())?;
    let bucket =
        std::env::var("ORGSCOPE_TEST_S3_BUCKET").unwrap_or_else(|_| "orgscope-test".into());
    Some(
        // Credentials: object_store reads the usual AWS_* variables.
        orgscope_server::blobs::Blobs::s3(&orgscope_server::blobs::S3Settings {
            bucket,
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        })
        .expect("S3 blobs"),
    )
}

#[tokio::test]
async fn files_live_on_s3_compatible_storage() {
    let Some(blobs) = s3() else {
        eprintln!("ORGSCOPE_TEST_S3_ENDPOINT is not set: S3 test skipped");
        return;
    };
    let store = blobs.store.clone();
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            blobs: Some(blobs.clone()),
            ..Options::default()
        },
    )
    .await;
    // Larger than one part (8 MiB), so the multipart path is taken.
    let body: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let res = s
        .http
        .post(format!("{}/api/v1/files?name=big.bin&org=default", s.base))
        .bearer_auth(&s.admin)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let f: serde_json::Value = res.json().await.unwrap();
    let id = f["id"].as_str().unwrap().to_owned();
    let sha = orgscope_server::auth::hex(&<sha2::Sha256 as sha2::Digest>::digest(&body));
    assert_eq!(f["sha256"], sha.as_str());
    let key = orgscope_server::blobs::Blobs::key_for(&id);
    assert_eq!(
        store
            .head(&BlobPath::from(key.as_str()))
            .await
            .unwrap()
            .size,
        body.len() as u64
    );
    let part = s
        .http
        .get(format!("{}/api/v1/files/{id}/content", s.base))
        .bearer_auth(&s.admin)
        .header("range", "bytes=10000000-10000009")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.unwrap().to_vec(),
        body[10_000_000..10_000_010].to_vec()
    );
    // An orphan blob (no file refers to it) older than the sweep's grace is
    // removed; the file's own blob stays. (Fresh orphans are kept: they may be
    // another replica's upload in flight.)
    store
        .put(&BlobPath::from("files/file_orphan"), b"x".to_vec().into())
        .await
        .unwrap();
    blobs
        .remove_orphans(&s.store, blobs.orphan_cutoff())
        .await
        .unwrap();
    assert!(store.head(&BlobPath::from(key.as_str())).await.is_ok());
    let (st, _) = s.delete(&s.admin, &format!("/api/v1/files/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(
        store.head(&BlobPath::from(key.as_str())).await.is_err(),
        "the blob goes with the file"
    );
    store
        .delete(&BlobPath::from("files/file_orphan"))
        .await
        .unwrap();
}
