//! Chapters and markers from the Q&A service to the playlists: each change of an
//! event's markers posts its whole list, as date ranges on the program-date-time
//! clock, to the packager's marker board; at start each known event's list is read
//! once from the Q&A database. A packager in its own process (`--role packager`) has
//! no Q&A service: given the shared Q&A database (`--qa-database`), it reads every
//! event's list from it every [`POLL`] instead ([`follow`]).

use std::sync::Arc;
use std::time::Duration;

use amphi_hls::playlist::DateRange;
use amphi_packager::markers::MarkerBoard;
use amphi_qa::model::ProgramTime;
use amphi_qa::{Chapter, ChapterListener, QaState};

/// Posts every list the Q&A service hands over to the board.
struct ToPlaylists(MarkerBoard);

impl ChapterListener for ToPlaylists {
    fn chapters_changed(&self, event: &str, chapters: &[Chapter]) {
        tracing::debug!(event, markers = chapters.len(), "markers for the playlists");
        self.0.post(event, date_ranges(chapters));
    }
}

/// The listener to give the Q&A service.
pub fn listener(board: MarkerBoard) -> Arc<dyn ChapterListener> {
    Arc::new(ToPlaylists(board))
}

/// Date ranges of markers: id, kind and text as the Q&A service has them.
pub fn date_ranges(chapters: &[Chapter]) -> Vec<DateRange> {
    chapters
        .iter()
        .filter_map(|c| {
            // Markers before 1970 cannot be dated in a playlist.
            let start =
                (c.program_time >= ProgramTime::UNIX_EPOCH).then(|| c.program_time.to_system())?;
            Some(DateRange::marker(&c.id, start, c.kind.as_str(), &c.text))
        })
        .collect()
}

/// Reads the markers of `events` from the Q&A database into the board (in the
/// background; an event whose list a change posts meanwhile keeps the newer one
/// only if the change came later, which the small window makes harmless).
pub fn load(qa: QaState, board: MarkerBoard, events: Vec<String>) {
    tokio::spawn(async move {
        for event in events {
            match qa.chapters(&event).await {
                Ok(list) if !list.is_empty() => board.post(&event, date_ranges(&list)),
                Ok(_) => {}
                Err(e) => tracing::warn!(%event, error = %e, "reading the event's markers"),
            }
        }
    });
}

/// How often a packager in its own process reads the markers from the Q&A database.
pub const POLL: Duration = Duration::from_secs(2);

/// Reads the markers of every event `events` names from the Q&A database into the
/// board, every `every`, until the task is dropped.
pub fn follow(
    qa: QaState,
    board: MarkerBoard,
    events: impl Fn() -> Vec<String> + Send + 'static,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            for event in events() {
                match qa.chapters(&event).await {
                    Ok(list) => {
                        failing = false;
                        board.post(&event, date_ranges(&list));
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(%event, error = %e, "reading markers from the Q&A database");
                    }
                    Err(_) => {}
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_qa::chapters::PostChapterBody;
    use amphi_qa::{EventQaSettings, MarkerKind, QaEvents, TokenClaims};
    use std::time::SystemTime;

    struct AnyEvent;

    impl QaEvents for AnyEvent {
        fn moderator_token(&self, _: &str) -> Option<String> {
            None
        }
        fn settings(&self, _: &str) -> Option<EventQaSettings> {
            Some(EventQaSettings::default())
        }
        fn check_viewer_token(
            &self,
            _: &str,
            _: &str,
            _: amphi_time::WallTime,
        ) -> Option<TokenClaims> {
            None
        }
    }

    #[tokio::test]
    async fn a_separate_packager_follows_the_database() {
        let dir = std::env::temp_dir().join(format!(
            "amphi-chapters-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let qa = QaState::sqlite(dir.join("qa.sqlite3"), Arc::new(AnyEvent))
            .await
            .expect("sqlite");
        let board = MarkerBoard::default();
        let task = follow(
            qa.clone(),
            board.clone(),
            || vec!["ev".to_owned()],
            Duration::from_millis(20),
        );
        let body = PostChapterBody {
            text: "Part 2".into(),
            program_time: ProgramTime::from_unix_millis(1_764_000_000_000),
        };
        amphi_qa::chapters::add(qa.store().as_ref(), "ev", &body, 0)
            .await
            .expect("added");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while board.current("ev").is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
        let listed = board.current("ev");
        assert_eq!(listed.len(), 1, "the board follows the database");
        assert_eq!(listed[0].id, "chapter-1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn markers_become_date_ranges_on_the_program_clock() {
        let c = Chapter {
            id: "chapter-1".into(),
            event: "ev".into(),
            kind: MarkerKind::Chapter,
            text: "Part 2 — Entropy".into(),
            program_time: ProgramTime::from_unix_millis(1_764_000_000_123),
            created_at: 0,
        };
        let r = date_ranges(std::slice::from_ref(&c));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "chapter-1");
        assert_eq!(
            r[0].start,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123)
        );
        assert_eq!(r[0].attribute("X-AMPHI-KIND"), Some("chapter"));
        assert_eq!(r[0].attribute("X-AMPHI-TEXT"), Some("Part 2 — Entropy"));
        let before_1970 = Chapter {
            program_time: ProgramTime::from_unix_millis(-5),
            ..c
        };
        assert!(date_ranges(&[before_1970]).is_empty());
    }
}
