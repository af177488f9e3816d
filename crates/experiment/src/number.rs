//! Numbers in output files. JSON has no infinity or NaN, so a non-finite value is written as the
//! string `"inf"`, `"-inf"` or `"nan"` (and read back from it); CSV writes the same words. `null` in
//! JSON (an empty CSV field) means "undefined", never an overflow. Finite numbers are written in the
//! shortest form that reads back to the same f64 (`1e300`, not 300 digits).
//!
//! The `serde(with = ...)` modules [`scalar`], [`vec1`], [`vec2`] and [`vec3`] apply this encoding to
//! an f64 and to nested vectors of them.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// The word of a non-finite number: `"inf"`, `"-inf"` or `"nan"` (`None` for finite numbers).
pub fn word(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("nan")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// A number as a CSV field: the shortest round-trip form, or inf / -inf / nan.
pub fn csv_number(v: f64) -> String {
    match word(v) {
        Some(w) => w.to_string(),
        None => format!("{v:?}"),
    }
}

/// An f64 serialised with the words of [`word`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match word(self.0) {
            Some(w) => s.serialize_str(w),
            None => s.serialize_f64(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or one of \"inf\", \"-inf\", \"nan\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                match v {
                    "inf" => Ok(Number(f64::INFINITY)),
                    "-inf" => Ok(Number(f64::NEG_INFINITY)),
                    "nan" => Ok(Number(f64::NAN)),
                    other => Err(E::custom(format!(
                        "`{other}` is not a number (non-finite numbers are \"inf\", \"-inf\", \"nan\")"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `serde(with)` for an f64.
pub mod scalar {
    use super::*;
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Number(*v).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Number::deserialize(d).map(|n| n.0)
    }
}

/// `serde(with)` for a `Vec<f64>`.
pub mod vec1 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| Number(x)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<Number>::deserialize(d).map(|v| v.into_iter().map(|n| n.0).collect())
    }
}

/// `serde(with)` for a `Vec<Vec<f64>>`.
pub mod vec2 {
    use super::*;
    struct Row<'a>(&'a [f64]);
    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            vec1::serialize(self.0, s)
        }
    }
    pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|r| Row(r)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Vec::<Vec<Number>>::deserialize(d).map(|v| {
            v.into_iter()
                .map(|r| r.into_iter().map(|n| n.0).collect())
                .collect()
        })
    }
}

/// `serde(with)` for a `Vec<Vec<Vec<f64>>>`.
pub mod vec3 {
    use super::*;
    struct Matrix<'a>(&'a [Vec<f64>]);
    impl Serialize for Matrix<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            vec2::serialize(self.0, s)
        }
    }
    pub fn serialize<S: Serializer>(v: &[Vec<Vec<f64>>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|m| Matrix(m)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<Vec<f64>>>, D::Error> {
        Vec::<Vec<Vec<Number>>>::deserialize(d).map(|v| {
            v.into_iter()
                .map(|m| {
                    m.into_iter()
                        .map(|r| r.into_iter().map(|n| n.0).collect())
                        .collect()
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_words_and_read_back() {
        for (v, text) in [
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
            (1e300, "1e+300"),
            (0.5, "0.5"),
        ] {
            assert_eq!(serde_json::to_string(&Number(v)).unwrap(), text);
            let back: Number = serde_json::from_str(text).unwrap();
            assert_eq!(back.0.to_bits(), v.to_bits());
        }
        assert_eq!(serde_json::to_string(&Number(f64::NAN)).unwrap(), "\"nan\"");
        assert!(
            serde_json::from_str::<Number>("\"nan\"")
                .unwrap()
                .0
                .is_nan()
        );
        assert!(serde_json::from_str::<Number>("\"infinity\"").is_err());
        assert_eq!(csv_number(f64::NEG_INFINITY), "-inf");
        assert_eq!(csv_number(1e-7), "1e-7");
    }
}
