//! RTMP ingest (to be written).
