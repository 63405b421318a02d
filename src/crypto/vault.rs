//! `kms_provider = "vault"`: the master key (KEK) wrapped by HashiCorp Vault's Transit
//! secrets engine. Only the wrapped blob (`vault:vN:…`) is kept on disk, in
//! `<data_dir>/master.key.vault` (mode 0600); the plaintext key exists in memory only.
//!
//! * First start (no blob, no database): 32 random bytes are encrypted with
//!   `POST {addr}/v1/transit/encrypt/{key}` and the blob is written; the blob is then read
//!   back and decrypted, so a start only succeeds once Vault has proven it can unwrap.
//! * Every start: `POST {addr}/v1/transit/decrypt/{key}`. Vault unreachable, a refused token
//!   or an unknown key stops the start with one line naming VAULT_ADDR, VAULT_TOKEN or
//!   VAULT_TRANSIT_KEY; nothing falls back to a local key.
//! * Rotation: after the Transit key is rotated in Vault, `rampart admin kms rewrap`
//!   (`POST …/rewrap/{key}`) re-encrypts the blob under the newest key version without the
//!   plaintext leaving Vault; the master key itself (and so every database key) is unchanged.
//!
//! The token comes from `storage.vault_token` (VAULT_TOKEN) or the file named by
//! `storage.vault_token_file` (VAULT_TOKEN_FILE, read at start; whitespace trimmed). An
//! internal Vault with its own CA is reached with `storage.vault_cacert` (VAULT_CACERT, PEM).
//! The client is reqwest with rustls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Error, Result, keyfile};
use crate::config::Config;

/// File name of the wrapped master key inside the data dir.
pub const WRAPPED_KEY_FILE: &str = "master.key.vault";

