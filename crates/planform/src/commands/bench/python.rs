//! Runs the Python reference re-statement `bench/reference_gen.py` (plain `python3`, no
//! packages) for one case and reads its JSON line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

use super::gen::Case;
use super::report::Rate;
use planform_trace::SearchMode;

/// Script location relative to the workspace root.
const SCRIPT: &str = "bench/reference_gen.py";

/// A located interpreter + script.
pub struct Reference {
    python: String,
    version: String,
    script: PathBuf,
    numpy: bool,
}

/// What the script prints.
#[derive(Debug, Deserialize)]
struct Output {
    tasks: u64,
    tokens: u64,
    seconds: f64,
    cpu_seconds: f64,
    #[serde(default)]
    layouts: Option<u64>,
    #[serde(default)]
    levels: Option<u64>,
}

impl Reference {
    /// Finds the script (explicit path, else `bench/reference_gen.py` under the current
    /// directory, else under the workspace this binary was built from) and checks that the
    /// interpreter runs. The error says why the reference cannot run.
    pub fn locate(python: &str, script: Option<&Path>, numpy: bool) -> Result<Self> {
        let script = match script {
            Some(p) if p.is_file() => p.to_path_buf(),
            Some(p) => return Err(anyhow!("reference script {} not found", p.display())),
            None => [
                PathBuf::from(SCRIPT),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(SCRIPT),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("{SCRIPT} not found (pass --reference-script)"))?,
        };
        let out = Command::new(python)
            .arg("--version")
            .output()
            .map_err(|e| anyhow!("cannot run `{python} --version`: {e}"))?;
        if !out.status.success() {
            return Err(anyhow!("`{python} --version` failed"));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Reference {
            python: python.to_string(),
            version,
            script,
            numpy,
        })
    }

    /// One line for the report: interpreter version, script, heuristic flavour.
    pub fn describe(&self) -> String {
        format!(
            "{} running {} ({} Sokoban heuristic)",
            self.version,
            self.script.display(),
            if self.numpy { "numpy" } else { "pure-Python" }
        )
    }

    /// Runs the timed generation loop for `case` with a CPU-time budget.
    pub fn run(&self, case: Case, cpu_seconds: f64, seed: u64) -> Result<Rate> {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script).arg("gen");
        match case {
            Case::Maze { size, mode } => {
                let mode = match mode {
                    SearchMode::Deterministic => "det",
                    SearchMode::Nondeterministic => "nondet",
                };
                cmd.args(["--domain", "maze", "--mode", mode]);
                cmd.args(["--size", &size.to_string()]);
            }
            Case::Sokoban { size, walls, boxes } => {
                cmd.args(["--domain", "sokoban", "--size", &size.to_string()]);
                cmd.args(["--walls", &walls.to_string(), "--boxes", &boxes.to_string()]);
            }
        }
        cmd.args(["--seconds", &cpu_seconds.to_string(), "--budget", "cpu"]);
        cmd.args(["--seed", &seed.to_string()]);
        if self.numpy {
            cmd.arg("--numpy");
        }
        let out = cmd
            .output()
            .with_context(|| format!("running {} {}", self.python, self.script.display()))?;
        if !out.status.success() {
            return Err(anyhow!(
                "{} exited with {}: {}",
                self.script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let o: Output = serde_json::from_str(line).with_context(|| {
            format!("parsing the output of {}: {line:?}", self.script.display())
        })?;
        Ok(Rate {
            threads: 1,
            tasks: o.tasks,
            tokens: o.tokens,
            items: o.layouts.or(o.levels).unwrap_or(0),
            wall_s: o.seconds,
            cpu_s: o.cpu_seconds,
        })
    }
}
