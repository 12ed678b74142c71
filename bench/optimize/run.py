"""Benchmark of the optimization Job on MiniLM and on a digits classifier trained here.

Runs the Job's own pipeline (`candidates: auto`, cosine, maxDrop 0.01 for MiniLM;
accuracy for the classifier) and prints, per model, the candidate table with throughput
as a ratio to ONNX Runtime FP32 measured in the same run, and the choice. The last line
is one JSON object with the headline figures.

    python bench/optimize/run.py [--minilm DIR] [--seconds S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "operator"))

from modelrollout.api import optimization as api  # noqa: E402
from modelrollout.optimize import optimizing, settings  # noqa: E402

SUBJECTS = [
    "The cat",
    "A young engineer",
    "Our team",
    "The old river",
    "This small company",
    "My neighbour",
    "The orchestra",
    "A quiet student",
    "The city council",
    "Her brother",
    "The weather service",
    "A local bakery",
    "The new library",
    "Every morning the bus",
]
VERBS = [
    "quickly finished",
    "carefully reviewed",
    "never understood",
    "happily shared",
    "suddenly cancelled",
    "slowly rebuilt",
    "proudly presented",
    "openly criticised",
    "secretly enjoyed",
    "barely noticed",
]
OBJECTS = ["the annual report", "a long walk through the park", "the broken bicycle",
           "an unexpected letter from abroad", "the results of the experiment",
           "a plan to reduce traffic downtown", "the recipe for apple pie",
           "the final chapter of the novel", "a concert for the whole village",
           "the budget for next year"]  # fmt: skip


def sentences(n: int) -> list[str]:
    combos = itertools.product(SUBJECTS, VERBS, OBJECTS)
    rng = np.random.default_rng(7)
    picked = list(combos)
    order = rng.permutation(len(picked))[:n]
    return [f"{picked[i][0]} {picked[i][1]} {picked[i][2]}." for i in order]


def minilm_data(model_dir: pathlib.Path, out: pathlib.Path, n: int, seq: int) -> pathlib.Path:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(seq)
    tok.enable_padding(length=seq)
    enc = tok.encode_batch(sentences(n))
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    np.savez(out, input_ids=ids, attention_mask=mask)
    return out


def digits_model(work: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=300, random_state=0)
    clf.fit(x[:1297], y[:1297])
    model = to_onnx(clf, x[:1], options={"zipmap": False}, target_opset=17)
    path = work / "digits.onnx"
    path.write_bytes(model.SerializeToString())
    data = work / "digits-eval.npz"
    np.savez(data, X=x[1297:], labels=y[1297:].astype(np.int64))
    return path, data


def run_job(argv: list[str]) -> api.OptimizationReport:
    return optimizing.run(settings.parse(argv))


def table(report: api.OptimizationReport) -> str:
    ref = report.candidates[0]
    rows = ["| candidate | p50 ms (b1) | throughput/s | vs ORT FP32 | accuracy drop | size MB "
            "| passed | reason |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in report.candidates:
        ratio = c.throughput / ref.throughput if c.throughput and ref.throughput else None
        rows.append(
            f"| {c.key} | {_f(c.p50Ms, '.2f')} | {_f(c.throughput, '.1f')} | {_f(ratio, '.2f')}x "
            f"| {_f(c.accuracyDrop, '.4f')} | {_f((c.sizeBytes or 0) / 1e6, '.1f')} "
            f"| {'yes' if c.passed else 'no'} | {c.reason[:70]} |"
        )
    return "\n".join(rows)


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minilm", type=pathlib.Path, default=ROOT / ".." / "shared" / "models" / "minilm-l6-v2")
    p.add_argument("--seconds", type=float, default=6.0, help="time per measurement")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--skip-digits", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("modelrollout").setLevel(logging.INFO)  # see optimize.command
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    common = ["--benchmark-batch", "32", "--benchmark-seconds", str(a.seconds)]

    if not a.skip_digits:
        model, data = digits_model(work)
        digits = run_job([
            "--model-name", "digits", "--model-version", "1", "--model-uri", model.as_uri(),
            "--evaluation-uri", data.as_uri(), "--metric", "accuracy", "--max-drop", "0.01",
            "--work-dir", str(work / "digits"), *common,
        ])  # fmt: skip
        print("\n## digits MLP (skl2onnx), metric accuracy, maxDrop 0.01\n")
        print(table(digits))
        print(f"\nchosen: {digits.selected.key if digits.selected else None}")

    model_dir = a.minilm.resolve()
    data = minilm_data(model_dir, work / "minilm-eval.npz", a.samples, a.seq)
    minilm = run_job([
        "--model-name", "minilm", "--model-version", "1",
        "--model-uri", (model_dir / "model.onnx").as_uri(), "--evaluation-uri", data.as_uri(),
        "--metric", "cosine", "--max-drop", "0.01", "--work-dir", str(work / "minilm"), *common,
    ])  # fmt: skip
    print(f"\n## MiniLM-L6-v2, {a.samples} sentences, seq {a.seq}, metric cosine, maxDrop 0.01\n")
    print(table(minilm))
    chosen = next(c for c in minilm.candidates if minilm.selected and c.key == minilm.selected.key)
    print(f"\nchosen: {chosen.key}")
    print(json.dumps({
        "model": "minilm-l6-v2",
        "chosen": chosen.key,
        "throughputRatioVsOrtFp32": round(minilm.selected.throughputRatio or 0.0, 3)
        if minilm.selected else None,
        "accuracyDrop": round(chosen.accuracyDrop or 0.0, 5),
        "maxDrop": 0.01,
        "metric": "cosine",
        "withinBudget": (chosen.accuracyDrop or 0.0) <= 0.01,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
