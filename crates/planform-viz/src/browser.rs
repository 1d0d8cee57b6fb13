//! Headless Chromium for tests and checks: load a page, dump its DOM after the
//! scripts ran, or take a screenshot. One launcher for every crate's tests.
//!
//! The browser is `$PLANFORM_CHROMIUM` if set, else the first of
//! `/usr/bin/chromium`, `/usr/bin/chromium-browser`, `/usr/bin/google-chrome`
//! that exists. Each [`Chromium`] has its own fresh profile directory
//! (removed on drop) and runs with the flags a headless container needs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const CANDIDATES: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

/// The browser executable, or `None` (with the reason) when there is none.
pub fn find_chromium() -> std::result::Result<PathBuf, String> {
    if let Ok(p) = std::env::var("PLANFORM_CHROMIUM") {
        return if Path::new(&p).exists() {
            Ok(PathBuf::from(p))
        } else {
            Err(format!("PLANFORM_CHROMIUM={p} does not exist"))
        };
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "no browser at {} (apt-get install -y chromium)",
                CANDIDATES.join(", ")
            )
        })
}

/// A headless Chromium with its own profile directory.
#[derive(Debug)]
pub struct Chromium {
    exe: PathBuf,
    profile: PathBuf,
    /// Per-run limit. Default 120 s.
    pub timeout: Duration,
}

impl Chromium {
    /// The browser found by [`find_chromium`], or the reason there is none.
    pub fn find() -> std::result::Result<Self, String> {
        find_chromium().map(Chromium::new)
    }

    /// A browser at `exe` with a fresh profile under the temporary directory.
    pub fn new(exe: PathBuf) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "planform-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        Chromium {
            exe,
            profile,
            timeout: Duration::from_secs(120),
        }
    }

    /// The executable.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Runs the browser on `url` with `extra` flags; returns its stdout.
    pub fn run(&self, extra: &[&str], url: &str) -> Result<String> {
        let fail = |why: String| Error::Browser(format!("{}: {why}", self.exe.display()));
        let mut child = Command::new(&self.exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
            ])
            .arg(format!("--user-data-dir={}", self.profile.display()))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(format!("cannot start: {e}")))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => return Err(fail(format!("exited with {status}"))),
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!("did not finish within {:?}", self.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(fail(format!("wait: {e}"))),
            }
        }
        reader
            .join()
            .map_err(|_| fail("stdout reader panicked".into()))
    }

    /// The DOM of `url` after its scripts ran (`--dump-dom`).
    pub fn dump_dom(&self, url: &str) -> Result<String> {
        self.run(&["--dump-dom"], url)
    }

    /// A `width`×`height` screenshot of `url` written to `png`.
    pub fn screenshot(&self, url: &str, png: &Path, (width, height): (u32, u32)) -> Result<()> {
        self.run(
            &[
                &format!("--screenshot={}", png.display()),
                &format!("--window-size={width},{height}"),
            ],
            url,
        )?;
        if png.is_file() {
            Ok(())
        } else {
            Err(Error::Browser(format!(
                "{}: no screenshot written to {}",
                self.exe.display(),
                png.display()
            )))
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `file://` URL of a local file (made absolute), with an optional `#fragment`.
pub fn file_url(path: &Path, fragment: Option<&str>) -> String {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    match fragment {
        Some(f) => format!("file://{}#{f}", abs.display()),
        None => format!("file://{}", abs.display()),
    }
}
