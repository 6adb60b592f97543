//! SQLite backend: one connection (WAL) used from `spawn_blocking`. A single
//! process owns the file, so its [`Hub`] is fed directly after each commit,
//! while the connection lock is still held (which keeps sequence order).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{status_from_db, votes_from_db, Hub, QaStore, Snapshot};
use crate::error::{QaError, StoreError};
use crate::events::{self, ChangeRecord, Stamp};
use crate::model::{initial_status, transition, EventQaSettings, ModAction, NewQuestion, Question};
use crate::ratelimit;

const MIGRATIONS: &[&str] = &[r#"
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
"#];

const QUESTION_COLS: &str =
    "id, event, viewer, name, text, created_at, program_time, status, pinned, votes";

/// Q&A storage in one SQLite file.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
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
            conn: Arc::new(Mutex::new(conn)),
            hub: Arc::new(Hub::new()),
        })
    }

    async fn with_tx<T, F>(&self, f: F) -> Result<T, QaError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<(T, Vec<ChangeRecord>), QaError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let hub = Arc::clone(&self.hub);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let (value, changes) = f(&tx)?;
            tx.commit().map_err(StoreError::from)?;
            for c in changes {
                hub.publish(c.into());
            }
            Ok(value)
        })
        .await
        .map_err(|e| QaError::Store(StoreError::Task(e.to_string())))?
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
            program_time: r.get(6)?,
            status: crate::model::Status::Pending,
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

fn load(tx: &Transaction<'_>, event: &str, id: i64) -> Result<Question, QaError> {
    let raw = tx
        .query_row(
            &format!("SELECT {QUESTION_COLS} FROM qa_questions WHERE id = ?1 AND event = ?2"),
            params![id, event],
            row_to_question,
        )
        .optional()
        .map_err(StoreError::from)?;
    match raw {
        Some(raw) => Ok(finish(raw)?),
        None => Err(QaError::NotFound { id }),
    }
}

/// Current sequence of the event, creating its row.
fn last_seq(tx: &Transaction<'_>, event: &str) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO qa_events (event, last_seq) VALUES (?1, 0) ON CONFLICT (event) DO NOTHING",
        [event],
    )?;
    Ok(tx.query_row(
        "SELECT last_seq FROM qa_events WHERE event = ?1",
        [event],
        |r| r.get(0),
    )?)
}

fn record(tx: &Transaction<'_>, now_ms: i64, changes: &[ChangeRecord]) -> Result<(), StoreError> {
    let Some(last) = changes.last() else {
        return Ok(());
    };
    for c in changes {
        tx.execute(
            "INSERT INTO qa_changes (event, seq, created_at, moderator, viewer) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.event, c.seq, now_ms, c.moderator, c.viewer],
        )?;
    }
    tx.execute(
        "UPDATE qa_events SET last_seq = ?2 WHERE event = ?1",
        params![last.event, last.seq],
    )?;
    Ok(())
}

