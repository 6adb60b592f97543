//! PostgreSQL backend for several origin processes sharing one database.
//!
//! Writes go through a small `deadpool-postgres` pool. Each committed
//! transaction sends `NOTIFY amphi_qa, '<first_seq> <last_seq> <event>'`; every
//! process keeps one dedicated `LISTEN` connection, reads the announced changes
//! back from `qa_changes` and publishes them to its local [`Hub`]. Even the
//! process that made a change learns of it this way, so all processes deliver
//! the same per-event order. After a lost LISTEN connection the listener
//! reconnects and catches up from the last sequence it forwarded per event.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::{
    kind_from_db, status_from_db, votes_from_db, Activity, Actor, Hub, QaStore, QaTx, Snapshot,
    Window,
};
use crate::chapters::{Chapter, MarkerKind};
use crate::error::StoreError;
use crate::events::ChangeRecord;
use crate::model::{NewQuestion, ProgramTime, Question, Status};

/// The NOTIFY channel shared by every origin.
pub const CHANNEL: &str = "amphi_qa";
/// Pooled connections per process.
pub const POOL_SIZE: usize = 16;
const PAGE: u32 = 1000;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE qa_events (event TEXT PRIMARY KEY, last_seq BIGINT NOT NULL DEFAULT 0);
CREATE TABLE qa_questions (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    name TEXT,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    program_time BIGINT,
    status TEXT NOT NULL,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    votes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX qa_questions_by_viewer ON qa_questions (event, viewer, created_at);
CREATE INDEX qa_questions_by_event ON qa_questions (event, id);
CREATE TABLE qa_votes (
    question_id BIGINT NOT NULL,
    viewer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (question_id, viewer)
);
CREATE TABLE qa_bans (
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event, viewer)
);
CREATE TABLE qa_changes (
    event TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    moderator TEXT NOT NULL,
    viewer TEXT,
    PRIMARY KEY (event, seq)
);
"#,
    super::MIGRATION_2,
    super::MIGRATION_3,
];

const QUESTION_COLS: &str =
    "id, event, viewer, name, text, created_at, program_time, status, pinned, votes";

/// Q&A storage in PostgreSQL, shared by any number of processes.
pub struct PgStore {
    pool: Pool,
    hub: Arc<Hub>,
    listener: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgStore {
    /// Connects (`postgres://user@host:port/db`), applies migrations and starts
    /// the LISTEN task. Must be called within a tokio runtime.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config = tokio_postgres::Config::from_str(url)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        migrate(&pool).await?;
        let hub = Arc::new(Hub::new());
        // Listen before returning, so no change committed after `connect` is missed.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let listener = tokio::spawn(listen_loop(
            config,
            pool.clone(),
            Arc::downgrade(&hub),
            ready_tx,
        ));
        match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                listener.abort();
                return Err(e);
            }
            _ => {
                listener.abort();
                return Err(StoreError::Pool("LISTEN connection did not start".into()));
            }
        }
        Ok(PgStore {
            pool,
            hub,
            listener,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        get(&self.pool).await
    }
}

async fn get(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Pool(e.to_string()))
}

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = get(pool).await?;
    let tx = client.transaction().await?;
    // Origins starting together: one migrates, the others wait.
    tx.execute("SELECT pg_advisory_xact_lock(72617301)", &[])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS qa_schema_version (version INTEGER NOT NULL)")
        .await?;
    let row = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM qa_schema_version",
            &[],
        )
        .await?;
    let version: i32 = row.try_get(0)?;
    let start = usize::try_from(version).unwrap_or(usize::MAX);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.batch_execute(sql).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO qa_schema_version (version) VALUES ($1)", &[&v])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn question_from_row(r: &Row) -> Result<Question, StoreError> {
    let status: String = r.try_get(7)?;
    let votes: i64 = r.try_get(9)?;
    Ok(Question {
        id: r.try_get(0)?,
        event: r.try_get(1)?,
        viewer: r.try_get(2)?,
        name: r.try_get(3)?,
        text: r.try_get(4)?,
        created_at: r.try_get(5)?,
        program_time: r
            .try_get::<_, Option<i64>>(6)?
            .map(ProgramTime::from_unix_millis),
        status: status_from_db(&status)?,
        pinned: r.try_get(8)?,
        votes: votes_from_db(votes)?,
    })
}

fn change_from_row(r: &Row) -> Result<ChangeRecord, StoreError> {
    Ok(ChangeRecord {
        event: r.try_get(0)?,
        seq: r.try_get(1)?,
        moderator: r.try_get(2)?,
        viewer: r.try_get(3)?,
    })
}

