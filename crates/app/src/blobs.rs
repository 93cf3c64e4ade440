//! Blob storage: a local folder (embedded default) or S3-compatible object
//! storage, behind object_store. Uploads stream through in constant memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use orgscope_store::Store;

/// Where blobs live, and what the start-up sweep may assume.
#[derive(Clone, Debug)]
pub struct Blobs {
    pub store: Arc<dyn ObjectStore>,
    /// The local folder, when blobs are local (single process: anything
    /// half-written there at start-up is a leftover of a crash).
    local: Option<PathBuf>,
}

/// Blobs of files live under this prefix, one per file id.
pub const FILES_PREFIX: &str = "files";

impl Blobs {
    pub fn local(dir: &Path) -> Result<Blobs, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("blob folder {}: {e}", dir.display()))?;
        Ok(Blobs {
            store: Arc::new(store),
            local: Some(dir.to_path_buf()),
        })
    }

    /// S3-compatible storage: `ORGSCOPE_S3_BUCKET` (required),
    /// `ORGSCOPE_S3_ENDPOINT`, `ORGSCOPE_S3_REGION` and the usual `AWS_*`
    /// credentials.
    pub fn s3(bucket: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Blobs, String> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(region.unwrap_or("us-east-1"));
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
        Ok(Blobs {
            store: Arc::new(store),
            local: None,
        })
    }

    /// From the environment: S3 when `ORGSCOPE_S3_BUCKET` is set, else the
    /// data dir's blob folder.
    pub fn from_env(local_dir: &Path) -> Result<Blobs, String> {
        match std::env::var("ORGSCOPE_S3_BUCKET")
            .ok()
            .filter(|b| !b.is_empty())
        {
            Some(bucket) => Blobs::s3(
                &bucket,
                std::env::var("ORGSCOPE_S3_ENDPOINT").ok().as_deref(),
                std::env::var("ORGSCOPE_S3_REGION").ok().as_deref(),
            ),
            None => Blobs::local(local_dir),
        }
    }

    pub fn key_for(file_id: &str) -> String {
        format!("{FILES_PREFIX}/{file_id}")
    }

    /// Starts a streamed upload.
    pub async fn writer(&self, key: &str) -> object_store::Result<WriteMultipart> {
        let upload = self.store.put_multipart(&BlobPath::from(key)).await?;
        Ok(WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024))
    }

    pub async fn delete(&self, key: &str) {
        match self.store.delete(&BlobPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(key, error = %e, "could not delete a blob"),
        }
    }

    /// Removes what a crash left behind: half-written uploads (local staging
    /// files) and complete blobs no file refers to. On S3, incomplete multipart
    /// uploads are invisible (a bucket lifecycle rule aborts them) and only
    /// orphans older than an hour are removed, so another replica's upload in
    /// flight is never touched.
    pub async fn sweep(&self, store: &Store) -> Result<usize, String> {
        use futures_util::StreamExt;
        let mut removed = 0;
        if let Some(dir) = &self.local {
            let files = dir.join(FILES_PREFIX);
            if let Ok(entries) = std::fs::read_dir(&files) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // object_store stages a local upload as `NAME#N` and renames it when complete.
                    if name.contains('#') {
                        let _ = std::fs::remove_file(entry.path());
                        removed += 1;
                    }
                }
            }
        }
        let cutoff = if self.local.is_some() {
            None
        } else {
            Some(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        };
        let mut listing = self.store.list(Some(&BlobPath::from(FILES_PREFIX)));
        let mut candidates = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| format!("listing blobs: {e}"))?;
            let old_enough =
                cutoff.is_none_or(|c| std::time::SystemTime::from(meta.last_modified) < c);
            if old_enough {
                candidates.push(meta.location.to_string());
            }
        }
        for key in candidates {
            let mut tx = store.read().await.map_err(|e| e.to_string())?;
            let referenced = tx
                .blob_is_referenced(&key)
                .await
                .map_err(|e| e.to_string())?;
            drop(tx);
            if !referenced {
                self.delete(&key).await;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