fn is_banned(tx: &Transaction<'_>, event: &str, viewer: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM qa_bans WHERE event = ?1 AND viewer = ?2",
            [event, viewer],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[async_trait]
impl QaStore for SqliteStore {
    async fn post(
        &self,
        q: NewQuestion,
        settings: EventQaSettings,
        now_ms: i64,
    ) -> Result<Question, QaError> {
        self.with_tx(move |tx| {
            if is_banned(tx, &q.event, &q.viewer)? {
                return Err(QaError::Banned);
            }
            let (recent, oldest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT COUNT(*), MIN(created_at) FROM qa_questions
                     WHERE event = ?1 AND viewer = ?2 AND created_at > ?3",
                    params![q.event, q.viewer, ratelimit::window_start(now_ms)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(StoreError::from)?;
            let recent = u64::try_from(recent).unwrap_or(0);
            let decision =
                ratelimit::decide(recent, oldest, settings.questions_per_minute, now_ms);
            if let ratelimit::Decision::Deny { retry_after_secs } = decision {
                return Err(QaError::RateLimited { retry_after_secs });
            }
            let seq = last_seq(tx, &q.event)? + 1;
            let status = initial_status(&settings);
            tx.execute(
                "INSERT INTO qa_questions (event, viewer, name, text, created_at, program_time, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![q.event, q.viewer, q.name, q.text, now_ms, q.program_time, status.as_str()],
            )
            .map_err(StoreError::from)?;
            let question = Question {
                id: tx.last_insert_rowid(),
                event: q.event,
                viewer: q.viewer,
                name: q.name,
                text: q.text,
                created_at: now_ms,
                program_time: q.program_time,
                status,
                pinned: false,
                votes: 0,
            };
            let stamp = Stamp { seq, at: now_ms, program_time: question.program_time };
            let change =
                events::question_change(stamp, &question, true, false).map_err(StoreError::from)?;
            record(tx, now_ms, std::slice::from_ref(&change))?;
            Ok((question, vec![change]))
        })
        .await
    }

    async fn vote(&self, event: &str, id: i64, viewer: &str, now_ms: i64) -> Result<u32, QaError> {
        let (event, viewer) = (event.to_owned(), viewer.to_owned());
        self.with_tx(move |tx| {
            if is_banned(tx, &event, &viewer)? {
                return Err(QaError::Banned);
            }
            let mut q = load(tx, &event, id)?;
            if !q.status.visible_to_viewers() {
                return Err(QaError::NotFound { id });
            }
            let inserted = tx
                .execute(
                    "INSERT INTO qa_votes (question_id, viewer, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![id, viewer, now_ms],
                )
                .map_err(StoreError::from)?;
            if inserted == 0 {
                return Ok((q.votes, Vec::new()));
            }
            let seq = last_seq(tx, &event)? + 1;
            tx.execute(
                "UPDATE qa_questions SET votes = votes + 1 WHERE id = ?1",
                [id],
            )
            .map_err(StoreError::from)?;
            q.votes = q.votes.saturating_add(1);
            let stamp = Stamp {
                seq,
                at: now_ms,
                program_time: None,
            };
            let change = events::votes_change(stamp, &q).map_err(StoreError::from)?;
            record(tx, now_ms, std::slice::from_ref(&change))?;
            Ok((q.votes, vec![change]))
        })
        .await
    }

    async fn moderate(
        &self,
        event: &str,
        id: i64,
        action: ModAction,
        program_time: Option<i64>,
        now_ms: i64,
    ) -> Result<Question, QaError> {
        let event = event.to_owned();
        self.with_tx(move |tx| {
            let mut q = load(tx, &event, id)?;
            let t = transition(action, q.status, q.pinned)?;
            let mut seq = last_seq(tx, &event)?;
            let mut changes = Vec::new();
            let stamp = |seq: &mut i64| {
                *seq += 1;
                Stamp {
                    seq: *seq,
                    at: now_ms,
                    program_time,
                }
            };
            if t.unpin_others {
                let others: Vec<Question> = {
                    let mut stmt = tx
                        .prepare(&format!(
                            "SELECT {QUESTION_COLS} FROM qa_questions
                             WHERE event = ?1 AND pinned = 1 AND id != ?2"
                        ))
                        .map_err(StoreError::from)?;
                    let rows = stmt
                        .query_map(params![event, id], row_to_question)
                        .map_err(StoreError::from)?;
                    let mut v = Vec::new();
                    for r in rows {
                        v.push(finish(r.map_err(StoreError::from)?)?);
                    }
                    v
                };
                for mut o in others {
                    tx.execute("UPDATE qa_questions SET pinned = 0 WHERE id = ?1", [o.id])
                        .map_err(StoreError::from)?;
                    o.pinned = false;
                    changes.push(
                        events::pinned_change(stamp(&mut seq), &o).map_err(StoreError::from)?,
                    );
                }
            }
            if t.changes(q.status, q.pinned) {
                let was_visible = q.status.visible_to_viewers();
                let status_changed = t.status != q.status;
                q.status = t.status;
                q.pinned = t.pinned;
                tx.execute(
                    "UPDATE qa_questions SET status = ?2, pinned = ?3 WHERE id = ?1",
                    params![id, q.status.as_str(), q.pinned],
                )
                .map_err(StoreError::from)?;
                let s = stamp(&mut seq);
                let change = if status_changed {
                    events::question_change(s, &q, false, was_visible)
                } else {
                    events::pinned_change(s, &q)
                };
                changes.push(change.map_err(StoreError::from)?);
            }
            record(tx, now_ms, &changes)?;
            Ok((q, changes))
        })
        .await
    }

    async fn ban(&self, event: &str, viewer: &str, now_ms: i64) -> Result<(), QaError> {
        let (event, viewer) = (event.to_owned(), viewer.to_owned());
        self.with_tx(move |tx| {
            tx.execute(
                "INSERT INTO qa_bans (event, viewer, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![event, viewer, now_ms],
            )
            .map_err(StoreError::from)?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn snapshot(&self, event: &str) -> Result<Snapshot, QaError> {
        let event = event.to_owned();
        self.with_tx(move |tx| {
            let seq: i64 = tx
                .query_row(
                    "SELECT last_seq FROM qa_events WHERE event = ?1",
                    [&event],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::from)?
                .unwrap_or(0);
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {QUESTION_COLS} FROM qa_questions WHERE event = ?1 ORDER BY id"
                ))
                .map_err(StoreError::from)?;
            let rows = stmt
                .query_map([&event], row_to_question)
                .map_err(StoreError::from)?;
            let mut questions = Vec::new();
            for r in rows {
                questions.push(finish(r.map_err(StoreError::from)?)?);
            }
            Ok((Snapshot { seq, questions }, Vec::new()))
        })
        .await
    }

    async fn changes_since(
        &self,
        event: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, QaError> {
        let event = event.to_owned();
        self.with_tx(move |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT event, seq, moderator, viewer FROM qa_changes
                     WHERE event = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(StoreError::from)?;
            let rows = stmt
                .query_map(params![event, after, limit], |r| {
                    Ok(ChangeRecord {
                        event: r.get(0)?,
                        seq: r.get(1)?,
                        moderator: r.get(2)?,
                        viewer: r.get(3)?,
                    })
                })
                .map_err(StoreError::from)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(StoreError::from)?);
            }
            Ok((out, Vec::new()))
        })
        .await
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }
}
