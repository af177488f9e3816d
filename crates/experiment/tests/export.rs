//! Output files: JSON encodes non-finite numbers as words and reads back; CSV has one column per
//! number; the `.npz` / `.npy` arrays hold the JSON numbers with the documented shapes.

mod common;
use attnflow_experiment::export::{Format, arrays, to_csv};
use attnflow_experiment::{Observed, Output, encode};
use std::io::Read;

fn positions_and_energy() -> Output {
    // SA energies overflow at beta = 800 ((1/(2 beta n^2)) sum e^{800 <x_i, x_j>})
    common::run_quiet(&common::resolve(
        "n = 4\nd = 3\nseed = 3\nobservables = [\"positions\", \"energy\", {kind = \"cluster-count\", labels = true}]\n[field]\nbeta = 800.0\n[time]\nt-max = 0.3\ncheckpoints = 4\ncheckpoint-rule = \"exact\"\n[ensemble]\nrealizations = 2\naggregate = \"none\"",
    ))
}

#[test]
fn json_writes_non_finite_numbers_as_words_and_reads_them_back() {
    let out = positions_and_energy();
    let text = String::from_utf8(encode(&out, Format::Json).unwrap()).unwrap();
    assert!(text.contains("\"energy\":\"inf\""), "{text}");
    assert!(!text.contains("null"), "{text}");
    let back: Output = serde_json::from_str(&text).unwrap();
    let energy = &back.points[0].runs.as_ref().unwrap()[0].checkpoints[0].values["energy"];
    assert_eq!(energy, &Observed::Number(f64::INFINITY));
    // a mean of infinities is "inf" too
    let mean = common::run_quiet(&common::resolve(
        "n = 4\nd = 3\nobservables = [\"energy\"]\n[field]\nbeta = 800.0\n[time]\nt-max = 0.2\ncheckpoints = 2\n[ensemble]\nrealizations = 3",
    ));
    let text = String::from_utf8(encode(&mean, Format::Json).unwrap()).unwrap();
    assert!(text.contains("\"mean\":\"inf\""), "{text}");
}

#[test]
fn npz_arrays_hold_the_json_numbers() {
    let out = positions_and_energy();
    let arrays = arrays(&out).unwrap();
    let get = |name: &str| arrays.iter().find(|a| a.name == name).unwrap();
    // two realisations, four checkpoints, n x d positions
    assert_eq!(get("positions").shape, vec![2, 4, 4, 3]);
    assert_eq!(get("energy").shape, vec![2, 4]);
    assert_eq!(get("cluster-count.labels").shape, vec![2, 4, 4]);
    let times: Vec<f64> = out.points[0].runs.as_ref().unwrap()[0]
        .checkpoints
        .iter()
        .map(|c| c.t)
        .collect();
    assert_eq!(get("t").data, times);
    let runs = out.points[0].runs.as_ref().unwrap();
    let mut expected = Vec::new();
    for run in runs {
        for c in &run.checkpoints {
            match &c.values["positions"] {
                Observed::Rows(rows) => expected.extend(rows.concat()),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(get("positions").data, expected);
    // the archive: one .npy entry per array, stored, read back by npyz
    let bytes = encode(&out, Format::Npz).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(zip.len(), arrays.len());
    for a in &arrays {
        let mut entry = zip.by_name(&format!("{}.npy", a.name)).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        let mut npy = Vec::new();
        entry.read_to_end(&mut npy).unwrap();
        let file = npyz::NpyFile::new(&npy[..]).unwrap();
        let shape: Vec<usize> = file.shape().iter().map(|&s| s as usize).collect();
        assert_eq!(shape, a.shape, "{}", a.name);
        let data: Vec<f64> = file.into_vec().unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&data), bits(&a.data), "{}", a.name);
    }
    // the same output gives the same bytes (fixed time stamps)
    assert_eq!(encode(&out, Format::Npz).unwrap(), bytes);
    // .npy: one observable array only
    let e = encode(&out, Format::Npy).unwrap_err().to_string();
    assert!(
        e.starts_with("out: a .npy file holds one array, this run gives 4"),
        "{e}"
    );
}

#[test]
fn npy_of_one_trajectory_is_checkpoints_by_n_by_d() {
    let out = common::run_quiet(&common::resolve(
        "n = 5\nd = 2\nobservables = [\"positions\"]\n[time]\nt-max = 1.0\ncheckpoints = 3",
    ));
    let bytes = encode(&out, Format::Npy).unwrap();
    let file = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(file.shape(), &[3, 5, 2]);
    let data: Vec<f64> = file.into_vec().unwrap();
    let last = match &out.points[0].runs.as_ref().unwrap()[0].checkpoints[2].values["positions"] {
        Observed::Rows(rows) => rows.concat(),
        other => panic!("{other:?}"),
    };
    assert_eq!(&data[20..], &last[..]);
}

#[test]
fn csv_has_a_column_per_number_and_a_row_per_checkpoint() {
    let out = positions_and_energy();
    let csv = to_csv(&out);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..5],
        &["point", "realization", "t", "step", "positions[0][0]"]
    );
    assert!(header.contains(&"positions[3][2]") && header.contains(&"cluster-count.labels[3]"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 4);
    let energy = header.iter().position(|h| *h == "energy").unwrap();
    assert_eq!(rows[0][energy], "inf");
    let count = header.iter().position(|h| *h == "cluster-count").unwrap();
    assert!(rows[0][count].parse::<u64>().is_ok(), "{}", rows[0][count]);
    // a sweep adds the parameter, a mean its standard error
    let out = common::run_quiet(&common::resolve(
        "n = 4\nd = 3\n[time]\nt-max = 0.5\ncheckpoints = 2\n[ensemble]\nrealizations = 3\n[sweep]\nparameter = \"beta\"\nvalues = [1.0, 2.0]",
    ));
    let csv = to_csv(&out);
    assert!(
        csv.starts_with("point,beta,t,step,pair-fraction,pair-fraction.stderr\n0,1.0,0.0,1,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 2 * 2);
    assert!(Format::of_path("x.txt".as_ref()).is_err());
    assert_eq!(Format::of_path("x.NPZ".as_ref()).unwrap(), Format::Npz);
}
