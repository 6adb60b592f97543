//! Amphi console: who may use the operator's console, and how they stay logged in.