/// A Vault Transit key, as configured.
pub struct Transit {
    client: reqwest::blocking::Client,
    addr: String,
    key: String,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Transit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transit")
            .field("addr", &self.addr)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn config_error(message: String) -> Error {
    Error::Config(message)
}

/// The key version of a Transit ciphertext (`vault:v3:…` → 3).
pub fn key_version(ciphertext: &str) -> Option<u64> {
    ciphertext
        .strip_prefix("vault:v")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

impl Transit {
    /// The Transit key of `config` (`storage.vault_*`). Reads the token file and the CA file.
    pub fn from_config(config: &Config) -> Result<Transit> {
        let s = &config.storage;
        let addr = s.vault_addr.trim().trim_end_matches('/').to_string();
        let token = if s.vault_token.is_empty() {
            let path = s.vault_token_file.trim();
            let text = std::fs::read_to_string(path).map_err(|e| {
                config_error(format!(
                    "Vault token file {path} (VAULT_TOKEN_FILE) cannot be read: {e}"
                ))
            })?;
            Zeroizing::new(text.trim().to_string())
        } else {
            Zeroizing::new(s.vault_token.expose().trim().to_string())
        };
        if token.is_empty() {
            return Err(config_error(
                "the Vault token is empty (VAULT_TOKEN or VAULT_TOKEN_FILE)".into(),
            ));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none());
        let ca = s.vault_cacert.trim();
        if !ca.is_empty() {
            let pem = std::fs::read(ca).map_err(|e| {
                config_error(format!(
                    "Vault CA file {ca} (VAULT_CACERT) cannot be read: {e}"
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                config_error(format!("Vault CA file {ca} (VAULT_CACERT) is not PEM: {e}"))
            })?;
            if certs.is_empty() {
                return Err(config_error(format!(
                    "Vault CA file {ca} (VAULT_CACERT) holds no certificate"
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| config_error(format!("cannot build the Vault HTTP client: {e}")))?;
        Ok(Transit {
            client,
            addr,
            key: s.vault_transit_key.trim().to_string(),
            token,
        })
    }

    /// `POST {addr}/v1/transit/{op}/{key}` with `body`; the answer's `data`.
    fn call(&self, op: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/v1/transit/{op}/{}", self.addr, self.key);
        let resp = self
            .client
            .post(&url)
            .header("X-Vault-Token", self.token.as_str())
            .json(body)
            .send()
            .map_err(|e| {
                config_error(format!(
                    "Vault at {} (VAULT_ADDR) is unreachable: {}",
                    self.addr,
                    one_line(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v["errors"].as_array().map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        match status {
            200..=299 => {}
            401 | 403 => {
                return Err(config_error(format!(
                    "Vault at {} refused the token (VAULT_TOKEN/VAULT_TOKEN_FILE) for transit/{op}/{} (HTTP {status}: {detail}); check the token and its policy",
                    self.addr, self.key
                )));
            }
            _ => {
                return Err(config_error(format!(
                    "Vault at {} answered HTTP {status} to transit/{op}/{} (VAULT_TRANSIT_KEY): {detail}",
                    self.addr, self.key
                )));
            }
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            config_error(format!(
                "Vault at {} answered transit/{op} with something that is not JSON: {e}",
                self.addr
            ))
        })?;
        Ok(v["data"].clone())
    }

    /// Wraps `plaintext`; returns the `vault:vN:…` ciphertext.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String> {
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plaintext));
        let data = self.call("encrypt", &json!({ "plaintext": b64.as_str() }))?;
        self.ciphertext(&data, "encrypt")
    }

    /// Unwraps a `vault:vN:…` ciphertext.
    pub fn decrypt(&self, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>> {
        let data = self.call("decrypt", &json!({ "ciphertext": ciphertext }))?;
        let b64 = data["plaintext"].as_str().ok_or_else(|| {
            config_error(format!(
                "Vault at {} answered transit/decrypt without a plaintext",
                self.addr
            ))
        })?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Zeroizing::new)
            .map_err(|e| {
                config_error(format!(
                    "Vault at {} answered transit/decrypt with a plaintext that is not base64: {e}",
                    self.addr
                ))
            })
    }

    /// Re-encrypts a ciphertext under the newest key version (the plaintext stays in Vault).
    pub fn rewrap(&self, ciphertext: &str) -> Result<String> {
        let data = self.call("rewrap", &json!({ "ciphertext": ciphertext }))?;
        self.ciphertext(&data, "rewrap")
    }

    fn ciphertext(&self, data: &Value, op: &str) -> Result<String> {
        data["ciphertext"]
            .as_str()
            .filter(|c| c.starts_with("vault:v"))
            .map(str::to_string)
            .ok_or_else(|| {
                config_error(format!(
                    "Vault at {} answered transit/{op} without a vault:v… ciphertext",
                    self.addr
                ))
            })
    }
}

/// The first line of an error with its causes (reqwest errors nest the useful part).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out.replace('\n', " ")
}

fn read_blob(path: &Path) -> Result<String> {
    let bytes = keyfile::read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::KeyFile {
        path: path.to_path_buf(),
        message: "not a Vault Transit ciphertext (not text)".into(),
    })?;
    let text = text.trim().to_string();
    if key_version(&text).is_none() {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            message: "not a Vault Transit ciphertext (expected vault:vN:…)".into(),
        });
    }
    Ok(text)
}

fn unwrap_key(transit: &Transit, blob: &str, path: &Path) -> Result<[u8; 32]> {
    let plain = transit.decrypt(blob)?;
    plain.as_slice().try_into().map_err(|_| Error::KeyFile {
        path: path.to_path_buf(),
        message: format!(
            "Vault unwrapped {} bytes, not a 32-byte rampart master key (wrong VAULT_TRANSIT_KEY?)",
            plain.len()
        ),
    })
}

/// Loads the master key as `kms_provider = "vault"` (see the module documentation).
pub fn load_master_key(config: &Config) -> Result<Zeroizing<[u8; 32]>> {
    let path = config.data_dir.join(WRAPPED_KEY_FILE);
    let transit = Transit::from_config(config)?;
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    if !path.try_exists().map_err(io)? {
        let plain = config.data_dir.join(super::MASTER_KEY_FILE);
        if plain.try_exists().map_err(io)? {
            return Err(Error::KeyFile {
                path: plain,
                message: "holds the plaintext master key of KMS_PROVIDER=none; this version does not move an existing key under Vault: keep KMS_PROVIDER=none here, or start a new data dir with vault and restore a backup into it".into(),
            });
        }
        if let Some(db) = super::existing_database(&config.data_dir) {
            return Err(Error::KeyFile {
                path,
                message: format!(
                    "missing, but {} exists: restore master.key.vault from where you backed it up (a new key cannot read existing data; nothing was created)",
                    db.display()
                ),
            });
        }
        let fresh = Zeroizing::new(rand_key()?);
        let blob = transit.encrypt(fresh.as_slice())?;
        keyfile::write_new(&path, blob.as_bytes())?;
        tracing::info!(path = %path.display(), "master key generated and wrapped by Vault Transit");
    }
    // Also after creating it: whichever process won the race, the key is the one on disk,
    // and Vault has shown that it can unwrap it.
    let blob = read_blob(&path)?;
    Ok(Zeroizing::new(unwrap_key(&transit, &blob, &path)?))
}

fn rand_key() -> Result<[u8; 32]> {
    use rand::TryRngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| Error::Config(format!("operating system random generator failed: {e}")))?;
    Ok(key)
}

/// What `rampart admin kms status|rewrap` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmsStatus {
    /// `none`, `static` or `vault`.
    pub provider: String,
    /// Vault address (vault only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_addr: Option<String>,
    /// Transit key name (vault only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_key: Option<String>,
    /// The wrapped key file (vault only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapped_key_file: Option<PathBuf>,
    /// Transit key version the blob is encrypted under (vault only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u64>,
    /// Version before a rewrap (rewrap only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_key_version: Option<u64>,
}

/// The KMS state of an instance (checks with Vault that the blob still unwraps).
pub fn status(config: &Config) -> Result<KmsStatus> {
    let provider = config.storage.kms_provider.clone();
    if provider != "vault" {
        return Ok(KmsStatus {
            provider,
            vault_addr: None,
            transit_key: None,
            wrapped_key_file: None,
            key_version: None,
            previous_key_version: None,
        });
    }
    let path = config.data_dir.join(WRAPPED_KEY_FILE);
    let transit = Transit::from_config(config)?;
    let blob = read_blob(&path)?;
    unwrap_key(&transit, &blob, &path)?;
    Ok(KmsStatus {
        provider,
        vault_addr: Some(transit.addr.clone()),
        transit_key: Some(transit.key.clone()),
        wrapped_key_file: Some(path),
        key_version: key_version(&blob),
        previous_key_version: None,
    })
}

/// Re-encrypts the wrapped master key under the Transit key's newest version and replaces
/// the blob atomically, after checking that the new blob unwraps to the same key. `current`
/// is the master key in use (the new blob must hold exactly it).
pub fn rewrap(config: &Config, current: &super::MasterKey) -> Result<KmsStatus> {
    if config.storage.kms_provider != "vault" {
        return Err(Error::Config(format!(
            "rewrap needs KMS_PROVIDER=vault; this instance uses {:?}",
            config.storage.kms_provider
        )));
    }
    let path = config.data_dir.join(WRAPPED_KEY_FILE);
    let transit = Transit::from_config(config)?;
    let old = read_blob(&path)?;
    let new = transit.rewrap(&old)?;
    let key = unwrap_key(&transit, &new, &path)?;
    if key != *current.0 {
        return Err(Error::Config(
            "Vault rewrapped the master key into a different key; the wrapped key file was not changed".into(),
        ));
    }
    let tmp = path.with_extension(format!("rewrap{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    keyfile::write_new(&tmp, new.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    tracing::info!(
        from = ?key_version(&old),
        to = ?key_version(&new),
        "master key rewrapped by Vault Transit"
    );
    Ok(KmsStatus {
        provider: "vault".into(),
        vault_addr: Some(transit.addr.clone()),
        transit_key: Some(transit.key.clone()),
        wrapped_key_file: Some(path),
        key_version: key_version(&new),
        previous_key_version: key_version(&old),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_versions_are_read_from_the_prefix() {
        assert_eq!(key_version("vault:v1:abc"), Some(1));
        assert_eq!(key_version("vault:v12:abc"), Some(12));
        assert_eq!(key_version("v1:abc"), None);
        assert_eq!(key_version("vault:vx:abc"), None);
    }
}
