//! Helicone's filter tree, parsed from arbitrary JSON bytes as the API receives them: it never
//! panics, whatever the nesting, tables, columns, operators or values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = canopy_store::query::filter::parse(&json);
    }
});
