//! `canopy keys create | list | revoke`.

use anyhow::Context;
use canopy_store::keys::generate_key;

use crate::cli::KeysCommand;
use crate::output;
use crate::store::Store;

/// Runs one `keys` subcommand against the store.
pub async fn run(store: &Store, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { org } => {
            let org = org.trim();
            anyhow::ensure!(!org.is_empty(), "--org must not be empty");
            let key = generate_key().context("cannot make a key")?;
            let row = store
                .keys
                .insert_key(org, &key.hash, &key.prefix)
                .await
                .context("cannot store the key")?;
            output::line(&format!(
                "created key {} for organisation {}",
                row.id, row.org_name
            ));
            output::line(&key.secret);
            output::line(
                "This is the only time the key is shown. Send it as `Helicone-Auth: Bearer <key>`.",
            );
        }
        KeysCommand::List => {
            let rows = store.keys.list_keys().await.context("cannot list keys")?;
            if rows.is_empty() {
                output::line("no keys: Canopy runs open on loopback until one is created");
            }
            for row in rows {
                let state = row
                    .revoked_at_ms
                    .map_or("active".to_owned(), |_| "revoked".to_owned());
                output::line(&format!(
                    "{}  {}…  org {}  created {}  {state}",
                    row.id,
                    row.prefix,
                    row.org_name,
                    canopy_api::time::iso(row.created_at_ms)
                ));
            }
        }
        KeysCommand::Revoke { id } => {
            let found = store
                .keys
                .revoke_key(&id)
                .await
                .context("cannot revoke the key")?;
            anyhow::ensure!(found, "no key with id {id}");
            output::line(&format!(
                "revoked key {id}; a running Canopy refuses it within a second"
            ));
        }
    }
    Ok(())
}
