//! Run ids and the UTC times of run records: seconds since the epoch in
//! the files, a calendar date only when shown or put into a run id.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as journal events and run records store it.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYYMMDDTHHMMSSZ-<pid>`: sortable, unique per host, and made of
/// characters LVM allows in tags.
pub fn new_run_id() -> String {
    format!("{}-{}", compact(now()), std::process::id())
}

/// `20261202T031500Z`: the UTC time in the basic ISO 8601 form run ids and
/// generation ids use (sortable, and valid in LVM names and tags).
pub fn compact(unix: u64) -> String {
    let (y, m, d, h, min, s) = civil(unix);
    format!("{y:04}{m:02}{d:02}T{h:02}{min:02}{s:02}Z")
}

/// `2026-12-02T03:15:00Z`: RFC 3339 in UTC, for JSON documents.
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d, h, min, s) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
}

/// `2026-11-27 03:00:00 UTC`.
pub fn utc(unix: u64) -> String {
    let (y, m, d, h, min, s) = civil(unix);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02} UTC")
}

/// The Unix time a [`compact`] time names (a generation id), `None` for
/// anything else.
pub fn parse_compact(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, min, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    let unix = u64::try_from(days).ok()? * 86_400 + h * 3600 + min * 60 + s;
    // 31 February does not come back as itself.
    (compact(unix) == text).then_some(unix)
}

/// (year, month, day) to days since 1970-01-01: the inverse of
/// [`civil_from_days`] (the same algorithm, run backwards).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month, day, hour, minute and second of a Unix time, in UTC: what
/// every format above writes, in its own punctuation.
fn civil(unix: u64) -> (i64, u32, u32, u64, u64, u64) {
    let (days, rem) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_rfc3339_name_the_same_utc_second() {
        // 2026-12-02 03:15:00 UTC
        let t = 1_796_181_300;
        assert_eq!(compact(t), "20261202T031500Z");
        assert_eq!(rfc3339(t), "2026-12-02T03:15:00Z");
        assert_eq!(utc(t), "2026-12-02 03:15:00 UTC");
        assert_eq!(compact(0), "19700101T000000Z");
    }

    #[test]
    fn a_compact_time_parses_back_to_its_second_and_nothing_else_parses() {
        for t in [0, 1_796_181_300, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_compact(&compact(t)), Some(t), "{}", compact(t));
        }
        for bad in [
            "20260231T000000Z",
            "20261202T031500",
            "2026120XT031500Z",
            "20261202T246000Z",
            "",
        ] {
            assert_eq!(parse_compact(bad), None, "{bad}");
        }
    }
}
