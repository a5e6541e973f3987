//! Which generations a retention policy keeps: one pure function,
//! [`decide`], for the prune step of apply and `snapplan prune` alike.
//!
//! Only complete generations count and only complete ones can go: an
//! incomplete generation is rollback's and recover's to remove, never
//! retention's. The newest complete generation is always kept, whatever the
//! policy says. The calendar rules work like restic's and borg's: walking
//! from the newest, each day (week, month) in UTC keeps its newest
//! generation, until that many days (weeks, months) have one kept. Weeks
//! start on Monday, as ISO 8601's do.
//!
//! Pure: it imports nothing of snapplan but the calendar of `state/time`.

use crate::state::time::civil_from_days;

/// What the plan's `retention:` says (its defaults applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The newest complete generations kept; at least 1 (validate refuses 0,
    /// and [`decide`] keeps the newest anyway).
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

impl Default for Policy {
    /// `retention:` left out: the 7 newest.
    fn default() -> Self {
        Policy {
            keep_last: 7,
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
        }
    }
}

/// One generation as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub id: String,
    /// Its time (the run's start), seconds since the epoch, UTC.
    pub time: u64,
    pub complete: bool,
}

/// A rule that keeps a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// The newest complete generation: never removed.
    Newest,
    /// Among the `keep_last` newest.
    Last,
    Daily,
    Weekly,
    Monthly,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Newest => "newest",
            Rule::Last => "keep_last",
            Rule::Daily => "keep_daily",
            Rule::Weekly => "keep_weekly",
            Rule::Monthly => "keep_monthly",
        }
    }
}

/// What happens to one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Kept, by these rules (at least one).
    Keep(Vec<Rule>),
    /// Complete and kept by no rule: prune removes it.
    Remove,
    /// Incomplete: not retention's (recover removes it), not counted.
    NotCounted,
}

/// The verdict on each generation, in the order given.
pub fn decide(policy: Policy, generations: &[Generation]) -> Vec<Verdict> {
    // Complete ones, newest first; ties broken by id so that the answer does
    // not depend on the order given.
    let mut order: Vec<usize> = (0..generations.len())
        .filter(|&i| generations[i].complete)
        .collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&generations[a], &generations[b]);
        b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id))
    });
    let mut rules: Vec<Vec<Rule>> = vec![Vec::new(); generations.len()];
    if let Some(&newest) = order.first() {
        rules[newest].push(Rule::Newest);
    }
    for &i in order.iter().take(policy.keep_last as usize) {
        rules[i].push(Rule::Last);
    }
    let calendar: [(Rule, u32, Bucket); 3] = [
        (Rule::Daily, policy.keep_daily, day),
        (Rule::Weekly, policy.keep_weekly, week),
        (Rule::Monthly, policy.keep_monthly, month),
    ];
    for (rule, count, bucket) in calendar {
        let mut last = None;
        let mut kept = 0;
        for &i in &order {
            if kept == count {
                break;
            }
            let b = bucket(generations[i].time);
            if last != Some(b) {
                last = Some(b);
                kept += 1;
                rules[i].push(rule);
            }
        }
    }
    generations
        .iter()
        .zip(rules)
        .map(|(g, rules)| {
            if !g.complete {
                Verdict::NotCounted
            } else if rules.is_empty() {
                Verdict::Remove
            } else {
                Verdict::Keep(rules)
            }
        })
        .collect()
}

/// A calendar period's number: generations in the same one share it.
type Bucket = fn(u64) -> i64;

fn day(time: u64) -> i64 {
    (time / 86_400) as i64
}

/// Monday-based weeks: 1970-01-01 was a Thursday, so day 4 is a Monday.
fn week(time: u64) -> i64 {
    (day(time) + 3).div_euclid(7)
}

