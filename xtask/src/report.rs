//! `cargo xtask report`: writes `reports/REPORT.md` from the figure records in `reports/figures/*.json`:
//! per figure the picture, its parameters and fidelity, the quantitative summary computed from its data
//! (see `attnflow_figures::Figure::summary`) and what it is to be compared with in the paper; then the
//! theorem table, the known discrepancies of the papers and where the runtimes are (`<figures>/RUNTIMES.json`).
//! Parts whose records are missing say so; nothing is invented.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use attnflow_figures::output::{read_json, write_atomic};
use attnflow_figures::{ALL_IDS, registry};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Directory of the figure records (default: reports/figures).
    #[arg(long)]
    pub figures: Option<PathBuf>,
    /// Output file (default: reports/REPORT.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What each figure is compared with in the paper (from the specs); the numbers come from the data.
fn paper_comparison(id: &str) -> &'static str {
    match id {
        "glpr-fig1" => {
            "Paper: layer 0 peaked near 0, mass moving right with depth, a spike at 1 in the deepest layers (ALBERT xlarge v2; our model differs, see issue 5)."
        }
        "glpr-fig2" => {
            "Schematic; compare labels and thresholds with [GLPR] Figure 2. The figure quotes beta >= n^2/pi^2 for Thm 5.1, the written proof needs (n-1) tau*_beta < pi/2, about 4(n-1)^2/pi^2: both are reported."
        }
        "glpr-fig3" => {
            "Paper: nothing clusters before t ~ 5; at d = 2 a wide band of intermediate probability for beta >~ 2 up to t = 30; the transition sharpens with d towards Gamma_{inf,delta}. Compare: the empirical 50% boundary beta(t) per d against Gamma_{inf,delta} and its distance shrinking with d."
        }
        "glpr-fig4" => {
            "Paper's draw: 3 clusters at beta = 9 and 2 at beta = 4, frozen between t = 18 and 30. Compare: the distribution of cluster counts at t = 30 over seeds."
        }
        "glpr-fig5" => {
            "Paper: sharp transitions and metastable regions in all four random-matrix ensembles. The authors' code applies V to row vectors (velocity V^T y); until this version panel (c) applied V = B / sqrt(d) as a column map and read 0.40 at beta = 9, t = 30, where the authors' code gives 0.19 and the paper's panel about 0.18 (panels (a), (b), (d) have laws invariant under that transposition). Where each panel's transition lies, against the authors' algorithm, is in the cross-check section below."
        }
        "glpr-fig6" => {
            "Paper: g(tau) for beta = 2 and 6 with tau*_beta marked; tau* from cos tau* = (-1 + sqrt(1 + 4 beta^2)) / (2 beta)."
        }
        "bkkrw-fig1" => {
            "Code: (a) D = I_3, nothing moves; (b) D = diag(1,3,4), all particles end at +-e3."
        }
        "bkkrw-fig2" => {
            "Code: single / two / more clusters vs s for D = diag(s, 1); mean final energies against e^{max(s,1)}."
        }
        "bkkrw-fig3" => {
            "Code: minimisers on S^2: uniform (I); concentrated near +-e2; two antipodal clusters at +-e2; ring {x3 = 0}."
        }
        "bkkrw-fig4" => {
            "Tanh law d1 tanh(d1 a^2) = d2 tanh(d2 b^2); tau = 0.05 unstable for d2 >= 6, tau = 0.0005 stable."
        }
        "bkkrw-fig5" => {
            "Optimal densities for D = diag(1, 1 + eps) against both ansaetze and the Funk-Hecke slope I_1(1) / (2 I_2(1))."
        }
        "bkkrw-fig6" => {
            "Code: (a) D = -I_3: antipodal pairs on random axes; (b) D = diag(-1,-3,-4): all on +-e3."
        }
        "bkkrw-fig7" => {
            "Single cluster at e2 (e^s) overtakes the pair at +-e1 (cosh 1) at s = ln cosh 1."
        }
        _ => "",
    }
}

