"""Benchmark of the optimization Job on MiniLM and on a digits classifier trained here.

Runs the Job's own pipeline (`candidates: auto`, cosine, maxDrop 0.01 for MiniLM;
accuracy for the classifier) on the `cpu` pool profile (its price, a replica of
`--threads` CPUs) and prints the CPU and its features, then per model the candidate table
with throughput as a ratio to ONNX Runtime FP32 measured in the same run, latency at
batch 1 and cost per million inferences, and the choice. For MiniLM it then measures, in
turns, ORT FP32, the hand-tuned reference recipe (pre-processed, per-channel,
reduce_range dynamic INT8, built here with ONNX Runtime's own tools) and the chosen
artifact. The last line is one JSON object with the headline figures.

    python bench/optimize/run.py [--minilm DIR] [--seconds S] [--threads N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import pathlib
import sys
import tempfile
from urllib.parse import urlparse

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "operator"))

from modelrollout.api import optimization as api  # noqa: E402
from modelrollout.api.v1alpha1 import Resources  # noqa: E402
from modelrollout.optimize import benchmarking, datasets, evaluating, optimizing, settings  # noqa: E402
from modelrollout.optimize.candidates import registry  # noqa: E402
from modelrollout.pools import pricing, profiles  # noqa: E402

TURNS = 5  # rounds of the side-by-side measurement of FP32, hand-tuned and chosen

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
    rows = [f"| candidate | p50 / p99 ms (b1) | throughput/s (b32) | vs ORT FP32 | accuracy drop | size MB "
            f"| cost per million ({report.pool}) | passed | reason |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in report.candidates:
        ratio = c.throughput / ref.throughput if c.throughput and ref.throughput else None
        rows.append(
            f"| {c.key} | {_f(c.p50Ms, '.1f')} / {_f(c.p99Ms, '.1f')} | {_f(c.throughput, '.1f')} "
            f"| {_f(ratio, '.2f')}x | {_f(c.accuracyDrop, '.4f')} | {_f((c.sizeBytes or 0) / 1e6, '.1f')} "
            f"| {_f(c.costPerMillion, '.3f')} | {'yes' if c.passed else 'no'} | {c.reason[:90]} |"
        )
    return "\n".join(rows)


def hand_tuned(source: pathlib.Path, work: pathlib.Path) -> pathlib.Path:
    """The reference recipe, with ONNX Runtime's tools directly: pre-processed, per-channel, reduce_range."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, out = work / "hand-pre.onnx", work / "hand-tuned.onnx"
    quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
    quantize_dynamic(str(pre), str(out), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)
    return out


def artifact_file(uri: str) -> pathlib.Path:
    path = pathlib.Path(urlparse(uri).path)
    if path.is_file():  # the store names the model file itself
        return path
    return next(p for name in ("model.onnx", "model.xml") if (p := path / name).exists())


