//! The behaviour report as lines for people: a verdict line, then one line per event
//! group, `suspicious` highlighted when the output is a terminal.

use super::model::{Behaviour, Scope, Severity};

const RED_BOLD: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// The report as lines (no trailing newlines), indented for the text output. Everything
/// that came from the guest goes through `escape` (control characters, bidi overrides);
/// colour codes are added after escaping, and only with `color`.
pub fn lines(b: &Behaviour, color: bool, escape: impl Fn(&str) -> String) -> Vec<String> {
    let scope = match b.scope {
        Scope::Metadata => "metadata step observed",
        Scope::Build => "metadata step and build observed",
    };
    let mut out = vec![format!(
        "  behaviour: {} ({scope}; {} event group{})",
        highlight(b.verdict.as_str(), b.verdict, color),
        b.events.len(),
        if b.events.len() == 1 { "" } else { "s" }
    )];
    for e in &b.events {
        let place = e
            .location
            .as_deref()
            .map(|l| format!(" at {}", escape(l)))
            .unwrap_or_default();
        let times = if e.count > 1 {
            format!(" ({}x)", e.count)
        } else {
            String::new()
        };
        let line = format!(
            "{:<10} {}/{}: {}{place}{times}",
            e.severity.as_str(),
            e.category.as_str(),
            e.action,
            escape(&e.target)
        );
        out.push(format!("    {}", highlight(&line, e.severity, color)));
    }
    out
}

fn highlight(text: &str, severity: Severity, color: bool) -> String {
    if color && severity == Severity::Suspicious {
        format!("{RED_BOLD}{text}{RESET}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::model::{Category, Event};

    #[test]
    fn one_line_per_group_and_colour_only_on_request() {
        let b = Behaviour {
            verdict: Severity::Suspicious,
            scope: Scope::Metadata,
            events: vec![Event {
                category: Category::Network,
                action: "dns".into(),
                target: "evil\u{1b}[2J.example".into(),
                count: 3,
                severity: Severity::Suspicious,
                location: Some("setup.py:12".into()),
                reason: String::new(),
            }],
        };
        let escape = |s: &str| s.replace('\u{1b}', "\\u{1b}");
        let plain = lines(&b, false, escape);
        assert_eq!(plain.len(), 2);
        assert_eq!(
            plain[1],
            "    suspicious network/dns: evil\\u{1b}[2J.example at setup.py:12 (3x)"
        );
        let colored = lines(&b, true, escape);
        assert!(colored[1].starts_with("    \x1b[1;31m"));
        assert_eq!(colored[1].matches('\u{1b}').count(), 2);
    }
}
