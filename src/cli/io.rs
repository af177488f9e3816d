//! Standard output and number encoding of the command line.
//!
//! * Standard output: every result line goes through [`print_line`]. A closed pipe (EPIPE, e.g.
//!   `attnflow ... | head -0`) ends the process quietly with exit status 0, like other Unix
//!   filters: the reader did not want more, and any `--out` file was already written (atomically)
//!   before the summary line. Any other write error (a full disk, `> /dev/full`) is a one-line
//!   error with exit status 1; an `--out` file written before it stays.
//! * Non-finite numbers: JSON has no inf/NaN, so a non-finite value is written as the string
//!   `"inf"`, `"-inf"` or `"nan"`, and CSV writes the same words; `null` in JSON (an empty field in
//!   CSV) means "undefined" (e.g. an energy the model does not define), never an overflow. Finite
//!   numbers are written in the shortest form that reads back to the same f64 (`1e300`, not 300
//!   digits). One encoding for every output: `attnflow_experiment::number`.

use std::io::Write;

/// An error writing to standard output (told apart by `main` for its exit status).
#[derive(Debug)]
pub struct StdoutError(pub std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

impl From<std::io::Error> for StdoutError {
    fn from(e: std::io::Error) -> Self {
        StdoutError(e)
    }
}

impl StdoutError {
    /// True for a closed pipe (the reader went away).
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes `text` and a newline to standard output and flushes it.
pub fn print_line(text: &str) -> Result<(), StdoutError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// A number as JSON: finite values as numbers, the others as "inf", "-inf" or "nan".
pub fn json_number(v: f64) -> serde_json::Value {
    match attnflow_experiment::number::word(v) {
        Some(w) => serde_json::Value::String(w.to_string()),
        None => serde_json::json!(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnflow_experiment::number::csv_number;
    use proptest::prelude::*;

    #[test]
    fn non_finite_words() {
        assert_eq!(json_number(f64::INFINITY), "inf");
        assert_eq!(json_number(f64::NEG_INFINITY), "-inf");
        assert_eq!(json_number(f64::NAN), "nan");
        assert_eq!(csv_number(1e300), "1e300");
        assert_eq!(csv_number(f64::NAN), "nan");
    }

    proptest! {
        #[test]
        fn finite_numbers_round_trip(v in proptest::num::f64::ANY) {
            let csv = csv_number(v);
            let json = serde_json::to_string(&json_number(v)).unwrap();
            if v.is_finite() {
                prop_assert_eq!(csv.parse::<f64>().unwrap().to_bits(), v.to_bits());
                // (parsed with std: serde_json's reader is not exact without its float_roundtrip feature)
                prop_assert_eq!(json.parse::<f64>().unwrap().to_bits(), v.to_bits());
            } else {
                prop_assert!(json.starts_with('"') && !csv.is_empty());
            }
        }
    }
}
