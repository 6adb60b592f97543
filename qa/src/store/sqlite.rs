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

use super::{
    kind_from_db, status_from_db, votes_from_db, Activity, Actor, Hub, QaStore, QaTx, Snapshot,
    Window,
};
use crate::chapters::{Chapter, MarkerKind};
use crate::error::StoreError;
use crate::events::ChangeRecord;
use crate::model::{NewQuestion, ProgramTime, Question, Status};

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE qa_events (event TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE qa_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    name TEXT,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    program_time INTEGER,
    status TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    votes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX qa_questions_by_viewer ON qa_questions (event, viewer, created_at);
CREATE INDEX qa_questions_by_event ON qa_questions (event, id);
CREATE TABLE qa_votes (
    question_id INTEGER NOT NULL,
    viewer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (question_id, viewer)
);
CREATE TABLE qa_bans (
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (event, viewer)
);
CREATE TABLE qa_changes (
    event TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
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
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
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

fn row_to_question(r: &Row<'_>) -> rusqlite::Result<(Question, String, i64)> {
    let status: String = r.get(7)?;
    let votes: i64 = r.get(9)?;
    Ok((
        Question {
            id: r.get(0)?,
            event: r.get(1)?,
            viewer: r.get(2)?,
            name: r.get(3)?,
            text: r.get(4)?,
            created_at: r.get(5)?,
            program_time: r
                .get::<_, Option<i64>>(6)?
                .map(ProgramTime::from_unix_millis),
            status: Status::Pending,
            pinned: r.get(8)?,
            votes: 0,
        },
        status,
        votes,
    ))
}

fn finish(raw: (Question, String, i64)) -> Result<Question, StoreError> {
    let (mut q, status, votes) = raw;
    q.status = status_from_db(&status)?;
    q.votes = votes_from_db(votes)?;
    Ok(q)
}

fn questions(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Question>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {QUESTION_COLS} FROM qa_questions WHERE {filter} ORDER BY id"
    ))?;
    let rows = stmt.query_map(args, row_to_question)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(finish(r?)?);
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
                c.execute(
                    "INSERT INTO qa_events (event, last_seq) VALUES (?1, 0) ON CONFLICT (event) DO NOTHING",
                    [&event],
                )?;
                Ok(c.query_row(
                    "SELECT last_seq FROM qa_events WHERE event = ?1",
                    [&event],
                    |r| r.get(0),
                )?)
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
                .query_row(
                    "SELECT last_seq FROM qa_events WHERE event = ?1",
                    [&event],
                    |r| r.get(0),
                )
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
            let mut stmt = c.prepare(
                "SELECT event, seq, moderator, viewer FROM qa_changes
                 WHERE event = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![event, after, limit], |r| {
                Ok(ChangeRecord {
                    event: r.get(0)?,
                    seq: r.get(1)?,
                    moderator: r.get(2)?,
                    viewer: r.get(3)?,
                })
            })?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
        .await
    }

    async fn secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        let (name, fresh) = (name.to_owned(), fresh.to_owned());
        self.exclusive(move |c| {
            c.execute(
                "INSERT INTO qa_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                [&name, &fresh],
            )?;
            Ok(c.query_row(
                "SELECT value FROM qa_secrets WHERE name = ?1",
                [&name],
                |r| r.get(0),
            )?)
        })
        .await
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        let event = event.to_owned();
        self.exclusive(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, event, kind, text, program_time, created_at FROM qa_chapters
                 WHERE event = ?1 ORDER BY program_time, id",
            )?;
            let rows = stmt.query_map([&event], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (id, event, kind, text, program_time, created_at) = r?;
                out.push(Chapter {
                    id,
                    event,
                    kind: kind_from_db(&kind)?,
                    text,
                    program_time: ProgramTime::from_unix_millis(program_time),
                    created_at,
                });
            }
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
            Ok(c.query_row(
                "SELECT 1 FROM qa_bans WHERE event = ?1 AND viewer = ?2",
                [&event, &viewer],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
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
            Ok(c.query_row(
                "SELECT until_ms FROM qa_address_bans WHERE event = ?1 AND addr = ?2",
                [&event, &addr],
                |r| r.get(0),
            )
            .optional()?)
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
        let (column, who) = match actor {
            Actor::Viewer(v) => ("viewer", v.to_owned()),
            Actor::Address(a) => ("addr", a.to_owned()),
        };
        let event = event.to_owned();
        self.run(move |c| {
            let (count, oldest): (i64, Option<i64>) = c.query_row(
                &format!(
                    "SELECT COUNT(*), MIN(created_at) FROM qa_activity
                     WHERE event = ?1 AND kind = ?2 AND {column} = ?3 AND created_at > ?4"
                ),
                params![event, kind.as_str(), who, since_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Window {
                count: u64::try_from(count).unwrap_or(0),
                oldest_ms: oldest,
            })
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
                "DELETE FROM qa_activity WHERE event = ?1 AND kind = ?2 AND created_at < ?3",
                params![event, kind.as_str(), forget_before_ms],
            )?;
            c.execute(
                "INSERT INTO qa_activity (event, kind, viewer, addr, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
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
            Ok(c.query_row(
                "SELECT addr FROM qa_activity WHERE event = ?1 AND viewer = ?2 AND addr IS NOT NULL
                 ORDER BY created_at DESC LIMIT 1",
                [&event, &viewer],
                |r| r.get(0),
            )
            .optional()?)
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
                "INSERT INTO qa_questions (event, viewer, name, text, created_at, program_time, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![q.event, q.viewer, q.name, q.text, now_ms, q.program_time.map(ProgramTime::unix_millis), status.as_str()],
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
            let inserted = c.execute(
                "INSERT INTO qa_votes (question_id, viewer, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![id, viewer, now_ms],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let votes: i64 = c.query_row(
                "UPDATE qa_questions SET votes = votes + 1 WHERE id = ?1 RETURNING votes",
                [id],
                |r| r.get(0),
            )?;
            Ok(Some(votes_from_db(votes)?))
        })
        .await
    }

    async fn set_state(&mut self, id: i64, status: Status, pinned: bool) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "UPDATE qa_questions SET status = ?2, pinned = ?3 WHERE id = ?1",
                params![id, status.as_str(), pinned],
            )?;
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
            c.execute(
                "INSERT INTO qa_bans (event, viewer, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![event, viewer, now_ms],
            )?;
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
            Ok(c.query_row(
                "SELECT COUNT(*) FROM qa_chapters WHERE event = ?1 AND kind = ?2",
                [&event, kind.as_str()],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn insert_chapter(&mut self, chapter: &Chapter) -> Result<bool, StoreError> {
        let ch = chapter.clone();
        self.run(move |c| {
            let n = c.execute(
                "INSERT INTO qa_chapters (event, id, kind, text, program_time, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event, id) DO NOTHING",
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
                    "INSERT INTO qa_changes (event, seq, created_at, moderator, viewer) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![ch.event, ch.seq, now_ms, ch.moderator, ch.viewer],
                )?;
            }
            if let Some(last) = records.last() {
                c.execute(
                    "UPDATE qa_events SET last_seq = ?2 WHERE event = ?1",
                    params![last.event, last.seq],
                )?;
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
