//! Secrets at rest: XChaCha20-Poly1305 under a 32-byte master key, with the
//! resource id as associated data so a ciphertext cannot be moved to another row.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::secrets::hex;

pub const MASTER_KEY_ENV: &str = "ORGSCOPE_MASTER_KEY";

#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl MasterKey {
    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<MasterKey, String> {
        let bytes = unhex(s)
            .filter(|b| b.len() == 32)
            .ok_or("a master key is 64 hexadecimal characters (32 bytes)")?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(MasterKey(key))
    }

    pub fn generate() -> MasterKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rand::rng(), key.as_mut());
        MasterKey(key)
    }

    /// The key from `ORGSCOPE_MASTER_KEY` if set, else from `file`, which is
    /// created (mode 0600) when `create` is true and it does not exist.
    pub fn load(env: Option<&str>, file: &Path, create: bool) -> Result<MasterKey, String> {
        if let Some(v) = env.filter(|v| !v.is_empty()) {
            return MasterKey::from_hex(v).map_err(|e| format!("{MASTER_KEY_ENV}: {e}"));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => MasterKey::from_hex(&text).map_err(|e| format!("{}: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = MasterKey::generate();
                write_private(file, &hex(key.0.as_ref()))
                    .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
                Ok(key)
            }
            Err(e) => Err(format!(
                "cannot read the master key {}: {e}; set {MASTER_KEY_ENV} or restore the file",
                file.display()
            )),
        }
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305, String> {
        XChaCha20Poly1305::new_from_slice(self.0.as_ref()).map_err(|_| "bad master key".to_owned())
    }

    /// `hex(nonce || ciphertext)`.
    pub fn seal(&self, plaintext: &str, aad: &str) -> Result<String, String> {
        let cipher = self.cipher()?;
        let nonce = XNonce::generate();
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(hex(&out))
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Zeroizing<String>, String> {
        let bytes = unhex(sealed)
            .filter(|b| b.len() > 24)
            .ok_or("not a sealed secret")?;
        let (nonce, ct) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| "bad nonce")?;
        let cipher = self.cipher()?;
        let pt = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "the secret does not open with this master key".to_owned())?;
        String::from_utf8(pt)
            .map(Zeroizing::new)
            .map_err(|_| "the secret is not text".to_owned())
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::MasterKey;

    #[test]
    fn seal_and_open_bound_to_the_row() {
        let key = MasterKey::generate();
        let sealed = key.seal("hunter2", "cred_1").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open(&sealed, "cred_1").unwrap().as_str(), "hunter2");
        assert!(key.open(&sealed, "cred_2").is_err());
        assert!(MasterKey::generate().open(&sealed, "cred_1").is_err());
        assert!(MasterKey::from_hex("abc").is_err());
    }
}
