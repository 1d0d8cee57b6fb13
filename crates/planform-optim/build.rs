//! Compiles `csrc/post_accumulate_hook.cpp` (the per-layer update hooks) and
//! `csrc/int8_linear.cpp` (Q-GaLore's linear layers computing from int8 weights) against the libtorch
//! that `torch-sys` links: its library directory comes from `torch-sys` (`links = "tch"`,
//! `DEP_TCH_LIBTORCH_LIB`), or from `LIBTORCH`; headers are next to it, as `torch-sys`
//! compiles its own wrapper (C++17, the same `_GLIBCXX_USE_CXX11_ABI`).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/post_accumulate_hook.cpp");
    println!("cargo:rerun-if-changed=csrc/int8_linear.cpp");
    println!("cargo:rerun-if-changed=csrc/error.h");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = env::var("DEP_TCH_LIBTORCH_LIB")
        .ok()
        .map(PathBuf::from)
        .or_else(|| {
            env::var("LIBTORCH")
                .ok()
                .map(|p| PathBuf::from(p).join("lib"))
        });
    let Some(lib) = lib else {
        panic!("planform-optim: libtorch not found (torch-sys gave no DEP_TCH_LIBTORCH_LIB and LIBTORCH is unset)");
    };
    let root = lib
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| lib.clone());
    let include = root.join("include");
    let abi = env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/post_accumulate_hook.cpp")
        .file("csrc/int8_linear.cpp")
        .compile("planform_optim_hooks");
}
