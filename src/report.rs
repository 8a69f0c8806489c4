//! Rendering reports as JSON (`sdistill/1`), JSON lines, or text for people.
//!
//! The JSON object is the contract with resolvers; its schema is documented in README.
//! The text form is for terminals, so every string that came from an input (names,
//! requirements, error messages quoting archive members) has its control characters
//! escaped: an sdist cannot send escape sequences to the user's terminal. The behaviour
//! report (`behaviour`) is `null` when no build code ran; in text it is one line per event
//! group under the answer, `suspicious` highlighted only on a terminal.

use serde_json::{json, Value};

use crate::inspect::Report;

/// The schema identifier carried by every JSON object.
pub const SCHEMA: &str = "sdistill/1";

/// The JSON object for one report.
pub fn to_json(report: &Report) -> Value {
    let mut obj = json!({
        "schema": SCHEMA,
        "input": report.input.display().to_string(),
        "source": report.source,
        "name": null,
        "version": null,
        "metadata_version": null,
        "requires_dist": null,
        "requires_python": null,
        "provides_extra": null,
        "build_requires": null,
        "build_backend": null,
        "build_requires_source": null,
        "method": null,
        "pin": null,
        "target": null,
        "warnings": report.warnings,
        "elapsed_ms": report.elapsed.as_millis() as u64,
        "cached": report.cached,
        "error": null,
        "behaviour": report.behaviour,
    });
    match &report.outcome {
        Ok(meta) => {
            if let (Value::Object(dst), Ok(Value::Object(src))) =
                (&mut obj, serde_json::to_value(meta))
            {
                dst.extend(src);
            }
        }
        Err(e) => {
            obj["error"] = json!({
                "kind": e.kind(),
                "message": e.to_string(),
                "limit": e.limit(),
                "detail": e.detail(),
            });
        }
    }
    obj
}

/// A JSON array of reports, in input order.
pub fn to_json_array(reports: &[Report]) -> String {
    let values: Vec<Value> = reports.iter().map(to_json).collect();
    serde_json::to_string_pretty(&values).unwrap_or_else(|_| "[]".to_string())
}

/// One compact JSON line.
pub fn to_json_line(report: &Report) -> String {
    serde_json::to_string(&to_json(report)).unwrap_or_else(|_| "{}".to_string())
}

/// Escapes every control character (C0, DEL, C1) and bidi override so that text from an
/// input cannot drive a terminal.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Human-readable text for one report, without colour.
pub fn to_text(report: &Report) -> String {
    to_text_with(report, false)
}

/// Human-readable text for one report; `color` highlights `suspicious` behaviour (for a
/// terminal).
pub fn to_text_with(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let input = sanitize(&report.input.display().to_string());
    match &report.outcome {
        Ok(m) => {
            out.push_str(&format!(
                "{} {}  ({input}, via {}{})\n",
                sanitize(&m.name),
                sanitize(&m.version),
                m.method.as_str(),
                if report.cached { ", cached" } else { "" }
            ));
            if let Some(rp) = &m.requires_python {
                out.push_str(&format!("  requires-python: {}\n", sanitize(rp)));
            }
            for r in &m.requires_dist {
                out.push_str(&format!("  requires: {}\n", sanitize(r)));
            }
            if !m.provides_extra.is_empty() {
                out.push_str(&format!(
                    "  extras: {}\n",
                    sanitize(&m.provides_extra.join(", "))
                ));
            }
            out.push_str(&format!(
                "  build-requires: {}\n",
                sanitize(&m.build_requires.join(", "))
            ));
            if let Some(pin) = &m.pin {
                out.push_str(&format!("  pin: {}\n", sanitize(pin)));
            }
        }
        Err(e) => {
            out.push_str(&format!(
                "{input}: error [{}]: {}\n",
                e.kind(),
                sanitize(&e.to_string())
            ));
            if let Some(detail) = e.detail() {
                for line in detail.lines() {
                    out.push_str(&format!("  | {}\n", sanitize(line)));
                }
            }
        }
    }
    if let Some(b) = &report.behaviour {
        for line in crate::observe::text::lines(b, color, sanitize) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    for w in &report.warnings {
        out.push_str(&format!("  warning: {}\n", sanitize(w)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences() {
        let s = sanitize("a\u{1b}[31mred\u{7}\u{202e}");
        assert!(!s.contains('\u{1b}'));
        assert!(!s.contains('\u{7}'));
        assert!(!s.contains('\u{202e}'));
        assert!(s.contains("\\u{1b}"));
    }
}
