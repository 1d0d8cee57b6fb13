//! Links `libtorch_cuda` into the `planform` binary even though no symbol of it is referenced,
//! so that CUDA is available when the same binary runs on a GPU machine (rustc links with
//! `--as-needed`, which would drop it). See `../shared/gpu.md` in the project notes and
//! `docs/gpu.md`.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-search=native={}", lib.display());
            println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
