//! Secrets: random tokens with a recognisable prefix, stored as their
//! SHA-256, compared in constant time.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Prefixes make a leaked secret recognisable (and scannable) at a glance.
pub const SESSION_PREFIX: &str = "oss_";
pub const PERSONAL_TOKEN_PREFIX: &str = "ost_";
pub const ORG_KEY_PREFIX: &str = "osk_";

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new random secret: `prefix` and 43 base62 characters (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 43];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = String::with_capacity(prefix.len() + 43);
    s.push_str(prefix);
    // 248 is the largest multiple of 62 below 256: reject above it, no bias.
    let mut rng = rand::rng();
    for b in bytes {
        let mut b = b;
        while b >= 248 {
            let mut one = [0u8; 1];
            rng.fill_bytes(&mut one);
            b = one[0];
        }
        s.push(ALPHABET[usize::from(b % 62)] as char);
    }
    s
}

/// Secrets are stored as the hex SHA-256 of their text.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of bytes (token hashes, cursors).
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Runs password hashing or checking on the blocking pool, at most as many
/// at once as the machine has cores: a storm of logins never stalls the
/// async workers that answer everything else.
pub async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores)
    });
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("argon2 slots: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("argon2 task: {e}")))
}

/// [`hash_password`] on the blocking pool.
pub async fn hash_password_off(password: String) -> Result<String> {
    off_the_workers(move || hash_password(&password)).await?
}

pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(Error::Invalid(
            "password: must be at least 8 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::Invalid(
            "password: must be at most 1024 bytes".into(),
        ));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// A hash of a random password, verified against when the username is
/// unknown so that a miss takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Argon2::default()
        .hash_password(new_secret("").as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let check = |hash: &str| {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    };
    match hash {
        Some(hash) => check(hash),
        None => {
            check(&DUMMY_HASH);
            false
        }
    }
}

/// The CSRF token of a browser session: derived from the session's secret,
/// so it needs no storage and no other site can know it. The JSON API's
/// cookie check and the web pages' forms both use this one derivation.
pub fn csrf_token(session: &str) -> String {
    hash_secret(&format!("csrf:{session}"))
}
