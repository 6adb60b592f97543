//! The Q&A service's shared state: stores, clock, secrets and the access rules every
//! route applies (viewer ids, viewer tokens of private events, moderator tokens).

use super::*;
use amphi_time::WallTime;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Name of the server's viewer-id key in the store.
pub(super) const KEY_NAME: &str = "viewer-id-key";

/// What a valid viewer token of a private event grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub expires: WallTime,
    /// The viewer's display name, when the token names its viewer.
    pub name: Option<String>,
}

/// What the binary knows about events: implemented by the binary.
pub trait QaEvents: Send + Sync + 'static {
    /// The event's moderator secret; `None` disables moderation for it.
    fn moderator_token(&self, event: &str) -> Option<String>;
    /// The event's Q&A settings; `None` means the event does not exist (404).
    fn settings(&self, event: &str) -> Option<EventQaSettings>;
    /// Checks a viewer token of the event at `now` (the same check as the origin's
    /// for media); `None` when it is not valid.
    fn check_viewer_token(&self, event: &str, token: &str, now: WallTime) -> Option<TokenClaims>;
}

pub(super) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
/// Finds a request's client address (e.g. the peer, or `X-Forwarded-For` from a
/// trusted proxy).
pub type ClientAddrFn = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

/// Shared state of the Q&A routes. Cheap to clone.
#[derive(Clone)]
pub struct QaState {
    pub(super) store: Arc<dyn QaStore>,
    pub(super) events: Arc<dyn QaEvents>,
    pub(super) clock: Clock,
    pub(super) key: Arc<[u8]>,
    pub(super) client_addr: ClientAddrFn,
    pub(super) chapter_listener: Option<Arc<dyn ChapterListener>>,
    /// Each viewer's writes, one at a time in this process.
    pub(super) turns: Turns,
}

impl std::fmt::Debug for QaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QaState").finish_non_exhaustive()
    }
}

/// Wall clock in ms since the Unix epoch.
pub fn system_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The TCP peer of the request, when the server records it (`ConnectInfo`).
pub fn peer_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

pub(super) fn fresh_key() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl QaState {
    /// State over any store; reads (or creates) the viewer-id key it holds.
    pub async fn new(
        store: Arc<dyn QaStore>,
        events: Arc<dyn QaEvents>,
    ) -> Result<QaState, StoreError> {
        let key = store.secret(KEY_NAME, &fresh_key()).await?;
        Ok(QaState {
            store,
            events,
            clock: Arc::new(system_clock_ms),
            key: Arc::from(key.into_bytes()),
            client_addr: Arc::new(peer_addr),
            chapter_listener: None,
            turns: Turns::default(),
        })
    }

    /// State over a SQLite file (created if missing), e.g. `<data dir>/qa.sqlite3`.
    pub async fn sqlite(
        path: impl AsRef<std::path::Path>,
        events: Arc<dyn QaEvents>,
    ) -> Result<QaState, StoreError> {
        QaState::new(Arc::new(SqliteStore::open(path).await?), events).await
    }

    /// State over PostgreSQL (`postgres://user@host:port/db`), for several origins.
    pub async fn postgres(url: &str, events: Arc<dyn QaEvents>) -> Result<QaState, StoreError> {
        QaState::new(Arc::new(PgStore::connect(url).await?), events).await
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> QaState {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces how a request's client address is found (default: [`peer_addr`]).
    pub fn with_client_addr(
        mut self,
        client_addr: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> QaState {
        self.client_addr = Arc::new(client_addr);
        self
    }

    /// Tells `listener` each event's whole list of markers after every change.
    pub fn with_chapter_listener(mut self, listener: Arc<dyn ChapterListener>) -> QaState {
        self.chapter_listener = Some(listener);
        self
    }

    /// Every marker of the event, by program time.
    pub async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        self.store.chapters(event).await
    }

    /// Adds a chapter on the server's own behalf (Go live's "Lecture starts"), checked
    /// and numbered as a moderator's, and hands the new list to the listener.
    pub async fn add_chapter(
        &self,
        event: &str,
        body: &PostChapterBody,
    ) -> Result<Chapter, QaError> {
        let chapter = chapters::add(self.store.as_ref(), event, body, self.now()).await?;
        self.chapters_changed(event).await;
        Ok(chapter)
    }

    /// Hands the event's markers to the listener, if any.
    pub(super) async fn chapters_changed(&self, event: &str) {
        let Some(listener) = &self.chapter_listener else {
            return;
        };
        match self.store.chapters(event).await {
            Ok(list) => listener.chapters_changed(event, &list),
            Err(e) => tracing::warn!(error = %e, "reading the event's chapters back"),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn QaStore> {
        &self.store
    }

    pub(super) fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The clock's now as a wall-clock instant, the one tokens and ids expire on.
    pub(super) fn wall_now(&self) -> WallTime {
        WallTime::from_unix_millis(self.now())
    }

    pub(super) fn settings(&self, event: &str) -> Result<EventQaSettings, QaError> {
        model::validate_event_name(event)?;
        self.events.settings(event).ok_or(QaError::UnknownEvent)
    }

    /// Checks the moderator token from the `Authorization` header or `query_token`.
    pub(super) fn moderator(
        &self,
        event: &str,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<(), QaError> {
        self.settings(event)?;
        let expected = self
            .events
            .moderator_token(event)
            .filter(|t| !t.is_empty())
            .ok_or(QaError::Unauthorized)?;
        let given = bearer(headers)
            .or(query_token)
            .ok_or(QaError::Unauthorized)?;
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(QaError::Unauthorized)
        }
    }

    /// The signed viewer id a request carries as its bearer value.
    pub(super) fn viewer(
        &self,
        event: &str,
        settings: &EventQaSettings,
        headers: &HeaderMap,
    ) -> Result<ViewerId, QaError> {
        let given = bearer(headers).ok_or(QaError::InvalidViewer)?;
        identity::verify(&self.key, event, settings.private, given, self.wall_now())
            .map_err(|_| QaError::InvalidViewer)
    }

    /// Whether a viewer may read a private event's questions with `credential`
    /// (a viewer id minted for it, or its viewer token). Public events: anyone.
    pub(super) fn may_read(
        &self,
        event: &str,
        settings: &EventQaSettings,
        credential: Option<&str>,
    ) -> Result<(), QaError> {
        if !settings.private {
            return Ok(());
        }
        let given = credential.ok_or(QaError::TokenRequired)?;
        let now = self.wall_now();
        let id_ok = identity::verify(&self.key, event, true, given, now).is_ok();
        if id_ok || self.events.check_viewer_token(event, given, now).is_some() {
            Ok(())
        } else {
            Err(QaError::TokenRequired)
        }
    }
}
