//! [`Spec::resolve`]: every default filled in, files loaded, every sweep point validated, and the
//! concrete plan of each point ([`Point`]) that [`crate::run()`](fn@crate::run) executes.

use crate::error::{ExperimentError, Result, invalid};
use crate::io::{Array2, read_array2};
use crate::spec::*;
use attnflow_dynamics::ensemble::MAX_STEPS;
use attnflow_dynamics::observables::{checkpoint_steps_from, linspace};
use attnflow_dynamics::sampling::{Pcg64, ginibre, goe, wishart};
use attnflow_dynamics::validate::{self, Domain};
use attnflow_dynamics::{
    DynamicsError, IntegratorKind, MatrixEnsemble, ModelKind, PairWeights, Representation,
    SquareMatrix,
};
use std::collections::BTreeMap;

/// Norm defect beyond which given points are renormalised (with a warning).
pub const RENORMALISE_TOLERANCE: f64 = 1e-12;

/// The parameters a sweep can vary.
pub const SWEEPABLE: [&str; 12] = [
    "beta", "n", "d", "seed", "dt", "t-max", "rho", "k", "spread", "delta", "rtol", "atol",
];

/// A spec with every default filled in, its files loaded and every sweep point checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSpec {
    spec: Spec,
    warnings: Vec<String>,
    points: Vec<Point>,
}

/// A weight matrix of one head, ready to use.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixPlan {
    Identity,
    Fixed(SquareMatrix),
    Random { law: RandomLaw, scale: f64 },
}

/// One head: Q, K, V.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPlan {
    pub q: MatrixPlan,
    pub k: MatrixPlan,
    pub v: MatrixPlan,
}

/// The weights: explicit heads or a Figure 5 ensemble.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsPlan {
    Heads(Vec<HeadPlan>),
    Ensemble(MatrixEnsemble),
}

/// The initial condition of a point.
#[derive(Debug, Clone, PartialEq)]
pub enum InitPlan {
    Uniform,
    Hemisphere,
    Equiangular {
        rho: f64,
    },
    Clusters {
        k: usize,
        spread: f64,
    },
    /// Row-major n x d, already renormalised on the sphere.
    Points(Vec<f64>),
}

/// One observable with its options filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservablePlan {
    pub name: String,
    pub kind: ObservableKind,
    pub delta: f64,
    pub labels: bool,
    pub tol: f64,
}

/// An engine parameter error as a spec error on `prefix` + the parameter's name (e.g.
/// `integrator.rtol`), so the engine's validators serve the specs too.
fn engine_invalid(prefix: &'static str) -> impl Fn(DynamicsError) -> ExperimentError {
    move |e| match e {
        DynamicsError::InvalidParameter { name, reason } => {
            invalid(format!("{prefix}{name}"), reason)
        }
        other => invalid(prefix.trim_end_matches('.'), other.to_string()),
    }
}

/// Everything one sweep point needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Index of the point in the sweep (0 without a sweep).
    pub index: usize,
    /// The swept parameter's value at this point.
    pub value: Option<f64>,
    pub n: usize,
    pub d: usize,
    pub seed: u64,
    pub model: ModelKind,
    pub beta: f64,
    pub weights: WeightsPlan,
    pub causal: bool,
    /// Pair weights w_ij (`field.mask = {weights}` or `{alibi}`), n x n.
    pub pair_weights: Option<PairWeights>,
    pub repulsive: bool,
    pub geometry: GeometrySpec,
    /// How the attention sums are evaluated (`field.summation`, `field.summation-tol`).
    pub summation: attnflow_dynamics::spectral::Summation,
    pub init: InitPlan,
    pub integrator: IntegratorKind,
    pub representation: Representation,
    pub dt: f64,
    pub steps: usize,
    /// Requested checkpoint times and the steps at which they are read.
    pub times: Vec<f64>,
    pub checkpoint_steps: Vec<usize>,
    pub observables: Vec<ObservablePlan>,
    pub realizations: usize,
    pub aggregate: Aggregate,
}

impl Point {
    /// Dimension of the evolved coordinates (n for the reduced representation when d > n).
    pub fn simulated_dim(&self) -> usize {
        match self.representation {
            Representation::Reduced => self.n.min(self.d),
            Representation::Full => self.d,
        }
    }
}

