//! Golden-data regression check: recompute a figure at `ci` fidelity and compare its JSON record with
//! `golden/<id>.json` field by field.
//!
//! Tolerances are declared by each figure ([`crate::figure::Meta::tolerances`]), e.g.
//! ```text
//! FieldTolerance::new("panels.*.probability", 0.01, 0.0, "Monte-Carlo fractions ...")
//! ```
//! A path is the dotted list of object keys and array indices from the record root; `*` matches one
//! segment, and a rule applies to the whole subtree below its path. The first matching rule wins, then
//! [`DEFAULT_TOLERANCE`]. The keys [`IGNORED_KEYS`] are not compared. Integers (JSON numbers without
//! fraction or exponent on both sides) must match exactly, as must strings, booleans, nulls, array
//! lengths and key sets. Two floats match when |a - b| <= abs + rel * max(|a|, |b|).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FigureError, Result};
use crate::figure::{DynFigure, Fidelity, NoProgress};
use crate::output::{read_json, write_json_atomic};

/// Absolute and relative tolerance of a float field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

impl Tolerance {
    pub fn accepts(&self, golden: f64, computed: f64) -> bool {
        if golden.is_nan() || computed.is_nan() {
            return golden.is_nan() && computed.is_nan();
        }
        if golden == computed {
            return true;
        }
        (golden - computed).abs() <= self.abs + self.rel * golden.abs().max(computed.abs())
    }
}

/// The tolerance of every float field no rule of its figure covers.
pub const DEFAULT_TOLERANCE: Tolerance = Tolerance {
    abs: 1e-12,
    rel: 1e-9,
};

/// Top-level keys of a record that are not compared (the version changes with every release; older
/// records carry a runtime).
pub const IGNORED_KEYS: [&str; 2] = ["runtime_seconds", "attnflow_version"];

/// A tolerance for the float fields of a figure's record below `path`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FieldTolerance {
    pub path: &'static str,
    pub abs: f64,
    pub rel: f64,
    /// Why this tolerance (e.g. "Monte-Carlo threshold decisions may flip across libm versions").
    pub reason: &'static str,
}

impl FieldTolerance {
    pub const fn new(path: &'static str, abs: f64, rel: f64, reason: &'static str) -> Self {
        Self {
            path,
            abs,
            rel,
            reason,
        }
    }
}

/// Tolerance for the float at `path` under `rules` (the first match, else [`DEFAULT_TOLERANCE`]).
pub fn tolerance_at(rules: &[FieldTolerance], path: &[String]) -> Tolerance {
    rules
        .iter()
        .find(|rule| pattern_matches(rule.path, path))
        .map(|rule| Tolerance {
            abs: rule.abs,
            rel: rule.rel,
        })
        .unwrap_or(DEFAULT_TOLERANCE)
}

fn pattern_matches(pattern: &str, path: &[String]) -> bool {
    let segments: Vec<&str> = pattern.split('.').filter(|s| !s.is_empty()).collect();
    segments.len() <= path.len() && segments.iter().zip(path).all(|(p, s)| *p == "*" || p == s)
}

/// One difference between golden and computed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            if self.path.is_empty() {
                "<root>"
            } else {
                &self.path
            },
            self.message
        )
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..57])
    } else {
        s
    }
}

/// Compares two records of a figure with tolerances `rules`; returns every mismatch (at most `limit`).
pub fn compare_records(
    golden: &Value,
    computed: &Value,
    rules: &[FieldTolerance],
    limit: usize,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    compare_value(golden, computed, rules, &mut path, &mut out, limit);
    out
}

fn compare_value(
    golden: &Value,
    computed: &Value,
    rules: &[FieldTolerance],
    path: &mut Vec<String>,
    out: &mut Vec<Mismatch>,
    limit: usize,
) {
    if out.len() >= limit {
        return;
    }
    let mut push = |message: String, path: &Vec<String>| {
        out.push(Mismatch {
            path: path.join("."),
            message,
        })
    };
    match (golden, computed) {
        (Value::Object(g), Value::Object(c)) => {
            for key in g.keys().chain(c.keys().filter(|k| !g.contains_key(*k))) {
                if path.is_empty() && IGNORED_KEYS.contains(&key.as_str()) {
                    continue;
                }
                path.push(key.clone());
                match (g.get(key), c.get(key)) {
                    (Some(gv), Some(cv)) => compare_value(gv, cv, rules, path, out, limit),
                    (Some(_), None) => out.push(Mismatch {
                        path: path.join("."),
                        message: "missing in computed data".into(),
                    }),
                    (None, Some(_)) => out.push(Mismatch {
                        path: path.join("."),
                        message: "not in golden data".into(),
                    }),
                    (None, None) => {}
                }
                path.pop();
                if out.len() >= limit {
                    return;
                }
            }
        }
        (Value::Array(g), Value::Array(c)) => {
            if g.len() != c.len() {
                push(
                    format!("array length {} in golden, {} computed", g.len(), c.len()),
                    path,
                );
                return;
            }
            for (k, (gv, cv)) in g.iter().zip(c).enumerate() {
                path.push(k.to_string());
                compare_value(gv, cv, rules, path, out, limit);
                path.pop();
                if out.len() >= limit {
                    return;
                }
            }
        }
        (Value::Number(g), Value::Number(c)) => {
            if is_integer(g) && is_integer(c) {
                if g != c {
                    push(
                        format!(
                            "integer {g} in golden, {c} computed (integers must match exactly)"
                        ),
                        path,
                    );
                }
            } else {
                let (gf, cf) = (
                    g.as_f64().unwrap_or(f64::NAN),
                    c.as_f64().unwrap_or(f64::NAN),
                );
                let t = tolerance_at(rules, path);
                if !t.accepts(gf, cf) {
                    push(
                        format!(
                            "{gf:e} in golden, {cf:e} computed (|diff| {:.3e} > abs {:e} + rel {:e})",
                            (gf - cf).abs(),
                            t.abs,
                            t.rel
                        ),
                        path,
                    );
                }
            }
        }
        (g, c) => {
            if g != c {
                push(
                    format!("{} in golden, {} computed", short(g), short(c)),
                    path,
                );
            }
        }
    }
}

