#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amphi_origin::fuzzing::caption_vtt(data));
