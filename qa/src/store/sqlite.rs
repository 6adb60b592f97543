//! SQLite backend: one connection (WAL) owned by one thread, which runs the
//! statements it is sent in order. A transaction holds the store's async lock
//! from `BEGIN` to its end, so nothing else runs on the connection meanwhile; a
//! single process owns the file, so its [`Hub`] is fed right after `COMMIT`,
//! while that lock is still held (which keeps sequence order).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::rows::{self, sqlite_sql as sql, QUESTION_COLS};
use super::{votes_from_db, Activity, Actor, Hub, QaStore, QaTx, Snapshot, Window};
use crate::chapters::{Chapter, MarkerKind};
use crate::error::StoreError;
use crate::events::ChangeRecord;
use crate::model::{NewQuestion, ProgramTime, Question, Status};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The thread that owns the connection.
#[derive(Clone)]
struct Worker {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Worker {
    fn spawn(mut conn: Connection) -> Result<Worker, StoreError> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("amphi-qa-sqlite".into())
            .spawn(move || {
                for job in rx {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Task(format!("starting the SQLite thread: {e}")))?;
        Ok(Worker { jobs })
    }

    /// Runs `f` on the connection's thread.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |c: &mut Connection| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| StoreError::Task("the SQLite thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Task("the SQLite thread dropped a statement".into()))?
    }
}

/// Q&A storage in one SQLite file.
pub struct SqliteStore {
    worker: Arc<Mutex<Worker>>,
    hub: Arc<Hub>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let mut conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(SqliteStore {
            worker: Arc::new(Mutex::new(Worker::spawn(conn)?)),
            hub: Arc::new(Hub::new()),
        })
    }

    /// Runs `f` alone on the connection (no transaction of another request is open).
    async fn exclusive<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let worker = self.worker.lock().await;
        worker.run(f).await
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let start = usize::try_from(version).unwrap_or(usize::MAX);
    for (i, sql) in rows::migrations(rows::SQLITE)
        .iter()
        .enumerate()
        .skip(start)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn questions(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Question>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {QUESTION_COLS} FROM qa_questions WHERE {filter} ORDER BY id"
    ))?;
    let out = collect(stmt.query(args)?, |r| rows::question(r))?;
    Ok(out)
}

/// Every row of a result, each read with `read`.
fn collect<T>(
    mut result: rusqlite::Rows<'_>,
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = result.next()? {
        out.push(read(r)?);
    }
    Ok(out)
}

/// Rolls back whatever a dropped transaction left open.
fn end_open_transaction(conn: &mut Connection) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    Ok(())
}

/// A transaction on the connection, holding the store's lock until it ends.
struct SqliteTx {
    worker: Option<OwnedMutexGuard<Worker>>,
    hub: Arc<Hub>,
    last_seq: i64,
}

impl SqliteTx {
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.worker {
            Some(w) => w.run(f).await,
            None => Err(StoreError::Task("transaction already ended".into())),
        }
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            // Queued before the lock is released: the next transaction finds the
            // connection clean.
            let _ = w.jobs.send(Box::new(|c: &mut Connection| {
                if let Err(e) = end_open_transaction(c) {
                    tracing::warn!(error = %e, "rolling back an abandoned q&a transaction");
                }
            }));
        }
    }
}

#[async_trait]
impl QaStore for SqliteStore {
    async fn begin(&self, event: &str, lock_event: bool) -> Result<Box<dyn QaTx>, StoreError> {
        let worker = Arc::clone(&self.worker).lock_owned().await;
        let event = event.to_owned();
        let last_seq = worker
            .run(move |c| {
                end_open_transaction(c)?;
                if !lock_event {
                    c.execute_batch("BEGIN DEFERRED")?;
                    return Ok(0);
                }
                c.execute_batch("BEGIN IMMEDIATE")?;
                c.execute(&sql(rows::ENSURE_EVENT), [&event])?;
                Ok(c.query_row(&sql(rows::LAST_SEQ), [&event], |r| r.get(0))?)
            })
            .await?;
        Ok(Box::new(SqliteTx {
            worker: Some(worker),
            hub: Arc::clone(&self.hub),
            last_seq,
        }))
    }

