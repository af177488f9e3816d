//! Limits checked before any work: step counts and memory estimates (checked arithmetic), so that
//! an oversized request ends with one line naming the limit, the estimate and the flag that raises
//! it, never with an allocation abort, an overflow or a run that cannot finish.

use anyhow::{Result, bail};

/// Default of `--max-steps`: steps of one trajectory (t_max / dt).
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// Default memory cap when /proc/meminfo cannot be read (8 GiB).
const FALLBACK_MEMORY: u64 = 8 << 30;

/// Number of steps of size `dt` to reach `t_max`: ceil(t_max / dt - 1e-9), at least 1 (the
/// checkpoint rule of the figures). Errors when `dt > t_max` (the run would silently go to t = dt)
/// or when the count exceeds `max_steps`.
pub fn step_count(t_max: f64, dt: f64, max_steps: u64) -> Result<usize> {
    if !(dt.is_finite() && dt > 0.0) {
        bail!("--dt must be finite and > 0, got {dt:?}");
    }
    if !(t_max.is_finite() && t_max > 0.0) {
        bail!("--t-max must be finite and > 0, got {t_max:?}");
    }
    if dt > t_max {
        bail!(
            "--dt {dt:?} is larger than --t-max {t_max:?}: the run would end at t = dt, not t-max; use --dt <= --t-max"
        );
    }
    let steps = (t_max / dt - 1e-9).ceil().max(1.0);
    if steps.is_nan() || steps > max_steps as f64 {
        bail!(
            "--t-max {t_max:?} with --dt {dt:?} needs {steps:e} steps, above the limit --max-steps {max_steps}; use a larger --dt or a smaller --t-max, or raise --max-steps"
        );
    }
    usize::try_from(steps as u64)
        .map_err(|_| anyhow::anyhow!("{steps:e} steps do not fit this platform's usize"))
}

/// MemAvailable of /proc/meminfo in bytes, where present.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a byte count: a plain number (`1e9`, `4096`) or one with a binary suffix K, M, G, T
/// (optionally followed by `B` or `iB`), e.g. `64G`, `512MiB`. Used as clap's value parser.
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, unit) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('M') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('G') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('T') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("expected a byte count such as 8G, 512M or 1e9, got {text:?}"))?;
    let bytes = value * unit as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "the byte count must be at least 1 and below 2^64, got {text:?}"
        ));
    }
    Ok(bytes as u64)
}

/// Human form of a byte count (decimal units, 3 significant digits).
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == UNITS.len() - 1 && v >= 1000.0 {
        return format!("{bytes:.3e} B");
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A memory estimate: named parts in bytes (f64, so that no product can overflow), with the advice
/// that shrinks each.
#[derive(Debug, Default)]
pub struct MemoryEstimate {
    parts: Vec<(&'static str, f64, &'static str)>,
}

impl MemoryEstimate {
    /// Adds `count` items of `bytes_each` bytes.
    pub fn add(&mut self, what: &'static str, count: f64, bytes_each: f64, advice: &'static str) {
        self.parts.push((what, count * bytes_each, advice));
    }

    /// The total in bytes.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// Errors when the total exceeds `limit` (`--max-memory`) or, without one, the available
    /// memory: names the estimate, its largest part, the limit and how to get below it.
    pub fn check(&self, limit: Option<u64>) -> Result<()> {
        let total = self.total();
        let (cap, what) = match limit {
            Some(l) => (
                l as f64,
                format!("--max-memory is {}", human_bytes(l as f64)),
            ),
            None => match available_memory() {
                Some(a) => (a as f64, format!("{} available", human_bytes(a as f64))),
                None => (
                    FALLBACK_MEMORY as f64,
                    format!(
                        "the default cap is {} (available memory unknown)",
                        human_bytes(FALLBACK_MEMORY as f64)
                    ),
                ),
            },
        };
        if total.is_finite() && total <= cap {
            return Ok(());
        }
        let largest = self
            .parts
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
            .unwrap_or(("work", total, ""));
        bail!(
            "needs {} ({} for the {}), {what}; {}, or raise --max-memory",
            human_bytes(total),
            human_bytes(largest.1),
            largest.0,
            largest.2
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn meminfo_and_bytes() {
        assert_eq!(
            parse_meminfo("MemTotal: 10 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
        assert_eq!(parse_meminfo("MemTotal: 10 kB\n"), None);
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1e9"), Ok(1_000_000_000));
        assert!(parse_bytes("-1G").is_err());
        assert!(parse_bytes("nan").is_err());
        assert!(parse_bytes("1e30T").is_err());
        assert!(parse_bytes("").is_err());
        assert_eq!(human_bytes(72e9), "72.0 GB");
    }

    #[test]
    fn steps_follow_the_checkpoint_rule() {
        assert_eq!(step_count(15.0, 0.1, DEFAULT_MAX_STEPS).unwrap(), 150);
        assert_eq!(step_count(1.0, 1.0, 10).unwrap(), 1);
        assert!(step_count(1.0, 10.0, 10).is_err());
        assert!(step_count(30.0, 1e-8, DEFAULT_MAX_STEPS).is_err());
        assert!(step_count(1e300, 0.1, u64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn step_count_is_total_and_bounded(t in proptest::num::f64::ANY, dt in proptest::num::f64::ANY, cap in 1u64..1_000_000) {
            // never panics; on success the steps reach t_max and respect the cap
            if let Ok(steps) = step_count(t, dt, cap) {
                prop_assert!(steps >= 1 && steps as u64 <= cap);
                prop_assert!(dt <= t && (steps as f64) * dt >= t * (1.0 - 1e-9));
            }
        }

        #[test]
        fn parse_bytes_never_panics(s in "\\PC{0,12}") {
            if let Ok(b) = parse_bytes(&s) { prop_assert!(b >= 1); }
        }

        #[test]
        fn parse_bytes_round_trips_integers(v in 1u64..(1 << 50)) {
            prop_assert_eq!(parse_bytes(&v.to_string()), Ok(v));
            prop_assert_eq!(parse_bytes(&format!("{v}K")), Ok(v << 10));
        }

        #[test]
        fn estimates_over_the_cap_are_refused(bytes in 0.0f64..1e20, cap in 1u64..u64::MAX) {
            let mut m = MemoryEstimate::default();
            m.add("state", bytes, 1.0, "use less");
            prop_assert_eq!(m.check(Some(cap)).is_ok(), bytes <= cap as f64);
        }
    }
}
