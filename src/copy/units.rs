//! Parsers for the copy command's sizes (`4MiB`) and rates (`60MiB/s`).
//!
//! Note for the lead: the plan parser has its own unit parsers in
//! `src/plan/units.rs`, written at the same time; these two can be unified.
//! Both accept binary (KiB, MiB, GiB, TiB) and decimal (kB, MB, GB, TB)
//! suffixes and plain byte counts.

/// Parses a size such as `4096`, `512KiB`, `4MiB`, `1.5GiB` or `4MB` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim();
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use B, KiB, MiB, GiB, TiB (or kB, MB, GB, TB)"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!("`{text}` has no number: write e.g. `4MiB`"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{number}` in `{text}` is not a number"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    if bytes.fract() != 0.0 {
        return Err(format!("`{text}` is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// Parses a rate such as `60MiB/s` into bytes per second; `unlimited` gives `None`.
pub fn parse_rate(text: &str) -> Result<Option<u64>, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let Some(size) = trimmed.strip_suffix("/s") else {
        return Err(format!(
            "`{text}` is not a rate: write e.g. `60MiB/s`, or `unlimited`"
        ));
    };
    match parse_size(size)? {
        0 => Err("a rate of 0 would never finish: write e.g. `60MiB/s`, or `unlimited`".into()),
        bytes => Ok(Some(bytes)),
    }
}

/// Formats bytes for people: `1.50 GiB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// Formats a rate in bytes per second: `63.9 MiB/s`.
pub fn format_rate(bytes_per_second: f64) -> String {
    let mib = bytes_per_second / (1024.0 * 1024.0);
    format!("{mib:.1} MiB/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4 MiB"), Ok(4 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4MB"), Ok(4_000_000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
    }

    #[test]
    fn bad_sizes_say_what_to_write() {
        assert!(parse_size("4XB").unwrap_err().contains("unknown unit `XB`"));
        assert!(parse_size("MiB").unwrap_err().contains("no number"));
        assert!(parse_size("0.3B").unwrap_err().contains("whole number"));
        assert!(parse_size("1.2.3MiB").unwrap_err().contains("not a number"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("60MiB/s"), Ok(Some(60 << 20)));
        assert_eq!(parse_rate("unlimited"), Ok(None));
        assert!(parse_rate("60MiB").unwrap_err().contains("not a rate"));
        assert!(parse_rate("0MiB/s").unwrap_err().contains("never finish"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 << 29), "1.50 GiB");
        assert_eq!(format_rate(64.0 * 1024.0 * 1024.0), "64.0 MiB/s");
    }
}
