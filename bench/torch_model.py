"""Shared helpers of the PyTorch-eager comparison scripts run by `planform bench train` and
`planform bench decode` (`bench/train_pytorch.py`, `bench/decode_pytorch.py`).

The model itself is not defined here: it is the PyTorch re-implementation of the Searchformer
encoder-decoder in `bench/searchformer_torch.py` (written from the
reference architecture description: pre-RMSNorm, interleaved RoPE in self-attention only,
SDPA, SwiGLU, no biases, unmasked encoder self-attention, masked cross-attention). This module
loads that file by path so that both comparison scripts time exactly that model.
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL_FILE = os.path.join(HERE, "searchformer_torch.py")


def load_model_module():
    """Imports `searchformer_torch.py` (the model classes) as a module."""
    if not os.path.isfile(MODEL_FILE):
        sys.exit(f"model definition not found: {MODEL_FILE}")
    spec = importlib.util.spec_from_file_location("planform_bench_pytorch_model", MODEL_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_spec(path):
    """The JSON spec written by `planform bench …`."""
    with open(path) as f:
        return json.load(f)


def setup(spec):
    """Threads, seed and device of a spec; returns (torch, device)."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    torch.manual_seed(int(spec.get("seed", 0)))
    dev = torch.device(spec.get("device", "cpu"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA requested but torch.cuda.is_available() is False")
    return torch, dev


def build_model(mod, spec, dev):
    """The encoder-decoder of the spec (encoder and decoder stacks must be equal, as in every
    named size) on `dev`, and its parameter count."""
    m = spec["model"]
    enc, dec = m["encoder"], m["decoder"]
    if enc != dec:
        sys.exit(f"encoder and decoder stacks differ ({enc} vs {dec}); not supported")
    model = mod.EncoderDecoder(m["vocab_size"], dec["dim"], dec["layers"], dec["heads"]).to(dev)
    return model, sum(p.numel() for p in model.parameters())


def sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def emit(result):
    """Prints the one JSON line `planform bench` reads."""
    print(json.dumps(result), flush=True)
