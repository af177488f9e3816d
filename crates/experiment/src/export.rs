//! Output files of a run ([`Output`]), the format chosen by the file's extension ([`Format::of_path`]):
//!
//! - `.json`: the [`Output`] as serialised (the resolved spec, warnings, per sweep point the records);
//!   non-finite numbers as `"inf"`, `"-inf"`, `"nan"` ([`crate::number`]).
//! - `.csv`: one row per checkpoint of each realisation (or of the mean): columns `point`, the swept
//!   parameter (with a sweep), `realization` (without aggregation), `t`, `step`, then one column per
//!   number: `NAME` for a scalar, `NAME[i]`, `NAME[i][j]`, ... for arrays (positions `NAME[i][k]`,
//!   attention matrices `NAME[h][i][j]`, ranks `NAME.rank[h]`, cluster labels `NAME.labels[i]`),
//!   `NAME.stderr` next to each mean. A column a point does not have is empty.
//! - `.npz`: one float64 array per observable and sweep point, C order: `t` and `step` (m,), then
//!   `NAME` with shape (R, m, ...) for R > 1 realisations and (m, ...) for one (positions: n x d per
//!   checkpoint, attention matrices H x n x n, per-head values H), or `NAME` and `NAME.stderr` (m, ...)
//!   for means. With more than one sweep point the names are `point{b}/NAME` and the swept values are
//!   the array named after the parameter. Counts are exact in float64 (below 2^53). Entries are
//!   stored uncompressed with a fixed time stamp (as `numpy.savez` writes them; the same run gives
//!   the same bytes).
//! - `.npy`: the one array of the `.npz` layout other than `t`, `step` and the sweep values; a run
//!   with more than one such array is refused (use `.npz`).

use crate::error::{Result, invalid};
use crate::io::npy_bytes;
use crate::number::csv_number;
use crate::observe::Observed;
use crate::run::{Output, Summary};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Npy,
    Npz,
}

impl Format {
    /// The format of an output path by its extension (`.json`, `.csv`, `.npy`, `.npz`).
    pub fn of_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "json" => Format::Json,
            "csv" => Format::Csv,
            "npy" => Format::Npy,
            "npz" => Format::Npz,
            _ => {
                return Err(invalid(
                    "out",
                    format!("{} must end in .json, .csv, .npy or .npz", path.display()),
                ));
            }
        })
    }
}

/// A named float64 array (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// One quantity of one record: its key and its values with their shape (empty for a scalar).
struct Field {
    key: String,
    shape: Vec<usize>,
    data: Vec<f64>,
    /// Counts, labels and ranks: written as integers in CSV.
    integer: bool,
}

fn field(key: String, shape: Vec<usize>, data: Vec<f64>) -> Field {
    Field {
        key,
        shape,
        data,
        integer: false,
    }
}

fn integers(key: String, shape: Vec<usize>, data: Vec<f64>) -> Field {
    Field {
        integer: true,
        ..field(key, shape, data)
    }
}

fn fields_of_observed(name: &str, value: &Observed, out: &mut Vec<Field>) {
    match value {
        Observed::Number(v) => out.push(field(name.into(), vec![], vec![*v])),
        Observed::Count(c) => out.push(integers(name.into(), vec![], vec![*c as f64])),
        Observed::Clusters { count, labels } => {
            out.push(integers(name.into(), vec![], vec![*count as f64]));
            out.push(integers(
                format!("{name}.labels"),
                vec![labels.len()],
                labels.iter().map(|&l| l as f64).collect(),
            ));
        }
        Observed::Rank {
            rank,
            effective_rank,
        } => {
            out.push(integers(
                format!("{name}.rank"),
                vec![rank.len()],
                rank.iter().map(|&r| r as f64).collect(),
            ));
            out.push(field(
                format!("{name}.effective-rank"),
                vec![effective_rank.len()],
                effective_rank.clone(),
            ));
        }
        Observed::Rows(rows) => out.push(field(
            name.into(),
            vec![rows.len(), rows.first().map_or(0, Vec::len)],
            rows.concat(),
        )),
        Observed::Heads(heads) => out.push(field(
            name.into(),
            vec![
                heads.len(),
                heads.first().map_or(0, Vec::len),
                heads.first().and_then(|h| h.first()).map_or(0, Vec::len),
            ],
            heads.iter().flat_map(|h| h.concat()).collect(),
        )),
    }
}

