# The two set-up commands from the README: `make demo` (main job) and `make test` (the tests).
# Both install libtorch into ./.torch on first use (scripts/setup-torch.sh, idempotent).
.PHONY: setup demo test lint bench
setup:
	./scripts/setup-torch.sh

demo: setup
	cargo run --release -p planform -- demo

test: setup
	cargo test --workspace --release

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings

bench: setup
	cargo build --release -p planform
	target/release/planform bench gen
	target/release/planform bench train
	target/release/planform bench decode
