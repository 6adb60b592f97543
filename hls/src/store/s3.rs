//! S3 store (`aws-sdk-s3`): AWS S3 or any S3-compatible server (MinIO, Ceph RGW,
//! Garage, moto, …). Keys map one-to-one to object keys in one bucket.
//!
//! - Credentials come from the SDK's default chain: `AWS_ACCESS_KEY_ID` /
//!   `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), then the shared config files
//!   (`AWS_PROFILE`), web identity, the container and instance metadata endpoints.
//! - Transient errors (throttling, 5xx, timeouts, refused connections) are retried by the
//!   SDK's standard retry strategy with exponential backoff and jitter, bounded by
//!   [`S3Config::max_attempts`] and per-attempt / per-operation timeouts, so a call to a
//!   dead server fails within a second or two instead of hanging the live edge.
//! - Errors are logged once per burst: the first failure after a success is a warning,
//!   the first success after failures is logged at info; everything else is returned.
//! - Content types are set on put and read back on get (falling back to the key's
//!   extension when a server does not keep them).
//! - Notifications are in-process only (this process's puts); an origin in another
//!   process subscribes to the packager over HTTP, see [`crate::store`].

use super::{validate_key, ContentType, Object, Store, StoreError, NOTIFY_CAPACITY};
use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Region, StalledStreamProtectionConfig};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tracing::{info, warn};

pub const DEFAULT_REGION: &str = "us-east-1";
/// Attempts per operation (the first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_millis(500);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One HTTP attempt; a part is ~0.3 s of media, so a slower store is already failing.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole operation, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to reach the bucket (static settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `None`: AWS's endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Path-style URLs (`http://host/bucket/key`), as most self-hosted servers need.
    pub path_style: bool,
    pub max_attempts: u32,
}

impl S3Config {
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            path_style: false,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

pub struct S3Store {
    client: Client,
    bucket: String,
    notify: broadcast::Sender<Arc<str>>,
    /// Errors are logged once per burst.
    failing: AtomicBool,
}

impl S3Store {
    /// Builds the client (loading credentials from the environment); makes no request.
    pub async fn new(config: &S3Config) -> S3Store {
        let retry = RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1))
            .with_initial_backoff(DEFAULT_INITIAL_BACKOFF)
            .with_max_backoff(DEFAULT_MAX_BACKOFF);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
            .operation_timeout(DEFAULT_OPERATION_TIMEOUT)
            .build();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts)
            .load()
            .await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            // Parts are small and written at once; a stall is caught by the timeouts.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        S3Store {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            notify,
            failing: AtomicBool::new(false),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it does not exist (for tests and first runs; production
    /// buckets are usually made by the operator, and the credentials may not allow it).
    pub async fn create_bucket_if_missing(&self) -> Result<(), StoreError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed(&self.bucket, "create bucket", e)),
        }
    }

    /// Checks that the bucket is reachable with these credentials.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => {
                self.succeeded();
                Ok(())
            }
            Err(e) => Err(self.failed(&self.bucket, "head bucket", e)),
        }
    }

    fn succeeded(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            info!(bucket = %self.bucket, "S3 store reachable again");
        }
    }

    fn failed<E, R>(&self, key: &str, op: &str, e: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let message = format!("{op}: {}", DisplayErrorContext(&e));
        if !self.failing.swap(true, Ordering::Relaxed) {
            warn!(bucket = %self.bucket, %key, reason = %message, "S3 store request failed (further errors are not logged until it recovers)");
        }
        StoreError::Backend {
            key: key.to_owned(),
            message,
        }
    }
}

fn content_type_of(mime: Option<&str>, key: &str) -> ContentType {
    let mime = mime.map(|m| m.split(';').next().unwrap_or_default().trim());
    [
        ContentType::Playlist,
        ContentType::Mp4,
        ContentType::Json,
        ContentType::Vtt,
    ]
    .into_iter()
    .find(|t| Some(t.mime()) == mime)
    .unwrap_or_else(|| ContentType::for_key(key))
}

fn status_of<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[async_trait]
impl Store for S3Store {
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError> {
        validate_key(key)?;
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(object.content_type.mime())
            .body(ByteStream::from(object.data))
            .send()
            .await;
        match result {
            Ok(_) => {
                self.succeeded();
                let _ = self.notify.send(Arc::from(key));
                Ok(())
            }
            Err(e) => Err(self.failed(key, "put", e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        validate_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            // Some servers answer a bare 404 (no code); a missing bucket is an error.
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                    || (status_of(&e) == Some(404) && e.code() != Some("NoSuchBucket")) =>
            {
                self.succeeded();
                return Ok(None);
            }
            Err(e) => return Err(self.failed(key, "get", e)),
        };
        let content_type = content_type_of(out.content_type(), key);
        match out.body.collect().await {
            Ok(body) => {
                self.succeeded();
                Ok(Some(Object {
                    data: body.into_bytes(),
                    content_type,
                }))
            }
            Err(e) => {
                let message = format!("get body: {e}");
                if !self.failing.swap(true, Ordering::Relaxed) {
                    warn!(bucket = %self.bucket, %key, reason = %message, "S3 store request failed (further errors are not logged until it recovers)");
                }
                Err(StoreError::Backend {
                    key: key.to_owned(),
                    message,
                })
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => {
                self.succeeded();
                Ok(())
            }
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.failed(key, "delete", e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.failed(prefix, "list", e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.starts_with(prefix))
                    .map(str::to_owned),
            );
            match (out.is_truncated(), out.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        self.succeeded();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.notify.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_round_trip() {
        for t in [ContentType::Playlist, ContentType::Mp4, ContentType::Json] {
            assert_eq!(content_type_of(Some(t.mime()), "x"), t);
        }
        assert_eq!(
            content_type_of(Some("application/vnd.apple.mpegurl; charset=utf-8"), "x"),
            ContentType::Playlist
        );
        assert_eq!(
            content_type_of(Some("binary/octet-stream"), "a/index.m3u8"),
            ContentType::Playlist
        );
        assert_eq!(content_type_of(None, "a/seg1.m4s"), ContentType::Mp4);
    }
}
