// Post-accumulate-grad hooks for planform-optim's per-layer updates.
//
// libtorch's autograd engine calls a leaf tensor's `PostAccumulateGradHook` right after its
// `AccumulateGrad` node has written the gradient into `.grad` (the mechanism behind PyTorch's
// `Tensor.register_post_accumulate_grad_hook`, which the GaLore reference uses for its
// per-layer weight updates). tch exposes no hooks, so this file registers one whose body is a
// Rust callback: it updates the parameter from its gradient, then the hook frees the gradient.
//
// Errors: a callback that fails returns non-zero with a message; the hook then throws, the
// autograd engine aborts the backward pass, and tch's `f_backward` returns the message as a
// `TchError`.

#include "error.h"
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

extern "C" {
// Returns 0 when it updated the parameter (the hook then frees the gradient), 2 when it did
// nothing (not inside a per-layer step: the gradient stays), 1 on failure with a
// NUL-terminated message of at most `err_len` bytes in `err`.
typedef int (*planform_hook_fn)(void* ctx, char* err, size_t err_len);
}

namespace {

struct RustHook : public torch::autograd::PostAccumulateGradHook {
  planform_hook_fn fn;
  void* ctx;

  RustHook(planform_hook_fn f, void* c) : fn(f), ctx(c) {}

  void operator()(const torch::autograd::Variable& tensor) override {
    char err[1024];
    err[0] = '\0';
    int rc = fn(ctx, err, sizeof(err));
    if (rc == 2) return;
    if (rc != 0) {
      err[sizeof(err) - 1] = '\0';
      throw std::runtime_error(std::string("per-layer update: ") + err);
    }
    // The update has consumed the gradient: free it now, so that the full-rank gradients of
    // all layers never coexist.
    tensor.mutable_grad().reset();
  }
};

using planform::write_error;

}  // namespace

extern "C" {

// Registers (replaces) the post-accumulate-grad hook of the leaf `tensor` (a `torch::Tensor*`
// as tch's `C_tensor`). Returns 0 on success.
int planform_set_post_accumulate_hook(void* tensor, planform_hook_fn fn, void* ctx, char* err,
                                      size_t err_len) {
  try {
    auto* t = static_cast<at::Tensor*>(tensor);
    if (!t->defined()) throw std::invalid_argument("undefined tensor");
    if (!t->requires_grad() || !t->is_leaf())
      throw std::invalid_argument("per-layer hooks need leaf tensors that require grad");
    torch::autograd::impl::set_post_acc_grad_hooks(*t, std::make_unique<RustHook>(fn, ctx));
    return 0;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return 1;
  }
}

// Removes the post-accumulate-grad hook of `tensor` (if any). Returns 0 on success.
int planform_clear_post_accumulate_hook(void* tensor, char* err, size_t err_len) {
  try {
    auto* t = static_cast<at::Tensor*>(tensor);
    if (t->defined()) torch::autograd::impl::set_post_acc_grad_hooks(*t, nullptr);
    return 0;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return 1;
  }
}

}  // extern "C"
