//! Amphi origin (to be written).
