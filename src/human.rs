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

/// One argument as a shell word: as is when it needs no quoting, in single
/// quotes otherwise, and in bash's `$'...'` quoting when it holds a
/// character that [`escape`] would escape, so that the line stays one line,
/// copies back into a shell as the same argument, and cannot forge output.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        return word.to_string();
    }
    if !word.chars().any(is_unsafe) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if is_unsafe(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Whether `c` changes how the text around it is shown rather than being
/// shown itself: C0 and C1 controls (newline, carriage return, escape,
/// backspace...), DEL, and the Unicode formatting characters that reorder
/// or hide text (bidirectional overrides and isolates, zero-width
/// characters, the byte order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

pub(crate) fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("\\x{:02x}", c as u32));
        }
        c => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{{{:x}}}", c as u32));
        }
    }
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
