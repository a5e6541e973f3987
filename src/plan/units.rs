//! Sizes, rates and durations as admins write them in a plan.
//!
//! Units are binary and case-insensitive, as in LVM (`2G`, `2g` and `2GiB`
//! all mean 2 * 1024^3 bytes). `GB`/`KB`-style spellings are refused rather
//! than guessed: half the world reads them as powers of 1000. A bare number
//! is refused too, because LVM would read it as MiB and an admin may mean
//! bytes. Arithmetic is exact (no floating point) and overflow is an error.

use std::time::Duration;

use super::model::{Bandwidth, SnapshotSize};

/// JSON Schema patterns for the three value kinds. They accept exactly what
/// the parsers below accept (a unit test checks both on the same examples).
pub const SIZE_PATTERN: &str = r"^([0-9]+(\.[0-9]+)? ?([bB]|[kKmMgGtT]([iI][bB])?)|(0*100(\.0+)?|0*[1-9][0-9]?(\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*) ?%)$";
pub const RATE_PATTERN: &str = r"^([0-9]+(\.[0-9]+)? ?([bB]|[kKmMgGtT]([iI][bB])?)/s|unlimited)$";
pub const DURATION_PATTERN: &str = r"^(0*([1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)s|0*([1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|0*([1-9]|1[0-9]|2[0-4])h)$";

/// Longest fractional part accepted: more digits than this are noise, and
/// the bound keeps the exact arithmetic within `u128`.
const MAX_DECIMALS: usize = 9;
/// Longest integer part accepted (u64::MAX has 20 digits).
const MAX_DIGITS: usize = 20;
/// Upper bound on durations: a hook or wait longer than a day is a mistake.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Why a value was refused; the caller adds where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    pub message: String,
    pub help: String,
    /// Well-formed but outside the allowed range (zero, too large); the
    /// schema patterns check form only.
    pub out_of_range: bool,
}

impl std::fmt::Display for UnitError {
    /// One line for the command line's errors: what is wrong, then what to write.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.help)
    }
}

/// A byte size given on the command line (`--chunk 4MiB`). The same syntax
/// as in a plan, so a value means the same wherever an admin writes it.
pub fn parse_byte_size(text: &str) -> Result<u64, UnitError> {
    parse_bytes(text, BYTES_HELP)
}

fn err(message: impl Into<String>, help: impl Into<String>) -> UnitError {
    UnitError {
        message: message.into(),
        help: help.into(),
        out_of_range: false,
    }
}

fn range_err(message: impl Into<String>, help: impl Into<String>) -> UnitError {
    UnitError {
        out_of_range: true,
        ..err(message, help)
    }
}

const SIZE_HELP: &str = "write a number with a binary unit, e.g. 512MiB, 2GiB, 1.5T (B, K/KiB, M/MiB, G/GiB, T/TiB), or a percentage of the origin LV such as 20%";
const BYTES_HELP: &str =
    "write a number with a binary unit, e.g. 4MiB, 512K (B, K/KiB, M/MiB, G/GiB, T/TiB)";
const RATE_HELP: &str = "write a size per second, e.g. 60MiB/s or 1.5G/s, or `unlimited`";
const DURATION_HELP: &str = "write a whole number of seconds, minutes or hours, e.g. 30s, 5m, 1h";

/// A decimal number split into its integer digits and fraction digits.
struct Decimal<'a> {
    int: &'a str,
    frac: &'a str,
}

/// Splits `text` into a decimal number and what follows it (the unit).
fn split_number(text: &str) -> Option<(Decimal<'_>, &str)> {
    let int_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if int_end == 0 {
        return None;
    }
    let (int, rest) = text.split_at(int_end);
    if let Some(after_dot) = rest.strip_prefix('.') {
        let frac_end = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        if frac_end == 0 {
            return None;
        }
        let (frac, unit) = after_dot.split_at(frac_end);
        Some((Decimal { int, frac }, unit))
    } else {
        Some((Decimal { int, frac: "" }, rest))
    }
}

/// `number * multiplier`, rounded up to a whole byte; `None` on overflow.
fn scale(number: &Decimal<'_>, multiplier: u64) -> Result<u64, UnitError> {
    let too_large = || {
        range_err(
            "this size is too large",
            "sizes must fit in 16 EiB; check for a typo",
        )
    };
    let int = number.int.trim_start_matches('0');
    if int.len() > MAX_DIGITS {
        return Err(too_large());
    }
    if number.frac.len() > MAX_DECIMALS {
        return Err(err(
            format!("more than {MAX_DECIMALS} decimals"),
            "round it, or use a smaller unit",
        ));
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_large())?
    };
    let frac: u128 = if number.frac.is_empty() {
        0
    } else {
        number.frac.parse().map_err(|_| too_large())?
    };
    let denominator = 10u128.pow(number.frac.len() as u32);
    let mult = u128::from(multiplier);
    let whole = int.checked_mul(mult).ok_or_else(too_large)?;
    let part = (frac * mult).div_ceil(denominator);
    let total = whole.checked_add(part).ok_or_else(too_large)?;
    u64::try_from(total).map_err(|_| too_large())
}

