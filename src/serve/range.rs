//! HTTP range requests (RFC 9110 §14): one byte range of a file, for clients that read a
//! wheel's central directory or resume a download.
//!
//! Only a single range is honoured; a request for several, or a header that does not
//! parse, gets the whole file (which RFC 9110 allows: a server may ignore `Range`). A
//! range is served only from a local copy whose sha256 was checked first, so a partial
//! answer is never a part of a file that does not match.

/// What to send for a `Range` header and a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file (no usable `Range`).
    Full,
    /// Bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive), below `len`.
        end: u64,
    },
    /// Nothing of the file is in the range: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value against a file of `len` bytes.
pub fn resolve(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.trim().is_empty() {
        // `-N`: the last N bytes.
        return match number(last) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(suffix) => Ranged::Part {
                start: len.saturating_sub(suffix),
                end: len - 1,
            },
            None => Ranged::Full,
        };
    }
    let Some(start) = number(first) else {
        return Ranged::Full;
    };
    let end = if last.trim().is_empty() {
        None
    } else {
        match number(last) {
            Some(end) if end >= start => Some(end),
            _ => return Ranged::Full,
        }
    };
    if start >= len {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part {
        start,
        end: end.map_or(len - 1, |e| e.min(len - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        let part = |start, end| Ranged::Part { start, end };
        assert_eq!(resolve(None, 10), Ranged::Full);
        assert_eq!(resolve(Some("bytes=0-4"), 10), part(0, 4));
        assert_eq!(resolve(Some("bytes=5-"), 10), part(5, 9));
        assert_eq!(resolve(Some("bytes=-3"), 10), part(7, 9));
        assert_eq!(resolve(Some("bytes=-30"), 10), part(0, 9));
        assert_eq!(resolve(Some("bytes=8-100"), 10), part(8, 9));
        assert_eq!(resolve(Some("bytes=10-"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 10), Ranged::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
        for ignored in [
            "bytes=0-1,3-4",
            "bytes=4-2",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(resolve(Some(ignored), 10), Ranged::Full, "{ignored}");
        }
    }
}