impl ResolvedSpec {
    /// The spec with every default filled in (n and d set, paths made absolute when the spec came
    /// from a file).
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// Things the resolution changed and the user should know (e.g. renormalised points).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// The concrete plan of every sweep point (one without a sweep).
    pub fn points(&self) -> &[Point] {
        &self.points
    }
    pub fn n(&self) -> usize {
        self.spec.n.unwrap_or(DEFAULT_N)
    }
    pub fn d(&self) -> usize {
        self.spec.d.unwrap_or(DEFAULT_D)
    }
    /// TOML of the resolved spec; warnings come first as `#` comments. Reading it back and
    /// resolving gives the same spec (a fixed point).
    pub fn to_toml_string(&self) -> Result<String> {
        let body = toml::to_string_pretty(&self.spec)
            .map_err(|e| invalid("(toml)", format!("cannot write the spec: {e}")))?;
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("# warning: {w}\n"));
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        out.push_str(&body);
        Ok(out)
    }
    /// JSON of the resolved spec (the warnings are in [`Self::warnings`]).
    pub fn to_json_string(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.spec)
            .map_err(|e| invalid("(json)", format!("cannot write the spec: {e}")))
    }
}

/// Files and data loaded once for every point.
#[derive(Default)]
struct Loaded {
    points: Option<Array2>,
    points_name: String,
    /// (head, "q" | "k" | "v") -> matrix from a .npy file.
    npy: BTreeMap<(usize, &'static str), Array2>,
    /// The pair weights of `field.mask = {weights = ...}`, with the file's name.
    mask_weights: Option<(Array2, String)>,
}

fn square_check(field: &str, rows: &[Vec<f64>], d: usize) -> Result<SquareMatrix> {
    let r = rows.len();
    let c = rows.first().map_or(0, Vec::len);
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != c) {
        return Err(invalid(
            field,
            format!("row {i} has {} entries, row 0 has {c}", row.len()),
        ));
    }
    if r != c {
        return Err(invalid(
            field,
            format!("matrix is {r} x {c}, expected square {d} x {d}"),
        ));
    }
    if r != d {
        return Err(invalid(
            field,
            format!("matrix is {r} x {c}, expected {d} x {d} (d = {d})"),
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                format!("{field}[{i}][{j}]"),
                format!("entry is {}", row[j]),
            ));
        }
    }
    SquareMatrix::new(d, rows.concat()).map_err(crate::error::dynamics(field))
}

/// `v` must lie in the engine's parameter domain: else `{field}: must be {domain}, got {v}`.
fn in_domain(field: impl Into<String>, v: f64, domain: Domain) -> Result<f64> {
    if domain.contains(v) {
        Ok(v)
    } else {
        Err(invalid(field, format!("must be {domain}, got {v}")))
    }
}

fn finite(field: &str, v: f64) -> Result<f64> {
    in_domain(field, v, Domain::Finite)
}

fn matrix_plan(
    field: &str,
    source: &MatrixSource,
    d: usize,
    npy: Option<&Array2>,
) -> Result<MatrixPlan> {
    Ok(match source {
        MatrixSource::Identity => MatrixPlan::Identity,
        MatrixSource::Scalar(c) => {
            let c = finite(&format!("{field}.scalar"), *c)?;
            MatrixPlan::Fixed(SquareMatrix::identity(d).scaled(c))
        }
        MatrixSource::Diagonal(v) => {
            let f = format!("{field}.diagonal");
            if v.len() != d {
                return Err(invalid(
                    f,
                    format!("has {} entries, expected d = {d}", v.len()),
                ));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(invalid(format!("{f}[{i}]"), format!("entry is {}", v[i])));
            }
            MatrixPlan::Fixed(SquareMatrix::diagonal(v))
        }
        MatrixSource::Matrix(rows) => MatrixPlan::Fixed(square_check(field, rows, d)?),
        MatrixSource::Npy(path) => {
            let a = npy.ok_or_else(|| invalid(field, "matrix file not loaded"))?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into(),
            );
            if a.rows != a.cols || a.rows != d {
                return Err(invalid(
                    field,
                    format!(
                        "{name} has shape ({}, {}), expected square {d} x {d}",
                        a.rows, a.cols
                    ),
                ));
            }
            MatrixPlan::Fixed(
                SquareMatrix::new(d, a.data.clone()).map_err(crate::error::dynamics(field))?,
            )
        }
        MatrixSource::Random { law, scale } => {
            let scale = finite(&format!("{field}.scale"), *scale)?;
            MatrixPlan::Random { law: *law, scale }
        }
    })
}

impl MatrixPlan {
    /// The matrix, drawing from `rng` when random (`None`: the identity).
    pub fn realise(
        &self,
        d: usize,
        rng: &mut Pcg64,
    ) -> attnflow_dynamics::Result<Option<SquareMatrix>> {
        Ok(match self {
            MatrixPlan::Identity => None,
            MatrixPlan::Fixed(m) => Some(m.clone()),
            MatrixPlan::Random { law, scale } => Some(
                match law {
                    RandomLaw::Ginibre => ginibre(d, rng)?,
                    RandomLaw::Wigner => goe(d, rng)?,
                    RandomLaw::Psd => wishart(d, rng)?,
                }
                .scaled(*scale),
            ),
        })
    }
}

