//! In-memory store: the default when everything runs in one process.

use super::{validate_key, Object, Store, StoreError, NOTIFY_CAPACITY};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, Object>>,
    notify: broadcast::Sender<Arc<str>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        MemoryStore {
            objects: RwLock::new(BTreeMap::new()),
            notify,
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError> {
        validate_key(key)?;
        self.objects
            .write()
            .expect("store lock is never poisoned")
            .insert(key.to_owned(), object);
        // No subscriber is not an error.
        let _ = self.notify.send(Arc::from(key));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        validate_key(key)?;
        Ok(self
            .objects
            .read()
            .expect("store lock is never poisoned")
            .get(key)
            .cloned())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.objects
            .write()
            .expect("store lock is never poisoned")
            .remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let objects = self.objects.read().expect("store lock is never poisoned");
        Ok(objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.notify.subscribe()
    }
}

// The store contract (put, get, list, delete, announcements) is tested for every
// backend in `tests/store_contract.rs`.
