//! Per-layer updates: each parameter is updated inside the backward pass as soon as its
//! gradient is complete, and the gradient is freed right after, so the full-rank gradients of
//! all layers never coexist (GaLore's `*_per_layer` optimizers, which use PyTorch's
//! `register_post_accumulate_grad_hook`).
//!
//! tch has no autograd hooks, so `csrc/post_accumulate_hook.cpp` (compiled by `build.rs`
//! against the same libtorch) registers a libtorch `PostAccumulateGradHook` on each
//! parameter. libtorch calls it once per backward pass, right after the parameter's
//! `AccumulateGrad` node has written `.grad` — that node runs only when every use of the
//! parameter in the graph has contributed, so the gradient is the same as after a full
//! backward. The hook calls back into Rust, which runs the parameter's rule with that
//! gradient; the hook then resets `.grad` (frees it).
//!
//! Exactness: every node that reads the parameter has already run when its `AccumulateGrad`
//! fires (the parameter's gradient is complete only then), so the in-place update cannot
//! change any later gradient; if some graph did read it later, libtorch's version counter
//! would make the backward pass fail instead of computing something else. The tests check
//! bit-for-bit equality with the ordinary step. Gradient accumulation over several backward
//! passes is not possible in this mode (each backward pass updates).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex};

use tch::Tensor;

use crate::{OptimError, ParamRule, Result};

type HookFn = extern "C" fn(ctx: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;

extern "C" {
    fn planform_set_post_accumulate_hook(
        tensor: *mut c_void,
        f: HookFn,
        ctx: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn planform_clear_post_accumulate_hook(
        tensor: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// What the hooks of one optimizer share: the learning rate of the step in progress (none:
/// not inside a per-layer step, the hook leaves the gradient alone), updates done, and the
/// first error.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub lr: Option<f64>,
    pub updates: usize,
    pub error: Option<String>,
}

/// One parameter's hook context (owned by the optimizer, pointed to by the C++ hook).
pub(crate) struct HookCtx {
    name: String,
    param: Tensor,
    rule: Arc<Mutex<Box<dyn ParamRule>>>,
    shared: Arc<Mutex<Shared>>,
}

/// A registered hook; dropping it unregisters it.
pub(crate) struct Hook {
    ctx: Box<HookCtx>,
}

pub(crate) fn write_err(msg: &str, err: *mut c_char, len: usize) {
    if err.is_null() || len == 0 {
        return;
    }
    let bytes = msg.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: `err` points to a buffer of `len` bytes provided by the C++ side.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), err as *mut u8, n);
        *err.add(n) = 0;
    }
}

/// Return codes of the callback (see the C++ side): updated (free the gradient), error,
/// or not inside a per-layer step (keep the gradient).
const UPDATED: c_int = 0;
const FAILED: c_int = 1;
const IDLE: c_int = 2;

extern "C" fn trampoline(ctx: *mut c_void, err: *mut c_char, err_len: usize) -> c_int {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::result::Result<bool, String> {
            // SAFETY: `ctx` is the `HookCtx` boxed in a live `Hook`; hooks are cleared before
            // their contexts are dropped.
            let ctx = unsafe { &*(ctx as *const HookCtx) };
            let lr = {
                let shared = ctx
                    .shared
                    .lock()
                    .map_err(|_| "per-layer state poisoned".to_string())?;
                match shared.lr {
                    Some(lr) => lr,
                    None => return Ok(false),
                }
            };
            let _guard = tch::no_grad_guard();
            let grad = ctx.param.grad();
            if !grad.defined() {
                return Ok(false);
            }
            let mut rule = ctx.rule.lock().map_err(|_| "rule poisoned".to_string())?;
            rule.step(&mut ctx.param.shallow_clone(), &grad, lr)
                .map_err(|e| format!("{}: {e}", ctx.name))?;
            drop(grad);
            let mut shared = ctx
                .shared
                .lock()
                .map_err(|_| "per-layer state poisoned".to_string())?;
            shared.updates += 1;
            Ok(true)
        },
    ));
    let outcome = match run {
        Ok(r) => r,
        Err(_) => Err("panic in a per-layer update".to_string()),
    };
    match outcome {
        Ok(true) => UPDATED,
        Ok(false) => IDLE,
        Err(msg) => {
            // SAFETY: as above.
            let ctx = unsafe { &*(ctx as *const HookCtx) };
            if let Ok(mut s) = ctx.shared.lock() {
                s.error.get_or_insert(msg.clone());
            }
            write_err(&msg, err, err_len);
            FAILED
        }
    }
}

impl Hook {
    /// Registers the hook of `param` (a leaf that requires grad).
    pub(crate) fn register(
        name: &str,
        param: &Tensor,
        rule: Arc<Mutex<Box<dyn ParamRule>>>,
        shared: Arc<Mutex<Shared>>,
    ) -> Result<Hook> {
        let mut ctx = Box::new(HookCtx {
            name: name.to_string(),
            param: param.shallow_clone(),
            rule,
            shared,
        });
        let mut err = [0 as c_char; 512];
        let ctx_ptr = &mut *ctx as *mut HookCtx as *mut c_void;
        // SAFETY: the tensor pointer is a live `torch::Tensor*` owned by `ctx.param`; the
        // context outlives the hook (Drop clears the hook first).
        let rc = unsafe {
            planform_set_post_accumulate_hook(
                ctx.param.as_mut_ptr() as *mut c_void,
                trampoline,
                ctx_ptr,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if rc != 0 {
            // SAFETY: NUL-terminated by the C++ side.
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            return Err(OptimError::Config(format!(
                "per-layer hook on {name}: {msg}"
            )));
        }
        Ok(Hook { ctx })
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let mut err = [0 as c_char; 256];
        // SAFETY: the tensor is live; clearing replaces the hook by none.
        unsafe {
            planform_clear_post_accumulate_hook(
                self.ctx.param.as_mut_ptr() as *mut c_void,
                err.as_mut_ptr(),
                err.len(),
            );
        }
    }
}