fn fields_of_summary(key: &str, summary: &Summary, out: &mut Vec<Field>) {
    match summary {
        Summary::Scalar { mean, stderr } => {
            out.push(field(key.into(), vec![], vec![*mean]));
            out.push(field(format!("{key}.stderr"), vec![], vec![*stderr]));
        }
        Summary::PerHead { mean, stderr } => {
            out.push(field(key.into(), vec![mean.len()], mean.clone()));
            out.push(field(
                format!("{key}.stderr"),
                vec![stderr.len()],
                stderr.clone(),
            ));
        }
    }
}

/// One checkpoint of one realisation (`realization` is `None` for a mean).
struct Record {
    point: usize,
    realization: Option<usize>,
    t: f64,
    step: usize,
    fields: Vec<Field>,
}

/// Every record of `output`: sweep points, then realisations, then checkpoints; the quantities in
/// the order of the spec's observables.
fn records(output: &Output) -> Vec<Record> {
    let names: Vec<String> = output
        .spec
        .observables
        .iter()
        .map(|o| o.name.clone().unwrap_or_else(|| o.kind.name().into()))
        .collect();
    let mut out = Vec::new();
    for (b, point) in output.points.iter().enumerate() {
        for run in point.runs.iter().flatten() {
            for c in &run.checkpoints {
                let mut fields = Vec::new();
                for name in &names {
                    if let Some(v) = c.values.get(name) {
                        fields_of_observed(name, v, &mut fields);
                    }
                }
                out.push(Record {
                    point: b,
                    realization: Some(run.realization),
                    t: c.t,
                    step: c.step,
                    fields,
                });
            }
        }
        for c in point.mean.iter().flatten() {
            let mut fields = Vec::new();
            for name in &names {
                for (key, s) in &c.values {
                    let derived = key
                        .strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
                    if derived {
                        fields_of_summary(key, s, &mut fields);
                    }
                }
            }
            out.push(Record {
                point: b,
                realization: None,
                t: c.t,
                step: c.step,
                fields,
            });
        }
    }
    out
}

/// Column names of an array field: `key`, `key[i]`, `key[i][j]`, ... in C order.
fn column_names(key: &str, shape: &[usize]) -> Vec<String> {
    let total: usize = shape.iter().product();
    (0..total)
        .map(|mut flat| {
            let mut index = vec![0; shape.len()];
            for (slot, &extent) in index.iter_mut().zip(shape).rev() {
                *slot = flat % extent;
                flat /= extent;
            }
            let mut s = key.to_string();
            for i in index {
                s += &format!("[{i}]");
            }
            s
        })
        .collect()
}

/// The CSV table of `output` (see the module docs).
pub fn to_csv(output: &Output) -> String {
    let records = records(output);
    let parameter = output.spec.sweep.as_ref().map(|s| s.parameter.clone());
    let per_realisation = records.iter().any(|r| r.realization.is_some());
    let mut columns: Vec<String> = vec!["point".into()];
    columns.extend(parameter.clone());
    if per_realisation {
        columns.push("realization".into());
    }
    columns.extend(["t".into(), "step".into()]);
    let fixed = columns.len();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(records.len());
    for r in &records {
        let mut cells: Vec<String> = vec![r.point.to_string()];
        if parameter.is_some() {
            let value = output.points[r.point].value;
            cells.push(value.map_or(String::new(), csv_number));
        }
        if per_realisation {
            cells.push(r.realization.map_or(String::new(), |x| x.to_string()));
        }
        cells.push(csv_number(r.t));
        cells.push(r.step.to_string());
        for f in &r.fields {
            for (name, v) in column_names(&f.key, &f.shape).into_iter().zip(&f.data) {
                let col = *index.entry(name.clone()).or_insert_with(|| {
                    columns.push(name);
                    columns.len() - 1
                });
                if cells.len() <= col {
                    cells.resize(col + 1, String::new());
                }
                cells[col] = if f.integer {
                    format!("{}", *v as u64)
                } else {
                    csv_number(*v)
                };
            }
        }
        debug_assert!(cells.len() >= fixed);
        rows.push(cells);
    }
    let mut text = columns.join(",");
    text.push('\n');
    for mut cells in rows {
        cells.resize(columns.len(), String::new());
        text += &cells.join(",");
        text.push('\n');
    }
    text
}

