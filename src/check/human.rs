//! Sizes as people read them: binary units with one decimal, "1.5 GiB".

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

/// "3 extents", "1 extent".
pub fn extents(n: u64) -> String {
    if n == 1 {
        "1 extent".to_string()
    } else {
        format!("{n} extents")
    }
}

/// "12.0 MiB (3 extents)".
pub fn space(extents_count: u64, extent_bytes: u64) -> String {
    format!(
        "{} ({})",
        bytes(extents_count * extent_bytes),
        extents(extents_count)
    )
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
    fn extent_counts() {
        assert_eq!(space(3, 4 << 20), "12.0 MiB (3 extents)");
        assert_eq!(space(1, 4 << 20), "4.0 MiB (1 extent)");
    }
}
