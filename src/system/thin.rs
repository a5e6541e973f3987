//! The thin-pool safety threshold. A thin snapshot never overflows, but it
//! fills its origin's pool as the origin changes; a pool whose data or
//! metadata runs out stalls or errors every live thin volume in it. snapplan
//! keeps well below that: at this fill level (data or metadata) apply
//! abandons a thin volume's copy and removes its snapshot, and check fails
//! a pool already there.

/// The default: 90% leaves a pool room for the live volumes' writes while
/// LVM's own autoextend (if configured, usually at 70-80%) still acts first.
pub const DEFAULT_POOL_THRESHOLD_PERCENT: f64 = 90.0;

/// `SNAPPLAN_THIN_POOL_THRESHOLD` (a percentage, 1 to 99) or the default.
/// Anything else is ignored: a typo must never switch the guard off.
pub fn pool_threshold_percent() -> f64 {
    parse_threshold(
        std::env::var("SNAPPLAN_THIN_POOL_THRESHOLD")
            .ok()
            .as_deref(),
    )
}

fn parse_threshold(value: Option<&str>) -> f64 {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|p| (1.0..=99.0).contains(p))
        .unwrap_or(DEFAULT_POOL_THRESHOLD_PERCENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_90_unless_a_sane_percentage_overrides_it() {
        assert_eq!(parse_threshold(None), 90.0);
        assert_eq!(parse_threshold(Some("35")), 35.0);
        assert_eq!(parse_threshold(Some("100")), 90.0);
        assert_eq!(parse_threshold(Some("0")), 90.0);
        assert_eq!(parse_threshold(Some("ninety")), 90.0);
    }
}
