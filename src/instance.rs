//! Opening an instance: the data dir, its master key and the platform database, in that
//! order. `serve` and `admin` both start here, so they agree on paths, keys and migrations.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::crypto::{self, MasterKey};
use crate::store::{self, Db, OpenOptions};

/// An opened instance: configuration, master key, and the migrated platform database.
pub struct Instance {
    /// The finished configuration.
    pub config: Arc<Config>,
    /// The master key (KEK).
    pub master_key: Arc<MasterKey>,
    /// The platform database.
    pub db: Db,
    /// Which database holds each workspace's data (platform or the org's own).
    pub tenants: crate::tenancy::TenantDbs,
}

impl Instance {
    /// Creates the data dir if needed (0700), loads or generates the master key (0600), and
    /// opens and migrates `platform.db`. Errors say which of these failed and where.
    pub fn open(config: Config) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        crypto::ensure_private_dir(dir)
            .with_context(|| format!("preparing data directory {}", dir.display()))?;
        let master_key = MasterKey::load(&config).context("loading the master key")?;
        let path = dir.join(store::PLATFORM_DB_FILE);
        let opts = OpenOptions {
            busy_timeout: Duration::from_millis(config.storage.busy_timeout_ms),
            pool_size: u32::try_from(config.storage.pool_size).unwrap_or(8),
        };
        let db = Db::open(&path, &master_key.platform_db_key(), &opts)?;
        let master_key = Arc::new(master_key);
        let tenants = crate::tenancy::TenantDbs::new(db.clone(), master_key.clone(), &config);
        Ok(Self {
            config: Arc::new(config),
            master_key,
            db,
            tenants,
        })
    }
}
