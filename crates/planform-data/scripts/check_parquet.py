#!/usr/bin/env python3
"""Check that a planform dataset opens as-is in pyarrow, pandas and (if installed)
Hugging Face `datasets`, and agrees with its manifest.

Usage:
    PYTHONPATH=/path/to/planform/.torch python3 check_parquet.py DATASET_DIR

Checks, for each split:
  * the shard files listed in manifest.json exist, their row counts match, their
    Parquet key-value metadata names the manifest format version;
  * pyarrow reads the expected columns and types (uint64 ids, list<uint32> tokens, ...);
  * pandas reads the same rows; ids are unique; lengths match the length columns;
  * every token id decodes through the manifest vocabulary and maze tasks' prompts
    re-encode from the `task` JSON (token round trip);
  * `datasets.load_dataset("parquet", data_files=...)` gives the same rows, if importable.
Prints one summary line per split and exits non-zero on the first failed check.
"""

import glob
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd

EXPECTED = {
    "id": pa.uint64(),
    "layout": pa.uint64(),
    "task": pa.string(),
    "prompt": pa.list_(pa.uint32()),
    "reasoning": pa.list_(pa.uint32()),
    "plan": pa.list_(pa.uint32()),
    "plan_length": pa.uint32(),
    "reasoning_length": pa.uint32(),
    "astar_mean_reasoning": pa.float64(),
}


def fail(msg):
    print(f"check_parquet: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def maze_prompt(task):
    """Prompt token strings from the task JSON (reference SimpleMazeTokenizer)."""
    toks = ["start", str(task["start"][0]), str(task["start"][1]),
            "goal", str(task["goal"][0]), str(task["goal"][1])]
    for x, y in task["walls"]:
        toks += ["wall", str(x), str(y)]
    return toks


def check_split(root, manifest, split):
    info = manifest[split]
    vocab = manifest["vocabulary"]
    files = [os.path.join(root, s["file"]) for s in info["shards"]]
    if not files:
        check(info["tasks"] == 0, f"{split}: no shards but tasks = {info['tasks']}")
        print(f"{split}: empty")
        return
    for s, path in zip(info["shards"], files):
        check(os.path.getsize(path) == s["bytes"], f"{path}: size differs from manifest")
        meta = pq.ParquetFile(path).metadata
        check(meta.num_rows == s["rows"], f"{path}: {meta.num_rows} rows, manifest {s['rows']}")
        kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
        check(kv.get("planform.format_version") == str(manifest["format_version"]),
              f"{path}: key-value metadata {kv.get('planform.format_version')!r}")
        check(kv.get("planform.split") == split, f"{path}: split metadata {kv.get('planform.split')!r}")

    # pyarrow
    table = pa.concat_tables([pq.read_table(f) for f in files])
    check(table.num_rows == info["tasks"], f"{split}: pyarrow {table.num_rows} rows")
    names = table.schema.names
    check(names == list(EXPECTED), f"{split}: columns {names}")
    for name, typ in EXPECTED.items():
        got = table.schema.field(name).type
        same = got == typ or (pa.types.is_list(got) and got.value_type == typ.value_type
                              if pa.types.is_list(typ) else False)
        check(same, f"{split}: column {name} has type {got}, expected {typ}")

    # pandas
    df = pd.read_parquet(files[0]) if len(files) == 1 else pd.concat(
        [pd.read_parquet(f) for f in files], ignore_index=True)
    check(len(df) == info["tasks"], f"{split}: pandas {len(df)} rows")
    check(df["id"].is_unique, f"{split}: ids not unique")
    check(list(df.columns) == list(EXPECTED), f"{split}: pandas columns {list(df.columns)}")
    is_maze = manifest["config"]["domain"]["kind"] == "maze"
    for row in df.itertuples(index=False):
        check(len(row.reasoning) == row.reasoning_length,
              f"{split} id {row.id}: reasoning_length mismatch")
        check(len(row.plan) == 3 * row.plan_length, f"{split} id {row.id}: plan_length mismatch")
        for col in ("prompt", "reasoning", "plan"):
            ids = getattr(row, col)
            check(all(0 <= int(t) < len(vocab) for t in ids),
                  f"{split} id {row.id}: {col} token out of vocabulary")
        prompt = [vocab[int(t)] for t in row.prompt]
        plan = [vocab[int(t)] for t in row.plan]
        check(plan[0::3] == ["plan"] * row.plan_length, f"{split} id {row.id}: plan keywords")
        if is_maze:
            task = json.loads(row.task)
            check(set(task) == {"width", "height", "start", "goal", "walls"},
                  f"{split} id {row.id}: task fields {sorted(task)}")
            check(prompt == maze_prompt(task), f"{split} id {row.id}: prompt != task JSON")
            check(plan[1:3] == prompt[1:3] and plan[-2:] == prompt[4:6],
                  f"{split} id {row.id}: plan does not go from start to goal")
    tstar = df["astar_mean_reasoning"].notna().sum()
    if split == "test" and manifest["has_astar_mean_reasoning"]:
        check(tstar == len(df), f"{split}: t* missing on {len(df) - tstar} rows")
    else:
        check(tstar == 0, f"{split}: unexpected t* values")
    # pyarrow and pandas agree on a sample of token lists.
    for i in range(0, len(df), max(1, len(df) // 17)):
        check(table.column("reasoning")[i].as_py() == [int(t) for t in df["reasoning"][i]],
              f"{split}: pyarrow/pandas disagree at row {i}")

    msg = f"{split}: {len(df)} rows, {len(files)} shards ok (pyarrow {pa.__version__}, pandas {pd.__version__})"
    try:
        import datasets  # noqa: F401
    except ImportError:
        print(msg + "; datasets not installed, skipped")
        return
    import tempfile
    from datasets import load_dataset
    with tempfile.TemporaryDirectory() as cache:
        ds = load_dataset("parquet", data_files={split: files}, split=split, cache_dir=cache)
        check_hf(ds, df, split)
    print(msg + f"; datasets {datasets.__version__} ok")


def check_hf(ds, df, split):
    check(len(ds) == len(df), f"{split}: datasets {len(ds)} rows")
    check(ds.column_names == list(EXPECTED), f"{split}: datasets columns {ds.column_names}")
    first = ds[0]
    check(first["id"] == int(df["id"][0]) and first["prompt"] == [int(t) for t in df["prompt"][0]],
          f"{split}: datasets row 0 differs")


def main():
    if len(sys.argv) != 2:
        fail("usage: check_parquet.py DATASET_DIR")
    root = sys.argv[1]
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = json.load(f)
    check(manifest["format"] == "planform-dataset", "not a planform dataset")
    listed = {s["file"] for sp in ("train", "test") for s in manifest[sp]["shards"]}
    on_disk = {os.path.basename(p) for p in glob.glob(os.path.join(root, "*.parquet"))}
    check(listed == on_disk, f"shards on disk {sorted(on_disk)} != manifest {sorted(listed)}")
    for split in ("train", "test"):
        check_split(root, manifest, split)
    print("check_parquet: OK")


if __name__ == "__main__":
    main()
