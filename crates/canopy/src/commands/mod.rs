//! Subcommands that read or change the store: `keys` and `sessions`. One file each.

pub mod demo;
pub mod keys;
pub mod replay;
pub mod sessions;

use anyhow::Context;

use crate::config::Settings;
use crate::store::Store;

/// Opens the store named by the configuration.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.store).await.with_context(|| {
        format!(
            "invalid configuration in {}: key `store` = `{}` cannot be opened",
            settings.store_source, settings.store
        )
    })
}
