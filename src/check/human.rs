//! Extents as `check` shows them next to their size: "12.0 MiB (3 extents)".

pub use crate::human::bytes;

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
        crate::human::bytes(extents_count.saturating_mul(extent_bytes)),
        extents(extents_count)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_counts() {
        assert_eq!(space(3, 4 << 20), "12.0 MiB (3 extents)");
        assert_eq!(space(1, 4 << 20), "4.0 MiB (1 extent)");
    }
}
