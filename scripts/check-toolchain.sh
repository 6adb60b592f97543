#!/usr/bin/env bash
# Amphi builds with Rust (cargo) ≥ 1.95. Say so clearly when it is missing.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in ~/.cargo/bin but not on PATH: run 'source ~/.cargo/env' and retry" >&2
  else
    echo "Rust is not installed: install it with rustup (https://rustup.rs), then retry" >&2
  fi
  exit 1
fi
