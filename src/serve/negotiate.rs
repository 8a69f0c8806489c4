//! PEP 691 content negotiation: the same page as PEP 691 JSON or PEP 503 HTML, chosen by
//! the client's `Accept` header (or a `format=` query parameter, which PEP 691 allows as
//! an override for tools that cannot set headers).

/// A page format the server can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/vnd.pypi.simple.v1+json`
    Json,
    /// `application/vnd.pypi.simple.v1+html`
    Html,
    /// `text/html`, the PEP 503 form (also what a browser gets).
    TextHtml,
}

impl Format {
    /// The `Content-Type` the page is sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/vnd.pypi.simple.v1+json",
            Format::Html => "application/vnd.pypi.simple.v1+html",
            Format::TextHtml => "text/html; charset=utf-8",
        }
    }

    /// Whether the page is JSON.
    pub fn is_json(self) -> bool {
        self == Format::Json
    }

    /// A number per format, `0..3`, for tables indexed by format.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which format the server prefers when the client likes several equally (PyPI's order).
const PREFERENCE: [Format; 3] = [Format::Json, Format::Html, Format::TextHtml];

/// The format for a request: the `format` query parameter if it names one, else the
/// `Accept` header; `None` when nothing the client accepts can be written (406).
pub fn choose(accept: Option<&str>, query: Option<&str>) -> Option<Format> {
    if let Some(wanted) = query.and_then(format_parameter) {
        return matches(wanted).first().copied();
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::TextHtml);
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        if q <= 0.0 || q.is_nan() {
            continue;
        }
        for format in matches(&media) {
            let rank = PREFERENCE.iter().position(|f| *f == format).unwrap_or(9);
            let better = match best {
                None => true,
                Some((bq, br, _)) => q > bq || (q == bq && rank < br),
            };
            if better {
                best = Some((q, rank, format));
            }
        }
    }
    best.map(|(_, _, f)| f)
}

/// The formats one media range covers, best first. A bare wildcard gets the PEP 503 form,
/// which every client and browser reads.
fn matches(media: &str) -> Vec<Format> {
    match media {
        "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => {
            vec![Format::Json]
        }
        "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => {
            vec![Format::Html]
        }
        "text/html" | "text/*" | "*/*" => vec![Format::TextHtml],
        "application/*" => vec![Format::Json, Format::Html],
        _ => Vec::new(),
    }
}

/// The value of `format=` in a query string.
fn format_parameter(query: &str) -> Option<&str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "format")
        .map(|(_, v)| v)
        .map(|v| match v {
            "application%2Fvnd.pypi.simple.v1%2Bjson" => "application/vnd.pypi.simple.v1+json",
            "application%2Fvnd.pypi.simple.v1%2Bhtml" => "application/vnd.pypi.simple.v1+html",
            "text%2Fhtml" => "text/html",
            other => other,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_clients_send() {
        // pip 23 and 26
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(choose(Some(pip), None), Some(Format::Json));
        // uv
        let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
        assert_eq!(choose(Some(uv), None), Some(Format::Json));
        // sdistill's own client, old clients, browsers, curl
        let ours = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
        assert_eq!(choose(Some(ours), None), Some(Format::Json));
        assert_eq!(choose(Some("text/html"), None), Some(Format::TextHtml));
        assert_eq!(choose(Some("*/*"), None), Some(Format::TextHtml));
        assert_eq!(choose(None, None), Some(Format::TextHtml));
        assert_eq!(
            choose(Some("text/html,application/xhtml+xml,*/*;q=0.8"), None),
            Some(Format::TextHtml)
        );
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+html"), None),
            Some(Format::Html)
        );
        assert_eq!(choose(Some("application/json"), None), None);
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+json;q=0"), None),
            None
        );
        assert_eq!(
            choose(None, Some("format=application/vnd.pypi.simple.v1+json")),
            Some(Format::Json)
        );
        assert_eq!(
            choose(Some(pip), Some("format=text%2Fhtml")),
            Some(Format::TextHtml)
        );
    }
}
