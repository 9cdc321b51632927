//! Any bytes as an error text pasted from a pod or a log: classifying and explaining never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = skys3::classify::classify(&text);
    let _ = skys3::catalog::explain_text(&text);
    let _ = skys3::catalog::explain(&text);
});
