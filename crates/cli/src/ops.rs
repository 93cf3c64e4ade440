//! Keeping an installation's data: `migrate` (embedded store to PostgreSQL
//! and S3), `backup` and `restore` (the embedded store, online).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use orgscope_server::blobs::Blobs;
use orgscope_store::Store;
use serde_json::{Value, json};

use crate::args::Args;

/// The backup format's version, in its manifest.
const BACKUP_FORMAT: u64 = 1;

fn bar(len: u64, what: &str, bytes: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = if bytes {
        "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg:>24} [{bar:30}] {pos}/{len} {per_sec} {eta}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The source of a copy: a data dir, or the SQLite URL of one's database
/// (its blobs are the `blobs/` folder beside it).
fn source_dir(from: &str) -> Result<PathBuf> {
    let path = match from.strip_prefix("sqlite://") {
        Some(rest) => {
            let file = Path::new(rest.split('?').next().unwrap_or(rest));
            file.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        }
        None if from.contains("://") => bail!(
            "--from {from}: a copy starts from the embedded store: give its data dir or sqlite://DIR/orgscope.db"
        ),
        None => PathBuf::from(from),
    };
    if !path.join("orgscope.db").exists() {
        bail!(
            "--from {}: no orgscope.db there: give the data dir of the installation to copy",
            path.display()
        );
    }
    Ok(path)
}

/// `orgscope migrate`: every row and blob of an embedded installation into
/// an empty PostgreSQL database (and the S3 bucket of `--s3-bucket`, else
/// the blobs stay where they are), then verified. Re-running after an
/// interruption resumes.
pub async fn migrate(args: &Args, from: &str, to: &str, batch: i64) -> Result<()> {
    let dir = source_dir(from)?;
    if !to.starts_with("postgres://") && !to.starts_with("postgresql://") {
        bail!(
            "--to {}: the target is a PostgreSQL URL (postgres://user@host/db)",
            shown(to)
        );
    }
    let started = Instant::now();
    let source_url = format!("sqlite://{}", dir.join("orgscope.db").display());
    let source = Store::connect(&source_url)
        .await
        .with_context(|| format!("opening {source_url}"))?;
    let target = Store::connect(to)
        .await
        .with_context(|| format!("opening {}", shown(to)))?;
    let name = std::fs::canonicalize(&dir)
        .unwrap_or_else(|_| dir.clone())
        .display()
        .to_string();
    let resuming = target.copy_unfinished().await?.is_some();
    if !resuming && !target.is_empty().await? {
        bail!(
            "--to {}: that database already holds data; a copy goes into an empty database (create one: createdb NAME)",
            shown(to)
        );
    }
    let progress = target
        .copy_begin(&name)
        .await
        .map_err(|e| anyhow::anyhow!("--to {}: {e}", shown(to)))?;
    if resuming {
        eprintln!("resuming the unfinished copy from {name}");
    }

    let plan = target.copy_plan().await?;
    let mut totals = Vec::new();
    for table in &plan {
        totals.push(source.count_rows(&table.name).await?);
    }
    let rows = bar(totals.iter().sum::<i64>().unsigned_abs(), "rows", false);
    let rows_started = Instant::now();
    let mut copied_rows = 0u64;
    for (table, total) in plan.iter().zip(&totals) {
        let state = progress.get(&table.name).copied().unwrap_or_default();
        if state.done {
            rows.inc(total.unsigned_abs());
            // A table is marked done with its last batch; its references to
            // itself come after, so an earlier run may have stopped between.
            source.copy_self_refs(&target, table).await?;
            continue;
        }
        rows.set_message(table.name.clone());
        let mut after = state.last_rowid;
        if after > 0 {
            // What an earlier run copied.
            rows.inc(target.count_rows(&table.name).await?.unsigned_abs());
        }
        loop {
            let (n, last) = source.copy_batch(&target, table, after, batch).await?;
            if n == 0 {
                break;
            }
            rows.inc(n as u64);
            copied_rows += n as u64;
            after = last;
        }
        source.copy_self_refs(&target, table).await?;
    }
    rows.finish_with_message("rows");
    let rows_secs = rows_started.elapsed().as_secs_f64().max(0.001);

    let settings = crate::settings::server(args);
    let blobs_from = Blobs::local(&dir.join("blobs")).map_err(anyhow::Error::msg)?;
    let blobs_to = match &settings.s3 {
        Some(s3) => Some(Blobs::s3(s3).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let inventory = source.blob_inventory().await?;
    let total_bytes: u64 = inventory.iter().map(|(_, s, _)| s.unsigned_abs()).sum();
    let mut copied_bytes = 0u64;
    let blobs_started = Instant::now();
    if let Some(blobs_to) = &blobs_to {
        use futures_util::{StreamExt, TryStreamExt};
        let bytes = bar(total_bytes, "blobs to S3", true);
        // Several at once: a store's round trips, not its bandwidth, bound
        // one small blob's copy.
        copied_bytes = futures_util::stream::iter(&inventory)
            .map(|(key, size, _)| {
                let (blobs_from, bytes, dir) = (&blobs_from, &bytes, &dir);
                async move {
                    let size = size.unsigned_abs();
                    // A blob already there in full is one an earlier run
                    // copied (the check below reads every blob back anyway).
                    if blobs_to.size_of(key).await.map_err(anyhow::Error::msg)? == Some(size) {
                        bytes.inc(size);
                        return Ok(0);
                    }
                    blobs_from
                        .copy_to(key, blobs_to)
                        .await
                        .map_err(anyhow::Error::msg)?
                        .with_context(|| {
                            format!("blob {key} is missing from {}", dir.join("blobs").display())
                        })?;
                    bytes.inc(size);
                    anyhow::Ok(size)
                }
            })
            .buffer_unordered(BLOB_COPIES)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
            .await?;
        bytes.finish_with_message("blobs to S3");
    }
    let blob_secs = blobs_started.elapsed().as_secs_f64().max(0.001);

    // Verify: the same rows in each table, every blob's SHA-256.
    let check = bar(plan.len() as u64, "checking row counts", false);
    for (table, total) in plan.iter().zip(&totals) {
        let copied = target.count_rows(&table.name).await?;
        if copied != *total {
            bail!(
                "{}: {total} rows in the source, {copied} in the target: the source changed during the copy. Stop its server, empty the target (dropdb and createdb) and copy again",
                table.name
            );
        }
        check.inc(1);
    }
    check.finish_with_message("row counts match");
    let verify_blobs = blobs_to.as_ref().unwrap_or(&blobs_from);
    let hashes = bar(total_bytes, "checking blob hashes", true);
    for (key, _, sha256) in &inventory {
        let read = verify_blobs
            .read_into(key, |chunk| {
                hashes.inc(chunk.len() as u64);
                Ok(())
            })
            .await
            .map_err(anyhow::Error::msg)?;
        match (read, &blobs_to) {
            (Some((_, got)), _) if got == *sha256 => {}
            (Some((_, got)), Some(blobs_to)) => {
                // Gone, the next run copies it anew instead of skipping it.
                blobs_to.delete(key).await;
                bail!(
                    "blob {key}: SHA-256 {got} in the bucket, the file says {sha256}; it was removed there: run the same command again to copy it anew (should that fail the same way, the source blob in {} is damaged)",
                    dir.join("blobs").display()
                )
            }
            (Some((_, got)), None) => bail!(
                "blob {key} in {}: SHA-256 {got}, the file says {sha256}: the blob folder is damaged; restore it from a backup",
                dir.join("blobs").display()
            ),
            (None, Some(_)) => {
                bail!("blob {key} is missing from the bucket: run the same command again")
            }
            (None, None) => bail!(
                "blob {key} is missing from {}: the blob folder is damaged; restore it from a backup",
                dir.join("blobs").display()
            ),
        }
    }
    hashes.finish_with_message("blob hashes match");
    target.copy_finish().await?;
    source.close().await;
    target.close().await;

    let mib = copied_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "copied {copied_rows} rows in {rows_secs:.1}s ({:.0} rows/s) and {mib:.1} MiB of blobs in {blob_secs:.1}s ({:.1} MiB/s); {} tables and {} blobs verified; {:.1}s in all",
        copied_rows as f64 / rows_secs,
        mib / blob_secs,
        plan.len(),
        inventory.len(),
        started.elapsed().as_secs_f64()
    );
    let key_hint = if args.master_key.is_some() {
        "the same ORGSCOPE_MASTER_KEY".to_owned()
    } else {
        format!(
            "ORGSCOPE_MASTER_KEY=$(cat {}) (secrets are sealed with it)",
            dir.join("master.key").display()
        )
    };
    let blob_hint = match &settings.s3 {
        Some(s3) => format!("--s3-bucket {}", s3.bucket),
        None => format!("--data-dir {} (the blobs stay there)", dir.display()),
    };
    println!(
        "start the servers with --database-url {} {blob_hint} and {key_hint}",
        shown(to)
    );
    Ok(())
}

/// A database URL as it may be printed: without its password.
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once('@') {
        Some((user_info, _)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[user_info.len() + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Paths removed when dropped (what a failed backup leaves).
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
}

/// Blobs `migrate` copies at once.
const BLOB_COPIES: usize = 8;

/// `orgscope backup FILE`: the embedded store's database (a consistent
/// snapshot taken while the server runs), every file's blob and the
/// master key, in one zip with a manifest of SHA-256s.
pub async fn backup(args: &Args, file: &Path) -> Result<()> {
    if args
        .database_url
        .as_deref()
        .is_some_and(|u| !u.starts_with("sqlite:"))
    {
        bail!(
            "backup is of the embedded store; back up PostgreSQL with pg_dump or point-in-time recovery (docs/DEPLOY.md) and the bucket with its own versioning"
        );
    }
    let dir = &args.data_dir;
    let db = dir.join("orgscope.db");
    if !db.exists() {
        bail!(
            "no orgscope.db in {}: give the data dir to back up with --data-dir",
            dir.display()
        );
    }
    if file.exists() {
        bail!("{} exists: give a new file name", file.display());
    }
    // As it is: a backup never migrates the database a server is using.
    let store = Store::connect_as_is(&format!("sqlite://{}", db.display())).await?;
    let blobs = Blobs::local(&dir.join("blobs")).map_err(anyhow::Error::msg)?;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    // Until the backup is whole, the zip and the snapshot beside it go
    // with any error: both hold every secret.
    let snapshot_dir = file.with_file_name(format!(".orgscope-backup-{}", std::process::id()));
    let mut leftovers = Leftovers(vec![file.to_owned(), snapshot_dir.clone()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&snapshot_dir)
            .with_context(|| format!("cannot create {}", snapshot_dir.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir(&snapshot_dir)?;
    let snapshot = snapshot_dir.join("orgscope.db");
    let mut zip = zip::ZipWriter::new(out);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let mut written = std::collections::BTreeSet::new();
    let mut vanished = std::collections::BTreeSet::new();
    // A blob deleted between the snapshot and its copy belongs to a file
    // deleted since: take a new snapshot, which no longer has it. One that
    // a later snapshot still names is lost, not deleted.
    let mut inventory = Vec::new();
    for attempt in 1..=5 {
        let _ = std::fs::remove_file(&snapshot);
        store.snapshot_into(&snapshot.display().to_string()).await?;
        let snap = Store::connect_as_is(&format!("sqlite://{}", snapshot.display())).await?;
        inventory = snap.blob_inventory().await?;
        snap.close().await;
        let todo: u64 = inventory
            .iter()
            .filter(|(k, _, _)| !written.contains(k))
            .map(|(_, s, _)| s.unsigned_abs())
            .sum();
        let bytes = bar(todo, "blobs", true);
        let mut missing = false;
        for (key, _, sha256) in &inventory {
            if written.contains(key) {
                continue;
            }
            if vanished.contains(key) {
                bail!(
                    "blob {key} is missing from {} while a file still refers to it: the blob folder is damaged",
                    dir.join("blobs").display()
                );
            }
            zip.start_file(format!("blobs/{key}"), stored)?;
            let got = blobs
                .read_into(key, |chunk| {
                    bytes.inc(chunk.len() as u64);
                    zip.write_all(chunk).map_err(|e| e.to_string())
                })
                .await
                .map_err(anyhow::Error::msg)?;
            match got {
                Some((_, got)) if got == *sha256 => {
                    written.insert(key.clone());
                }
                Some((_, got)) => bail!(
                    "blob {key} has SHA-256 {got} but its file says {sha256}: the blob folder is damaged"
                ),
                // Its empty entry stays out of the manifest.
                None => {
                    missing = true;
                    vanished.insert(key.clone());
                }
            }
        }
        bytes.finish_and_clear();
        if !missing {
            break;
        }
        if attempt == 5 {
            bail!("files kept being deleted during the backup; try again at a quieter time");
        }
    }
    zip.start_file("orgscope.db", stored)?;
    let db_bytes = std::io::copy(&mut std::fs::File::open(&snapshot)?, &mut zip)?;
    let key_file = dir.join("master.key");
    let with_key = key_file.exists();
    if with_key {
        zip.start_file("master.key", stored)?;
        zip.write_all(&std::fs::read(&key_file)?)?;
    } else {
        eprintln!(
            "orgscope: the master key is not in {} (it comes from ORGSCOPE_MASTER_KEY): the backup does not hold it; keep the key with the backup, a restore needs it to read the secrets",
            dir.display()
        );
    }
    let manifest = json!({
        "format": BACKUP_FORMAT,
        "created_at": orgscope_store::now(),
        "version": env!("CARGO_PKG_VERSION"),
        "master_key": with_key,
        "blobs": inventory.iter().map(|(k, s, h)| json!({"key": k, "size": s, "sha256": h})).collect::<Vec<_>>(),
    });
    zip.start_file("manifest.json", stored)?;
    zip.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    zip.finish()?;
    store.close().await;
    // Whole: keep the zip, drop the snapshot.
    leftovers.0.remove(0);
    drop(leftovers);
    println!(
        "backed up {} ({} blobs, database {} KiB{}) to {}",
        dir.display(),
        inventory.len(),
        db_bytes / 1024,
        if with_key { ", master key" } else { "" },
        file.display()
    );
    Ok(())
}

/// `orgscope restore FILE`: a backup into an empty data dir, every blob's
/// SHA-256 checked against the manifest.
pub async fn restore(args: &Args, file: &Path) -> Result<()> {
    let dir = &args.data_dir;
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        bail!(
            "{} is not empty: restore into a new or empty data dir (--data-dir), then point the server at it",
            dir.display()
        );
    }
    let mut zip = zip::ZipArchive::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    )
    .with_context(|| format!("{} is not an orgscope backup", file.display()))?;
    let manifest: Value = {
        let mut text = String::new();
        zip.by_name("manifest.json")
            .with_context(|| format!("{} has no manifest: not an orgscope backup", file.display()))?
            .read_to_string(&mut text)?;
        serde_json::from_str(&text)?
    };
    if manifest["format"].as_u64() != Some(BACKUP_FORMAT) {
        bail!(
            "{} is a backup of format {}; this orgscope reads format {BACKUP_FORMAT}",
            file.display(),
            manifest["format"]
        );
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let extract = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str, to: &Path| -> Result<()> {
        let mut entry = zip
            .by_name(name)
            .with_context(|| format!("{} lacks {name}", file.display()))?;
        let mut out = std::fs::File::create(to)?;
        std::io::copy(&mut entry, &mut out)?;
        Ok(())
    };
    extract(&mut zip, "orgscope.db", &dir.join("orgscope.db"))?;
    if manifest["master_key"] == true {
        let key = dir.join("master.key");
        extract(&mut zip, "master.key", &key)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let blobs = Blobs::local(&dir.join("blobs")).map_err(anyhow::Error::msg)?;
    let listed = manifest["blobs"].as_array().cloned().unwrap_or_default();
    let total: u64 = listed.iter().filter_map(|b| b["size"].as_u64()).sum();
    let bytes = bar(total, "blobs", true);
    for blob in &listed {
        let key = blob["key"].as_str().unwrap_or_default();
        let mut entry = zip
            .by_name(&format!("blobs/{key}"))
            .with_context(|| format!("{} lacks blob {key}", file.display()))?;
        let (_, sha256) = blobs
            .write_from(key, || {
                let mut chunk = vec![0u8; 1024 * 1024];
                let n = entry.read(&mut chunk).map_err(|e| e.to_string())?;
                chunk.truncate(n);
                bytes.inc(n as u64);
                Ok((n > 0).then_some(chunk))
            })
            .await
            .map_err(anyhow::Error::msg)?;
        if Some(sha256.as_str()) != blob["sha256"].as_str() {
            bail!(
                "blob {key} in {} has SHA-256 {sha256}, the manifest says {}: the backup is damaged",
                file.display(),
                blob["sha256"]
            );
        }
    }
    bytes.finish_and_clear();
    // Opening it brings an older backup's schema up to date.
    let store = Store::connect(&format!("sqlite://{}", dir.join("orgscope.db").display())).await?;
    let files = store.blob_inventory().await?.len();
    store.close().await;
    if files != listed.len() {
        bail!(
            "the restored database has {files} files but the backup holds {} blobs",
            listed.len()
        );
    }
    println!(
        "restored {} ({} blobs, taken {}) into {}",
        file.display(),
        listed.len(),
        manifest["created_at"].as_str().unwrap_or("?"),
        dir.display()
    );
    if manifest["master_key"] != true && args.master_key.is_none() {
        eprintln!(
            "orgscope: the backup holds no master key (its server had it from ORGSCOPE_MASTER_KEY): serve with that same ORGSCOPE_MASTER_KEY, or the secrets sealed with it stay unreadable"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn a_shown_url_keeps_no_password() {
        assert_eq!(
            shown("postgres://app:s3cr:et@db.internal:5432/orgscope"),
            "postgres://app:***@db.internal:5432/orgscope"
        );
        assert_eq!(
            shown("postgres://app@db/orgscope"),
            "postgres://app@db/orgscope"
        );
        assert_eq!(shown("postgres://db/orgscope"), "postgres://db/orgscope");
    }
}
