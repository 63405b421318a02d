//! The master key's KMS, administered: which provider wraps it and, with Vault Transit,
//! the key version of the wrapped blob and its rewrap after a key rotation in Vault
//! (`rampart admin kms status|rewrap`, the TUI). See [`crate::crypto::vault`].

use super::{AdminService, Result};
use crate::crypto::vault::{self, KmsStatus};

impl AdminService {
    /// The KMS provider and, with Vault, the wrapped key's version (checked with Vault).
    pub fn kms_status(&self) -> Result<KmsStatus> {
        Ok(vault::status(&self.config)?)
    }

    /// Rewraps the master key under the Transit key's newest version (Vault only); the
    /// master key itself does not change. Audited as `admin.kms_rewrap`.
    pub fn kms_rewrap(&self, actor: &str) -> Result<KmsStatus> {
        let status = vault::rewrap(&self.config, &self.master_key)?;
        let version = |v: Option<u64>| v.map_or("?".to_string(), |v| format!("v{v}"));
        self.log_event(
            &*self.conn()?,
            "kms_rewrap",
            actor,
            "master key",
            &format!(
                "rewrapped by Vault Transit from {} to {}",
                version(status.previous_key_version),
                version(status.key_version)
            ),
        )?;
        Ok(status)
    }
}
