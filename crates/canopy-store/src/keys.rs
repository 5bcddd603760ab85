//! Canopy keys: how they are made, how they are stored, and the in-memory ring that checks them.
//!
//! A key is `sk-canopy-` followed by 48 hex digits (24 random bytes), shown once when created.
//! Only its SHA-256 hash is stored: keys are long random secrets, so a fast hash is as strong
//! as a slow one here, and checking a key costs one hash and one map lookup.
//!
//! The [`KeyRing`] holds every active key's hash in memory, so neither the proxy nor the API
//! waits on the store to authenticate a call. [`KeyRing::refresh`] reloads it; the server does so
//! every second, so a new or revoked key takes effect within a second.
//!
//! Whether keys are required is decided by the store's contents: once any key has been created,
//! every call needs one, even after all keys are revoked (revoking keys never opens Canopy).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::model::Principal;

/// The prefix every Canopy key starts with.
pub const KEY_PREFIX: &str = "sk-canopy-";

/// A key as listed: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    /// The key's id (used to revoke it).
    pub id: String,
    /// The organisation's id.
    pub org_id: String,
    /// The organisation's name.
    pub org_name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// When it was created, Unix ms.
    pub created_at_ms: i64,
    /// When it was revoked, Unix ms.
    pub revoked_at_ms: Option<i64>,
}

/// An active key, as the ring needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// The key's id.
    pub key_id: String,
    /// Its organisation's id.
    pub org_id: String,
}

/// Storage of organisations and keys.
#[async_trait]
pub trait Keys: Send + Sync + 'static {
    /// Stores a new key for the organisation named `org_name`, creating the organisation first
    /// if it does not exist.
    async fn insert_key(&self, org_name: &str, hash: &str, prefix: &str) -> Result<KeyRow>;

    /// Every key, newest first.
    async fn list_keys(&self) -> Result<Vec<KeyRow>>;

    /// Revokes a key; `false` if there is no such key.
    async fn revoke_key(&self, id: &str) -> Result<bool>;

    /// Every key that is not revoked.
    async fn active_keys(&self) -> Result<Vec<ActiveKey>>;

    /// How many keys were ever created, revoked ones included.
    async fn keys_ever_created(&self) -> Result<u64>;
}

/// A newly made key: the secret to show once, and what to store.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key itself. Print it once; it cannot be recovered.
    pub secret: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// The first characters, for listings.
    pub prefix: String,
}

/// Makes a key from the operating system's random source.
pub fn generate_key() -> Result<NewKey> {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Corrupt {
            what: "random source",
            reason: "the operating system's random source failed".to_owned(),
        })?;
    let secret = format!("{KEY_PREFIX}{}", hex(&bytes));
    Ok(NewKey {
        hash: hash_key(&secret),
        prefix: secret[..KEY_PREFIX.len() + 6].to_owned(),
        secret,
    })
}

/// SHA-256 of a key, hex.
pub fn hash_key(secret: &str) -> String {
    hex(digest(&SHA256, secret.trim().as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How calls are let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// No key needed; everything belongs to this organisation.
    Open { org_id: String },
    /// A valid key is needed.
    Required,
}

/// Why a call was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key was sent.
    #[error("a Canopy key is required: send it as Helicone-Auth: Bearer <key>")]
    Missing,
    /// The key is unknown or revoked.
    #[error("the Canopy key is not valid (unknown or revoked)")]
    Invalid,
}

#[derive(Debug)]
struct Snapshot {
    mode: AuthMode,
    keys: HashMap<String, Principal>,
}

/// The active keys, in memory, shared by the proxy and the API.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<Snapshot>>,
    /// Held from a refresh's read to its swap, so that a slower refresh that read the store
    /// before a key was created cannot replace the snapshot of a later one that read it after.
    refreshing: Arc<tokio::sync::Mutex<()>>,
    store: Option<Arc<dyn Keys>>,
    open_org: String,
    allow_open: bool,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("open_org", &self.open_org)
            .field("allow_open", &self.allow_open)
            .finish()
    }
}

impl KeyRing {
    /// A ring that lets every call in as `org_id` and never loads keys (tests, embedded use).
    pub fn open(org_id: &str) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Snapshot {
                mode: AuthMode::Open {
                    org_id: org_id.to_owned(),
                },
                keys: HashMap::new(),
            })),
            store: None,
            refreshing: Arc::default(),
            open_org: org_id.to_owned(),
            allow_open: true,
        }
    }

    /// A ring over `store`, loaded now. With no key ever created it runs open as `open_org` if
    /// `allow_open`, and requires keys otherwise.
    pub async fn load(store: Arc<dyn Keys>, open_org: &str, allow_open: bool) -> Result<Self> {
        let ring = Self {
            inner: Arc::new(RwLock::new(Snapshot {
                mode: AuthMode::Required,
                keys: HashMap::new(),
            })),
            store: Some(store),
            refreshing: Arc::default(),
            open_org: open_org.to_owned(),
            allow_open,
        };
        ring.refresh().await?;
        Ok(ring)
    }

    /// Reloads the keys from the store.
    pub async fn refresh(&self) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let _one_at_a_time = self.refreshing.lock().await;
        let ever = store.keys_ever_created().await?;
        let keys = store
            .active_keys()
            .await?
            .into_iter()
            .map(|k| {
                (
                    k.hash,
                    Principal {
                        org_id: k.org_id,
                        key_id: Some(k.key_id),
                    },
                )
            })
            .collect();
        let mode = if ever == 0 && self.allow_open {
            AuthMode::Open {
                org_id: self.open_org.clone(),
            }
        } else {
            AuthMode::Required
        };
        if let Ok(mut snapshot) = self.inner.write() {
            *snapshot = Snapshot { mode, keys };
        }
        Ok(())
    }

    /// The current mode.
    pub fn mode(&self) -> AuthMode {
        self.inner
            .read()
            .map_or(AuthMode::Required, |s| s.mode.clone())
    }

    /// Who a call is, from the key it sent (`Bearer ` prefix optional).
    pub fn authenticate(&self, key: Option<&str>) -> Result<Principal, AuthError> {
        let snapshot = self.inner.read().map_err(|_| AuthError::Invalid)?;
        if let AuthMode::Open { org_id } = &snapshot.mode {
            return Ok(Principal {
                org_id: org_id.clone(),
                key_id: None,
            });
        }
        let key = key
            .map(|k| k.trim().strip_prefix("Bearer ").unwrap_or(k).trim())
            .filter(|k| !k.is_empty());
        let key = key.ok_or(AuthError::Missing)?;
        snapshot
            .keys
            .get(&hash_key(key))
            .cloned()
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 48);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(a.secret.starts_with(&a.prefix));
        assert!(!a.hash.contains(&a.secret[KEY_PREFIX.len()..]));
    }

    #[test]
    fn an_open_ring_lets_everyone_in_as_its_org() {
        let ring = KeyRing::open("default");
        assert_eq!(ring.authenticate(None).unwrap().org_id, "default");
        assert_eq!(ring.authenticate(Some("anything")).unwrap().key_id, None);
    }
}
