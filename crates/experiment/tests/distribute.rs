//! Shards and their merge (`attnflow_experiment::distribute`): the parts 0/N .. N-1/N of a run or a
//! phase diagram, written to shard bytes, read back and merged in any order, give the bytes of the
//! single-process run (JSON, CSV and NPZ for runs; every number of the phase diagram) for
//! N = 1, 2, 3, 5, with aggregated (integer counts and floating-point Welford statistics) and
//! per-realisation outputs; missing, repeated, foreign and altered shards are refused.

mod common;
use attnflow_experiment::distribute::{Merged, merge};
use attnflow_experiment::{Format, Part, ResolvedSpec, Shard, ShardKind, encode};
use common::{resolve, run_quiet};

/// A sweep of two points, 37 realisations (three blocks, the last one partial), integer
/// observables and real ones (energy, mean cosine, effective rank: Welford merges).
const MEAN: &str = "n = 6\nd = 3\nseed = 5\nobservables = [\"pair-fraction\", \"cluster-count\", \"energy\", \"mean-cosine\", {kind = \"attention-rank\", tol = 1e-8}]\n[field]\nbeta = 2.0\n[time]\ndt = 0.1\nt-max = 2.0\ncheckpoints = 3\n[ensemble]\nrealizations = 37\n[sweep]\nparameter = \"beta\"\nvalues = [0.5, 3.0]\n";

/// Every realisation kept, with positions and clusters with labels.
const NONE: &str = "n = 5\nd = 3\nseed = 8\nobservables = [\"positions\", {kind = \"cluster-count\", labels = true}, \"energy\"]\n[time]\ndt = 0.1\nt-max = 1.0\ncheckpoints = 3\n[ensemble]\nrealizations = 20\naggregate = \"none\"\n";

/// A phase diagram (paper checkpoint rule, pair fraction averaged over realisations).
const PHASE: &str = "n = 8\nd = 3\nseed = 2\nobservables = [{kind = \"pair-fraction\", delta = 1e-3}]\n[time]\ndt = 0.1\nt-max = 8.0\ncheckpoints = 5\ncheckpoint-rule = \"paper\"\n[ensemble]\nrealizations = 40\naggregate = \"mean\"\n[sweep]\nparameter = \"beta\"\nlinspace = {start = 0.5, stop = 6.0, count = 3}\n";

/// The shards of parts 0/N .. N-1/N, written to bytes and read back, in the order `order`.
fn shards(
    spec: &ResolvedSpec,
    kind: ShardKind,
    count: usize,
    order: &[usize],
) -> Vec<(String, Shard)> {
    order
        .iter()
        .map(|&i| {
            let part = Part::new(i, count).unwrap();
            let shard = match kind {
                ShardKind::Run => Shard::run(spec, part, &|_, _| {}),
                ShardKind::PhaseDiagram => Shard::phase_diagram(spec, part, &|_, _| {}),
            }
            .unwrap();
            let bytes = shard.to_bytes().unwrap();
            // the same part gives the same bytes
            let again = match kind {
                ShardKind::Run => Shard::run(spec, part, &|_, _| {}),
                ShardKind::PhaseDiagram => Shard::phase_diagram(spec, part, &|_, _| {}),
            }
            .unwrap();
            assert_eq!(again.to_bytes().unwrap(), bytes);
            let name = format!("s{i}.json");
            (name.clone(), Shard::from_bytes(&bytes, &name).unwrap())
        })
        .collect()
}

fn merged_run(m: Merged) -> attnflow_experiment::Output {
    match m {
        Merged::Run(o) => o,
        Merged::PhaseDiagram { .. } => panic!("a run was expected"),
    }
}

