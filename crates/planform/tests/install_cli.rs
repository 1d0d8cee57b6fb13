//! The binary runs from anywhere: a copy outside `target/` (as `cargo install` or a `cp` to a
//! directory on `PATH` makes) still finds libtorch, through the absolute rpath that
//! `build.rs` adds next to the relative ones of `.cargo/config.toml`.

use std::process::Command;

#[test]
fn a_copy_of_the_binary_elsewhere_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("planform");
    std::fs::copy(env!("CARGO_BIN_EXE_planform"), &copy).expect("copy the binary");
    let out = Command::new(&copy)
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(tmp.path())
        .output()
        .expect("run the copy");
    assert!(
        out.status.success(),
        "{} --version failed: {}",
        copy.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("planform "), "{version}");
    // Outside the repository, `recipe list` says which directory is missing, once.
    let out = Command::new(&copy)
        .args(["recipe", "list"])
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(tmp.path())
        .output()
        .expect("run the copy");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("recipe directory configs not found") && !err.contains("os error"),
        "{err}"
    );
}
