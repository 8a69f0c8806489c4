//! The pyproject.toml reader: [project] to core metadata, [build-system].
#![no_main]
use libfuzzer_sys::fuzz_target;
use sdistill::static_meta::{parse_pyproject, with_extra_marker};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = parse_pyproject(text) {
        if let Some(project) = p.project {
            if let Ok(meta) = project.to_metadata() {
                let _ = meta.validate("pyproject.toml");
            }
        }
    }
    let _ = with_extra_marker(text, "x");
});
