//! Requirement and marker text through the guarded PEP 508 helpers: arbitrary text, and
//! text nested or chained far past the caps, which used to overflow pep508_rs's stack
//! (an abort no panic handler can catch) or take seconds and gigabytes.
//!
//! The first byte shapes the input: its low two bits pick a wrapper, the rest a
//! repetition count ([`count`]: exact up to 40, around every cap, then up to 10,120), so
//! deep nesting is reached at once instead of waiting for the fuzzer to grow inputs that
//! long. Each parse runs on a 1 MiB stack, half a worker thread's, so that a shape needing
//! deep recursion is found as a crash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sdistill::metadata::{check_requirement_complexity, parse_requirement, CoreMetadata};
use sdistill::static_meta::with_extra_marker;

/// Repetitions for the six high bits `n`: every count up to 40, then steps of 440.
fn count(n: u8) -> usize {
    match usize::from(n) {
        n @ 0..=40 => n,
        n => (n - 40) * 440,
    }
}

/// `text` wrapped `count` times in the wrapper `kind` picks.
fn shaped(kind: u8, count: usize, text: &str) -> String {
    let mut out = String::from("name; ");
    match kind {
        0 => {
            out.push_str(&"(".repeat(count));
            out.push_str(text);
            out.push_str(&")".repeat(count));
        }
        1 => {
            out.push_str(&"(python_version > '3' and ".repeat(count));
            out.push_str(text);
            out.push_str(&" or extra == 'x')".repeat(count));
        }
        2 => {
            for i in 0..count {
                out.push_str(&format!("(extra == 'a{i}' and extra == 'b{i}') or "));
            }
            out.push_str(text);
        }
        _ => {
            for i in 0..count {
                out.push_str(&format!("'v{i}' not in platform_version and "));
            }
            out.push_str(text);
        }
    }
    out
}

/// Every helper that untrusted requirement text reaches.
fn exercise(text: &str) {
    let parsed = parse_requirement(text);
    if parsed.is_ok() {
        assert!(check_requirement_complexity(text).is_ok(), "{text:?}");
    }
    let _ = with_extra_marker(text, "x");
    let doc = format!("Name: n\nVersion: 1\nRequires-Dist: {text}\n");
    if let Ok(meta) = CoreMetadata::parse(&doc, "PKG-INFO") {
        let _ = meta.validate("PKG-INFO");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let deep = shaped(shape & 3, count(shape >> 2), &text);
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            exercise(&text);
            exercise(&deep);
        })
        .expect("spawn")
        .join()
        .expect("no panic");
});
