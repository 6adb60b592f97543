//! The Q&A domain core: every rule of posting, voting, moderating, banning and
//! minting viewer ids, written once and run inside a transaction of any
//! [`QaStore`]. Pure decisions come from [`crate::model`] and
//! [`crate::ratelimit`]; the store only reads and writes rows.
//!
//! Each operation that may be refused cheaply (a banned or rate-limited viewer)
//! is checked once without the event lock, so a flood is turned away without
//! queueing on the lock, then again under the lock, where the counts are exact
//! across processes sharing the database.

use crate::error::{QaError, StoreError};
use crate::events::{self, ChangeRecord, Stamp};
use crate::model::{
    initial_status, transition, EventQaSettings, ModAction, NewQuestion, ProgramTime, Question,
    Status,
};
use crate::ratelimit::{self, Decision};
use crate::store::{Activity, Actor, QaStore, QaTx};

/// How long activity is remembered (rate-limit windows and the last address of a
/// viewer, for bans), ms.
pub const ACTIVITY_KEPT_MS: i64 = 60 * 60_000;

/// Who is acting: the stable part of a signed viewer id, and a tag of the client
/// address when it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who<'a> {
    pub viewer: &'a str,
    pub addr: Option<&'a str>,
}

/// Commits with `changes` on success, rolls back on failure.
pub(crate) async fn finish<T>(
    tx: Box<dyn QaTx>,
    result: Result<(T, Vec<ChangeRecord>), QaError>,
    now_ms: i64,
) -> Result<T, QaError> {
    match result {
        Ok((value, changes)) => {
            tx.commit(changes, now_ms).await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(re) = tx.rollback().await {
                tracing::debug!(error = %re, "q&a rollback failed");
            }
            Err(e)
        }
    }
}

/// One rate-limited activity being admitted or logged: who does what in which event,
/// and when.
#[derive(Debug, Clone, Copy)]
struct Attempt<'a> {
    event: &'a str,
    kind: Activity,
    who: Who<'a>,
    now_ms: i64,
}

/// The checks of `admit` without the event lock; the transaction only reads.
async fn precheck(store: &dyn QaStore, a: Attempt<'_>, limits: (u32, u32)) -> Result<(), QaError> {
    let mut tx = store.begin(a.event, false).await?;
    let result = admit(tx.as_mut(), a, limits).await;
    finish(tx, result.map(|()| ((), Vec::new())), a.now_ms).await
}

fn within(limit: u32, window: crate::store::Window, now_ms: i64) -> Result<(), QaError> {
    match ratelimit::decide(window.count, window.oldest_ms, limit, now_ms) {
        Decision::Allow => Ok(()),
        Decision::Deny { retry_after_secs } => Err(QaError::RateLimited { retry_after_secs }),
    }
}

/// Refuses `kind` when the viewer or its address is over its limit.
async fn check_rate(
    tx: &mut dyn QaTx,
    a: Attempt<'_>,
    (per_viewer, per_address): (u32, u32),
) -> Result<(), QaError> {
    let since = ratelimit::window_start(a.now_ms);
    let w = tx
        .activity(a.event, a.kind, Actor::Viewer(a.who.viewer), since)
        .await?;
    within(per_viewer, w, a.now_ms)?;
    if let Some(addr) = a.who.addr {
        let w = tx
            .activity(a.event, a.kind, Actor::Address(addr), since)
            .await?;
        within(per_address, w, a.now_ms)?;
    }
    Ok(())
}

async fn log(tx: &mut dyn QaTx, a: Attempt<'_>) -> Result<(), StoreError> {
    tx.log_activity(
        a.event,
        a.kind,
        a.who.viewer,
        a.who.addr,
        a.now_ms,
        a.now_ms.saturating_sub(ACTIVITY_KEPT_MS),
    )
    .await
}

fn question_limits(s: &EventQaSettings) -> (u32, u32) {
    (
        s.questions_per_minute,
        s.limits.address_questions_per_minute,
    )
}