/// Outcome of checking one figure.
#[derive(Debug)]
pub enum CheckOutcome {
    /// Computed data matches the golden file.
    Match,
    /// Differences found (or the golden file is missing).
    Drift(Vec<Mismatch>),
    /// The figure cannot be computed here; the reason is given.
    Skipped(String),
}

/// Path of the golden file of `id`.
pub fn golden_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Removes the keys that are never stored in golden data (the runtime, which records written before
/// runtimes moved to `RUNTIMES.json` still carry).
fn golden_form(mut record: Value) -> Value {
    if let Value::Object(map) = &mut record {
        map.remove("runtime_seconds");
    }
    record
}

/// Recomputes `figure` at `ci` fidelity with `seed` and compares with `dir/<id>.json`.
pub fn check_figure(figure: &dyn DynFigure, dir: &Path, seed: u64) -> Result<CheckOutcome> {
    let computed = match figure.run(Fidelity::Ci, seed, &NoProgress) {
        Ok(record) => golden_form(record),
        Err(FigureError::Unavailable(reason)) => return Ok(CheckOutcome::Skipped(reason)),
        Err(e) => return Err(e),
    };
    check_record(figure, &computed, dir)
}

/// Compares an already computed `ci` record of `figure` with its golden file.
pub fn check_record(figure: &dyn DynFigure, computed: &Value, dir: &Path) -> Result<CheckOutcome> {
    let id = figure.id();
    let path = golden_path(dir, id);
    if !path.exists() {
        return Ok(CheckOutcome::Drift(vec![Mismatch {
            path: String::new(),
            message: format!(
                "golden file {} is missing (run `cargo xtask figures --bless`)",
                path.display()
            ),
        }]));
    }
    let golden = read_json(&path)?;
    let mismatches = compare_records(&golden, computed, figure.meta().tolerances, 20);
    Ok(if mismatches.is_empty() {
        CheckOutcome::Match
    } else {
        CheckOutcome::Drift(mismatches)
    })
}

/// Writes a `ci` record as the new golden data of its figure.
pub fn bless_record(id: &str, record: &Value, dir: &Path) -> Result<()> {
    if record.get("fidelity").and_then(Value::as_str) != Some(Fidelity::Ci.as_str()) {
        return Err(FigureError::Golden(format!(
            "{id}: only ci-fidelity records can be blessed"
        )));
    }
    write_json_atomic(&golden_path(dir, id), &golden_form(record.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &[FieldTolerance] = &[FieldTolerance::new(
        "panels.*.probability",
        0.05,
        0.0,
        "test rule",
    )];

    #[test]
    fn identical_records_match_and_ignored_keys_are_skipped() {
        let a = json!({"runtime_seconds": 1.0, "x": [1.0, 2.0], "n": 3});
        let b = json!({"runtime_seconds": 9.0, "x": [1.0, 2.0], "n": 3});
        assert!(compare_records(&a, &b, RULES, 10).is_empty());
    }

    #[test]
    fn integers_must_match_exactly_floats_within_tolerance() {
        let m = compare_records(&json!({"n": 3}), &json!({"n": 4}), RULES, 10);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].path, "n");
        assert!(
            compare_records(&json!({"x": 1.0}), &json!({"x": 1.0 + 1e-12}), RULES, 10).is_empty()
        );
        assert_eq!(
            compare_records(&json!({"x": 1.0}), &json!({"x": 1.0 + 1e-6}), RULES, 10).len(),
            1
        );
    }

    #[test]
    fn field_rules_apply_to_their_subtree_only() {
        let g = json!({"panels": [{"probability": [[0.5, 0.1]], "t": [0.5]}]});
        let c = json!({"panels": [{"probability": [[0.53, 0.1]], "t": [0.53]}]});
        let m = compare_records(&g, &c, RULES, 10);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].path, "panels.0.t.0");
        // Without the rule both differ.
        assert_eq!(compare_records(&g, &c, &[], 10).len(), 2);
    }

    #[test]
    fn structure_changes_are_reported() {
        let m = compare_records(
            &json!({"a": [1, 2], "b": "x"}),
            &json!({"a": [1], "c": "x"}),
            RULES,
            10,
        );
        let paths: Vec<&str> = m.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, vec!["a", "b", "c"]);
    }

    #[test]
    fn nan_only_matches_nan() {
        let t = Tolerance { abs: 1.0, rel: 1.0 };
        assert!(t.accepts(f64::NAN, f64::NAN));
        assert!(!t.accepts(0.0, f64::NAN));
    }
}
