//! The row model both backends share: the schema's first version, the columns read
//! back, the statements that read the same in both dialects, and the one mapping from
//! a row to a [`Question`], a [`Chapter`], a [`ChangeRecord`] or a [`Window`].
//!
//! Statements are written with PostgreSQL's `$N` placeholders; the SQLite backend
//! reads them through [`sqlite_sql`]. Each backend reads columns through [`Columns`],
//! so a row is turned into the model in one place, whatever the driver.

use std::borrow::Cow;

use super::{kind_from_db, status_from_db, votes_from_db, Actor, Window};
use crate::chapters::Chapter;
use crate::error::StoreError;
use crate::events::ChangeRecord;
use crate::model::{ProgramTime, Question};

/// The column types that differ between the two SQL dialects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// An auto-numbered 64-bit primary key.
    pub serial_id: &'static str,
    /// A 64-bit integer.
    pub int: &'static str,
    /// A boolean that is false unless set.
    pub flag: &'static str,
}

pub(crate) const SQLITE: Dialect = Dialect {
    serial_id: "INTEGER PRIMARY KEY AUTOINCREMENT",
    int: "INTEGER",
    flag: "INTEGER NOT NULL DEFAULT 0",
};

pub(crate) const POSTGRES: Dialect = Dialect {
    serial_id: "BIGSERIAL PRIMARY KEY",
    int: "BIGINT",
    flag: "BOOLEAN NOT NULL DEFAULT FALSE",
};

const MIGRATION_1: &str = r#"
CREATE TABLE qa_events (event TEXT PRIMARY KEY, last_seq {INT} NOT NULL DEFAULT 0);
CREATE TABLE qa_questions (
    id {SERIAL_ID},
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    name TEXT,
    text TEXT NOT NULL,
    created_at {INT} NOT NULL,
    program_time {INT},
    status TEXT NOT NULL,
    pinned {FLAG},
    votes {INT} NOT NULL DEFAULT 0
);
CREATE INDEX qa_questions_by_viewer ON qa_questions (event, viewer, created_at);
CREATE INDEX qa_questions_by_event ON qa_questions (event, id);
CREATE TABLE qa_votes (
    question_id {INT} NOT NULL,
    viewer TEXT NOT NULL,
    created_at {INT} NOT NULL,
    PRIMARY KEY (question_id, viewer)
);
CREATE TABLE qa_bans (
    event TEXT NOT NULL,
    viewer TEXT NOT NULL,
    created_at {INT} NOT NULL,
    PRIMARY KEY (event, viewer)
);
CREATE TABLE qa_changes (
    event TEXT NOT NULL,
    seq {INT} NOT NULL,
    created_at {INT} NOT NULL,
    moderator TEXT NOT NULL,
    viewer TEXT,
    PRIMARY KEY (event, seq)
);
"#;

/// Every schema version in order, in `dialect`: the database's version says how many
/// of them it has applied.
pub(crate) fn migrations(dialect: Dialect) -> [String; 4] {
    [
        MIGRATION_1
            .replace("{SERIAL_ID}", dialect.serial_id)
            .replace("{INT}", dialect.int)
            .replace("{FLAG}", dialect.flag),
        super::MIGRATION_2.to_owned(),
        super::MIGRATION_3.to_owned(),
        MIGRATION_4.to_owned(),
    ]
}

/// A moderator's answer to a question (existing rows have none).
const MIGRATION_4: &str = "ALTER TABLE qa_questions ADD COLUMN answer TEXT;";

/// The columns of `qa_questions` that [`question`] reads, in its order.
pub(crate) const QUESTION_COLS: &str =
    "id, event, viewer, name, text, created_at, program_time, status, pinned, votes, answer";

pub(crate) const CHAPTERS: &str = "SELECT id, event, kind, text, program_time, created_at
     FROM qa_chapters WHERE event = $1 ORDER BY program_time, id";
pub(crate) const CHANGES_SINCE: &str = "SELECT event, seq, moderator, viewer FROM qa_changes
     WHERE event = $1 AND seq > $2 ORDER BY seq LIMIT $3";
pub(crate) const LAST_SEQ: &str = "SELECT last_seq FROM qa_events WHERE event = $1";
pub(crate) const ENSURE_EVENT: &str =
    "INSERT INTO qa_events (event, last_seq) VALUES ($1, 0) ON CONFLICT (event) DO NOTHING";
pub(crate) const STORE_SECRET: &str =
    "INSERT INTO qa_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
pub(crate) const SECRET: &str = "SELECT value FROM qa_secrets WHERE name = $1";
pub(crate) const IS_BANNED: &str = "SELECT 1 FROM qa_bans WHERE event = $1 AND viewer = $2";
pub(crate) const ADDRESS_BANNED_UNTIL: &str =
    "SELECT until_ms FROM qa_address_bans WHERE event = $1 AND addr = $2";
pub(crate) const FORGET_ACTIVITY: &str =
    "DELETE FROM qa_activity WHERE event = $1 AND kind = $2 AND created_at < $3";
