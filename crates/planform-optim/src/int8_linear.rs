//! Q-GaLore's linear layers computing from their int8 weights (`Optimizer::take_int8_weights`).
//!
//! The reference (`q_galore_torch`) keeps each targeted weight only as int8 codes: the layer
//! dequantizes them for its product and the optimizer updates the codes from the weight's
//! gradient. planform's Q-GaLore rule holds those codes ([`crate::qgalore::QGaloreRule`]);
//! once the optimizer takes the weights over, the model's float tensor is emptied and its
//! [`planform_model::Linear`] becomes a [`Weight::External`] whose product goes through
//! `csrc/int8_linear.cpp`: a libtorch autograd function that asks this module for the float
//! weight in the forward pass and again in the backward pass (so no float copy outlives
//! either), returns dL/dx to autograd and hands dL/dW to the rule at once — the per-layer
//! update, inside the backward pass, with no weight gradient stored.
//!
//! The numerics are those of the float path (the forward is `at::linear`, the backward the
//! formulas of matmul's `mm`); `per_layer_tests.rs::q_galore_from_int8_weights_equals_the_float_copy_mode`
//! checks the losses and whole Q-GaLore steps against the float-copy mode bit for bit.
//!
//! The autograd graph of a forward pass points at the layer's callbacks: run the backward
//! pass (or drop the graph) before dropping the optimizer that owns them.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex};

use planform_model::ExternalWeight;
use tch::{Device, Kind, Tensor};

use crate::per_layer::{write_err, Shared};
use crate::ParamRule;

type WeightFn =
    extern "C" fn(ctx: *mut c_void, out: *mut *mut c_void, err: *mut c_char, len: usize) -> c_int;
type GradFn =
    extern "C" fn(ctx: *mut c_void, grad: *mut c_void, err: *mut c_char, len: usize) -> c_int;

extern "C" {
    fn planform_int8_callbacks_new(weight: WeightFn, grad: GradFn, ctx: *mut c_void)
        -> *mut c_void;
    fn planform_int8_callbacks_free(callbacks: *mut c_void);
    fn planform_int8_linear(
        x: *mut c_void,
        callbacks: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut c_void;
}

/// What one layer's callbacks reach: the rule that holds the codes, the weight's shape and
/// kind, and the optimizer's per-layer state (the step's learning rate).
struct Ctx {
    name: String,
    shape: Vec<i64>,
    kind: Kind,
    device: Device,
    rule: Arc<Mutex<Box<dyn ParamRule>>>,
    shared: Arc<Mutex<Shared>>,
}

impl Ctx {
    /// The current weight, dequantized into a new tensor of the parameter's shape and kind.
    fn weight(&self) -> std::result::Result<Tensor, String> {
        let _guard = tch::no_grad_guard();
        let out = Tensor::f_empty(self.shape.as_slice(), (self.kind, self.device))
            .map_err(|e| e.to_string())?;
        let rule = self.rule.lock().map_err(|_| "rule poisoned".to_string())?;
        match rule.write_weight(&out) {
            Some(r) => r.map_err(|e| format!("{}: {e}", self.name))?,
            None => return Err(format!("{}: the rule holds no weight", self.name)),
        }
        Ok(out)
    }

    /// Updates the codes from the weight's gradient `grad` (inside a per-layer step only).
    fn update(&self, grad: &Tensor) -> std::result::Result<(), String> {
        let lr = {
            let shared = self
                .shared
                .lock()
                .map_err(|_| "per-layer state poisoned".to_string())?;
            shared.lr.ok_or_else(|| {
                format!(
                    "{}: int8 weights are updated inside a per-layer step only \
                     (begin_per_layer_step before the backward pass)",
                    self.name
                )
            })?
        };
        let mut w = self.weight()?;
        let _guard = tch::no_grad_guard();
        let mut rule = self.rule.lock().map_err(|_| "rule poisoned".to_string())?;
        rule.step(&mut w, grad, lr)
            .map_err(|e| format!("{}: {e}", self.name))?;
        drop(rule);
        let mut shared = self
            .shared
            .lock()
            .map_err(|_| "per-layer state poisoned".to_string())?;
        shared.updates += 1;
        Ok(())
    }
}

/// Runs `f` for a callback, turning an error or a panic into return code 1 and a message.
fn guarded(
    ctx: *mut c_void,
    err: *mut c_char,
    len: usize,
    f: impl FnOnce(&Ctx) -> std::result::Result<(), String>,
) -> c_int {
    // SAFETY: `ctx` is the boxed `Ctx` of a live `Int8Linear` (see the module docs).
    let ctx = unsafe { &*(ctx as *const Ctx) };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ctx)));
    let msg = match run {
        Ok(Ok(())) => return 0,
        Ok(Err(msg)) => msg,
        Err(_) => format!("{}: panic in an int8 linear callback", ctx.name),
    };
    if let Ok(mut s) = ctx.shared.lock() {
        s.error.get_or_insert(msg.clone());
    }
    write_err(&msg, err, len);
    1
}