fn integer(field: &str, name: &str, v: f64, min: f64) -> Result<u64> {
    if v.fract() != 0.0 || !(v >= min) || v > 9.007_199_254_740_992e15 {
        return Err(invalid(
            field,
            format!("{name} must be an integer >= {min}, got {v}"),
        ));
    }
    Ok(v as u64)
}

/// The spec of one sweep point: `spec` with `parameter` set to `value`.
fn apply_sweep(spec: &Spec, parameter: &str, value: f64, i: usize) -> Result<Spec> {
    let field = format!("sweep.values[{i}]");
    let mut s = spec.clone();
    match parameter {
        "beta" => s.field.beta = value,
        "n" => s.n = Some(integer(&field, "n", value, 1.0)? as usize),
        "d" => s.d = Some(integer(&field, "d", value, 2.0)? as usize),
        "seed" => s.seed = integer(&field, "seed", value, 0.0)?,
        "dt" => s.time.dt = value,
        "t-max" => s.time.t_max = value,
        "rho" => match &mut s.init {
            InitSpec::Equiangular { rho } => *rho = value,
            _ => {
                return Err(invalid(
                    "sweep.parameter",
                    "rho needs init.kind = \"equiangular\"",
                ));
            }
        },
        "k" | "spread" => match &mut s.init {
            InitSpec::Clusters { k, spread } => {
                if parameter == "k" {
                    *k = integer(&field, "k", value, 1.0)? as usize;
                } else {
                    *spread = value;
                }
            }
            _ => {
                return Err(invalid(
                    "sweep.parameter",
                    format!("{parameter} needs init.kind = \"clusters\""),
                ));
            }
        },
        "delta" => {
            let mut any = false;
            for o in &mut s.observables {
                if o.delta.is_some() {
                    o.delta = Some(value);
                    any = true;
                }
            }
            if !any {
                return Err(invalid(
                    "sweep.parameter",
                    "delta: no observable takes a delta (pair-fraction, cluster-count)",
                ));
            }
        }
        "rtol" | "atol" => {
            if !s.integrator.method.takes_tolerances() {
                return Err(invalid(
                    "sweep.parameter",
                    format!("{parameter} needs integrator.method = \"dp54\" or \"rkmk45\""),
                ));
            }
            if parameter == "rtol" {
                s.integrator.rtol = Some(value);
            } else {
                s.integrator.atol = Some(value);
            }
        }
        other => {
            return Err(invalid(
                "sweep.parameter",
                format!(
                    "unknown parameter `{other}`; sweepable: {}",
                    SWEEPABLE.join(", ")
                ),
            ));
        }
    }
    Ok(s)
}

