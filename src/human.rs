//! Text as people read it, the same in every command's output: sizes and
//! rates in binary units with one decimal ("1.5 GiB", "63.9 MiB/s"), and
//! command lines quoted for a POSIX shell. A leaf: it imports nothing of
//! snapplan, so the compiler and the adapters can both use it.

/// `1536 MiB` -> "1.5 GiB"; below 1 KiB in plain bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Bytes per second -> "63.9 MiB/s".
pub fn rate(bytes_per_second: f64) -> String {
    let mib = bytes_per_second / (1024.0 * 1024.0);
    format!("{mib:.1} MiB/s")
}

/// `8 GiB`, `60 MiB`, `1536 KiB`, `1000 B`: the largest binary unit that
/// divides the size exactly, so nothing is rounded in review output.
pub fn exact_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["TiB", "GiB", "MiB", "KiB"];
    for (i, unit) in UNITS.iter().enumerate() {
        let size = 1u64 << (10 * (4 - i));
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} B")
}

/// `30s`, `5m`, `1h`, `90s`: as the plan language writes durations.
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `word` as one shell word: bare when only harmless characters, else in
/// single quotes (a `'` inside becomes `'\''`), in `$'...'` with escapes
/// when it holds control characters, so a logged or planned command line
/// can be pasted into a shell as it is and always prints on one line.
pub fn shell_quote(word: &str) -> String {
    crate::printable::shell_word(word)
}

/// The argv as one POSIX shell command line.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(60 << 20), "60.0 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rates_in_mib_per_second() {
        assert_eq!(rate(64.0 * 1024.0 * 1024.0), "64.0 MiB/s");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("vg0/root"), "vg0/root");
        assert_eq!(shell_quote("20%ORIGIN"), "20%ORIGIN");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("<run>"), "'<run>'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }
}
