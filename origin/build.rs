//! Embeds the built player (`../player/dist/`, flat) into the binary as a table of
//! `(file name, bytes)`. A missing directory embeds nothing: the build never fails
//! because the player was not built; the origin then answers 404 with a hint.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../player/dist");
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let dist = manifest.join("../player/dist");
    let mut files = Vec::new();
    match std::fs::read_dir(&dist) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if path.is_file() && servable(&name) {
                    files.push((name, path));
                }
            }
            if files.is_empty() {
                println!("cargo:warning=player/dist is empty: run `make player` to embed the player pages");
            }
        }
        Err(_) => {
            println!("cargo:warning=player/dist not found: the origin embeds no player pages (run `make player`)");
        }
    }
    files.sort();
    let mut out = String::from(
        "/// Player files embedded at build time, sorted by name.\n\
         pub static PLAYER_ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        let _ = writeln!(
            out,
            "    ({name:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    if let Err(e) = std::fs::write(Path::new(&out_dir).join("player_assets.rs"), out) {
        // Without the generated file the crate cannot compile; say why.
        panic!(
            "writing the player asset table to {}: {e}",
            out_dir.display()
        );
    }
}

/// Names the origin can serve under `/assets/` (no hidden files, no odd characters).
fn servable(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}