/// Inconsistencies of the papers that the report must state (spec glpr.md section 3, tfdy.md section 2).
const KNOWN_DISCREPANCIES: [&str; 7] = [
    "[GLPR] v4 (6.7) has e^{2 beta} but (6.8) has e^{beta}.",
    "[GLPR] Thm 5.1 threshold: Figure 2 quotes beta >= n^2/pi^2; the written proof needs (n - 1) tau*_beta < pi/2, about beta >= 4 (n - 1)^2 / pi^2.",
    "[GLPR] Figure 4 caption says t = 2.5 but the first panel is t = 0.",
    "[BKKRW] code: the first-order ansatz constant C1 integrates with sin^{n-1} where the Funk-Hecke formula needs sin^{n-2}.",
    "[BKKRW] Figure 4 with the code's tau = 0.0005 and 10000 steps (t = 5): the d2 = 0.5 run has not converged (a^2 = 0.2164 against the tanh law's 0.1937; about 100000 steps are needed), so bkkrw-fig4's 'max |a^2 - tanh law|' is dominated by it; the authors' stored ratio at d2 = 0.5, tau = 0.0005 reads exactly 0.5 in a format np.savetxt does not write (entered by hand), and their script runs d2 = 0.5 with tau = 0.05 (see CROSSCHECK.md).",
    "[BKKRW] stored Figure 2 result at s = 0.789: the mean final energy 2.713120 equals (99 e + e^s) / 100, i.e. one of their 100 runs ended on the unstable pair at +-e1 and was still counted as one cluster by their k-means counter; none of our runs does (CROSSCHECK.md allows one run's worth there).",
    "[BKKRW] code: cluster counting by k-means with k = 3 and merging centres closer than 0.1 fails on single-cluster states; the project counts connected components of {|<x_i, x_j>| > 1 - delta}.",
];

