#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amphi_qa::fuzzing::qa_post_body(data));
