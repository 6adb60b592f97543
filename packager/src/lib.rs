//! Amphi packager (to be written).