pub fn report(args: ReportArgs) -> Result<()> {
    let root = workspace_root();
    let fig_dir = args
        .figures
        .unwrap_or_else(|| root.join("reports").join("figures"));
    let out = args
        .out
        .unwrap_or_else(|| root.join("reports").join("REPORT.md"));
    let rel_dir = pathdiff(&fig_dir, out.parent().unwrap_or(&root));
    let reg = registry();
    let mut md = String::new();
    writeln!(md, "# attnflow: reproduction report\n")?;
    writeln!(
        md,
        "Generated by `cargo xtask report` from the records `{}/<id>.json`. Regenerate the figures with `cargo xtask figures` \
         (`--fidelity ci|default|paper`).\n",
        rel_dir
    )?;
    writeln!(md, "## Figures\n")?;
    for id in ALL_IDS {
        let path = fig_dir.join(format!("{id}.json"));
        let figure = reg.iter().find(|f| f.id() == id);
        let title = figure.map(|f| f.title()).unwrap_or("");
        writeln!(
            md,
            "### {id}{}\n",
            if title.is_empty() {
                String::new()
            } else {
                format!(": {title}")
            }
        )?;
        if !path.exists() {
            let why = if figure.is_some() {
                "no record yet: run `cargo xtask figures --only ".to_string()
                    + id
                    + "` (or it was skipped; see its message)"
            } else {
                "not implemented yet in attnflow-figures".to_string()
            };
            writeln!(md, "Not available: {why}.\n")?;
            writeln!(md, "Comparison target: {}\n", paper_comparison(id))?;
            continue;
        }
        let record = read_json(&path).with_context(|| format!("reading {}", path.display()))?;
        let get = |key: &str| {
            record
                .get(key)
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()
        };
        writeln!(md, "![{id}]({rel_dir}/{id}.png)\n")?;
        writeln!(
            md,
            "- fidelity: `{}`, seed: `{}`, attnflow {}",
            get("fidelity"),
            get("seed"),
            get("attnflow_version")
        )?;
        writeln!(md, "- integrator: {}", get("integrator"))?;
        if let Some(params) = record.get("params") {
            writeln!(md, "- parameters: `{}`", serde_json::to_string(params)?)?;
        }
        writeln!(md)?;
        writeln!(md, "Comparison with the paper: {}\n", paper_comparison(id))?;
        if let Some(figure) = figure {
            let lines = figure
                .summary(&record)
                .with_context(|| format!("summarising {id}"))?;
            if !lines.is_empty() {
                writeln!(md, "| quantity | value |\n|---|---|")?;
                for line in lines {
                    let cell = |text: &str| text.replace('|', "\\|");
                    writeln!(md, "| {} | {} |", cell(&line.quantity), cell(&line.value))?;
                }
                writeln!(md)?;
            }
        }
    }
    let paper_dir = root.join("reports").join("paper");
    let paper_ids: Vec<&str> = ALL_IDS
        .iter()
        .copied()
        .filter(|id| paper_dir.join(format!("{id}.json")).exists())
        .collect();
    if !paper_ids.is_empty() {
        writeln!(
            md,
            "## Paper-fidelity runs (`cargo xtask figures --fidelity paper --out reports/paper`)\n"
        )?;
        for id in paper_ids {
            let record = read_json(&paper_dir.join(format!("{id}.json")))?;
            writeln!(md, "### {id} at paper fidelity\n")?;
            writeln!(md, "![{id} (paper fidelity)](paper/{id}.png)\n")?;
            writeln!(md, "- runtime: [paper/RUNTIMES.json](paper/RUNTIMES.json)")?;
            if let Some(steps) = integrated_steps(&record) {
                writeln!(md, "- {steps}")?;
            }
            if let Some(params) = record.get("params") {
                writeln!(md, "- parameters: `{}`", serde_json::to_string(params)?)?;
            }
            writeln!(md)?;
            if let Some(figure) = reg.iter().find(|f| f.id() == id) {
                writeln!(md, "| quantity | value |\n|---|---|")?;
                for line in figure.summary(&record)? {
                    writeln!(
                        md,
                        "| {} | {} |",
                        line.quantity.replace('|', "\\|"),
                        line.value.replace('|', "\\|")
                    )?;
                }
                writeln!(md)?;
            }
        }
    }
    writeln!(md, "## Theorem table\n")?;
    let theorems = root.join("reports").join("THEOREMS.md");
    match std::fs::read_to_string(&theorems) {
        Ok(text) => {
            let summary = text.split_once("## Summary").map(|(_, rest)| {
                rest.split("\n## ")
                    .next()
                    .unwrap_or(rest)
                    .trim()
                    .to_string()
            });
            writeln!(
                md,
                "From `attnflow verify --fidelity full` (full text, measured values and notes: [THEOREMS.md](THEOREMS.md)); \
                 integrator accuracy and the effect of the paper's Euler step: [ACCURACY.md](ACCURACY.md).\n"
            )?;
            writeln!(
                md,
                "{}\n",
                summary.unwrap_or_else(|| "(THEOREMS.md has no summary table)".into())
            )?;
        }
        Err(_) => writeln!(
            md,
            "reports/THEOREMS.md is missing: run `attnflow verify --fidelity full --write-report reports/THEOREMS.md`.\n"
        )?,
    }
    writeln!(
        md,
        "## Cross-check against the authors' algorithms and results\n"
    )?;
    match std::fs::read_to_string(root.join("reports").join("CROSSCHECK.md")) {
        Ok(text) => {
            writeln!(
                md,
                "From `cargo xtask crosscheck` ([CROSSCHECK.md](CROSSCHECK.md)).\n"
            )?;
            // the file's sections, one heading level down, without its title
            for line in text.lines().skip_while(|l| !l.starts_with("## ")) {
                match line.strip_prefix("## ") {
                    Some(heading) => writeln!(md, "### {heading}")?,
                    None => writeln!(md, "{line}")?,
                }
            }
            writeln!(md)?;
        }
        Err(_) => writeln!(
            md,
            "reports/CROSSCHECK.md is missing: run `cargo xtask crosscheck`.\n"
        )?,
    }
    writeln!(md, "## Known discrepancies of the papers\n")?;
    for item in KNOWN_DISCREPANCIES {
        writeln!(md, "- {item}")?;
    }
    writeln!(md, "\n## Runtime per figure\n")?;
    // runtimes change with every run, so they are not copied here (REPORT.md stays byte-identical
    // when the figures are regenerated unchanged)
    writeln!(
        md,
        "Compute seconds of each figure's last regeneration, with its fidelity and thread count: \
         [{rel_dir}/RUNTIMES.json]({rel_dir}/RUNTIMES.json) (written by `cargo xtask figures`; the paper-fidelity \
         runs: [paper/RUNTIMES.json](paper/RUNTIMES.json))."
    )?;
    write_atomic(&out, md.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}

/// `path` relative to `base` when it lies below it, else `path` itself (for links in the Markdown).
/// "integrator steps: taken of total (...)" over the phase-diagram panels of a record, when it has them.
fn integrated_steps(record: &serde_json::Value) -> Option<String> {
    let panels = record.get("panels")?.as_array()?;
    let (mut taken, mut total) = (0u64, 0u64);
    for panel in panels {
        taken += panel.get("steps_integrated")?.as_u64()?;
        let params = panel.get("params")?;
        let betas = params.get("betas")?.as_array()?.len() as u64;
        total += params.get("steps")?.as_u64()? * betas * params.get("realizations")?.as_u64()?;
    }
    Some(format!(
        "integrator steps taken: {taken} of {total} ({:.1}%; the rest skipped by the exact consensus exit, \
         `attnflow_dynamics::ensemble::consensus_locked`)",
        100.0 * taken as f64 / total as f64
    ))
}

fn pathdiff(path: &std::path::Path, base: &std::path::Path) -> String {
    let (p, b) = (
        path.canonicalize().unwrap_or(path.to_path_buf()),
        base.canonicalize().unwrap_or(base.to_path_buf()),
    );
    p.strip_prefix(&b)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