/// Fills every default of `spec` (in place) except n and d.
fn fill_defaults(spec: &mut Spec) -> Result<()> {
    if spec.field.heads.is_none() && spec.field.matrices.is_none() {
        spec.field.heads = Some(vec![HeadSpec::default()]);
    }
    if spec.field.heads.is_some() && spec.field.matrices.is_some() {
        return Err(invalid(
            "field",
            "give either heads or matrices (a Figure 5 ensemble), not both",
        ));
    }
    if let Some(heads) = &mut spec.field.heads {
        for h in heads {
            for m in [&mut h.q, &mut h.k, &mut h.v] {
                if let MatrixSource::Npy(p) = m {
                    *p = spec.base_dir.as_ref().map_or(p.clone(), |d| d.join(&*p));
                }
            }
        }
    }
    if let InitSpec::Points { path } = &mut spec.init {
        *path = spec
            .base_dir
            .as_ref()
            .map_or(path.clone(), |d| d.join(&*path));
    }
    if let MaskSpec::Weights { npy } = &mut spec.field.mask {
        *npy = spec
            .base_dir
            .as_ref()
            .map_or(npy.clone(), |d| d.join(&*npy));
    }
    match spec.field.summation {
        attnflow_dynamics::spectral::SummationKind::Spectral => {
            spec.field
                .summation_tol
                .get_or_insert(attnflow_dynamics::spectral::DEFAULT_TOL);
        }
        attnflow_dynamics::spectral::SummationKind::Direct => {
            if spec.field.summation_tol.is_some() {
                return Err(invalid(
                    "field.summation-tol",
                    "applies to summation = \"spectral\" only",
                ));
            }
        }
    }
    let method = spec.integrator.method;
    if method.takes_tolerances() {
        spec.integrator.rtol.get_or_insert(DEFAULT_RTOL);
        spec.integrator.atol.get_or_insert(DEFAULT_ATOL);
    } else {
        for (name, v) in [
            ("rtol", spec.integrator.rtol),
            ("atol", spec.integrator.atol),
        ] {
            if v.is_some() {
                return Err(invalid(
                    format!("integrator.{name}"),
                    format!(
                        "only dp54 and rkmk45 take tolerances, the method is {}",
                        method.name()
                    ),
                ));
            }
        }
    }
    for (i, o) in spec.observables.iter_mut().enumerate() {
        let field = |opt: &str| format!("observables[{i}].{opt}");
        let kind = o.kind.name();
        let takes_delta = matches!(
            o.kind,
            ObservableKind::PairFraction | ObservableKind::ClusterCount
        );
        if takes_delta {
            o.delta.get_or_insert(DEFAULT_DELTA);
        } else if o.delta.is_some() {
            return Err(invalid(field("delta"), format!("{kind} takes no delta")));
        }
        if o.kind == ObservableKind::ClusterCount {
            o.labels.get_or_insert(false);
        } else if o.labels.is_some() {
            return Err(invalid(field("labels"), format!("{kind} takes no labels")));
        }
        if o.kind == ObservableKind::AttentionRank {
            o.tol.get_or_insert(DEFAULT_RANK_TOL);
        } else if o.tol.is_some() {
            return Err(invalid(field("tol"), format!("{kind} takes no tol")));
        }
        o.name.get_or_insert_with(|| kind.to_string());
    }
    let mut seen = BTreeMap::new();
    for (i, o) in spec.observables.iter().enumerate() {
        let name = o.name.clone().unwrap_or_default();
        if name.is_empty() || name == "t" || name == "step" {
            return Err(invalid(
                format!("observables[{i}].name"),
                format!("`{name}` is reserved or empty"),
            ));
        }
        if let Some(j) = seen.insert(name.clone(), i) {
            return Err(invalid(
                format!("observables[{i}].name"),
                format!("`{name}` is also the name of observables[{j}]; give each a distinct name"),
            ));
        }
    }
    if spec.observables.is_empty() {
        return Err(invalid("observables", "need at least one observable"));
    }
    let r = spec.ensemble.realizations;
    if r == 0 {
        return Err(invalid(
            "ensemble.realizations",
            "need at least one realisation",
        ));
    }
    spec.ensemble.aggregate.get_or_insert(if r == 1 {
        Aggregate::None
    } else {
        Aggregate::Mean
    });
    if let Some(sw) = &spec.sweep {
        if sw.values.is_some() == sw.linspace.is_some() {
            return Err(invalid(
                "sweep",
                "give exactly one of values = [...] and linspace = {start, stop, count}",
            ));
        }
        if !SWEEPABLE.contains(&sw.parameter.as_str()) {
            return Err(invalid(
                "sweep.parameter",
                format!(
                    "unknown parameter `{}`; sweepable: {}",
                    sw.parameter,
                    SWEEPABLE.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn sweep_values(sw: &SweepSpec) -> Result<Vec<f64>> {
    let values = match (&sw.values, &sw.linspace) {
        (Some(v), _) => v.clone(),
        (None, Some(l)) => {
            finite("sweep.linspace.start", l.start)?;
            finite("sweep.linspace.stop", l.stop)?;
            linspace(l.start, l.stop, l.count)
        }
        (None, None) => vec![],
    };
    if values.is_empty() {
        return Err(invalid("sweep", "no values to sweep over"));
    }
    for (i, &v) in values.iter().enumerate() {
        in_domain(format!("sweep.values[{i}]"), v, Domain::Finite)?;
    }
    Ok(values)
}

impl Spec {
    /// Checks the spec, fills every default, loads its files and plans every sweep point.
    pub fn resolve(&self) -> Result<ResolvedSpec> {
        let mut spec = self.clone();
        fill_defaults(&mut spec)?;
        let mut loaded = Loaded::default();
        let mut warnings = Vec::new();
        if let MaskSpec::Weights { npy } = &spec.field.mask {
            let name = npy
                .file_name()
                .map_or_else(|| npy.display().to_string(), |f| f.to_string_lossy().into());
            loaded.mask_weights = Some((read_array2(npy, "field.mask.weights")?, name));
        }
        // n and d from the given points
        if let InitSpec::Points { path } = &spec.init {
            let a = read_array2(path, "init.path")?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into(),
            );
            for (what, given, found) in [("n", spec.n, a.rows), ("d", spec.d, a.cols)] {
                if let Some(g) = given
                    && g != found
                {
                    return Err(invalid(
                        "init.path",
                        format!("{name} has shape ({}, {}) but {what} = {g}", a.rows, a.cols),
                    ));
                }
            }
            spec.n = Some(a.rows);
            spec.d = Some(a.cols);
            loaded.points_name = name;
            loaded.points = Some(a);
        }
        // matrices from .npy files, and d from the first sized matrix when still unknown
        if let Some(heads) = &spec.field.heads {
            for (h, head) in heads.iter().enumerate() {
                for (which, m) in [("q", &head.q), ("k", &head.k), ("v", &head.v)] {
                    let size = match m {
                        MatrixSource::Npy(p) => {
                            let a = read_array2(p, &format!("field.heads[{h}].{which}.npy"))?;
                            let size = (a.rows == a.cols).then_some(a.rows);
                            loaded.npy.insert((h, which), a);
                            size
                        }
                        MatrixSource::Matrix(rows)
                            if rows.iter().all(|r| r.len() == rows.len()) =>
                        {
                            Some(rows.len())
                        }
                        MatrixSource::Diagonal(v) => Some(v.len()),
                        _ => None,
                    };
                    if spec.d.is_none() {
                        spec.d = size;
                    }
                }
            }
        }
        spec.n.get_or_insert(DEFAULT_N);
        spec.d.get_or_insert(DEFAULT_D);
        // points of the sweep
        let specs: Vec<(Option<f64>, Spec)> = match &spec.sweep {
            None => vec![(None, spec.clone())],
            Some(sw) => {
                let values = sweep_values(sw)?;
                let mut out = Vec::with_capacity(values.len());
                for (i, &v) in values.iter().enumerate() {
                    out.push((Some(v), apply_sweep(&spec, &sw.parameter, v, i)?));
                }
                out
            }
        };
        let mut points = Vec::with_capacity(specs.len());
        for (index, (value, s)) in specs.iter().enumerate() {
            let point = plan_point(s, &loaded, index, *value, &mut warnings).map_err(|e| {
                match (value, &spec.sweep) {
                    // name the sweep value only when the spec without the sweep is fine there
                    (Some(v), Some(sw))
                        if plan_point(&spec, &loaded, index, None, &mut Vec::new()).as_ref()
                            != Err(&e) =>
                    {
                        suffix(e, &format!(" (at sweep {} = {v})", sw.parameter))
                    }
                    _ => e,
                }
            })?;
            points.push(point);
        }
        let total = points
            .len()
            .checked_mul(spec.ensemble.realizations)
            .filter(|&t| u64::try_from(t).is_ok());
        if total.is_none() {
            return Err(invalid(
                "ensemble.realizations",
                "points x realisations overflows the realisation counter",
            ));
        }
        // paths are resolved against it already
        spec.base_dir = None;
        Ok(ResolvedSpec {
            spec,
            warnings,
            points,
        })
    }
}

/// The pair weights of a mask for n particles (`None` for none and causal).
fn pair_weights(mask: &MaskSpec, n: usize, loaded: &Loaded) -> Result<Option<PairWeights>> {
    Ok(match mask {
        MaskSpec::None | MaskSpec::Causal => None,
        MaskSpec::Weights { .. } => {
            let field = "field.mask.weights";
            let (a, name) = loaded
                .mask_weights
                .as_ref()
                .ok_or_else(|| invalid(field, "pair weights not loaded"))?;
            if (a.rows, a.cols) != (n, n) {
                return Err(invalid(
                    field,
                    format!(
                        "{name} has shape ({}, {}), expected n x n = {n} x {n}",
                        a.rows, a.cols
                    ),
                ));
            }
            Some(
                PairWeights::new(n, a.data.clone())
                    .map_err(|e| invalid(field, format!("{name}: {e}")))?,
            )
        }
        MaskSpec::Alibi { slope, causal } => {
            let weights = if *causal {
                PairWeights::causal_alibi(n, *slope)
            } else {
                PairWeights::alibi(n, *slope)
            };
            Some(weights.map_err(|e| invalid("field.mask.alibi.slope", e.to_string()))?)
        }
    })
}

fn suffix(e: ExperimentError, s: &str) -> ExperimentError {
    match e {
        ExperimentError::Invalid { field, message } => ExperimentError::Invalid {
            field,
            message: message + s,
        },
        ExperimentError::File { field, message } => ExperimentError::File {
            field,
            message: message + s,
        },
        other => other,
    }
}

fn plan_point(
    s: &Spec,
    loaded: &Loaded,
    index: usize,
    value: Option<f64>,
    warnings: &mut Vec<String>,
) -> Result<Point> {
    let (n, d) = (s.n.unwrap_or(DEFAULT_N), s.d.unwrap_or(DEFAULT_D));
    validate::check_dimensions(n, d).map_err(engine_invalid(""))?;
    validate::check_sizes(n, d).map_err(crate::error::dynamics("n, d"))?;
    let f = &s.field;
    in_domain("field.beta", f.beta, Domain::NonNegative)?;
    let sphere = f.geometry == GeometrySpec::Sphere;
    // weights
    let weights = match (&f.heads, f.matrices) {
        (_, Some(e)) => {
            if f.repulsive && e != MatrixEnsemble::Identity {
                return Err(invalid(
                    "field.repulsive",
                    "V = -I conflicts with the value matrices of a Figure 5 ensemble",
                ));
            }
            WeightsPlan::Ensemble(e)
        }
        (Some(heads), None) => {
            if heads.is_empty() {
                return Err(invalid("field.heads", "need at least one head"));
            }
            let mut plans = Vec::with_capacity(heads.len());
            for (h, head) in heads.iter().enumerate() {
                let m = |which: &'static str, src: &MatrixSource| {
                    matrix_plan(
                        &format!("field.heads[{h}].{which}"),
                        src,
                        d,
                        loaded.npy.get(&(h, which)),
                    )
                };
                let plan = HeadPlan {
                    q: m("q", &head.q)?,
                    k: m("k", &head.k)?,
                    v: m("v", &head.v)?,
                };
                if f.repulsive && plan.v != MatrixPlan::Identity {
                    return Err(invalid(
                        format!("field.heads[{h}].v"),
                        "repulsive = true sets V = -I; leave v at identity",
                    ));
                }
                plans.push(plan);
            }
            WeightsPlan::Heads(plans)
        }
        (None, None) => WeightsPlan::Heads(vec![HeadPlan {
            q: MatrixPlan::Identity,
            k: MatrixPlan::Identity,
            v: MatrixPlan::Identity,
        }]),
    };
    let identity_weights = match &weights {
        WeightsPlan::Ensemble(e) => *e == MatrixEnsemble::Identity,
        WeightsPlan::Heads(h) => {
            h.len() == 1
                && h[0].q == MatrixPlan::Identity
                && h[0].k == MatrixPlan::Identity
                && h[0].v == MatrixPlan::Identity
        }
    } && !f.repulsive;
    let summation = f.summation.with_tol(f.summation_tol);
    if let attnflow_dynamics::spectral::Summation::Spectral { tol } = summation {
        attnflow_dynamics::spectral::check_tol(tol).map_err(|e| match e {
            DynamicsError::InvalidParameter { reason, .. } => {
                invalid("field.summation-tol", reason)
            }
            other => invalid("field.summation-tol", other.to_string()),
        })?;
        let why = if !(d == 2 || d == 3) {
            Some(format!(
                "d = {d}; the series are implemented on S^1 and S^2 (d = 2, 3)"
            ))
        } else if !identity_weights {
            Some("it needs one head with Q = K = V = I, not repulsive".into())
        } else if f.mask != MaskSpec::None {
            Some("it needs mask = \"none\"".into())
        } else if !sphere {
            Some("it needs geometry = \"sphere\"".into())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(invalid(
                "field.summation",
                format!("spectral summation is unavailable: {why}; use summation = \"direct\""),
            ));
        }
    }
    if !sphere {
        let one_head = matches!(&weights, WeightsPlan::Heads(h) if h.len() == 1)
            || matches!(weights, WeightsPlan::Ensemble(_));
        if f.model != ModelKind::Sa || !one_head {
            return Err(invalid(
                "field.geometry",
                "euclidean (pure attention, [GLPR] (9.1)) is available for one softmax (sa) head",
            ));
        }
    }
    // initial condition
    let init = match &s.init {
        InitSpec::Uniform {} => InitPlan::Uniform,
        InitSpec::Hemisphere {} => InitPlan::Hemisphere,
        InitSpec::Equiangular { rho } => {
            let rho = *rho;
            let lower = if n > 1 { -1.0 / (n as f64 - 1.0) } else { -1.0 };
            if !(rho >= lower && rho < 1.0) {
                return Err(invalid(
                    "init.rho",
                    format!("{rho} is outside [-1/(n-1), 1) = [{lower}, 1) for n = {n}"),
                ));
            }
            if d < n {
                return Err(invalid(
                    "init.rho",
                    format!("an equiangular start of n = {n} points needs d >= n, got d = {d}"),
                ));
            }
            InitPlan::Equiangular { rho }
        }
        InitSpec::Clusters { k, spread } => {
            if *k == 0 || *k > n {
                return Err(invalid(
                    "init.k",
                    format!("need 1 <= k <= n = {n}, got {k}"),
                ));
            }
            in_domain("init.spread", *spread, Domain::NonNegative)?;
            InitPlan::Clusters {
                k: *k,
                spread: *spread,
            }
        }
        InitSpec::Points { .. } => {
            let a = loaded
                .points
                .as_ref()
                .ok_or_else(|| invalid("init.path", "points not loaded"))?;
            if (a.rows, a.cols) != (n, d) {
                return Err(invalid(
                    "init.path",
                    format!(
                        "{} has shape ({}, {}) but n = {n}, d = {d}",
                        loaded.points_name, a.rows, a.cols
                    ),
                ));
            }
            let mut data = a.data.clone();
            if sphere {
                let mut worst: (f64, usize) = (0.0, 0);
                let mut count = 0;
                for (i, row) in data.chunks_exact_mut(d).enumerate() {
                    let norm = attnflow_dynamics::config::norm(row);
                    if !(norm > 0.0) {
                        return Err(invalid(
                            "init.path",
                            format!("{}: particle {i} is the zero vector", loaded.points_name),
                        ));
                    }
                    let defect = (norm - 1.0).abs();
                    if defect > RENORMALISE_TOLERANCE {
                        count += 1;
                        if defect > worst.0 {
                            worst = (defect, i);
                        }
                        row.iter_mut().for_each(|v| *v /= norm);
                    }
                }
                if count > 0 && index == 0 {
                    warnings.push(format!(
                        "init.path: renormalised {count} of {n} points of {} onto the sphere (largest norm defect {:e}, particle {})",
                        loaded.points_name, worst.0, worst.1
                    ));
                }
            }
            InitPlan::Points(data)
        }
    };
    // integrator
    let method = s.integrator.method;
    if method.is_lie_group() && !sphere {
        return Err(invalid(
            "integrator.method",
            format!(
                "{} is a Lie-group method for the sphere; geometry = \"euclidean\" ([GLPR] (9.1)) has no rotation-group action: use paper-euler, rk4 or dp54",
                method.name()
            ),
        ));
    }
    if method == Method::EnergyStable {
        // what the spec shows of a gradient flow ([GLPR] section 3); B = Q^T K symmetric and V = B
        // are checked by the engine on the built field
        let heads = match &weights {
            WeightsPlan::Heads(h) => h.len(),
            WeightsPlan::Ensemble(_) => 1,
        };
        let reason = if heads != 1 {
            Some(format!("{heads} heads"))
        } else if f.mask != MaskSpec::None {
            Some("a mask".to_string())
        } else if f.repulsive {
            Some("repulsive (V = -I)".to_string())
        } else if !sphere {
            Some("geometry = \"euclidean\"".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(invalid(
                "integrator.method",
                format!(
                    "{}; this spec has {reason}: use paper-euler, rk4 or dp54",
                    attnflow_dynamics::energy_stable::REQUIREMENT
                ),
            ));
        }
    }
    let rtol = s.integrator.rtol.unwrap_or(DEFAULT_RTOL);
    let atol = s.integrator.atol.unwrap_or(DEFAULT_ATOL);
    let integrator = match method {
        Method::PaperEuler => IntegratorKind::PaperEuler,
        Method::Rk4 => IntegratorKind::Rk4,
        Method::Dp54 => IntegratorKind::Dp54 { rtol, atol },
        Method::LieEuler => IntegratorKind::LieEuler,
        Method::Cg3 => IntegratorKind::Cg3,
        Method::Rkmk4 => IntegratorKind::Rkmk4,
        Method::Cf4 => IntegratorKind::Cf4,
        Method::Rkmk45 => IntegratorKind::Rkmk45 { rtol, atol },
        Method::EnergyStable => IntegratorKind::EnergyStable,
    };
    // the engine's own validation of the tolerances (dp54, rkmk45)
    integrator.build().map_err(engine_invalid("integrator."))?;
    // observables
    let observables: Vec<ObservablePlan> = s
        .observables
        .iter()
        .map(|o| ObservablePlan {
            name: o.name.clone().unwrap_or_else(|| o.kind.name().into()),
            kind: o.kind,
            delta: o.delta.unwrap_or(DEFAULT_DELTA),
            labels: o.labels.unwrap_or(false),
            tol: o.tol.unwrap_or(DEFAULT_RANK_TOL),
        })
        .collect();
    let aggregate = s.ensemble.aggregate.unwrap_or(Aggregate::None);
    for (i, o) in observables.iter().enumerate() {
        let field = format!("observables[{i}]");
        if matches!(
            o.kind,
            ObservableKind::PairFraction | ObservableKind::ClusterCount
        ) {
            in_domain(
                format!("{field}.delta"),
                o.delta,
                attnflow_dynamics::validate::DELTA,
            )?;
        }
        if o.kind == ObservableKind::AttentionRank {
            in_domain(format!("{field}.tol"), o.tol, Domain::Open(0.0, 1.0))?;
        }
        if o.kind == ObservableKind::Energy && !(f.beta > 0.0) {
            return Err(invalid(
                field.clone(),
                format!(
                    "energy needs beta > 0 (E_beta of [GLPR] (3.5)), got beta = {}",
                    f.beta
                ),
            ));
        }
        let whole = matches!(
            o.kind,
            ObservableKind::Positions | ObservableKind::AttentionMatrix
        ) || (o.kind == ObservableKind::ClusterCount && o.labels);
        if whole && aggregate == Aggregate::Mean {
            return Err(invalid(
                field,
                format!(
                    "{} cannot be averaged over realisations; set ensemble.aggregate = \"none\"",
                    if o.kind == ObservableKind::ClusterCount {
                        "cluster labels"
                    } else {
                        o.kind.name()
                    }
                ),
            ));
        }
    }
    let wants_positions = observables
        .iter()
        .any(|o| o.kind == ObservableKind::Positions);
    // representation
    let eligible =
        identity_weights && sphere && matches!(init, InitPlan::Uniform) && summation.is_direct();
    let representation = match s.integrator.representation {
        RepresentationSpec::Auto => {
            if eligible && d > n && !wants_positions {
                Representation::Reduced
            } else {
                Representation::Full
            }
        }
        RepresentationSpec::Full => Representation::Full,
        RepresentationSpec::Reduced => {
            if !eligible {
                return Err(invalid(
                    "integrator.representation",
                    "reduced needs one head with Q = K = V = I, not repulsive, on the sphere, from a uniform start",
                ));
            }
            if wants_positions && d > n {
                return Err(invalid(
                    "integrator.representation",
                    "reduced coordinates are not positions in R^d; use full (or auto) with the positions observable",
                ));
            }
            Representation::Reduced
        }
    };
    // time grid
    let t = &s.time;
    in_domain("time.dt", t.dt, Domain::Positive)?;
    if !(t.t_max.is_finite() && t.t_max >= t.dt) {
        return Err(invalid(
            "time.t-max",
            format!("must be finite and >= dt = {}, got {}", t.dt, t.t_max),
        ));
    }
    let ratio = t.t_max / t.dt;
    if !(ratio <= MAX_STEPS as f64) {
        return Err(invalid(
            "time.dt",
            format!(
                "t-max = {} needs {ratio:e} steps, more than the limit {MAX_STEPS:e}",
                t.t_max
            ),
        ));
    }
    let steps = ((ratio - 1e-9).ceil() as usize).max(1);
    let times = match &t.checkpoints {
        Checkpoints::Count(0) => {
            return Err(invalid("time.checkpoints", "need at least one checkpoint"));
        }
        Checkpoints::Count(c) => linspace(0.0, t.t_max, *c),
        Checkpoints::Times(times) => {
            if times.is_empty() {
                return Err(invalid("time.checkpoints", "need at least one checkpoint"));
            }
            for (i, &tc) in times.iter().enumerate() {
                let field = format!("time.checkpoints[{i}]");
                in_domain(field.as_str(), tc, Domain::NonNegative)?;
                if tc > t.t_max {
                    return Err(invalid(
                        field,
                        format!("{tc} is beyond t-max = {}", t.t_max),
                    ));
                }
                if i > 0 && tc < times[i - 1] {
                    return Err(invalid(
                        field,
                        format!("{tc} is before the previous checkpoint {}", times[i - 1]),
                    ));
                }
            }
            times.clone()
        }
    };
    let first = match t.checkpoint_rule {
        CheckpointRule::Paper => 1,
        CheckpointRule::Exact => 0,
    };
    let checkpoint_steps = checkpoint_steps_from(&times, t.dt, first, steps)
        .map_err(crate::error::dynamics("time.checkpoints"))?;
    let point = Point {
        index,
        value,
        n,
        d,
        seed: s.seed,
        model: f.model,
        beta: f.beta,
        weights,
        causal: f.mask == MaskSpec::Causal,
        pair_weights: pair_weights(&f.mask, n, loaded)?,
        repulsive: f.repulsive,
        geometry: f.geometry,
        summation,
        init,
        integrator,
        representation,
        dt: t.dt,
        steps,
        times,
        checkpoint_steps,
        observables,
        realizations: s.ensemble.realizations,
        aggregate,
    };
    // the engine accepts the field (matrices drawn from a throwaway stream when random)
    point
        .build_model_with(None)
        .map_err(crate::error::dynamics("field"))?;
    Ok(point)
}