    async fn snapshot(&self, event: &str) -> Result<Snapshot, StoreError> {
        let event = event.to_owned();
        self.exclusive(move |c| {
            let seq: i64 = c
                .query_row(&sql(rows::LAST_SEQ), [&event], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            let questions = questions(c, "event = ?1", [&event])?;
            Ok(Snapshot { seq, questions })
        })
        .await
    }

    async fn changes_since(
        &self,
        event: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let event = event.to_owned();
        self.exclusive(move |c| {
            let mut stmt = c.prepare(&sql(rows::CHANGES_SINCE))?;
            let out = collect(stmt.query(params![event, after, limit])?, |r| {
                rows::change(r)
            })?;
            Ok(out)
        })
        .await
    }

    async fn secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        let (name, fresh) = (name.to_owned(), fresh.to_owned());
        self.exclusive(move |c| {
            c.execute(&sql(rows::STORE_SECRET), [&name, &fresh])?;
            Ok(c.query_row(&sql(rows::SECRET), [&name], |r| r.get(0))?)
        })
        .await
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        let event = event.to_owned();
        self.exclusive(move |c| {
            let mut stmt = c.prepare(&sql(rows::CHAPTERS))?;
            let out = collect(stmt.query([&event])?, |r| rows::chapter(r))?;
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl QaTx for SqliteTx {
    fn last_seq(&self) -> i64 {
        self.last_seq
    }

    async fn is_banned(&mut self, event: &str, viewer: &str) -> Result<bool, StoreError> {
        let (event, viewer) = (event.to_owned(), viewer.to_owned());
        self.run(move |c| {
            Ok(
                c.query_row(&sql(rows::IS_BANNED), [&event, &viewer], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }

    async fn address_banned_until(
        &mut self,
        event: &str,
        addr: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (event, addr) = (event.to_owned(), addr.to_owned());
        self.run(move |c| {
            Ok(
                c.query_row(&sql(rows::ADDRESS_BANNED_UNTIL), [&event, &addr], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn activity(
        &mut self,
        event: &str,
        kind: Activity,
        actor: Actor<'_>,
        since_ms: i64,
    ) -> Result<Window, StoreError> {
        let (statement, who) = rows::activity_sql(actor);
        let (statement, who, event) = (
            sql(&statement).into_owned(),
            who.to_owned(),
            event.to_owned(),
        );
        self.run(move |c| {
            c.query_row(
                &statement,
                params![event, kind.as_str(), who, since_ms],
                |r| Ok(rows::window(r)),
            )?
        })
        .await
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
        let (event, viewer, addr) = (event.to_owned(), viewer.to_owned(), addr.map(str::to_owned));
        self.run(move |c| {
            c.execute(
                &sql(rows::FORGET_ACTIVITY),
                params![event, kind.as_str(), forget_before_ms],
            )?;
            c.execute(
                &sql(rows::LOG_ACTIVITY),
                params![event, kind.as_str(), viewer, addr, now_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn last_address(
        &mut self,
        event: &str,
        viewer: &str,
    ) -> Result<Option<String>, StoreError> {
        let (event, viewer) = (event.to_owned(), viewer.to_owned());
        self.run(move |c| {
            Ok(
                c.query_row(&sql(rows::LAST_ADDRESS), [&event, &viewer], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn insert_question(
        &mut self,
        q: &NewQuestion,
        status: Status,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let q = q.clone();
        self.run(move |c| {
            c.execute(
                &sql(rows::INSERT_QUESTION),
                params![
                    q.event,
                    q.viewer,
                    q.name,
                    q.text,
                    now_ms,
                    q.program_time.map(ProgramTime::unix_millis),
                    status.as_str()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn question(&mut self, event: &str, id: i64) -> Result<Option<Question>, StoreError> {
        let event = event.to_owned();
        self.run(move |c| {
            Ok(questions(c, "id = ?1 AND event = ?2", params![id, event])?
                .into_iter()
                .next())
        })
        .await
    }

    async fn add_vote(
        &mut self,
        id: i64,
        viewer: &str,
        now_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let viewer = viewer.to_owned();
        self.run(move |c| {
            let inserted = c.execute(&sql(rows::INSERT_VOTE), params![id, viewer, now_ms])?;
            if inserted == 0 {
                return Ok(None);
            }
            let votes: i64 = c.query_row(&sql(rows::COUNT_VOTE), [id], |r| r.get(0))?;
            Ok(Some(votes_from_db(votes)?))
        })
        .await
    }

    async fn set_state(&mut self, id: i64, status: Status, pinned: bool) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(&sql(rows::SET_STATE), params![id, status.as_str(), pinned])?;
            Ok(())
        })
        .await
    }

    async fn set_answer(&mut self, id: i64, answer: Option<&str>) -> Result<(), StoreError> {
        let answer = answer.map(str::to_owned);
        self.run(move |c| {
            c.execute(&sql(rows::SET_ANSWER), params![id, answer])?;
            Ok(())
        })
        .await
    }

    async fn unpin_others(&mut self, event: &str, id: i64) -> Result<Vec<Question>, StoreError> {
        let event = event.to_owned();
        self.run(move |c| {
            let mut others = questions(
                c,
                "event = ?1 AND pinned = 1 AND id != ?2",
                params![event, id],
            )?;
            c.execute(
                "UPDATE qa_questions SET pinned = 0 WHERE event = ?1 AND pinned = 1 AND id != ?2",
                params![event, id],
            )?;
            for o in &mut others {
                o.pinned = false;
            }
            Ok(others)
        })
        .await
    }

    async fn ban(&mut self, event: &str, viewer: &str, now_ms: i64) -> Result<(), StoreError> {
        let (event, viewer) = (event.to_owned(), viewer.to_owned());
        self.run(move |c| {
            c.execute(&sql(rows::BAN), params![event, viewer, now_ms])?;
            Ok(())
        })
        .await
    }

    async fn ban_address(
        &mut self,
        event: &str,
        addr: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let (event, addr) = (event.to_owned(), addr.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO qa_address_bans (event, addr, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (event, addr) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
                params![event, addr, until_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn count_chapters(&mut self, event: &str, kind: MarkerKind) -> Result<i64, StoreError> {
        let event = event.to_owned();
        self.run(move |c| {
            Ok(
                c.query_row(&sql(rows::COUNT_CHAPTERS), [&event, kind.as_str()], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn insert_chapter(&mut self, chapter: &Chapter) -> Result<bool, StoreError> {
        let ch = chapter.clone();
        self.run(move |c| {
            let n = c.execute(
                &sql(rows::INSERT_CHAPTER),
                params![
                    ch.event,
                    ch.id,
                    ch.kind.as_str(),
                    ch.text,
                    ch.program_time.unix_millis(),
                    ch.created_at
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn commit(
        mut self: Box<Self>,
        changes: Vec<ChangeRecord>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let records = changes.clone();
        self.run(move |c| {
            for ch in &records {
                c.execute(
                    &sql(rows::INSERT_CHANGE),
                    params![ch.event, ch.seq, now_ms, ch.moderator, ch.viewer],
                )?;
            }
            if let Some(last) = records.last() {
                c.execute(&sql(rows::ADVANCE_SEQ), params![last.event, last.seq])?;
            }
            c.execute_batch("COMMIT")?;
            Ok(())
        })
        .await?;
        for ch in changes {
            self.hub.publish(ch.into());
        }
        // Released only now, after publishing: sequence order is publication order.
        self.worker.take();
        Ok(())
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), StoreError> {
        let result = self.run(end_open_transaction).await;
        self.worker.take();
        result
    }
}
