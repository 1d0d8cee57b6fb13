//! The Python sides of the comparisons, run as child processes that print one JSON line:
//!
//! - [`Reference`]: the reference re-statement `bench/reference_gen.py` (plain `python3`, no
//!   packages) for one `bench gen` case;
//! - [`TorchPython`]: the PyTorch-eager scripts `bench/train_pytorch.py` and
//!   `bench/decode_pytorch.py`, given a JSON spec.
//!
//! Scripts are looked up under the current directory, then under the workspace this crate was
//! built from.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use planform_trace::SearchMode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{BenchError, Result};
use crate::gen::Case;
use crate::report::gen::Rate;

fn err(m: impl Into<String>) -> BenchError {
    BenchError::Python(m.into())
}

/// The workspace root this crate was built from.
fn built_workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Script location relative to the workspace root.
const SCRIPT: &str = "bench/reference_gen.py";

/// A located interpreter + `bench/reference_gen.py`.
#[derive(Debug, Clone)]
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
            Some(p) => return Err(err(format!("reference script {} not found", p.display()))),
            None => [PathBuf::from(SCRIPT), built_workspace().join(SCRIPT)]
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| err(format!("{SCRIPT} not found (pass --reference-script)")))?,
        };
        let out = Command::new(python)
            .arg("--version")
            .output()
            .map_err(|e| err(format!("cannot run `{python} --version`: {e}")))?;
        if !out.status.success() {
            return Err(err(format!("`{python} --version` failed")));
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
        let out = cmd.output().map_err(|e| {
            err(format!(
                "running {} {}: {e}",
                self.python,
                self.script.display()
            ))
        })?;
        if !out.status.success() {
            return Err(err(format!(
                "{} exited with {}: {}",
                self.script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let o: Output = serde_json::from_str(line).map_err(|e| {
            err(format!(
                "parsing the output of {}: {e}: {line:?}",
                self.script.display()
            ))
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

/// A Python interpreter that imports `torch`, and the workspace holding the scripts.
#[derive(Debug, Clone)]
pub struct TorchPython {
    python: String,
    /// Prepended to `PYTHONPATH` (the workspace's `.torch`, when found and no `--python`
    /// was given).
    pythonpath: Option<PathBuf>,
    root: PathBuf,
    /// `torch.__version__`.
    pub version: String,
    /// `torch.cuda.is_available()`.
    pub cuda: bool,
}

#[derive(Deserialize)]
struct Probe {
    version: String,
    cuda: bool,
}

/// The workspace root: the current directory or the one this crate was built from, whichever
/// holds `bench/<script>`.
fn workspace_with(script: &str) -> Result<PathBuf> {
    let rel = Path::new("bench").join(script);
    [PathBuf::from("."), built_workspace()]
        .into_iter()
        .find(|root| root.join(&rel).is_file())
        .ok_or_else(|| {
            err(format!(
                "{} not found (run from the repository root)",
                rel.display()
            ))
        })
}

impl TorchPython {
    /// Finds the scripts and checks that `python` (default `python3`, with the workspace's
    /// `.torch` directory on `PYTHONPATH` when present) imports torch. The error says why
    /// the comparison cannot run.
    pub fn locate(python: Option<&str>, script: &str) -> Result<Self> {
        let root = workspace_with(script)?;
        let pythonpath = match python {
            Some(_) => None,
            None => Some(root.join(".torch")).filter(|p| p.is_dir()),
        };
        let mut me = TorchPython {
            python: python.unwrap_or("python3").to_string(),
            pythonpath,
            root,
            version: String::new(),
            cuda: false,
        };
        let out = me
            .command()
            .args([
                "-c",
                "import json, torch; print(json.dumps({'version': torch.__version__, \
                 'cuda': torch.cuda.is_available()}))",
            ])
            .output()
            .map_err(|e| err(format!("cannot run {}: {e}", me.python)))?;
        if !out.status.success() {
            return Err(err(format!(
                "`{} -c 'import torch'` failed{}: {}",
                me.python,
                me.pythonpath
                    .as_ref()
                    .map(|p| format!(" (PYTHONPATH={})", p.display()))
                    .unwrap_or_default(),
                last_line(&out.stderr)
            )));
        }
        let probe: Probe = serde_json::from_str(last_line(&out.stdout).as_str())
            .map_err(|e| err(format!("parsing the torch probe: {e}")))?;
        me.version = probe.version;
        me.cuda = probe.cuda;
        Ok(me)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        if let Some(p) = &self.pythonpath {
            let mut paths = vec![p.clone()];
            if let Some(old) = std::env::var_os("PYTHONPATH") {
                paths.extend(std::env::split_paths(&old));
            }
            if let Ok(joined) = std::env::join_paths(paths) {
                cmd.env("PYTHONPATH", joined);
            }
        }
        cmd
    }

    /// `python3 (torch 2.11.0, CUDA available)`.
    pub fn describe(&self) -> String {
        format!(
            "{} with torch {}{}",
            self.python,
            self.version,
            if self.cuda { " (CUDA available)" } else { "" }
        )
    }

    /// Runs `bench/<script> --spec FILE` with `spec` written to a temporary file and parses
    /// the last line of its standard output.
    pub fn run<T: DeserializeOwned>(&self, script: &str, spec: &serde_json::Value) -> Result<T> {
        let path = self.root.join("bench").join(script);
        let mut file = tempfile::Builder::new()
            .prefix("planform-bench-spec-")
            .suffix(".json")
            .tempfile()
            .map_err(|e| BenchError::io(std::env::temp_dir(), e))?;
        file.write_all(spec.to_string().as_bytes())
            .map_err(|e| BenchError::io(file.path(), e))?;
        let out = self
            .command()
            .arg(&path)
            .arg("--spec")
            .arg(file.path())
            .output()
            .map_err(|e| err(format!("running {} {}: {e}", self.python, path.display())))?;
        if !out.status.success() {
            return Err(err(format!(
                "{} exited with {}: {}",
                path.display(),
                out.status,
                last_line(&out.stderr)
            )));
        }
        let line = last_line(&out.stdout);
        serde_json::from_str(&line).map_err(|e| {
            err(format!(
                "parsing the output of {}: {e}: {line:?}",
                path.display()
            ))
        })
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_found_from_the_workspace_and_missing_ones_named() {
        assert!(workspace_with("train_pytorch.py").is_ok());
        let e = workspace_with("no_such_script.py").unwrap_err().to_string();
        assert!(e.contains("no_such_script.py"), "{e}");
        let e = Reference::locate("python3", Some(Path::new("/nonexistent.py")), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent.py"), "{e}");
        assert_eq!(last_line(b"a\n b \n\n"), "b");
    }
}
