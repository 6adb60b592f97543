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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ContentType;
    use bytes::Bytes;

    #[tokio::test]
    async fn put_get_list_notify() {
        let s = MemoryStore::new();
        let mut rx = s.subscribe();
        let obj = Object {
            data: Bytes::from_static(b"abc"),
            content_type: ContentType::Mp4,
        };
        s.put("live/a/1.m4s", obj.clone()).await.expect("put");
        s.put("live/b/1.m4s", obj.clone()).await.expect("put");
        assert_eq!(&*rx.recv().await.expect("notified"), "live/a/1.m4s");
        assert_eq!(s.get("live/a/1.m4s").await.expect("get"), Some(obj));
        assert_eq!(s.list("live/a/").await.expect("list"), vec!["live/a/1.m4s"]);
        s.delete("live/a/1.m4s").await.expect("delete");
        assert_eq!(s.get("live/a/1.m4s").await.expect("get"), None);
        assert!(s
            .put(
                "../x",
                Object {
                    data: Bytes::new(),
                    content_type: ContentType::Mp4
                }
            )
            .await
            .is_err());
    }
}