fn vote_limits(s: &EventQaSettings) -> (u32, u32) {
    (s.limits.votes_per_minute, s.limits.address_votes_per_minute)
}

async fn admit(tx: &mut dyn QaTx, a: Attempt<'_>, limits: (u32, u32)) -> Result<(), QaError> {
    if tx.is_banned(a.event, a.who.viewer).await? {
        return Err(QaError::Banned);
    }
    check_rate(tx, a, limits).await
}

/// Stores a new question (already validated) after the ban and rate-limit checks.
pub async fn post(
    store: &dyn QaStore,
    q: NewQuestion,
    addr: Option<&str>,
    settings: &EventQaSettings,
    now_ms: i64,
) -> Result<Question, QaError> {
    let who = Who {
        viewer: &q.viewer,
        addr,
    };
    let limits = question_limits(settings);
    let attempt = Attempt {
        event: &q.event,
        kind: Activity::Question,
        who,
        now_ms,
    };
    precheck(store, attempt, limits).await?;
    let mut tx = store.begin(&q.event, true).await?;
    let result = async {
        admit(tx.as_mut(), attempt, limits).await?;
        let status = initial_status(settings);
        let id = tx.insert_question(&q, status, now_ms).await?;
        log(tx.as_mut(), attempt).await?;
        let question = Question {
            id,
            event: q.event.clone(),
            viewer: q.viewer.clone(),
            name: q.name.clone(),
            text: q.text.clone(),
            created_at: now_ms,
            program_time: q.program_time,
            status,
            pinned: false,
            votes: 0,
            answer: None,
        };
        let stamp = next_stamp(tx.as_ref(), now_ms, question.program_time);
        let change =
            events::question_change(stamp, &question, true, false).map_err(StoreError::from)?;
        Ok::<_, QaError>((question, vec![change]))
    }
    .await;
    finish(tx, result, now_ms).await
}

/// The stamp of the one change a transaction records (the event's next sequence).
fn next_stamp(tx: &dyn QaTx, now_ms: i64, program_time: Option<ProgramTime>) -> Stamp {
    Stamp {
        seq: tx.last_seq() + 1,
        at: now_ms,
        program_time,
    }
}

/// Records one vote of `who` on a question viewers can see; returns its vote count.
/// A second vote of the same viewer id changes nothing.
pub async fn vote(
    store: &dyn QaStore,
    event: &str,
    id: i64,
    who: Who<'_>,
    settings: &EventQaSettings,
    now_ms: i64,
) -> Result<u32, QaError> {
    let limits = vote_limits(settings);
    let attempt = Attempt {
        event,
        kind: Activity::Vote,
        who,
        now_ms,
    };
    precheck(store, attempt, limits).await?;
    let mut tx = store.begin(event, true).await?;
    let result = async {
        admit(tx.as_mut(), attempt, limits).await?;
        let mut q = tx
            .question(event, id)
            .await?
            .filter(|q| q.status.visible_to_viewers())
            .ok_or(QaError::NotFound { id })?;
        let Some(votes) = tx.add_vote(id, who.viewer, now_ms).await? else {
            return Ok((q.votes, Vec::new()));
        };
        log(tx.as_mut(), attempt).await?;
        q.votes = votes;
        let stamp = next_stamp(tx.as_ref(), now_ms, None);
        let change = events::votes_change(stamp, &q).map_err(StoreError::from)?;
        Ok::<_, QaError>((q.votes, vec![change]))
    }
    .await;
    finish(tx, result, now_ms).await
}

