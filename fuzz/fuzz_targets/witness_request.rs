#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hallmark_fuzz_checks::check_witness_request(data);
});
