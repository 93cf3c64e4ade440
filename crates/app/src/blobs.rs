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

/// Where S3-compatible blobs live (`--s3-*`, `ORGSCOPE_S3_*`, `AWS_*`).
/// Its `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<secrecy::SecretString>,
    pub session_token: Option<secrecy::SecretString>,
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

    /// S3-compatible storage as the operator configured it. Settings left
    /// out fall back to what object_store reads from the usual `AWS_*`
    /// variables (web identity, container credentials, …).
    pub fn s3(s3: &S3Settings) -> Result<Blobs, String> {
        use secrecy::ExposeSecret;
        let bucket = &s3.bucket;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(s3.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &s3.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        if let Some(token) = &s3.session_token {
            builder = builder.with_token(token.expose_secret());
        }
        let store = builder
            .build()
            .map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
        Ok(Blobs {
            store: Arc::new(store),
            local: None,
        })
    }

    /// S3 when a bucket is configured, else the data dir's blob folder.
    pub fn open(local_dir: &Path, s3: Option<&S3Settings>) -> Result<Blobs, String> {
        match s3 {
            Some(s3) => Blobs::s3(s3),
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

    /// Blob `key` as a stream of chunks; `Ok(None)` when there is no such blob.
    async fn chunks(
        &self,
        key: &str,
    ) -> Result<
        Option<impl futures_util::Stream<Item = Result<bytes::Bytes, String>> + Unpin>,
        String,
    > {
        use futures_util::StreamExt;
        match self.store.get(&BlobPath::from(key)).await {
            Ok(got) => {
                let key = key.to_owned();
                Ok(Some(got.into_stream().map(move |chunk| {
                    chunk.map_err(|e| format!("reading blob {key}: {e}"))
                })))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("reading blob {key}: {e}")),
        }
    }

    /// Streams blob `key` into `sink` (each chunk as it arrives); answers
    /// its size and SHA-256 (hex). `Ok(None)` when there is no such blob.
    pub async fn read_into(
        &self,
        key: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<Option<(u64, String)>, String> {
        use futures_util::StreamExt;
        use sha2::Digest;
        let Some(mut stream) = self.chunks(key).await? else {
            return Ok(None);
        };
        let (mut size, mut hash) = (0u64, sha2::Sha256::new());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hash.update(&chunk);
            size += chunk.len() as u64;
            sink(&chunk)?;
        }
        Ok(Some((size, hex::encode(hash.finalize()))))
    }

    /// Writes blob `key` from `chunks` in constant memory; answers its size
    /// and SHA-256 (hex). Nothing is visible under `key` unless it completes.
    pub async fn write_from(
        &self,
        key: &str,
        mut chunks: impl FnMut() -> Result<Option<Vec<u8>>, String>,
    ) -> Result<(u64, String), String> {
        let chunks = std::iter::from_fn(move || chunks().transpose().map(|c| c.map(Into::into)));
        self.write_stream(key, futures_util::stream::iter(chunks))
            .await
            .map_err(WriteError::into_message)
    }

    /// Copies blob `key` to `target` (streamed); answers its size and SHA-256.
    /// `Ok(None)` when there is no such blob here.
    pub async fn copy_to(
        &self,
        key: &str,
        target: &Blobs,
    ) -> Result<Option<(u64, String)>, String> {
        match self.chunks(key).await? {
            Some(stream) => target
                .write_stream(key, stream)
                .await
                .map(Some)
                .map_err(WriteError::into_message),
            None => Ok(None),
        }
    }

    /// Writes blob `key` from `chunks`, at most two parts in flight (memory
    /// stays flat); answers its size and SHA-256 (hex). On any failure the
    /// partial blob is aborted: nothing is visible under `key`.
    pub async fn write_stream<E>(
        &self,
        key: &str,
        mut chunks: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    ) -> Result<(u64, String), WriteError<E>> {
        use futures_util::StreamExt;
        use sha2::Digest;
        let mut writer = self
            .writer(key)
            .await
            .map_err(|e| WriteError::Store(format!("writing blob {key}: {e}")))?;
        let (mut size, mut hash) = (0u64, sha2::Sha256::new());
        let failure = loop {
            let chunk = match chunks.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => break Some(WriteError::Source(e)),
            };
            if let Err(e) = writer.wait_for_capacity(2).await {
                break Some(WriteError::Store(format!("writing blob {key}: {e}")));
            }
            hash.update(&chunk);
            size += chunk.len() as u64;
            writer.put(chunk);
        };
        if let Some(failure) = failure {
            let _ = writer.abort().await;
            return Err(failure);
        }
        writer
            .finish()
            .await
            .map_err(|e| WriteError::Store(format!("writing blob {key}: {e}")))?;
        Ok((size, hex::encode(hash.finalize())))
    }

    /// The size of blob `key`, `None` when there is none.
    pub async fn size_of(&self, key: &str) -> Result<Option<u64>, String> {
        match self.store.head(&BlobPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("blob {key}: {e}")),
        }
    }

    /// Readiness: the blob store answers (a local folder is there; S3
    /// answers a lookup, even of a key that does not exist).
    pub async fn ready(&self) -> Result<(), String> {
        if let Some(dir) = &self.local {
            return match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(format!("{} is not a folder", dir.display())),
                Err(e) => Err(format!("{}: {e}", dir.display())),
            };
        }
        match self.store.head(&BlobPath::from("readyz")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Removes local uploads that never completed (object_store stages one
    /// as `NAME#N` and renames it when complete); answers how many. Only
    /// for a local folder, which one process owns. On S3 an incomplete
    /// multipart upload is invisible (a lifecycle rule aborts it).
    pub fn remove_partials(&self) -> usize {
        let Some(dir) = &self.local else {
            return 0;
        };
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(dir.join(FILES_PREFIX)) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().contains('#')
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Blobs older than this may be orphans [`Blobs::remove_orphans`]
    /// removes: locally, whatever was there before now (one process owns
    /// the folder, and it has taken no upload yet); on S3, blobs older than
    /// an hour, so another replica's upload in flight is never touched.
    #[must_use]
    pub fn orphan_cutoff(&self) -> std::time::SystemTime {
        let now = std::time::SystemTime::now();
        if self.local.is_some() {
            now
        } else {
            now - std::time::Duration::from_secs(3600)
        }
    }

    /// Removes complete blobs last written before `cutoff` that no file
    /// refers to (what a crash between a blob and its file left behind);
    /// answers how many. Runs beside requests: a blob is found by its key
    /// through an index, one question a blob.
    pub async fn remove_orphans(
        &self,
        store: &Store,
        cutoff: std::time::SystemTime,
    ) -> Result<usize, String> {
        use futures_util::StreamExt;
        let mut removed = 0;
        let started = std::time::Instant::now();
        let mut listing = self.store.list(Some(&BlobPath::from(FILES_PREFIX)));
        let mut candidates = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| format!("listing blobs: {e}"))?;
            if std::time::SystemTime::from(meta.last_modified) < cutoff {
                candidates.push(meta.location.to_string());
            }
        }
        let checked = candidates.len();
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
        tracing::info!(
            checked,
            removed,
            ms = started.elapsed().as_millis(),
            "orphan sweep done"
        );
        Ok(removed)
    }
}

/// Why [`Blobs::write_stream`] failed: its source, or the blob store.
pub enum WriteError<E> {
    Source(E),
    Store(String),
}

impl WriteError<String> {
    fn into_message(self) -> String {
        match self {
            WriteError::Source(e) | WriteError::Store(e) => e,
        }
    }
}