pub(crate) const LOG_ACTIVITY: &str =
    "INSERT INTO qa_activity (event, kind, viewer, addr, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const LAST_ADDRESS: &str =
    "SELECT addr FROM qa_activity WHERE event = $1 AND viewer = $2 AND addr IS NOT NULL
     ORDER BY created_at DESC LIMIT 1";
pub(crate) const INSERT_QUESTION: &str =
    "INSERT INTO qa_questions (event, viewer, name, text, created_at, program_time, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const INSERT_VOTE: &str =
    "INSERT INTO qa_votes (question_id, viewer, created_at) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING";
pub(crate) const COUNT_VOTE: &str =
    "UPDATE qa_questions SET votes = votes + 1 WHERE id = $1 RETURNING votes";
pub(crate) const SET_STATE: &str = "UPDATE qa_questions SET status = $2, pinned = $3 WHERE id = $1";
pub(crate) const SET_ANSWER: &str = "UPDATE qa_questions SET answer = $2 WHERE id = $1";
pub(crate) const BAN: &str = "INSERT INTO qa_bans (event, viewer, created_at) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING";
pub(crate) const COUNT_CHAPTERS: &str =
    "SELECT COUNT(*) FROM qa_chapters WHERE event = $1 AND kind = $2";
pub(crate) const INSERT_CHAPTER: &str =
    "INSERT INTO qa_chapters (event, id, kind, text, program_time, created_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event, id) DO NOTHING";
pub(crate) const INSERT_CHANGE: &str =
    "INSERT INTO qa_changes (event, seq, created_at, moderator, viewer) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const ADVANCE_SEQ: &str = "UPDATE qa_events SET last_seq = $2 WHERE event = $1";

/// Rate-limit activity of one actor: the statement (`$1` event, `$2` kind, `$4` since)
/// and the value its `$3` takes (the viewer, or the address tag).
pub(crate) fn activity_sql(actor: Actor<'_>) -> (String, &str) {
    let (column, who) = match actor {
        Actor::Viewer(v) => ("viewer", v),
        Actor::Address(a) => ("addr", a),
    };
    let sql = format!(
        "SELECT COUNT(*), MIN(created_at) FROM qa_activity
         WHERE event = $1 AND kind = $2 AND {column} = $3 AND created_at > $4"
    );
    (sql, who)
}

/// A statement written with `$N` placeholders, as SQLite numbers them (`?N`).
pub(crate) fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

/// Reading one column of a result row, whatever the driver.
pub(crate) trait Columns {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get(i)?)
    }
}

impl Columns for tokio_postgres::Row {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// A question from a row of [`QUESTION_COLS`].
pub(crate) fn question(r: &impl Columns) -> Result<Question, StoreError> {
    Ok(Question {
        id: r.int(0)?,
        event: r.text(1)?,
        viewer: r.text(2)?,
        name: r.opt_text(3)?,
        text: r.text(4)?,
        created_at: r.int(5)?,
        program_time: r.opt_int(6)?.map(ProgramTime::from_unix_millis),
        status: status_from_db(&r.text(7)?)?,
        pinned: r.flag(8)?,
        votes: votes_from_db(r.int(9)?)?,
        answer: r.opt_text(10)?,
    })
}

/// A marker from a row of [`CHAPTERS`].
pub(crate) fn chapter(r: &impl Columns) -> Result<Chapter, StoreError> {
    Ok(Chapter {
        id: r.text(0)?,
        event: r.text(1)?,
        kind: kind_from_db(&r.text(2)?)?,
        text: r.text(3)?,
        program_time: ProgramTime::from_unix_millis(r.int(4)?),
        created_at: r.int(5)?,
    })
}

/// A change from a row of [`CHANGES_SINCE`].
pub(crate) fn change(r: &impl Columns) -> Result<ChangeRecord, StoreError> {
    Ok(ChangeRecord {
        event: r.text(0)?,
        seq: r.int(1)?,
        moderator: r.text(2)?,
        viewer: r.opt_text(3)?,
    })
}

/// An activity window from a row of [`activity_sql`].
pub(crate) fn window(r: &impl Columns) -> Result<Window, StoreError> {
    Ok(Window {
        count: u64::try_from(r.int(0)?).unwrap_or(0),
        oldest_ms: r.opt_int(1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_for_sqlite() {
        assert_eq!(
            sqlite_sql(SET_STATE),
            "UPDATE qa_questions SET status = ?2, pinned = ?3 WHERE id = ?1"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn the_first_schema_in_each_dialect() {
        let [lite, ..] = migrations(SQLITE);
        assert!(
            lite.contains("id INTEGER PRIMARY KEY AUTOINCREMENT,"),
            "{lite}"
        );
        assert!(
            lite.contains("pinned INTEGER NOT NULL DEFAULT 0,"),
            "{lite}"
        );
        let [pg, ..] = migrations(POSTGRES);
        assert!(pg.contains("id BIGSERIAL PRIMARY KEY,"), "{pg}");
        assert!(pg.contains("last_seq BIGINT NOT NULL DEFAULT 0"), "{pg}");
        assert!(!pg.contains('{') && !lite.contains('{'));
    }
}