/// The arrays of the `.npz` layout (see the module docs).
pub fn arrays(output: &Output) -> Result<Vec<Array>> {
    let records = records(output);
    let many = output.points.len() > 1;
    let mut arrays = Vec::new();
    if let (true, Some(sw)) = (many, &output.spec.sweep) {
        arrays.push(Array {
            name: sw.parameter.clone(),
            shape: vec![output.points.len()],
            data: output
                .points
                .iter()
                .map(|p| p.value.unwrap_or(f64::NAN))
                .collect(),
        });
    }
    for (b, point) in output.points.iter().enumerate() {
        let prefix = if many {
            format!("point{b}/")
        } else {
            String::new()
        };
        let of_point: Vec<&Record> = records.iter().filter(|r| r.point == b).collect();
        let realisations = point.runs.as_ref().map_or(1, Vec::len);
        let m = of_point.len() / realisations.max(1);
        let lead: Vec<usize> = if realisations > 1 {
            vec![realisations, m]
        } else {
            vec![m]
        };
        let times = &of_point[..m.min(of_point.len())];
        arrays.push(Array {
            name: format!("{prefix}t"),
            shape: vec![m],
            data: times.iter().map(|r| r.t).collect(),
        });
        arrays.push(Array {
            name: format!("{prefix}step"),
            shape: vec![m],
            data: times.iter().map(|r| r.step as f64).collect(),
        });
        let Some(first) = of_point.first() else {
            continue;
        };
        for (k, f) in first.fields.iter().enumerate() {
            let mut data = Vec::with_capacity(of_point.len() * f.data.len());
            for r in &of_point {
                match r.fields.get(k) {
                    Some(g) if g.key == f.key && g.shape == f.shape => {
                        data.extend_from_slice(&g.data)
                    }
                    _ => {
                        return Err(invalid(
                            format!("points[{b}]"),
                            format!("{} changes shape between records", f.key),
                        ));
                    }
                }
            }
            let mut shape = lead.clone();
            shape.extend_from_slice(&f.shape);
            arrays.push(Array {
                name: format!("{prefix}{}", f.key),
                shape,
                data,
            });
        }
    }
    Ok(arrays)
}

fn encoding(e: impl std::fmt::Display) -> crate::ExperimentError {
    invalid("out", format!("cannot encode the output: {e}"))
}

/// A `.npz` archive of `arrays` (stored entries, fixed time stamp).
pub fn npz_bytes(arrays: &[Array]) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for a in arrays {
        let bytes = npy_bytes(&a.shape, &a.data).map_err(encoding)?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(format!("{}.npy", a.name), options)
            .map_err(encoding)?;
        zip.write_all(&bytes).map_err(encoding)?;
    }
    Ok(zip.finish().map_err(encoding)?.into_inner())
}

/// The bytes of `output` in `format` (see the module docs).
pub fn encode(output: &Output, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Json => serde_json::to_vec(output).map_err(encoding),
        Format::Csv => Ok(to_csv(output).into_bytes()),
        Format::Npz => npz_bytes(&arrays(output)?),
        Format::Npy => {
            let parameter = output.spec.sweep.as_ref().map(|s| s.parameter.as_str());
            let mut data: Vec<Array> = arrays(output)?
                .into_iter()
                .filter(|a| {
                    let base = a.name.rsplit('/').next().unwrap_or("");
                    base != "t" && base != "step" && Some(a.name.as_str()) != parameter
                })
                .collect();
            if data.len() != 1 {
                let names: Vec<&str> = data.iter().map(|a| a.name.as_str()).collect();
                return Err(invalid(
                    "out",
                    format!(
                        "a .npy file holds one array, this run gives {}: {}; write a .npz file",
                        data.len(),
                        names.join(", ")
                    ),
                ));
            }
            let a = data.remove(0);
            npy_bytes(&a.shape, &a.data).map_err(encoding)
        }
    }
}
