// A linear layer whose weight lives outside autograd (Q-GaLore's int8 codes, held by the
// optimizer): `y = x Wᵀ` with W dequantized by a Rust callback for the forward pass and
// again for the backward pass, so no float copy of W outlives either. The backward pass
// returns dL/dx to autograd and hands dL/dW to a second Rust callback (the optimizer's
// per-layer update), then drops it: no weight gradient is ever stored.
//
// Numerics are those of `x.linear(W)` on a float W: the forward calls `at::linear`, and the
// backward uses the formulas of matmul's folded `mm` (dL/dx = g·W, dL/dW = gᵀ·x over the
// flattened leading dimensions).

#include "error.h"
#include <torch/autograd.h>
#include <torch/torch.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

extern "C" {
// Writes a new `at::Tensor*` (owned by the caller) holding the current float weight into
// `*out`; returns 0, or 1 with a message in `err`.
typedef int (*planform_weight_fn)(void* ctx, void** out, char* err, size_t err_len);
// Receives dL/dW (a new `at::Tensor*`, owned by the callee); returns 0, or 1 with a
// message in `err`.
typedef int (*planform_grad_fn)(void* ctx, void* grad, char* err, size_t err_len);
}

namespace {

struct Callbacks {
  planform_weight_fn weight;
  planform_grad_fn grad;
  void* ctx;
};

at::Tensor fetch_weight(const Callbacks& cb) {
  char err[1024];
  err[0] = '\0';
  void* out = nullptr;
  if (cb.weight(cb.ctx, &out, err, sizeof(err)) != 0 || out == nullptr) {
    err[sizeof(err) - 1] = '\0';
    throw std::runtime_error(std::string("int8 linear weight: ") + err);
  }
  std::unique_ptr<at::Tensor> owned(static_cast<at::Tensor*>(out));
  return *owned;
}

struct Int8Linear : public torch::autograd::Function<Int8Linear> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            int64_t callbacks) {
    const auto* cb = reinterpret_cast<const Callbacks*>(callbacks);
    at::Tensor w = fetch_weight(*cb);
    ctx->save_for_backward({x});
    ctx->saved_data["cb"] = callbacks;
    return at::linear(x, w);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto* cb = reinterpret_cast<const Callbacks*>(ctx->saved_data["cb"].toInt());
    at::Tensor x = ctx->get_saved_variables()[0];
    at::Tensor g = grads[0];
    at::Tensor w = fetch_weight(*cb);
    at::Tensor g2 = g.reshape({-1, g.size(-1)});
    at::Tensor x2 = x.reshape({-1, x.size(-1)});
    at::Tensor gx = g2.mm(w).view(x.sizes());
    w = at::Tensor();
    at::Tensor gw = g2.t().mm(x2);
    char err[1024];
    err[0] = '\0';
    void* owned = new at::Tensor(std::move(gw));  // the callback takes ownership
    if (cb->grad(cb->ctx, owned, err, sizeof(err)) != 0) {
      err[sizeof(err) - 1] = '\0';
      throw std::runtime_error(std::string("int8 linear update: ") + err);
    }
    return {gx, at::Tensor()};
  }
};

using planform::write_error;

}  // namespace

extern "C" {

// A new callbacks record for `planform_int8_linear` (free with `planform_int8_callbacks_free`).
void* planform_int8_callbacks_new(planform_weight_fn weight, planform_grad_fn grad, void* ctx) {
  return new Callbacks{weight, grad, ctx};
}

void planform_int8_callbacks_free(void* callbacks) {
  delete static_cast<Callbacks*>(callbacks);
}

// `y = x Wᵀ` through the autograd function above; `x` is an `at::Tensor*`. Returns a new
// `at::Tensor*` (owned by the caller) or null with a message in `err`.
void* planform_int8_linear(void* x, void* callbacks, char* err, size_t err_len) {
  try {
    const auto* t = static_cast<const at::Tensor*>(x);
    if (!t->defined()) throw std::invalid_argument("undefined input");
    at::Tensor y = Int8Linear::apply(*t, reinterpret_cast<int64_t>(callbacks));
    return new at::Tensor(std::move(y));
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return nullptr;
  }
}

}  // extern "C"
