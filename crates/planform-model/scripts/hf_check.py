"""Loads a planform Hugging Face export with transformers and compares its logits with
planform's (written by tests/hf_export.rs).

    PYTHONPATH=.torch python3 crates/planform-model/scripts/hf_check.py EXPORT_DIR CASE.json

CASE.json: {"ids": [[...], ...], "logits": [[[...V...], ...], ...], "text": "tok tok ..."}.
Prints one JSON line {"max_abs_diff": ..., "tokenizer_ids": [...]} and exits 0; any load
error propagates (non-zero exit).
"""
import json
import sys

import torch
from transformers import AutoTokenizer, LlamaForCausalLM


def main():
    export_dir, case_path = sys.argv[1], sys.argv[2]
    case = json.load(open(case_path))
    # No hub kernels (nothing downloads at run time).
    model = LlamaForCausalLM.from_pretrained(export_dir, dtype=torch.float32, use_kernels=False)
    model.eval()
    ids = torch.tensor(case["ids"], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    want = torch.tensor(case["logits"], dtype=torch.float32)
    diff = (logits - want).abs().max().item()
    tok = AutoTokenizer.from_pretrained(export_dir)
    enc = tok(case["text"], add_special_tokens=False)["input_ids"]
    print(json.dumps({"max_abs_diff": diff, "tokenizer_ids": enc, "layers": model.config.num_hidden_layers}))


if __name__ == "__main__":
    main()
