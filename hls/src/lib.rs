//! Amphi's LL-HLS vocabulary, shared by the packager (which writes) and the origin
//! (which serves): object names, the playlist model and its writers, and the `Store`
//! that holds every object. Pure and synchronous except for the store backends.

pub mod master;
pub mod names;
pub mod playlist;
pub mod recording;
pub mod store;
pub mod subtitles;
pub mod vtt;
