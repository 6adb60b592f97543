//! PostgreSQL backend for several origin processes sharing one database.
//!
//! Writes go through a small `deadpool-postgres` pool. Each committed
//! transaction sends `NOTIFY amphi_qa, '<first_seq> <last_seq> <event>'`; every
//! process keeps one dedicated `LISTEN` connection, reads the announced changes
//! back from `qa_changes` and publishes them to its local [`Hub`]. Even the
//! process that made a change learns of it this way, so all processes deliver
//! the same per-event order. After a lost LISTEN connection the listener
//! reconnects and catches up from the last sequence it forwarded per event.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::rows::{self, QUESTION_COLS};
use super::{votes_from_db, Activity, Actor, Hub, QaStore, QaTx, Snapshot, Window};
use crate::chapters::{Chapter, MarkerKind};
use crate::error::StoreError;
use crate::events::ChangeRecord;
use crate::model::{NewQuestion, ProgramTime, Question, Status};

mod listen;
use listen::listen_loop;

/// The NOTIFY channel shared by every origin.
pub const CHANNEL: &str = "amphi_qa";
/// Pooled connections per process.
pub const POOL_SIZE: usize = 16;

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
    for (i, sql) in rows::migrations(rows::POSTGRES)
        .iter()
        .enumerate()
        .skip(start)
    {
        tx.batch_execute(sql).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO qa_schema_version (version) VALUES ($1)", &[&v])
            .await?;
    }
    tx.commit().await?;
    Ok(())
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
            c.execute(rows::ENSURE_EVENT, &[&event]).await?;
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
        let seq = match tx.query_opt(rows::LAST_SEQ, &[&event]).await? {
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
            .map(rows::question)
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
        client.execute(rows::STORE_SECRET, &[&name, &fresh]).await?;
        let row = client.query_one(rows::SECRET, &[&name]).await?;
        Ok(row.try_get(0)?)
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(rows::CHAPTERS, &[&event]).await?;
        rows.iter().map(rows::chapter).collect()
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
            .query_opt(rows::IS_BANNED, &[&event, &viewer])
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
            .query_opt(rows::ADDRESS_BANNED_UNTIL, &[&event, &addr])
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
        let (statement, who) = rows::activity_sql(actor);
        let row = self
            .client()?
            .query_one(&statement, &[&event, &kind.as_str(), &who, &since_ms])
            .await?;
        rows::window(&row)
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
            rows::FORGET_ACTIVITY,
            &[&event, &kind.as_str(), &forget_before_ms],
        )
        .await?;
        c.execute(
            rows::LOG_ACTIVITY,
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
            .query_opt(rows::LAST_ADDRESS, &[&event, &viewer])
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
                &format!("{} RETURNING id", rows::INSERT_QUESTION),
                &[
                    &q.event,
                    &q.viewer,
                    &q.name,
                    &q.text,
                    &now_ms,
                    &q.program_time.map(ProgramTime::unix_millis),
                    &status.as_str(),
                ],
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
            Some(r) => Ok(Some(rows::question(&r)?)),
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
            .execute(rows::INSERT_VOTE, &[&id, &viewer, &now_ms])
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        let row = c.query_one(rows::COUNT_VOTE, &[&id]).await?;
        Ok(Some(votes_from_db(row.try_get(0)?)?))
    }

    async fn set_state(&mut self, id: i64, status: Status, pinned: bool) -> Result<(), StoreError> {
        self.client()?
            .execute(rows::SET_STATE, &[&id, &status.as_str(), &pinned])
            .await?;
        Ok(())
    }

    async fn set_answer(&mut self, id: i64, answer: Option<&str>) -> Result<(), StoreError> {
        self.client()?
            .execute(rows::SET_ANSWER, &[&id, &answer])
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
            .map(rows::question)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|q| q.id);
        Ok(out)
    }

    async fn ban(&mut self, event: &str, viewer: &str, now_ms: i64) -> Result<(), StoreError> {
        self.client()?
            .execute(rows::BAN, &[&event, &viewer, &now_ms])
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
            .query_one(rows::COUNT_CHAPTERS, &[&event, &kind.as_str()])
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn insert_chapter(&mut self, chapter: &Chapter) -> Result<bool, StoreError> {
        let n = self
            .client()?
            .execute(
                rows::INSERT_CHAPTER,
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
            rows::INSERT_CHANGE,
            &[&c.event, &c.seq, &now_ms, &c.moderator, &c.viewer],
        )
        .await?;
    }
    tx.execute(rows::ADVANCE_SEQ, &[&last.event, &last.seq])
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
        .query(rows::CHANGES_SINCE, &[&event, &after, &limit])
        .await?;
    rows.iter().map(rows::change).collect()
}
