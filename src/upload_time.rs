//! When a file was uploaded to an index (PEP 700 `upload-time`), parsed once.
//!
//! An index states upload times as text; sdistill uses them for two things that must not
//! be fooled: `--exclude-newer` (a reproducible lock takes only files uploaded before a
//! date) and the `upload-time` of `pylock.toml` (a TOML datetime another tool parses). So
//! a time is believed only as a UTC instant with every field in range, kept as numbers and
//! written back from them; anything else is treated as unknown.

use std::fmt;

/// A UTC instant with microsecond precision, ordered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    micros: u32,
}

impl UploadTime {
    /// Parses an RFC 3339 UTC time as PEP 700 writes it (`2024-01-02T03:04:05.123456Z`);
    /// a `+00:00` offset is accepted as UTC. Other offsets, leap seconds and anything
    /// malformed are `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, time) = text.split_once(['T', 't', ' '])?;
        let mut t = Self::date(date)?;
        let time = time
            .strip_suffix(['Z', 'z'])
            .or_else(|| time.strip_suffix("+00:00"))?;
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut parts = hms.split(':');
        let hour = number(parts.next()?, 2)?;
        let minute = number(parts.next()?, 2)?;
        let second = number(parts.next()?, 2)?;
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let micros = match fraction {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                six.parse().ok()?
            }
            Some(_) => return None,
        };
        t.hour = hour as u8;
        t.minute = minute as u8;
        t.second = second as u8;
        t.micros = micros;
        Some(t)
    }

    /// Parses `--exclude-newer`: an RFC 3339 UTC time, or a date (`2024-01-02`), which
    /// means the start of that day in UTC (the same instant on every machine, unlike a
    /// local date).
    pub fn parse_cutoff(text: &str) -> Option<Self> {
        Self::parse(text).or_else(|| Self::date(text.trim()))
    }

    /// `YYYY-MM-DD` at midnight UTC.
    fn date(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let year = number(parts.next()?, 4)?;
        let month = number(parts.next()?, 2)?;
        let day = number(parts.next()?, 2)?;
        if parts.next().is_some() || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        })
    }

    /// The same instant as a TOML offset datetime (`Z`), for `pylock.toml`.
    pub fn to_toml(self) -> toml::value::Datetime {
        toml::value::Datetime {
            date: Some(toml::value::Date {
                year: self.year,
                month: self.month,
                day: self.day,
            }),
            time: Some(toml::value::Time {
                hour: self.hour,
                minute: self.minute,
                second: Some(self.second),
                nanosecond: (self.micros != 0).then_some(self.micros * 1000),
            }),
            offset: Some(toml::value::Offset::Z),
        }
    }
}

impl fmt::Display for UploadTime {
    /// RFC 3339 in UTC, microseconds only when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.micros != 0 {
            write!(f, ".{:06}", self.micros)?;
        }
        f.write_str("Z")
    }
}

/// Exactly `digits` ASCII digits.
fn number(text: &str, digits: usize) -> Option<u32> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pep700_times_and_refuses_the_rest() {
        let t = UploadTime::parse("2024-02-29T03:04:05.123456Z").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T03:04:05.123456Z");
        assert_eq!(
            UploadTime::parse("2024-01-02T03:04:05+00:00")
                .unwrap()
                .to_string(),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            UploadTime::parse("2024-01-02T03:04:05.1Z").unwrap().micros,
            100_000
        );
        for bad in [
            "",
            "2024-01-02",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05+01:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-02T24:00:00Z",
            "2024-01-02T03:04:60Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05.12345678901Z",
            "2024-01-02T03:04:05Z\n[tool]",
            "24-01-02T03:04:05Z",
        ] {
            assert!(UploadTime::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn cutoffs_are_dates_or_times_and_order_in_time() {
        let day = UploadTime::parse_cutoff("2024-01-02").unwrap();
        assert_eq!(day.to_string(), "2024-01-02T00:00:00Z");
        let before = UploadTime::parse("2024-01-01T23:59:59.999999Z").unwrap();
        let after = UploadTime::parse("2024-01-02T00:00:00.000001Z").unwrap();
        assert!(before < day && day < after);
        assert!(UploadTime::parse_cutoff("yesterday").is_none());
        let toml = toml::Value::Datetime(after.to_toml()).to_string();
        assert_eq!(toml, "2024-01-02T00:00:00.000001Z");
    }
}
