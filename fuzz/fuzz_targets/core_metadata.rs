//! The RFC 822 core-metadata parser and the PEP 508/440 validation behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sdistill::metadata::{CoreMetadata, Headers};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let headers = Headers::parse(&text);
    let _ = headers.get("Name");
    if let Ok(meta) = CoreMetadata::from_headers(&headers, "PKG-INFO") {
        let _ = meta.validate("PKG-INFO");
        let _ = meta.is_static();
    }
});
