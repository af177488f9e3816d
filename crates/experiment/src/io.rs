//! Reading numeric arrays named by a spec: `.npy` (any float dtype, C or Fortran order, through
//! `npyz`), `.csv` (one row per line, comma-separated, `#` comments) and `.json` (an array of rows).
//! Writing `.npy` (C order, `<f8`, [`npy_bytes`]) serves the outputs ([`crate::export`]) and fixtures.

use crate::error::{Result, file_error};
use std::path::Path;

/// A dense row-major 2-d array of f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Array2 {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Array2 {
    /// The rows as vectors.
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        self.data
            .chunks(self.cols.max(1))
            .map(<[f64]>::to_vec)
            .collect()
    }
}

fn display(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// Reads a 2-d array from `.npy`, `.csv` or `.json` (by extension); `field` names the spec field
/// in error messages.
pub fn read_array2(path: &Path, field: &str) -> Result<Array2> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = display(path);
    let bytes = std::fs::read(path)
        .map_err(|e| file_error(field, format!("cannot read {}: {e}", path.display())))?;
    if bytes.is_empty() {
        return Err(file_error(field, format!("{name} is empty")));
    }
    let array = match ext.as_str() {
        "npy" => read_npy(&bytes, &name, field)?,
        "csv" => read_csv(&bytes, &name, field)?,
        "json" => read_json(&bytes, &name, field)?,
        other => {
            return Err(file_error(
                field,
                format!("{name}: unknown extension `{other}` (expected .npy, .csv or .json)"),
            ));
        }
    };
    if let Some(pos) = array.data.iter().position(|v| !v.is_finite()) {
        return Err(file_error(
            field,
            format!(
                "{name} has a non-finite entry ({}) at row {}, column {}",
                array.data[pos],
                pos / array.cols,
                pos % array.cols
            ),
        ));
    }
    Ok(array)
}

fn read_npy(bytes: &[u8], name: &str, field: &str) -> Result<Array2> {
    let npy = npyz::NpyFile::new(bytes)
        .map_err(|e| file_error(field, format!("{name} is not a valid .npy file: {e}")))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let order = npy.order();
    let (rows, cols) = match shape[..] {
        [r, c] => (r as usize, c as usize),
        _ => {
            return Err(file_error(
                field,
                format!(
                    "{name} has {} dimensions {shape:?}, expected 2",
                    shape.len()
                ),
            ));
        }
    };
    let raw: Vec<f64> = match npy.try_data::<f64>() {
        Ok(reader) => reader.collect::<std::io::Result<Vec<f64>>>(),
        Err(npy) => match npy.try_data::<f32>() {
            Ok(reader) => reader
                .map(|v| v.map(f64::from))
                .collect::<std::io::Result<Vec<f64>>>(),
            Err(npy) => {
                return Err(file_error(
                    field,
                    format!(
                        "{name} has dtype {:?}, expected float64 or float32",
                        npy.dtype()
                    ),
                ));
            }
        },
    }
    .map_err(|e| file_error(field, format!("{name}: cannot read the data: {e}")))?;
    if raw.len() != rows * cols {
        return Err(file_error(
            field,
            format!("{name}: {} entries for shape ({rows}, {cols})", raw.len()),
        ));
    }
    let data = match order {
        npyz::Order::C => raw,
        npyz::Order::Fortran => {
            let mut data = vec![0.0; rows * cols];
            for r in 0..rows {
                for c in 0..cols {
                    data[r * cols + c] = raw[c * rows + r];
                }
            }
            data
        }
    };
    Ok(Array2 { rows, cols, data })
}

fn from_rows(rows: Vec<Vec<f64>>, name: &str, field: &str) -> Result<Array2> {
    let Some(cols) = rows.first().map(Vec::len) else {
        return Err(file_error(field, format!("{name} has no rows")));
    };
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(file_error(
            field,
            format!("{name}: row {i} has {} entries, row 0 has {cols}", r.len()),
        ));
    }
    Ok(Array2 {
        rows: rows.len(),
        cols,
        data: rows.into_iter().flatten().collect(),
    })
}

fn read_csv(bytes: &[u8], name: &str, field: &str) -> Result<Array2> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| file_error(field, format!("{name} is not UTF-8 text")))?;
    let mut rows = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let row = line
            .split(',')
            .map(|s| {
                s.trim().parse::<f64>().map_err(|_| {
                    file_error(
                        field,
                        format!(
                            "{name} line {}: `{}` is not a number",
                            line_no + 1,
                            s.trim()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        rows.push(row);
    }
    from_rows(rows, name, field)
}

fn read_json(bytes: &[u8], name: &str, field: &str) -> Result<Array2> {
    let rows: Vec<Vec<f64>> = serde_json::from_slice(bytes).map_err(|e| {
        file_error(
            field,
            format!("{name} is not a JSON array of rows of numbers: {e}"),
        )
    })?;
    from_rows(rows, name, field)
}

/// A C-order little-endian float64 `.npy` file of an array of `shape` (row-major `data`).
pub fn npy_bytes(shape: &[usize], data: &[f64]) -> std::io::Result<Vec<u8>> {
    use npyz::WriterBuilder;
    if data.len() != shape.iter().product::<usize>() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} entries for shape {shape:?}", data.len()),
        ));
    }
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut bytes = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut bytes)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    Ok(bytes)
}

/// Writes a `rows x cols` row-major array as a C-order little-endian float64 `.npy` file
/// (atomically, through `attnflow_dynamics::output::write_atomic`).
pub fn write_npy(path: &Path, rows: usize, cols: usize, data: &[f64]) -> std::io::Result<()> {
    attnflow_dynamics::output::write_atomic(path, &npy_bytes(&[rows, cols], data)?)
}
