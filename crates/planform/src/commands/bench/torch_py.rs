//! Runs the PyTorch-eager comparison scripts (`bench/train_pytorch.py`,
//! `bench/decode_pytorch.py`) with a JSON spec and reads their one-line JSON result.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

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

/// The workspace root: the current directory or the one this binary was built from, whichever
/// holds `bench/<script>`.
fn workspace_with(script: &str) -> Result<PathBuf> {
    let rel = Path::new("bench").join(script);
    [
        PathBuf::from("."),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    ]
    .into_iter()
    .find(|root| root.join(&rel).is_file())
    .ok_or_else(|| anyhow!("{} not found (run from the repository root)", rel.display()))
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
            .map_err(|e| anyhow!("cannot run {}: {e}", me.python))?;
        if !out.status.success() {
            return Err(anyhow!(
                "`{} -c 'import torch'` failed{}: {}",
                me.python,
                me.pythonpath
                    .as_ref()
                    .map(|p| format!(" (PYTHONPATH={})", p.display()))
                    .unwrap_or_default(),
                last_line(&out.stderr)
            ));
        }
        let probe: Probe = serde_json::from_str(last_line(&out.stdout).as_str())
            .context("parsing the torch probe")?;
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
            .context("creating the spec file")?;
        file.write_all(spec.to_string().as_bytes())
            .context("writing the spec file")?;
        let out = self
            .command()
            .arg(&path)
            .arg("--spec")
            .arg(file.path())
            .output()
            .with_context(|| format!("running {} {}", self.python, path.display()))?;
        if !out.status.success() {
            return Err(anyhow!(
                "{} exited with {}: {}",
                path.display(),
                out.status,
                last_line(&out.stderr)
            ));
        }
        let line = last_line(&out.stdout);
        serde_json::from_str(&line)
            .with_context(|| format!("parsing the output of {}: {line:?}", path.display()))
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