#[test]
fn merged_runs_have_the_bytes_of_the_single_process_run() {
    for (text, formats) in [
        (MEAN, &[Format::Json, Format::Csv, Format::Npz][..]),
        (NONE, &[Format::Json, Format::Csv, Format::Npz][..]),
    ] {
        let spec = resolve(text);
        let single = run_quiet(&spec);
        for (count, order) in [
            (1, vec![0]),
            (2, vec![1, 0]),
            (3, vec![2, 0, 1]),
            (5, vec![0, 1, 2, 3, 4]),
        ] {
            let parts = shards(&spec, ShardKind::Run, count, &order);
            let total: u64 = parts.iter().map(|(_, s)| s.realizations()).sum();
            let r = spec.spec().ensemble.realizations;
            assert_eq!(total, (spec.points().len() * r) as u64);
            let merged = merged_run(merge(parts).unwrap());
            for &format in formats {
                assert!(
                    encode(&merged, format).unwrap() == encode(&single, format).unwrap(),
                    "{count} shards, {format:?}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn merged_phase_diagrams_have_the_bits_of_the_single_process_run() {
    let spec = resolve(PHASE);
    let mut single = attnflow_experiment::phase_diagram(&spec, &|_, _| {}).unwrap();
    single.runtime_s = 0.0;
    let json = |d: &attnflow_dynamics::PhaseDiagram| serde_json::to_vec(d).unwrap();
    // something clusters, so the comparison is not between zeros
    assert!(single.probability.iter().flatten().any(|&p| p > 0.1));
    for (count, order) in [(1, vec![0]), (2, vec![1, 0]), (3, vec![1, 2, 0])] {
        let Merged::PhaseDiagram {
            spec: merged_spec,
            diagram,
        } = merge(shards(&spec, ShardKind::PhaseDiagram, count, &order)).unwrap()
        else {
            panic!("a phase diagram was expected");
        };
        assert_eq!(json(&diagram), json(&single), "{count} shards");
        assert_eq!(merged_spec.spec(), spec.spec());
    }
}

#[test]
fn missing_repeated_and_foreign_shards_are_refused() {
    let spec = resolve(MEAN);
    let three = shards(&spec, ShardKind::Run, 3, &[0, 1, 2]);
    let err = |parts: Vec<(String, Shard)>| match merge(parts) {
        Ok(_) => panic!("merge should fail"),
        Err(e) => e.to_string(),
    };
    let mut missing = shards(&spec, ShardKind::Run, 3, &[0, 2]);
    assert_eq!(
        err(std::mem::take(&mut missing)),
        "shards: missing shard 1/3 (given 2 of 3)"
    );
    let twice = shards(&spec, ShardKind::Run, 3, &[0, 1, 1, 2]);
    assert_eq!(
        err(twice),
        "shards: shard 1/3 is given twice: s1.json and s1.json"
    );
    let mut mixed = shards(&spec, ShardKind::Run, 2, &[0]);
    mixed.extend(three.into_iter().skip(1));
    assert!(err(mixed).contains("all shards must come from --shard i/N with one N"));
    let other = resolve(&MEAN.replace("seed = 5", "seed = 6"));
    let mut foreign = shards(&spec, ShardKind::Run, 2, &[0]);
    foreign.extend(shards(&other, ShardKind::Run, 2, &[1]));
    assert!(err(foreign).contains("come from different specs (fnv1a64:"));
    let phase = resolve(PHASE);
    let mut kinds = shards(&phase, ShardKind::PhaseDiagram, 2, &[0]);
    kinds.extend(shards(&phase, ShardKind::Run, 2, &[1]));
    assert!(err(kinds).contains("is a phase-diagram shard, s1.json a run shard"));

    // altered files and other JSON are refused when read
    let bytes = Shard::run(&spec, Part::new(0, 2).unwrap(), &|_, _| {})
        .unwrap()
        .to_bytes()
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let read = |t: &str| {
        Shard::from_bytes(t.as_bytes(), "x.json")
            .err()
            .unwrap()
            .to_string()
    };
    assert!(read(&text.replace("seed = 5", "seed = 7")).contains("spec hash does not match"));
    let changed = text.replacen("\"s1\":", "\"s1\":1", 1);
    assert_ne!(changed, text);
    assert!(read(&changed).contains("checksum does not match"));
    assert!(read("{\"n\": 4}").starts_with("x.json: not an attnflow shard file"));
    assert!(read("not json").starts_with("x.json: not an attnflow shard file (not JSON"));
    assert!(
        read(&text.replace("\"format-version\":1", "\"format-version\":9"))
            .contains("shard format version 9")
    );
}
