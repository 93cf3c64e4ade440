//! Blob storage: a local folder (embedded default) or S3-compatible object
//! storage, behind object_store. Uploads stream through in constant memory;
//! local ones are written by a thread of their own (see `write_local`).

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

    /// Writes blob `key` from `chunks` in constant memory; answers its size
    /// and SHA-256 (hex). On any failure the partial blob is removed:
    /// nothing is visible under `key`.
    pub async fn write_stream<E>(
        &self,
        key: &str,
        chunks: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    ) -> Result<(u64, String), WriteError<E>> {
        match self.local.as_deref().filter(|_| plain_key(key)) {
            Some(dir) => write_local(&dir.join(key), chunks).await,
            None => self.write_multipart(key, chunks).await,
        }
    }

    /// Through object_store, at most two 8 MiB parts in flight.
    async fn write_multipart<E>(
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

/// A key object_store maps to the same path, unescaped (`files/<id>`).
fn plain_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// Chunks queued between the request and the writing thread, and between
/// the writing and the hashing thread (the slowest, so its queue is the
/// one that absorbs bursts). A chunk is one of hyper's reads: under 1 MiB.
const LOCAL_QUEUE: usize = 4;
const HASH_QUEUE: usize = 16;

/// Write-back is started every this many bytes, beside the writing.
const LOCAL_FLUSH_EVERY: u64 = 32 * 1024 * 1024;

/// Writes a local blob: the request receives, threads write, hash and
/// flush ([`write_staged`]). The blob is durable before it is
/// renamed into place: the file row committed after it never points at
/// bytes a power cut lost. Staged as `NAME#partial`, which
/// [`Blobs::remove_partials`] sweeps after a crash.
async fn write_local<E>(
    path: &Path,
    mut chunks: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
) -> Result<(u64, String), WriteError<E>> {
    use futures_util::StreamExt;
    let display = path.display().to_string();
    let staging = PathBuf::from(format!("{display}#partial"));
    let (send, receive) = tokio::sync::mpsc::channel::<bytes::Bytes>(LOCAL_QUEUE);
    let writing = {
        let staging = staging.clone();
        tokio::task::spawn_blocking(move || write_staged(&staging, receive))
    };
    let mut failure = None;
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => {
                // Closed: the thread failed; its error is below.
                if send.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(WriteError::Source(e));
                break;
            }
        }
    }
    drop(send);
    let written = joined(writing).await;
    let outcome = match (failure, written) {
        (Some(failure), _) => Err(failure),
        (None, Err(e)) => Err(WriteError::Store(format!("writing blob {display}: {e}"))),
        (None, Ok(written)) => {
            let (from, to) = (staging.clone(), path.to_path_buf());
            joined(tokio::task::spawn_blocking(move || publish(&from, &to)))
                .await
                .map(|()| written)
                .map_err(|e| WriteError::Store(format!("writing blob {display}: {e}")))
        }
    };
    if outcome.is_err() {
        let _ = tokio::fs::remove_file(&staging).await;
    }
    outcome
}

/// A blocking task's answer, its panic or its error as a message.
async fn joined<T>(task: tokio::task::JoinHandle<std::io::Result<T>>) -> Result<T, String> {
    match task.await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The writing thread: writes what arrives until the sender is gone, then
/// flushes to disk; answers size and SHA-256 (hex). Beside it, one thread
/// hashes (the costliest step: SHA-256 runs at about the disk's speed) and
/// one asks the disk to write back as the file grows, so that the final
/// flush has little left.
fn write_staged(
    staging: &Path,
    mut receive: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    use std::io::Write;
    if let Some(parent) = staging.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::File::create_new(staging)?;
    let flusher = file.try_clone()?;
    std::thread::scope(|scope| {
        let (to_hash, hash_these) = std::sync::mpsc::sync_channel::<bytes::Bytes>(HASH_QUEUE);
        let hashing = scope.spawn(move || {
            let mut hash = sha2::Sha256::new();
            for chunk in hash_these {
                hash.update(&chunk);
            }
            hex::encode(hash.finalize())
        });
        // A flush already asked for covers any kick that finds it busy.
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let flushing = scope.spawn(move || {
            while kicked.recv().is_ok() {
                flusher.sync_data()?;
            }
            std::io::Result::Ok(())
        });
        let (mut size, mut flushed_at) = (0u64, 0u64);
        while let Some(chunk) = receive.blocking_recv() {
            size += chunk.len() as u64;
            file.write_all(&chunk)?;
            // Gone only if the hashing thread panicked: the join says so.
            let _ = to_hash.send(chunk);
            if size - flushed_at >= LOCAL_FLUSH_EVERY {
                flushed_at = size;
                let _ = kick.try_send(());
            }
        }
        drop((to_hash, kick));
        let panicked = |what| std::io::Error::other(format!("the {what} thread panicked"));
        flushing.join().map_err(|_| panicked("flushing"))??;
        file.sync_data()?;
        let hash = hashing.join().map_err(|_| panicked("hashing"))?;
        Ok((size, hash))
    })
}

/// Renames a written blob into place, and makes the rename durable (on
/// Unix, by flushing the folder; elsewhere a folder cannot be opened).
fn publish(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    #[cfg(unix)]
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::{Blobs, LOCAL_FLUSH_EVERY, WriteError};
    use sha2::Digest;

    fn folder(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("orgscope-blobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir.join("files"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A local blob larger than a flush interval, in uneven chunks, reads
    /// back whole with its hash; nothing staged is left beside it.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_local_blob_is_written_whole_and_hashed() {
        let dir = folder("whole");
        let blobs = Blobs::local(&dir).unwrap();
        let size = usize::try_from(LOCAL_FLUSH_EVERY).unwrap() + 3_333_333;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<Result<bytes::Bytes, String>> = bytes
            .chunks(77_777)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let written = blobs
            .write_stream("files/fil_whole", futures_util::stream::iter(chunks))
            .await
            .map_err(|e| e.into_message())
            .unwrap();
        let expected = hex::encode(sha2::Sha256::digest(&bytes));
        assert_eq!(written, (size as u64, expected.clone()));
        assert_eq!(std::fs::read(dir.join("files/fil_whole")).unwrap(), bytes);
        assert_eq!(names(&dir), ["fil_whole"]);
        // Read back through object_store, as downloads are.
        let mut read = Vec::new();
        let got = blobs
            .read_into("files/fil_whole", |c| {
                read.extend_from_slice(c);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got, Some((size as u64, expected)));
        assert_eq!(read, bytes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A source that fails half-way leaves nothing, staged or complete.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_local_write_leaves_nothing() {
        let dir = folder("failed");
        let blobs = Blobs::local(&dir).unwrap();
        let chunks: Vec<Result<bytes::Bytes, String>> = vec![
            Ok(bytes::Bytes::from(vec![1u8; 1 << 20])),
            Ok(bytes::Bytes::from(vec![2u8; 1 << 20])),
            Err("the client went away".into()),
        ];
        let failed = blobs
            .write_stream("files/fil_failed", futures_util::stream::iter(chunks))
            .await;
        assert!(matches!(failed, Err(WriteError::Source(ref e)) if e == "the client went away"));
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