fn month(time: u64) -> i64 {
    let (y, m, _) = civil_from_days(day(time));
    y * 12 + i64::from(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400;
    /// 2026-12-07 00:00:00 UTC, a Monday.
    const MONDAY: u64 = 1_796_601_600;

    fn generation(id: &str, time: u64, complete: bool) -> Generation {
        Generation {
            id: id.into(),
            time,
            complete,
        }
    }

    fn policy(keep_last: u32, daily: u32, weekly: u32, monthly: u32) -> Policy {
        Policy {
            keep_last,
            keep_daily: daily,
            keep_weekly: weekly,
            keep_monthly: monthly,
        }
    }

    fn removed(policy: Policy, gens: &[Generation]) -> Vec<String> {
        gens.iter()
            .zip(decide(policy, gens))
            .filter(|(_, v)| *v == Verdict::Remove)
            .map(|(g, _)| g.id.clone())
            .collect()
    }

    #[test]
    fn keep_last_two_of_three_removes_the_oldest() {
        let gens = [
            generation("a", MONDAY, true),
            generation("b", MONDAY + 10, true),
            generation("c", MONDAY + 20, true),
        ];
        assert_eq!(removed(policy(2, 0, 0, 0), &gens), ["a"]);
    }

    #[test]
    fn incomplete_generations_are_neither_counted_nor_removed() {
        let gens = [
            generation("a", MONDAY, true),
            generation("b", MONDAY + 10, true),
            generation("c", MONDAY + 20, false),
        ];
        let verdicts = decide(policy(1, 0, 0, 0), &gens);
        assert_eq!(verdicts[0], Verdict::Remove);
        assert_eq!(verdicts[1], Verdict::Keep(vec![Rule::Newest, Rule::Last]));
        assert_eq!(verdicts[2], Verdict::NotCounted);
    }

    #[test]
    fn the_week_keeps_its_newest_generation_and_weeks_start_on_monday() {
        // Sunday night and Monday morning are different weeks.
        let gens = [
            generation("sun", MONDAY - 60, true),
            generation("sat", MONDAY - DAY - 60, true),
            generation("mon", MONDAY + 60, true),
        ];
        let verdicts = decide(policy(1, 0, 2, 0), &gens);
        assert_eq!(verdicts[0], Verdict::Keep(vec![Rule::Weekly]));
        assert_eq!(verdicts[1], Verdict::Remove);
        assert_eq!(
            verdicts[2],
            Verdict::Keep(vec![Rule::Newest, Rule::Last, Rule::Weekly])
        );
    }

    #[test]
    fn monthly_keeps_the_newest_of_each_month_for_that_many_months() {
        // 2026-11-30, 2026-11-01 and 2026-10-15, then 2026-12-07.
        let gens = [
            generation("nov30", MONDAY - 7 * DAY, true),
            generation("nov01", MONDAY - 36 * DAY, true),
            generation("oct15", MONDAY - 53 * DAY, true),
            generation("dec07", MONDAY, true),
        ];
        assert_eq!(removed(policy(1, 0, 0, 2), &gens), ["nov01", "oct15"]);
    }

    #[test]
    fn no_complete_generation_keeps_nothing_and_removes_nothing() {
        let gens = [generation("a", MONDAY, false)];
        assert_eq!(decide(policy(1, 1, 1, 1), &gens), [Verdict::NotCounted]);
    }

    fn generations() -> impl Strategy<Value = Vec<Generation>> {
        prop::collection::vec((0u64..400 * DAY, any::<bool>()), 0..40).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (t, complete))| generation(&format!("g{i}"), MONDAY + t, complete))
                .collect()
        })
    }

    fn policies() -> impl Strategy<Value = Policy> {
        (0u32..10, 0u32..10, 0u32..6, 0u32..6).prop_map(|(l, d, w, m)| policy(l, d, w, m))
    }

    fn newest_complete(gens: &[Generation]) -> Option<usize> {
        (0..gens.len())
            .filter(|&i| gens[i].complete)
            .max_by(|&a, &b| (gens[a].time, &gens[a].id).cmp(&(gens[b].time, &gens[b].id)))
    }

    proptest! {
        #[test]
        fn the_newest_complete_generation_is_never_removed(p in policies(), gens in generations()) {
            let verdicts = decide(p, &gens);
            if let Some(newest) = newest_complete(&gens) {
                prop_assert!(matches!(&verdicts[newest], Verdict::Keep(r) if r.contains(&Rule::Newest)));
            }
        }

        #[test]
        fn only_complete_generations_are_removed_and_every_incomplete_one_is_left_alone(
            p in policies(), gens in generations()
        ) {
            for (g, v) in gens.iter().zip(decide(p, &gens)) {
                prop_assert_eq!(g.complete, v != Verdict::NotCounted);
            }
        }

        #[test]
        fn keep_last_n_keeps_the_n_newest_complete_generations(
            p in policies(), gens in generations()
        ) {
            let verdicts = decide(p, &gens);
            let mut complete: Vec<usize> = (0..gens.len()).filter(|&i| gens[i].complete).collect();
            complete.sort_by(|&a, &b| (gens[b].time, &gens[b].id).cmp(&(gens[a].time, &gens[a].id)));
            for (rank, &i) in complete.iter().enumerate() {
                if rank < p.keep_last as usize {
                    prop_assert!(matches!(&verdicts[i], Verdict::Keep(_)), "rank {} removed", rank);
                }
            }
            // With only keep_last, exactly max(N, 1) are kept.
            let only_last = policy(p.keep_last, 0, 0, 0);
            let kept = decide(only_last, &gens).iter().filter(|v| matches!(v, Verdict::Keep(_))).count();
            prop_assert_eq!(kept, complete.len().min((p.keep_last as usize).max(1)));
        }

        #[test]
        fn pruning_is_idempotent(p in policies(), gens in generations()) {
            let verdicts = decide(p, &gens);
            let left: Vec<Generation> = gens
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| **v != Verdict::Remove)
                .map(|(g, _)| g.clone())
                .collect();
            prop_assert!(decide(p, &left).iter().all(|v| *v != Verdict::Remove));
        }

        #[test]
        fn the_order_given_does_not_change_the_verdicts(p in policies(), gens in generations()) {
            let verdicts = decide(p, &gens);
            let mut reversed = gens.clone();
            reversed.reverse();
            let mut back = decide(p, &reversed);
            back.reverse();
            prop_assert_eq!(verdicts, back);
        }
    }
}