/// A transaction on one pooled connection. Without the event lock it is plain
/// autocommit reads. Dropped while open, its connection leaves the pool (closing
/// it makes the server roll the transaction back).
struct PgTx {
    client: Option<Object>,
    in_transaction: bool,
    last_seq: i64,
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if self.in_transaction {
                drop(Object::take(client));
            }
        }
    }
}

impl PgTx {
    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Pool("transaction already ended".into()))
    }
}

fn window_from_row(r: &Row) -> Result<Window, StoreError> {
    let count: i64 = r.try_get(0)?;
    Ok(Window {
        count: u64::try_from(count).unwrap_or(0),
        oldest_ms: r.try_get(1)?,
    })
}

#[async_trait]
impl QaStore for PgStore {
    async fn begin(&self, event: &str, lock_event: bool) -> Result<Box<dyn QaTx>, StoreError> {
        let client = self.client().await?;
        let mut tx = PgTx {
            client: Some(client),
            in_transaction: false,
            last_seq: 0,
        };
        if lock_event {
            let c = tx.client()?;
            c.batch_execute("BEGIN").await?;
            tx.in_transaction = true;
            let c = tx.client()?;
            c.execute(
                "INSERT INTO qa_events (event, last_seq) VALUES ($1, 0) ON CONFLICT (event) DO NOTHING",
                &[&event],
            )
            .await?;
            let row = c
                .query_one(
                    "SELECT last_seq FROM qa_events WHERE event = $1 FOR UPDATE",
                    &[&event],
                )
                .await?;
            tx.last_seq = row.try_get(0)?;
        }
        Ok(Box::new(tx))
    }