/// Applies a moderator action; returns the question's new state. `answer` (validated,
/// with [`ModAction::Answer`] only) is the moderator's answer text: given again on an
/// answered question, it replaces the answer.
pub async fn moderate(
    store: &dyn QaStore,
    event: &str,
    id: i64,
    action: ModAction,
    program_time: Option<ProgramTime>,
    answer: Option<String>,
    now_ms: i64,
) -> Result<Question, QaError> {
    if answer.is_some() && action != ModAction::Answer {
        return Err(QaError::InvalidInput {
            field: "answer",
            reason: "only when marking a question answered".to_owned(),
        });
    }
    let mut tx = store.begin(event, true).await?;
    let result = async {
        let mut q = tx
            .question(event, id)
            .await?
            .ok_or(QaError::NotFound { id })?;
        let t = transition(action, q.status, q.pinned)?;
        let mut seq = tx.last_seq();
        let mut stamp = || {
            seq += 1;
            Stamp {
                seq,
                at: now_ms,
                program_time,
            }
        };
        let mut changes = Vec::new();
        if t.unpin_others {
            for o in tx.unpin_others(event, id).await? {
                changes.push(events::pinned_change(stamp(), &o).map_err(StoreError::from)?);
            }
        }
        let answer_changed = answer.is_some() && answer != q.answer;
        if answer_changed {
            q.answer = answer;
            tx.set_answer(id, q.answer.as_deref()).await?;
        }
        if t.changes(q.status, q.pinned) || answer_changed {
            let was_visible = q.status.visible_to_viewers();
            let status_changed = t.status != q.status;
            q.status = t.status;
            q.pinned = t.pinned;
            tx.set_state(id, q.status, q.pinned).await?;
            if status_changed && q.status == Status::Answered {
                // An answered question becomes a marker (once: its id is the question's).
                if let Some(marker) = crate::chapters::answered_marker(&q, program_time, now_ms) {
                    tx.insert_chapter(&marker).await?;
                }
            }
            let change = if status_changed || answer_changed {
                events::question_change(stamp(), &q, false, was_visible)
            } else {
                events::pinned_change(stamp(), &q)
            };
            changes.push(change.map_err(StoreError::from)?);
        }
        Ok::<_, QaError>((q, changes))
    }
    .await;
    finish(tx, result, now_ms).await
}

/// Bans a viewer id from posting, voting and renewing its id (idempotent). The
/// address it last acted from may not mint fresh ids for
/// [`crate::model::Limits::address_ban_ms`], so a banned viewer cannot simply
/// come back under a new id.
pub async fn ban(
    store: &dyn QaStore,
    event: &str,
    viewer: &str,
    settings: &EventQaSettings,
    now_ms: i64,
) -> Result<(), QaError> {
    let mut tx = store.begin(event, true).await?;
    let result = async {
        tx.ban(event, viewer, now_ms).await?;
        if let Some(addr) = tx.last_address(event, viewer).await? {
            let until = now_ms.saturating_add(settings.limits.address_ban_ms);
            tx.ban_address(event, &addr, until).await?;
        }
        Ok::<_, QaError>(((), Vec::new()))
    }
    .await;
    finish(tx, result, now_ms).await
}

/// May `who` be issued a viewer id? `fresh` is a newly minted id (counted against
/// its address's allowance); otherwise `who.viewer` is an id being renewed.
pub async fn admit_viewer_id(
    store: &dyn QaStore,
    event: &str,
    who: Who<'_>,
    fresh: bool,
    settings: &EventQaSettings,
    now_ms: i64,
) -> Result<(), QaError> {
    let mut tx = store.begin(event, fresh).await?;
    let result = async {
        if !fresh {
            return if tx.is_banned(event, who.viewer).await? {
                Err(QaError::Banned)
            } else {
                Ok(((), Vec::new()))
            };
        }
        let Some(addr) = who.addr else {
            return Ok(((), Vec::new()));
        };
        if let Some(until) = tx.address_banned_until(event, addr).await? {
            if until > now_ms {
                return Err(QaError::Banned);
            }
        }
        let since = ratelimit::window_start(now_ms);
        let w = tx
            .activity(event, Activity::Mint, Actor::Address(addr), since)
            .await?;
        within(settings.limits.address_mints_per_minute, w, now_ms)?;
        let attempt = Attempt {
            event,
            kind: Activity::Mint,
            who,
            now_ms,
        };
        log(tx.as_mut(), attempt).await?;
        Ok::<_, QaError>(((), Vec::new()))
    }
    .await;
    finish(tx, result, now_ms).await
}