extern "C" fn weight_cb(
    ctx: *mut c_void,
    out: *mut *mut c_void,
    err: *mut c_char,
    len: usize,
) -> c_int {
    guarded(ctx, err, len, |c| {
        let mut w = c.weight()?;
        // SAFETY: `out` is the C++ side's slot; it takes ownership of the `at::Tensor*`.
        unsafe { *out = w.as_mut_ptr() as *mut c_void };
        std::mem::forget(w);
        Ok(())
    })
}

extern "C" fn grad_cb(ctx: *mut c_void, grad: *mut c_void, err: *mut c_char, len: usize) -> c_int {
    // SAFETY: a new `at::Tensor*` whose ownership the C++ side hands over.
    let grad = unsafe { Tensor::from_ptr(grad as *mut torch_sys::C_tensor) };
    guarded(ctx, err, len, |c| c.update(&grad))
}

/// A linear layer's weight held as int8 codes by its Q-GaLore rule (see the module docs).
pub struct Int8Linear {
    ctx: Box<Ctx>,
    callbacks: *mut c_void,
}

// SAFETY: the callbacks record is immutable after creation and only read by libtorch; the
// context's mutable parts are behind mutexes.
unsafe impl Send for Int8Linear {}
unsafe impl Sync for Int8Linear {}

impl std::fmt::Debug for Int8Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Linear")
            .field("name", &self.ctx.name)
            .field("shape", &self.ctx.shape)
            .finish()
    }
}

impl Int8Linear {
    pub(crate) fn new(
        name: &str,
        param: &Tensor,
        rule: Arc<Mutex<Box<dyn ParamRule>>>,
        shared: Arc<Mutex<Shared>>,
    ) -> Self {
        let mut ctx = Box::new(Ctx {
            name: name.to_string(),
            shape: param.size(),
            kind: param.kind(),
            device: param.device(),
            rule,
            shared,
        });
        let ptr = &mut *ctx as *mut Ctx as *mut c_void;
        // SAFETY: plain allocation of a record holding two function pointers and `ptr`.
        let callbacks = unsafe { planform_int8_callbacks_new(weight_cb, grad_cb, ptr) };
        Int8Linear { ctx, callbacks }
    }

    fn try_forward(&self, x: &Tensor) -> std::result::Result<Tensor, String> {
        let mut err = [0 as c_char; 1024];
        let mut x = x.shallow_clone();
        // SAFETY: `x` is a live tensor; the result is a new `at::Tensor*` or null.
        let y = unsafe {
            planform_int8_linear(
                x.as_mut_ptr() as *mut c_void,
                self.callbacks,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if y.is_null() {
            // SAFETY: NUL-terminated by the C++ side.
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
            return Err(msg.to_string_lossy().into_owned());
        }
        // SAFETY: ownership of the new tensor passes to Rust.
        Ok(unsafe { Tensor::from_ptr(y as *mut torch_sys::C_tensor) })
    }
}

impl Drop for Int8Linear {
    fn drop(&mut self) {
        // SAFETY: allocated by `planform_int8_callbacks_new`, freed once.
        unsafe { planform_int8_callbacks_free(self.callbacks) };
    }
}

impl ExternalWeight for Int8Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self.try_forward(x) {
            Ok(y) => y,
            // Model forward passes are infallible; a failing weight is a broken invariant.
            Err(e) => panic!("int8 linear {}: {e}", self.ctx.name),
        }
    }

    fn dequantize(&self) -> Tensor {
        match self.ctx.weight() {
            Ok(w) => w,
            Err(e) => panic!("int8 linear {}: {e}", self.ctx.name),
        }
    }
}