    async fn snapshot(&self, event: &str) -> Result<Snapshot, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let seq = match tx
            .query_opt("SELECT last_seq FROM qa_events WHERE event = $1", &[&event])
            .await?
        {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        let rows = tx
            .query(
                &format!("SELECT {QUESTION_COLS} FROM qa_questions WHERE event = $1 ORDER BY id"),
                &[&event],
            )
            .await?;
        let questions = rows
            .iter()
            .map(question_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(Snapshot { seq, questions })
    }

    async fn changes_since(
        &self,
        event: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let client = self.client().await?;
        fetch_changes(&client, event, after, i64::from(limit)).await
    }

    async fn secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO qa_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh],
            )
            .await?;
        let row = client
            .query_one("SELECT value FROM qa_secrets WHERE name = $1", &[&name])
            .await?;
        Ok(row.try_get(0)?)
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, event, kind, text, program_time, created_at FROM qa_chapters
                 WHERE event = $1 ORDER BY program_time, id",
                &[&event],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get(2)?;
            out.push(Chapter {
                id: r.try_get(0)?,
                event: r.try_get(1)?,
                kind: kind_from_db(&kind)?,
                text: r.try_get(3)?,
                program_time: ProgramTime::from_unix_millis(r.try_get(4)?),
                created_at: r.try_get(5)?,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl QaTx for PgTx {
    fn last_seq(&self) -> i64 {
        self.last_seq
    }

    async fn is_banned(&mut self, event: &str, viewer: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT 1 FROM qa_bans WHERE event = $1 AND viewer = $2",
                &[&event, &viewer],
            )
            .await?
            .is_some())
    }

    async fn address_banned_until(
        &mut self,
        event: &str,
        addr: &str,
    ) -> Result<Option<i64>, StoreError> {
        match self
            .client()?
            .query_opt(
                "SELECT until_ms FROM qa_address_bans WHERE event = $1 AND addr = $2",
                &[&event, &addr],
            )
            .await?
        {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    async fn activity(
        &mut self,
        event: &str,
        kind: Activity,
        actor: Actor<'_>,
        since_ms: i64,
    ) -> Result<Window, StoreError> {
        let (column, who) = match actor {
            Actor::Viewer(v) => ("viewer", v),
            Actor::Address(a) => ("addr", a),
        };
        let row = self
            .client()?
            .query_one(
                &format!(
                    "SELECT COUNT(*), MIN(created_at) FROM qa_activity
                     WHERE event = $1 AND kind = $2 AND {column} = $3 AND created_at > $4"
                ),
                &[&event, &kind.as_str(), &who, &since_ms],
            )
            .await?;
        window_from_row(&row)
    }

    async fn log_activity(
        &mut self,
        event: &str,
        kind: Activity,
        viewer: &str,
        addr: Option<&str>,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<(), StoreError> {
        let c = self.client()?;
        c.execute(
            "DELETE FROM qa_activity WHERE event = $1 AND kind = $2 AND created_at < $3",
            &[&event, &kind.as_str(), &forget_before_ms],
        )
        .await?;
        c.execute(
            "INSERT INTO qa_activity (event, kind, viewer, addr, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&event, &kind.as_str(), &viewer, &addr, &now_ms],
        )
        .await?;
        Ok(())
    }

    async fn last_address(
        &mut self,
        event: &str,
        viewer: &str,
    ) -> Result<Option<String>, StoreError> {
        match self
            .client()?
            .query_opt(
                "SELECT addr FROM qa_activity WHERE event = $1 AND viewer = $2 AND addr IS NOT NULL
                 ORDER BY created_at DESC LIMIT 1",
                &[&event, &viewer],
            )
            .await?
        {
            Some(r) => Ok(r.try_get(0)?),
            None => Ok(None),
        }
    }

    async fn insert_question(
        &mut self,
        q: &NewQuestion,
        status: Status,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let row = self
            .client()?
            .query_one(
                "INSERT INTO qa_questions (event, viewer, name, text, created_at, program_time, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[&q.event, &q.viewer, &q.name, &q.text, &now_ms, &q.program_time.map(ProgramTime::unix_millis), &status.as_str()],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn question(&mut self, event: &str, id: i64) -> Result<Option<Question>, StoreError> {
        match self
            .client()?
            .query_opt(
                &format!("SELECT {QUESTION_COLS} FROM qa_questions WHERE id = $1 AND event = $2"),
                &[&id, &event],
            )
            .await?
        {
            Some(r) => Ok(Some(question_from_row(&r)?)),
            None => Ok(None),
        }
    }

    async fn add_vote(
        &mut self,
        id: i64,
        viewer: &str,
        now_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let c = self.client()?;
        let inserted = c
            .execute(
                "INSERT INTO qa_votes (question_id, viewer, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&id, &viewer, &now_ms],
            )
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        let row = c
            .query_one(
                "UPDATE qa_questions SET votes = votes + 1 WHERE id = $1 RETURNING votes",
                &[&id],
            )
            .await?;
        Ok(Some(votes_from_db(row.try_get(0)?)?))
    }

    async fn set_state(&mut self, id: i64, status: Status, pinned: bool) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "UPDATE qa_questions SET status = $2, pinned = $3 WHERE id = $1",
                &[&id, &status.as_str(), &pinned],
            )
            .await?;
        Ok(())
    }

    async fn unpin_others(&mut self, event: &str, id: i64) -> Result<Vec<Question>, StoreError> {
        let rows = self
            .client()?
            .query(
                &format!(
                    "UPDATE qa_questions SET pinned = FALSE
                     WHERE event = $1 AND pinned AND id <> $2 RETURNING {QUESTION_COLS}"
                ),
                &[&event, &id],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(question_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|q| q.id);
        Ok(out)
    }

    async fn ban(&mut self, event: &str, viewer: &str, now_ms: i64) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "INSERT INTO qa_bans (event, viewer, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&event, &viewer, &now_ms],
            )
            .await?;
        Ok(())
    }

    async fn ban_address(
        &mut self,
        event: &str,
        addr: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "INSERT INTO qa_address_bans (event, addr, until_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (event, addr) DO UPDATE
                 SET until_ms = GREATEST(qa_address_bans.until_ms, excluded.until_ms)",
                &[&event, &addr, &until_ms],
            )
            .await?;
        Ok(())
    }

    async fn count_chapters(&mut self, event: &str, kind: MarkerKind) -> Result<i64, StoreError> {
        let row = self
            .client()?
            .query_one(
                "SELECT COUNT(*) FROM qa_chapters WHERE event = $1 AND kind = $2",
                &[&event, &kind.as_str()],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn insert_chapter(&mut self, chapter: &Chapter) -> Result<bool, StoreError> {
        let n = self
            .client()?
            .execute(
                "INSERT INTO qa_chapters (event, id, kind, text, program_time, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event, id) DO NOTHING",
                &[
                    &chapter.event,
                    &chapter.id,
                    &chapter.kind.as_str(),
                    &chapter.text,
                    &chapter.program_time.unix_millis(),
                    &chapter.created_at,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn commit(
        mut self: Box<Self>,
        changes: Vec<ChangeRecord>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if self.in_transaction {
            let c = self.client()?;
            record(c, now_ms, &changes).await?;
            c.batch_execute("COMMIT").await?;
            self.in_transaction = false;
        }
        // Changes reach this process's hub through LISTEN, like every other process's.
        self.client.take();
        Ok(())
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), StoreError> {
        if self.in_transaction {
            self.client()?.batch_execute("ROLLBACK").await?;
            self.in_transaction = false;
        }
        self.client.take();
        Ok(())
    }
}

/// Writes the change rows, advances the sequence and queues the NOTIFY.
async fn record<C: GenericClient>(
    tx: &C,
    now_ms: i64,
    changes: &[ChangeRecord],
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (changes.first(), changes.last()) else {
        return Ok(());
    };
    for c in changes {
        tx.execute(
            "INSERT INTO qa_changes (event, seq, created_at, moderator, viewer) VALUES ($1, $2, $3, $4, $5)",
            &[&c.event, &c.seq, &now_ms, &c.moderator, &c.viewer],
        )
        .await?;
    }
    tx.execute(
        "UPDATE qa_events SET last_seq = $2 WHERE event = $1",
        &[&last.event, &last.seq],
    )
    .await?;
    let payload = format!("{} {} {}", first.seq, last.seq, last.event);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await?;
    Ok(())
}

async fn fetch_changes<C: GenericClient>(
    c: &C,
    event: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let rows = c
        .query(
            "SELECT event, seq, moderator, viewer FROM qa_changes
             WHERE event = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&event, &after, &limit],
        )
        .await?;
    rows.iter().map(change_from_row).collect()
}

/// Parses a NOTIFY payload `"<first> <last> <event>"`.
fn parse_payload(p: &str) -> Option<(i64, i64, &str)> {
    let mut it = p.splitn(3, ' ');
    let first = it.next()?.parse().ok()?;
    let last = it.next()?.parse().ok()?;
    let event = it.next()?;
    (first <= last && !event.is_empty()).then_some((first, last, event))
}

type Ready = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

async fn listen_loop(config: tokio_postgres::Config, pool: Pool, hub: Weak<Hub>, ready: Ready) {
    let mut forwarded: HashMap<String, i64> = HashMap::new();
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = listen_once(&config, &pool, &hub, &mut forwarded, &mut ready).await;
        if let Err(e) = result {
            if let Some(r) = ready.take() {
                let _ = r.send(Err(e));
                return;
            }
            tracing::warn!(error = %e, "q&a LISTEN connection lost; reconnecting");
        }
        if hub.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    pool: &Pool,
    hub: &Weak<Hub>,
    forwarded: &mut HashMap<String, i64>,
    ready: &mut Option<Ready>,
) -> Result<(), StoreError> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "q&a LISTEN connection error");
                    break;
                }
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        // Catch up on whatever was committed while we were not listening.
        let known: Vec<(String, i64)> = forwarded.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (event, seq) in known {
            forward(pool, hub, forwarded, &event, seq, i64::MAX).await?;
        }
        while let Some(payload) = rx.recv().await {
            let Some((first, last, event)) = parse_payload(&payload) else {
                tracing::debug!(payload, "ignoring malformed q&a notification");
                continue;
            };
            let from = forwarded.get(event).copied().unwrap_or(first - 1);
            if last > from {
                forward(pool, hub, forwarded, event, from, last).await?;
            }
        }
        Ok::<(), StoreError>(())
    }
    .await;
    driver.abort();
    result
}

/// Reads changes `(after, upto]` of `event` and publishes them locally.
async fn forward(
    pool: &Pool,
    hub: &Weak<Hub>,
    forwarded: &mut HashMap<String, i64>,
    event: &str,
    mut after: i64,
    upto: i64,
) -> Result<(), StoreError> {
    let client = get(pool).await?;
    loop {
        let page = fetch_changes(&client, event, after, i64::from(PAGE)).await?;
        let full = page.len() >= PAGE as usize;
        let Some(hub) = hub.upgrade() else {
            return Ok(());
        };
        for c in page {
            if c.seq > upto {
                break;
            }
            after = c.seq;
            hub.publish(c.into());
        }
        forwarded.insert(event.to_owned(), after);
        if !full || after >= upto {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_payload;

    #[test]
    fn payloads() {
        assert_eq!(parse_payload("3 5 cs101"), Some((3, 5, "cs101")));
        assert_eq!(parse_payload("5 3 cs101"), None);
        assert_eq!(parse_payload("x 3 cs101"), None);
        assert_eq!(parse_payload("3 3"), None);
        assert_eq!(parse_payload("3 3 "), None);
    }
}