/// The multiplier of a unit, case-insensitive; `None` if it is not one.
fn unit_multiplier(unit: &str) -> Result<u64, UnitError> {
    let lower = unit.to_ascii_lowercase();
    let mult = match lower.as_str() {
        "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "" => {
            return Err(err(
                "a size needs a unit",
                "LVM reads a bare number as MiB and others as bytes; say which, e.g. 8GiB or 512MiB",
            ));
        }
        "kb" | "mb" | "gb" | "tb" => {
            return Err(err(
                format!("`{unit}` is ambiguous (powers of 1000 or of 1024?)"),
                format!(
                    "snapplan sizes are binary as in LVM: write {}iB",
                    &unit[..1].to_ascii_uppercase()
                ),
            ));
        }
        "p" | "pib" | "pb" | "e" | "eib" | "eb" => {
            return Err(err(
                format!("unit `{unit}` is not supported"),
                "use T/TiB: no snapshot or throttle needs petabytes",
            ));
        }
        _ => {
            return Err(err(format!("unknown unit `{unit}`"), SIZE_HELP));
        }
    };
    Ok(mult)
}

/// A byte count: number, optional single space, unit.
fn parse_bytes(text: &str, help: &str) -> Result<u64, UnitError> {
    let Some((number, unit)) = split_number(text) else {
        return Err(err(format!("`{text}` is not a size"), help));
    };
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let mult = unit_multiplier(unit).map_err(|e| {
        if e.help == SIZE_HELP {
            UnitError {
                help: help.into(),
                ..e
            }
        } else {
            e
        }
    })?;
    scale(&number, mult)
}

/// `2GiB`, `512m`, `1.5T`, or `20%` (of the origin LV).
pub fn parse_size(text: &str) -> Result<SnapshotSize, UnitError> {
    if let Some(percent) = text.strip_suffix('%') {
        let percent = percent.strip_suffix(' ').unwrap_or(percent);
        let Some((number, "")) = split_number(percent) else {
            return Err(err(format!("`{text}` is not a percentage"), SIZE_HELP));
        };
        // Exact check of 0 < p <= 100 on the digits, then f64 for the model.
        let hundredths = scale(&number, 100).map_err(|_| {
            range_err(
                "a percentage must be at most 100%",
                "the snapshot cannot usefully be larger than its origin",
            )
        })?;
        let is_zero =
            number.int.bytes().all(|b| b == b'0') && number.frac.bytes().all(|b| b == b'0');
        if is_zero {
            return Err(range_err(
                "a snapshot of 0% has no room for changes",
                "give it room for what changes during the backup, e.g. 20%",
            ));
        }
        let over = number.int.trim_start_matches('0').len() > 3
            || hundredths > 100 * 100
            || (hundredths == 100 * 100 && number.frac.bytes().any(|b| b != b'0'));
        if over {
            return Err(range_err(
                "a percentage must be at most 100%",
                "the snapshot cannot usefully be larger than its origin",
            ));
        }
        let value: f64 = percent
            .trim()
            .parse()
            .map_err(|_| err(format!("`{text}` is not a percentage"), SIZE_HELP))?;
        return Ok(SnapshotSize::PercentOfOrigin(value));
    }
    let bytes = parse_bytes(text, SIZE_HELP)?;
    if bytes == 0 {
        return Err(range_err(
            "a snapshot of 0 bytes has no room for changes",
            "give it room for what changes during the backup, e.g. 2GiB or 20%",
        ));
    }
    Ok(SnapshotSize::Bytes(bytes))
}

/// `60MiB/s` or `unlimited`.
pub fn parse_rate(text: &str) -> Result<Bandwidth, UnitError> {
    if text == "unlimited" {
        return Ok(Bandwidth::Unlimited);
    }
    if text.eq_ignore_ascii_case("unlimited") {
        return Err(err(
            format!("`{text}` is not a rate"),
            "write `unlimited` in lower case",
        ));
    }
    let Some(size) = text.strip_suffix("/s") else {
        let help = if split_number(text).is_some() {
            "a rate is a size per second: add `/s`, e.g. 60MiB/s"
        } else {
            RATE_HELP
        };
        return Err(err(format!("`{text}` is not a rate"), help));
    };
    let bytes = parse_bytes(size, RATE_HELP)?;
    if bytes == 0 {
        return Err(range_err(
            "a rate of 0 would never finish",
            "use a positive rate, or `unlimited`",
        ));
    }
    Ok(Bandwidth::BytesPerSecond(bytes))
}

