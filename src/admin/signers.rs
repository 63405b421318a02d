//! The instance backup signing key (public half) and the trusted-signer list: other
//! instances whose backups this instance accepts on restore.

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{AdminService, Error, Result};
use crate::crypto::signing::PublicKey;

/// This instance's backup signing identity, as `GET /api/admin/signing-key` returns it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SigningKeyInfo {
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower hex.
    pub fingerprint: String,
    /// PEM SubjectPublicKeyInfo to import on another instance.
    pub public_key_pem: String,
}

/// A trusted signer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TrustedSigner {
    /// SHA-256 of the DER SPKI, lower hex.
    pub fingerprint: String,
    /// Operator-given name ("Production instance").
    pub label: String,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// When it was imported (RFC 3339 UTC).
    pub added_at: String,
}

/// Longest accepted label.
const MAX_LABEL: usize = 200;

impl AdminService {
    /// This instance's backup signing public key and fingerprint.
    pub fn signing_key(&self) -> SigningKeyInfo {
        let pk = self.signing_key.public_key();
        SigningKeyInfo {
            fingerprint: pk.fingerprint_hex(),
            public_key_pem: pk.to_pem(),
        }
    }

    /// All trusted signers, oldest first.
    pub fn list_trusted_signers(&self) -> Result<Vec<TrustedSigner>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT fingerprint, label, public_key_pem, added_at FROM trusted_signers ORDER BY added_at, fingerprint",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TrustedSigner {
                    fingerprint: r.get(0)?,
                    label: r.get(1)?,
                    public_key_pem: r.get(2)?,
                    added_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Imports a trusted signer. Only ECDSA P-256 PEM public keys; a label is required;
    /// a duplicate fingerprint or this instance's own key is refused.
    pub fn add_trusted_signer(
        &self,
        actor: &str,
        label: &str,
        public_key_pem: &str,
    ) -> Result<TrustedSigner> {
        let label = label.trim();
        if label.is_empty() {
            return Err(Error::Invalid(
                "a label is required (e.g. \"Production instance\")".into(),
            ));
        }
        if label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "label must be at most {MAX_LABEL} characters without control characters"
            )));
        }
        let key = PublicKey::from_pem(public_key_pem).map_err(Error::Refused)?;
        if key.fingerprint() == self.signing_key.fingerprint() {
            return Err(Error::Conflict(
                "this is this instance's own signing key; its backups are always trusted".into(),
            ));
        }
        let fingerprint = key.fingerprint_hex();
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT label FROM trusted_signers WHERE fingerprint = ?1",
                [&fingerprint],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(Error::Conflict(format!(
                "a trusted signer with fingerprint {fingerprint} already exists ({existing:?})"
            )));
        }
        let added_at = super::now_rfc3339();
        tx.execute(
            "INSERT INTO trusted_signers (fingerprint, label, public_key_pem, added_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![fingerprint, label, key.to_pem(), added_at],
        )?;
        self.log_event(&tx, "signer_add", actor, &fingerprint, label)?;
        tx.commit()?;
        Ok(TrustedSigner {
            fingerprint,
            label: label.to_string(),
            public_key_pem: key.to_pem(),
            added_at,
        })
    }

    /// Removes a trusted signer by fingerprint (lower or upper hex).
    pub fn remove_trusted_signer(&self, actor: &str, fingerprint: &str) -> Result<()> {
        let fp = fingerprint.trim().to_ascii_lowercase();
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "{fingerprint:?} is not a fingerprint (64 hex characters)"
            )));
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM trusted_signers WHERE fingerprint = ?1", [&fp])?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "no trusted signer with fingerprint {fp}"
            )));
        }
        self.log_event(&tx, "signer_remove", actor, &fp, "")?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::testutil::service;
    use crate::crypto::signing::SigningKey;

    #[test]
    fn add_list_remove_and_refusals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |_| {});
        let other = SigningKey::generate().public_key().to_pem();
        let s = svc.add_trusted_signer("t", "Staging", &other).expect("add");
        assert_eq!(svc.list_trusted_signers().expect("list"), vec![s.clone()]);
        assert!(matches!(
            svc.add_trusted_signer("t", "Again", &other).unwrap_err(),
            Error::Conflict(_)
        ));
        let own = svc.signing_key().public_key_pem;
        assert!(matches!(
            svc.add_trusted_signer("t", "Me", &own).unwrap_err(),
            Error::Conflict(_)
        ));
        assert!(matches!(
            svc.add_trusted_signer("t", " ", &other).unwrap_err(),
            Error::Invalid(_)
        ));
        svc.remove_trusted_signer("t", &s.fingerprint.to_uppercase())
            .expect("remove");
        assert!(svc.list_trusted_signers().expect("list").is_empty());
        assert!(matches!(
            svc.remove_trusted_signer("t", &s.fingerprint).unwrap_err(),
            Error::NotFound(_)
        ));
    }
}
