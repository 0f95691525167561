//! `Config::from_xml` on arbitrary UTF-8; what loads must render without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_xml(text) {
        Ok(loaded) => {
            let _ = loaded.config.render();
            for w in &loaded.warnings {
                let _ = w.to_string();
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