/// `30s`, `5m`, `1h`: one whole number and one unit (no combinations such
/// as `1h30m`: write `90m`), greater than zero and at most a day.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || err(format!("`{text}` is not a duration"), DURATION_HELP);
    let Some((number, unit)) = split_number(text) else {
        return Err(bad());
    };
    if !number.frac.is_empty() {
        return Err(err(
            format!("`{text}` is not a whole number"),
            "use a smaller unit instead of decimals, e.g. 90s instead of 1.5m",
        ));
    }
    let per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "" => {
            return Err(err(
                "a duration needs a unit",
                "add s, m or h, e.g. 30s, 5m or 1h",
            ));
        }
        // The unit's first character may be any UTF-8 character: skip it
        // whole, never by byte.
        _ if unit.chars().nth(1).is_some()
            && split_number(&unit[unit.chars().next().map_or(0, char::len_utf8)..]).is_some() =>
        {
            return Err(err(
                format!("`{text}` combines units"),
                "write one number and one unit, e.g. 90m instead of 1h30m",
            ));
        }
        _ => return Err(bad()),
    };
    let too_long = || {
        range_err(
            "durations are limited to 24h",
            "a hook that needs more than a day is a mistake; check for a typo",
        )
    };
    let digits = number.int.trim_start_matches('0');
    if digits.len() > 6 {
        return Err(too_long());
    }
    let count: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad())?
    };
    let secs = count * per_unit;
    if secs == 0 {
        return Err(range_err(
            "a duration of zero",
            "give it a positive duration, e.g. 60s",
        ));
    }
    let duration = Duration::from_secs(secs);
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SnapshotSize::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn sizes_are_binary_and_case_insensitive() {
        for (text, bytes) in [
            ("2GiB", 2 * GIB),
            ("2G", 2 * GIB),
            ("2g", 2 * GIB),
            ("2gib", 2 * GIB),
            ("2 GiB", 2 * GIB),
            ("1.5T", 3 * (1 << 39)),
            ("512k", 512 * 1024),
            ("512KiB", 512 * 1024),
            ("100m", 100 << 20),
            ("4096B", 4096),
            ("0.5b", 1),
            ("1.0000001K", 1025),
        ] {
            assert_eq!(parse_size(text), Ok(Bytes(bytes)), "{text}");
        }
    }

    #[test]
    fn percentages_must_be_in_range() {
        assert_eq!(parse_size("20%"), Ok(PercentOfOrigin(20.0)));
        assert_eq!(parse_size("100%"), Ok(PercentOfOrigin(100.0)));
        assert_eq!(parse_size("0.5%"), Ok(PercentOfOrigin(0.5)));
        assert_eq!(parse_size("100.000%"), Ok(PercentOfOrigin(100.0)));
        for bad in [
            "0%",
            "0.0%",
            "100.001%",
            "101%",
            "1000000000000000000000%",
            "%",
            "-5%",
            "5 %%",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_sizes_are_errors_not_wraparound() {
        for bad in [
            "",
            "G",
            "2",
            "2GB",
            "2gb",
            "2P",
            "2 G iB",
            "2GiBs",
            "-1G",
            "1e3G",
            "0G",
            "0.0M",
            "16384P",
            "18446744073709551616B",
            "17179869184G",
            "99999999999999999999999999T",
            "1.1234567890G",
            ".5G",
            "5.G",
            "2  G",
            " 2G",
            "2G ",
            "２G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_size("18446744073709551615B"), Ok(Bytes(u64::MAX)));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("unlimited"), Ok(Bandwidth::Unlimited));
        assert_eq!(
            parse_rate("60MiB/s"),
            Ok(Bandwidth::BytesPerSecond(60 << 20))
        );
        assert_eq!(parse_rate("1.5g/s"), Ok(Bandwidth::BytesPerSecond(3 << 29)));
        for bad in [
            "60MiB",
            "60",
            "0M/s",
            "Unlimited",
            "60MB/s",
            "/s",
            "60MiB/m",
            "fast",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_multibyte_unit_is_an_error_not_a_panic() {
        for text in ["1é0s", "5ü", "1\u{1F600}2m"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        for bad in [
            "0s",
            "60",
            "1h30m",
            "1.5m",
            "25h",
            "999999999999999999999h",
            "5 m",
            "5M",
            "-5s",
            "s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Whole numbers with any spelling of a unit scale exactly, or are
        /// refused as too large: never wrapped around.
        #[test]
        fn whole_sizes_scale_exactly(n in 1u64.., unit in 0usize..9, upper in proptest::bool::ANY) {
            let (spelling, mult) = [
                ("b", 1u128), ("k", 1 << 10), ("kib", 1 << 10), ("m", 1 << 20), ("mib", 1 << 20),
                ("g", 1 << 30), ("gib", 1 << 30), ("t", 1 << 40), ("tib", 1 << 40),
            ][unit];
            let spelling = if upper { spelling.to_uppercase() } else { spelling.to_string() };
            let exact = u128::from(n) * mult;
            match parse_size(&format!("{n}{spelling}")) {
                Ok(Bytes(bytes)) => proptest::prop_assert_eq!(u128::from(bytes), exact),
                Ok(other) => proptest::prop_assert!(false, "{other:?}"),
                Err(e) => proptest::prop_assert!(exact > u128::from(u64::MAX) && e.out_of_range),
            }
        }

        /// Decimals round up to the next byte, never down.
        #[test]
        fn decimal_sizes_round_up(int in 0u64..1_000_000, frac in 1u32..1000) {
            let text = format!("{int}.{frac:03}K");
            let exact_thousandths = (u128::from(int) * 1000 + u128::from(frac)) * 1024;
            let expected = exact_thousandths.div_ceil(1000);
            proptest::prop_assert_eq!(parse_size(&text), Ok(Bytes(expected as u64)));
        }
    }

    /// The schema patterns and the parsers agree: what the parser accepts
    /// matches, and what matches the parser accepts or refuses only for a
    /// range a pattern cannot say (a size of zero bytes, say). Percentages
    /// (above 0, at most 100) and durations (1s to 24h) are ranges the
    /// patterns do say.
    #[test]
    fn schema_patterns_match_the_parsers() {
        let size = regex::Regex::new(SIZE_PATTERN).unwrap();
        let rate = regex::Regex::new(RATE_PATTERN).unwrap();
        let duration = regex::Regex::new(DURATION_PATTERN).unwrap();
        let samples = [
            "2GiB",
            "2G",
            "2g",
            "2 GiB",
            "1.5T",
            "512k",
            "4096B",
            "20%",
            "0.5%",
            "2GB",
            "2",
            "2P",
            ".5G",
            "5.G",
            "2  G",
            "20 %",
            "60MiB/s",
            "60M/s",
            "unlimited",
            "60MiB",
            "60 MiB/s",
            "30s",
            "5m",
            "1h",
            "1h30m",
            "1.5m",
            "5 m",
            "0s",
            "",
            "kib",
            "1KIB",
            "1kIb/s",
            "0%",
            "0.0%",
            "100%",
            "100.0%",
            "100.5%",
            "101%",
            "099%",
            "0.25%",
            "86400s",
            "86401s",
            "1440m",
            "1441m",
            "24h",
            "25h",
            "060s",
            "0GiB",
        ];
        let in_range = |e: &UnitError| e.out_of_range;
        let agree = |what: &str, s: &str, matches: bool, parsed: Result<(), UnitError>| {
            if parsed.is_ok() {
                assert!(matches, "{what} {s:?} is accepted but does not match");
            }
            if matches {
                assert!(
                    parsed.as_ref().is_ok() || parsed.as_ref().is_err_and(in_range),
                    "{what} {s:?} matches but is malformed: {parsed:?}"
                );
            }
        };
        for s in samples {
            agree("size", s, size.is_match(s), parse_size(s).map(drop));
            agree("rate", s, rate.is_match(s), parse_rate(s).map(drop));
            agree(
                "duration",
                s,
                duration.is_match(s),
                parse_duration(s).map(drop),
            );
        }
        // The ranges the patterns carry are the parsers' ranges.
        for s in ["0%", "0.0%", "100.5%", "101%"] {
            assert!(!size.is_match(s) && parse_size(s).is_err(), "{s}");
        }
        for s in ["0s", "86401s", "1441m", "25h"] {
            assert!(!duration.is_match(s) && parse_duration(s).is_err(), "{s}");
        }
        for s in ["100%", "0.25%", "099%"] {
            assert!(size.is_match(s) && parse_size(s).is_ok(), "{s}");
        }
        for s in ["86400s", "1440m", "24h", "060s"] {
            assert!(duration.is_match(s) && parse_duration(s).is_ok(), "{s}");
        }
    }
}
