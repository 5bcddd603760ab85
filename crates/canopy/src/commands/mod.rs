//! Subcommands that read or change the store, or call a running Canopy: `keys`, `sessions`,
//! `replay` and `demo`. One file each; [`remote`] is how they talk to a running Canopy.

pub mod demo;
pub mod keys;
pub mod remote;
pub mod replay;
pub mod sessions;
pub mod store;

use anyhow::{Context, bail};

use crate::config::{Settings, sqlite_path};
use crate::store::Store;

/// Opens the store named by the configuration, creating it when it does not exist yet.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.store).await.with_context(|| {
        format!(
            "invalid configuration in {}: key `store` = `{}` cannot be opened",
            settings.store_source,
            canopy_store::redact_url(&settings.store)
        )
    })
}

/// Opens the store for a command that only reads it (`sessions`, `keys list`): a SQLite file
/// that does not exist is reported, never created.
pub async fn open_existing_store(settings: &Settings) -> anyhow::Result<Store> {
    if let Some(path) = sqlite_path(&settings.store)
        && path.as_os_str() != ":memory:"
        && !path.exists()
    {
        bail!(
            "there is no store at {} (key `store` from {}): nothing has been recorded there. \
             Start `canopy serve` (or run `canopy demo`) to record calls, or pass \
             --store sqlite://path/to/canopy.db",
            path.display(),
            settings.store_source
        );
    }
    open_store(settings).await
}
