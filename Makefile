# The two set-up commands from the README: `make demo` (main job) and `make test` (the tests).
# Both install libtorch into ./.torch on first use (scripts/setup-torch.sh, idempotent):
# `make demo` and `make lint` the CPU set-up (libtorch only); `make test`, `make bench` and
# `make cuda` the full one (the wheel's NVIDIA CUDA libraries and Python torch, which the
# Hugging Face export test and the PyTorch comparisons import).
.PHONY: setup setup-cuda demo test lint bench cuda
setup:
	./scripts/setup-torch.sh

setup-cuda:
	./scripts/setup-torch.sh --cuda

demo: setup
	cargo run --release -p planform -- demo

# PLANFORM_REQUIRE_PYTHON=1: a test that needs Python torch fails instead of skipping.
test: setup-cuda
	PLANFORM_REQUIRE_PYTHON=1 cargo test --workspace --release

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings

bench: setup-cuda
	cargo build --release -p planform
	target/release/planform bench gen
	target/release/planform bench train
	target/release/planform bench decode

# target/release/planform linked to libtorch_cuda (docs/gpu.md). A later build without
# PLANFORM_CUDA=1 relinks it for the CPU only.
cuda: setup-cuda
	PLANFORM_CUDA=1 cargo build --release -p planform
	@readelf -d target/release/planform | grep -q 'libtorch_cuda\.so' \
		&& echo "cuda: target/release/planform links libtorch_cuda.so"
