//! The code that embeds an event's player in a web page: an `<iframe>` or the player's
//! script tag, with a private event's viewer token.

use serde::Serialize;

/// The code that embeds an event's player in a web page (`token`: a private event's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedSnippets {
    pub iframe: String,
    pub script: String,
}

pub fn embed_iframe(base: &str, id: &str, token: Option<&str>) -> String {
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    format!("<iframe src=\"{base}/embed/{id}{query}\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>")
}

pub fn embed_snippets(base: &str, id: &str, token: Option<&str>) -> EmbedSnippets {
    let base = base.trim_end_matches('/');
    let attr = token.map(|t| format!(" token=\"{t}\"")).unwrap_or_default();
    EmbedSnippets {
        iframe: embed_iframe(base, id, token),
        script: format!(
            "<script src=\"{base}/assets/amphi-player.js\"></script><amphi-player event=\"{id}\"{attr}></amphi-player>"
        ),
    }
}
