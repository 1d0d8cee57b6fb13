//! Link settings of the `planform` binary (see `docs/gpu.md`):
//!
//! - **rpath to the workspace's libtorch.** `.cargo/config.toml` gives every binary the
//!   relative rpaths `$ORIGIN/../../.torch/torch/lib` (for `target/release/planform`) and
//!   `$ORIGIN/../../../.torch/torch/lib` (tests in `target/release/deps`). The binary also gets
//!   the absolute path of `$LIBTORCH/lib`, so that a copy of it outside `target/` (`cargo
//!   install --path crates/planform`, `cp` to `~/.local/bin`) still finds that libtorch.
//! - **CUDA only when asked for.** `PLANFORM_CUDA=1` (set by `make cuda`) links
//!   `libtorch_cuda` although no symbol of it is referenced, so that libtorch registers its
//!   CUDA backend when the binary starts (rustc links with `--as-needed`, which would drop
//!   it). Without it the binary needs only `libtorch_cpu` and `libc10` and runs on the CPU
//!   set-up, which has no `libtorch_cuda.so` (`scripts/setup-torch.sh`).

use std::path::Path;
use std::process::exit;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=PLANFORM_CUDA");
    let lib = std::env::var_os("LIBTORCH").map(|l| Path::new(&l).join("lib"));
    if let Some(lib) = &lib {
        if lib.is_dir() {
            println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
        }
    }
    let cuda = match std::env::var("PLANFORM_CUDA").as_deref() {
        Err(_) | Ok("") | Ok("0") | Ok("false") => false,
        Ok("1") | Ok("true") => true,
        Ok(other) => {
            eprintln!("error: PLANFORM_CUDA={other:?}: use 1 (link CUDA) or 0 (CPU only)");
            exit(1);
        }
    };
    if !cuda {
        return;
    }
    if let Some(lib) = &lib {
        let so = lib.join("libtorch_cuda.so");
        if !so.exists() {
            eprintln!(
                "error: PLANFORM_CUDA=1 but {} does not exist: this libtorch has no CUDA; \
                 run `scripts/setup-torch.sh --cuda` (or `make cuda`)",
                so.display()
            );
            exit(1);
        }
        println!("cargo:rerun-if-changed={}", so.display());
        println!("cargo:rustc-link-search=native={}", lib.display());
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
}