def side_by_side(
    paths: dict[str, pathlib.Path], runtimes: dict[str, api.Runtime], data: datasets.Dataset,
    seconds: float, threads: int,
) -> tuple[dict[str, benchmarking.Measurement], dict[str, float]]:  # fmt: skip
    """Throughput and latency of each model measured in turns, and its cosine to FP32."""
    runners = {k: registry.backend(runtimes[k]).load(p, "CPU", api.Precision.INT8, threads) for k, p in paths.items()}
    outputs = {k: evaluating.predict(r, data, 32, 0) for k, r in runners.items()}
    cosine = {k: evaluating.score(api.Metric.COSINE, o, outputs["ORT FP32"]) for k, o in outputs.items()}
    budget = benchmarking.Budget(seconds * TURNS, 10_000)
    return benchmarking.compare(runners, data, 32, budget, TURNS), cosine


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minilm", type=pathlib.Path, default=ROOT / ".." / "shared" / "models" / "minilm-l6-v2")
    p.add_argument("--seconds", type=float, default=6.0, help="time per measurement")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads = CPUs of the replica priced")
    p.add_argument("--deadline", type=float, default=1620.0, help="the Job's search deadline, seconds")
    p.add_argument("--calibration-samples", type=int, default=128, help="as the CRD's default")
    p.add_argument("--candidates", default="auto", help="auto, or the Job's JSON list (a shorter run)")
    p.add_argument("--skip-digits", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("modelrollout").setLevel(logging.INFO)  # see optimize.command
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    pool = profiles.defaults()["cpu"]
    price = pricing.per_replica_hour(pool, Resources(requests={"cpu": str(a.threads)}))
    common = [
        "--benchmark-batch", "32", "--benchmark-seconds", str(a.seconds), "--threads", str(a.threads),
        "--pool", "cpu", "--price-per-hour", repr(price), "--deadline-seconds", str(a.deadline),
        "--calibration-samples", str(a.calibration_samples), "--evaluation-samples", str(a.samples),
        "--candidates", a.candidates,
    ]  # fmt: skip

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
    data_path = minilm_data(model_dir, work / "minilm-eval.npz", a.samples, a.seq)
    minilm = run_job([
        "--model-name", "minilm", "--model-version", "1",
        "--model-uri", (model_dir / "model.onnx").as_uri(), "--evaluation-uri", data_path.as_uri(),
        "--metric", "cosine", "--max-drop", "0.01", "--work-dir", str(work / "minilm"), *common,
    ])  # fmt: skip
    hw = minilm.hardware or api.Hardware()
    print(f"\nCPU: {hw.cpu}; features: {', '.join(hw.cpuFeatures) or 'none known'}; threads {hw.threads}")
    print(f"pool cpu: {price:.4f} {pool.price.currency if pool.price else ''} per replica hour "
          f"({a.threads} of {pool.price.node_cpus if pool.price else '?'} CPUs of a node)")  # fmt: skip
    print(f"\n## MiniLM-L6-v2, {a.samples} sentences, seq {a.seq}, metric cosine, maxDrop 0.01\n")
    print(table(minilm))
    if minilm.selected is None:
        print(f"\nno choice: {minilm.reason}")
        return 1
    chosen = next(c for c in minilm.candidates if c.key == minilm.selected.key)
    print(f"\nchosen: {chosen.key}")

    # The reference row: the hand-tuned recipe, measured in turns with FP32 and the choice.
    evaluation = datasets.Dataset(dict(np.load(data_path)))
    paths = {
        "ORT FP32": model_dir / "model.onnx",
        "hand-tuned ORT INT8 dynamic (pre-processed, per-channel, reduce_range)": hand_tuned(
            model_dir / "model.onnx", work
        ),
        f"chosen: {chosen.key}": artifact_file(minilm.selected.uri),
    }
    runtimes = dict.fromkeys(paths, api.Runtime.ONNXRUNTIME)
    runtimes[f"chosen: {chosen.key}"] = chosen.runtime
    measured, cosine = side_by_side(paths, runtimes, evaluation, a.seconds, a.threads)
    base = measured["ORT FP32"].throughput
    print(f"\n## Side by side, {TURNS} turns each (batch 32 throughput, batch 1 latency)\n")
    print("| model | throughput/s | vs ORT FP32 | p50 / p99 ms (b1) | mean cosine vs FP32 | cost per million (cpu) |")
    print("|---|---|---|---|---|---|")
    for name, m in measured.items():
        cost = price / (m.throughput * 3600) * 1e6
        print(f"| {name} | {m.throughput:.1f} | {m.throughput / base:.2f}x | {m.p50_ms:.1f} / {m.p99_ms:.1f} "
              f"| {cosine[name]:.4f} | {cost:.3f} |")  # fmt: skip
    keys = list(measured)
    chosen_ratio = measured[keys[2]].throughput / base
    hand_ratio = measured[keys[1]].throughput / base
    print(json.dumps({
        "model": "minilm-l6-v2",
        "cpu": hw.cpu,
        "cpuFeatures": hw.cpuFeatures,
        "threads": a.threads,
        "chosen": chosen.key,
        "chosenVsOrtFp32": round(chosen_ratio, 3),
        "handTunedVsOrtFp32": round(hand_ratio, 3),
        "chosenVsHandTuned": round(chosen_ratio / hand_ratio, 3),
        "chosenCosine": round(cosine[keys[2]], 5),
        "jobThroughputRatio": round(minilm.selected.throughputRatio or 0.0, 3),
        "accuracyDrop": round(chosen.accuracyDrop or 0.0, 5),
        "costPerMillionCpuPool": round(price / (measured[keys[2]].throughput * 3600) * 1e6, 4),
        "maxDrop": 0.01,
        "withinBudget": (chosen.accuracyDrop or 0.0) <= 0.01,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
