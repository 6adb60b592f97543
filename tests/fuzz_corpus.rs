//! Replays every committed fuzz input — the minimized corpora in `fuzz/corpus/<target>/`
//! and the inputs that once crashed a target, kept in `fuzz/artifacts/<target>/` — on
//! stable, through the same entry points the `cargo fuzz` targets call.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `entry` on each input of `target`; the corpus must not be empty.
fn replay(target: &str, entry: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = inputs(&root.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus for fuzz target {target} in fuzz/corpus/{target}"
    );
    let crashes = inputs(&root.join("artifacts").join(target));
    for path in corpus.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("fuzz input readable");
        // Printed only when the test fails: names the input to reproduce with.
        println!("{target}: {}", path.display());
        entry(&data);
    }
    println!(
        "{target}: {} corpus inputs, {} crash inputs",
        corpus.len(),
        crashes.len()
    );
}

macro_rules! targets {
    ($($krate:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), $krate::fuzzing::$name);
            }
        )*
    };
}

targets! {
    amphi_ingest::rtmp_handshake,
    amphi_ingest::rtmp_chunk,
    amphi_ingest::amf0,
    amphi_ingest::flv,
    amphi_ingest::rtmp_session,
    amphi_ingest::whip_sdp,
    amphi_ingest::annexb_avcc,
    amphi_ingest::rtp_h264,
    amphi_ingest::srt_ts,
    amphi_ingest::ertmp,
    amphi_origin::playlist_query,
    amphi_origin::viewer_token,
    amphi_origin::edge_playlist,
    amphi_origin::cmcd,
    amphi_origin::caption_vtt,
    amphi_qa::qa_post_body,
    amphi_console::oidc_answers,
}
