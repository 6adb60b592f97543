#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amphi_ingest::fuzzing::ertmp(data));
