"""The Job's work, step by step: fetch, reference, candidates, select, upload, report."""

from __future__ import annotations

import dataclasses
import gc
import logging
import pathlib
import shutil
import time
from collections.abc import Callable

import numpy as np

from modelrollout import storage
from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize import (
    benchmarking,
    datasets,
    economics,
    evaluating,
    hardware,
    planning,
    selecting,
    settings,
    signatures,
)
from modelrollout.optimize.candidates import base, registry
from modelrollout.optimize.errors import OptimizeError
from modelrollout.storage import fetching

log = logging.getLogger(__name__)

SYNTHETIC_SAMPLES = 32
SEARCH_SAMPLES = 32  # evaluation samples the searching candidates judge their trials on
RESERVE_SECONDS = 30.0  # of the deadline, kept for the upload and the report
CONFIRM_TOP = 3  # best candidates measured again in turns with the reference
CONFIRM_ROUNDS = 3


@dataclasses.dataclass
class _Context:
    s: settings.Settings
    source: pathlib.Path
    evaluation: datasets.Dataset
    calibration: datasets.Dataset | None
    batch: int
    output: int
    reference_outputs: np.ndarray
    reference_score: float
    budget: benchmarking.Budget
    reduce_range: bool
    eval_batch: int = 1
    search: datasets.Dataset | None = None  # the subset searching candidates judge on
    search_outputs: np.ndarray | None = None  # the reference's outputs on it


def failed_report(s: settings.Settings | None, reason: str, started: float) -> api.OptimizationReport:
    return api.OptimizationReport(
        model=s.model_name if s else "",
        version=s.model_version if s else "",
        metric=s.metric if s else api.Metric.COSINE,
        maxDrop=s.max_drop if s else 0.0,
        succeeded=False,
        reason=" ".join(reason.split()),  # one line, whatever the error text held
        durationSeconds=time.monotonic() - started,
        objective=s.objective if s else api.Objective.THROUGHPUT,
        maxLatencyMs=s.max_latency_ms if s else None,
        pool=s.pool if s else "",
        pricePerReplicaHour=s.price_per_hour if s else None,
    )


def run(s: settings.Settings) -> api.OptimizationReport:
    """Do the whole Job; raise OptimizeError with a one-line reason when it cannot succeed."""
    started = time.monotonic()
    source, size = _fetch_model(s)
    cpu, machine = _machine(s)
    reduce_range = registry.needs_reduce_range(cpu)
    reference = registry.reference(s.format)
    ref_runner = _load_reference(s, source, reference, reduce_range)
    signature = ref_runner.signature
    log.info("inputs: %s", "; ".join(spec.describe() for spec in signature))
    specs = _candidate_specs(s, signature, size, cpu)
    evaluation, synthetic = _evaluation(s, signature)
    ctx = _context(s, source, reference, ref_runner, evaluation, reduce_range)
    del ref_runner  # its memory is the candidates' now

    results, artifacts, reference_seconds = _try_candidates(ctx, specs, started)
    clock = planning.Clock(time.monotonic() - started, s.deadline_seconds, reference_seconds, RESERVE_SECONDS)
    results = _confirm(ctx, results, artifacts, reference.key, clock)
    results = [
        r.model_copy(update={"costPerMillion": economics.cost_per_million(s.price_per_hour, r.throughput)})
        for r in results
    ]
    selection = selecting.select(results, reference.key, s.max_drop, s.objective, s.max_latency_ms)
    common: dict[str, object] = {
        "model": s.model_name,
        "version": s.model_version,
        "metric": s.metric,
        "maxDrop": s.max_drop,
        "objective": s.objective,
        "maxLatencyMs": s.max_latency_ms,
        "hardware": machine,
        "pool": s.pool,
        "pricePerReplicaHour": s.price_per_hour,
        "evaluationSamples": evaluation.count,
        "syntheticEvaluation": synthetic,
    }
    return _report(s, selection, reference.key, artifacts, common, started)


def _fetch_model(s: settings.Settings) -> tuple[pathlib.Path, int]:
    """The model file in the work dir, checked against its declared format, and its size in bytes."""
    s.work_dir.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s", storage.redact(s.model_uri))
    try:
        source = storage.fetch(s.model_uri, s.work_dir / "source", sha256=s.model_sha256)
    except storage.StorageError as e:
        raise OptimizeError(f"model: {e}") from e
    _check_format(source, s.format)
    size = base.artifact_size(source)
    log.info("fetched %s (%d bytes)", source.name, size)
    return source, size


def _machine(s: settings.Settings) -> tuple[hardware.Cpu, api.Hardware]:
    """The CPU the candidates are judged on, and the machine as the report names it."""
    cpu = hardware.cpu()
    machine = api.Hardware(
        cpu=cpu.model, cpuFeatures=cpu.feature_names(), devices=hardware.devices(), threads=s.threads
    )
    log.info(
        "CPU %s, features %s, devices %s, threads %s",
        cpu.model or "unknown", ", ".join(machine.cpuFeatures) or "none known",
        ", ".join(machine.devices), s.threads or "runtime default",
    )  # fmt: skip
    return cpu, machine


def _load_reference(
    s: settings.Settings, source: pathlib.Path, reference: api.CandidateSpec, reduce_range: bool
) -> base.Runner:
    """The reference, built and loaded: if it cannot be, nothing can be judged."""
    ref_dir = s.work_dir / "candidates" / reference.key
    ref_ctx = base.BuildContext(source, s.format, ref_dir, None, reduce_range)
    try:
        ref_path = registry.backend(reference.runtime).build(reference, ref_ctx)
        return registry.backend(reference.runtime).load(ref_path, _device(s, reference), reference.precision, s.threads)
    except Exception as e:
        raise OptimizeError(f"reference {reference.key} failed to load: {_one_line(e)}") from e


def _candidate_specs(
    s: settings.Settings, signature: signatures.Signature, size: int, cpu: hardware.Cpu
) -> list[api.CandidateSpec]:
    """The candidates to try, the reference first: those listed, or those worth trying here."""
    transformer = registry.is_transformer({spec.name for spec in signature})
    specs = (
        registry.auto(s.accelerator, s.format, size, cpu, transformer)
        if s.candidates is None
        else registry.with_reference(s.candidates, s.format)
    )
    log.info("candidates, by expected gain: %s", ", ".join(c.key for c in specs))
    return specs


def _context(
    s: settings.Settings,
    source: pathlib.Path,
    reference: api.CandidateSpec,
    ref_runner: base.Runner,
    evaluation: datasets.Dataset,
    reduce_range: bool,
) -> _Context:
    """What every candidate is built and judged with, the reference's outputs included."""
    signature = ref_runner.signature
    calibration = _calibration(s, signature, evaluation)
    capacity = signatures.batch_capacity(signature)
    batch = s.benchmark_batch if capacity is None else capacity
    try:
        first = ref_runner.run(evaluation.take(1).batch_of(1 if capacity is None else capacity))
        output = evaluating.scored_output(first)
        ref_outputs = evaluating.predict(ref_runner, evaluation, batch, output)
        ref_score = evaluating.score(s.metric, ref_outputs, ref_outputs, evaluation.labels)
    except OptimizeError:
        raise
    except Exception as e:
        raise OptimizeError(f"reference {reference.key} failed to run: {_one_line(e)}") from e
    log.info("reference %s scores %.4f (%s)", reference.key, ref_score, s.metric.value)
    search = evaluation.take(SEARCH_SAMPLES)
    return _Context(
        s, source, evaluation, calibration, batch, output, ref_outputs, ref_score,
        benchmarking.Budget(s.benchmark_seconds, s.benchmark_iterations), reduce_range,
        batch, search, ref_outputs[: search.count],
    )  # fmt: skip


def _try_candidates(
    ctx: _Context, specs: list[api.CandidateSpec], started: float
) -> tuple[list[api.CandidateResult], dict[str, pathlib.Path], float]:
    """Build and judge each candidate the deadline admits: results, artifacts by key, the reference's seconds."""
    s = ctx.s
    results: list[api.CandidateResult] = []
    artifacts: dict[str, pathlib.Path] = {}
    reference_seconds = 0.0
    for i, spec in enumerate(specs, 1):
        clock = planning.Clock(time.monotonic() - started, s.deadline_seconds, reference_seconds, RESERVE_SECONDS)
        skip = "" if i == 1 else planning.admit(spec, clock) or _redundant(spec, results, s.max_drop)
        if skip:
            log.info("[%d/%d] %s: %s", i, len(specs), spec.key, skip)
            results.append(_skipped(ctx, spec, skip))
            continue
        log.info("[%d/%d] %s: building", i, len(specs), spec.key)
        began = time.monotonic()
        result, path = _candidate(ctx, spec, _search_seconds(clock))
        if i == 1:
            reference_seconds = time.monotonic() - began
        results.append(result)
        if path is not None:
            artifacts[spec.key] = path
        _log_result(i, len(specs), result)
        gc.collect()
    return results, artifacts, reference_seconds


def _report(
    s: settings.Settings,
    selection: selecting.Selection,
    reference_key: str,
    artifacts: dict[str, pathlib.Path],
    common: dict[str, object],
    started: float,
) -> api.OptimizationReport:
    """The report of the selection; the winner, if any, uploaded first."""
    winner = selection.winner
    if winner is None:
        if not any(r.key == reference_key and r.throughput is not None for r in selection.results):
            raise OptimizeError(selection.reason)
        # The candidates stay in the report: they say how far each was from the bound.
        outcome: dict[str, object] = {"succeeded": False, "reason": selection.reason}
    else:
        log.info("selected %s (objective %s)", winner.key, s.objective.value)
        ref_result = next(r for r in selection.results if r.key == reference_key)
        outcome = {"succeeded": True, "selected": _upload(s, winner, artifacts[winner.key], ref_result)}
    return api.OptimizationReport.model_validate(
        {**common, **outcome, "candidates": selection.results, "durationSeconds": time.monotonic() - started}
    )


def _search_seconds(clock: planning.Clock) -> float:
    """Time a searching candidate (mixed precision) may spend on its trials."""
    left = planning.remaining(clock)
    # Without a deadline, still bounded: a few times what the reference took.
    cap = max(60.0, 6 * clock.reference_seconds)
    return cap if left is None else min(cap, left / 2)


def _redundant(spec: api.CandidateSpec, done: list[api.CandidateResult], max_drop: float) -> str:
    """Why a searching candidate cannot beat one already measured, else empty."""
    plain = {api.Method.NNCF_ACCURACY: api.Method.NNCF, api.Method.STATIC_MIXED: api.Method.STATIC}.get(spec.method)
    if plain is None:
        return ""
    for r in done:
        if (r.runtime, r.precision, r.method) == (spec.runtime, spec.precision, plain) and (
            r.throughput is not None and r.accuracyDrop is not None and r.accuracyDrop <= max_drop
        ):
            return f"not tried: {r.key} already meets the accuracy budget, which is all {spec.method.value} adds"
    return ""


def _skipped(ctx: _Context, spec: api.CandidateSpec, reason: str) -> api.CandidateResult:
    return api.CandidateResult(
        runtime=spec.runtime,
        precision=spec.precision,
        method=spec.method,
        device=_device(ctx.s, spec),
        passed=False,
        reason=reason,
    )


def _confirm(
    ctx: _Context,
    results: list[api.CandidateResult],
    artifacts: dict[str, pathlib.Path],
    reference_key: str,
    clock: planning.Clock,
) -> list[api.CandidateResult]:
    """Measure the reference and the best few again, in turns (see benchmarking.compare)."""
    prelim = selecting.select(results, reference_key, ctx.s.max_drop, ctx.s.objective, ctx.s.max_latency_ms)
    passing = sorted(
        (r for r in prelim.results if r.passed and r.key != reference_key and r.key in artifacts),
        key=lambda r: -selecting.value(r, ctx.s.objective),
    )[:CONFIRM_TOP]
    ref = next((r for r in results if r.key == reference_key), None)
    if not passing or ref is None or ref.throughput is None or reference_key not in artifacts:
        return results
    chosen = [ref, *passing]
    # Each candidate is loaded again, then measured at two batch sizes per round.
    need = len(chosen) * (2 * ctx.budget.seconds + clock.reference_seconds / 2)
    left = planning.remaining(clock)
    if left is not None and need > left:
        log.info("no time left to measure the best candidates again in turns (%.0fs needed)", need)
        return results
    log.info("measuring %s again, in turns", ", ".join(r.key for r in chosen))
    runners: dict[str, base.Runner] = {}
    try:
        for r in chosen:
            spec = api.CandidateSpec(runtime=r.runtime, precision=r.precision, method=r.method)
            runners[r.key] = registry.backend(r.runtime).load(
                artifacts[r.key], _device(ctx.s, spec), r.precision, ctx.s.threads
            )
        measured = benchmarking.compare(runners, ctx.evaluation, ctx.batch, ctx.budget, CONFIRM_ROUNDS)
    except Exception as e:  # the first measurements stand
        log.warning("measuring again in turns failed (%s); keeping the first measurements", _one_line(e))
        return results
    finally:
        runners.clear()
        gc.collect()
    return [
        r.model_copy(update={"p50Ms": m.p50_ms, "p99Ms": m.p99_ms, "throughput": m.throughput})
        if (m := measured.get(r.key)) is not None
        else r
        for r in results
    ]


def _check_format(source: pathlib.Path, fmt: ModelFormat) -> None:
    if fmt is ModelFormat.OPENVINO and source.suffix != ".xml":
        raise OptimizeError(f"model: format openvino needs an IR .xml file, got {source.name}")
    if fmt is ModelFormat.ONNX and source.suffix == ".xml":
        raise OptimizeError(f"model: {source.name} is OpenVINO IR, not onnx (set format openvino)")


def _device(s: settings.Settings, spec: api.CandidateSpec) -> str:
    chosen = registry.device_override(s.device, spec.runtime)
    return chosen or registry.device_for(s.accelerator, spec.runtime)


def _fetch_data(uri: str, dest: pathlib.Path, what: str) -> pathlib.Path:
    try:
        return storage.fetch(uri, dest)
    except storage.StorageError as e:
        raise OptimizeError(f"{what}: {e}") from e


def _evaluation(s: settings.Settings, signature: signatures.Signature) -> tuple[datasets.Dataset, bool]:
    """The evaluation data (at most `evaluation_samples`), and whether it was generated."""
    need = datasets.min_evaluation_samples(s.metric, s.max_drop)
    synthetic = not s.evaluation_uri
    if s.evaluation_uri:
        path = _fetch_data(s.evaluation_uri, s.work_dir / "evaluation", "evaluation data")
        data = datasets.load_npz(path, signature, "evaluation data").take(s.evaluation_samples)
    elif s.metric is api.Metric.ACCURACY:
        raise OptimizeError("metric accuracy needs evaluation data with 'labels' (--evaluation-uri)")
    else:
        n = max(need, min(s.evaluation_samples, SYNTHETIC_SAMPLES))
        log.warning("no evaluation data: accuracy is judged on %d generated inputs only", n)
        data = datasets.synthesize(signature, n)
    if s.metric is api.Metric.ACCURACY and data.labels is None:
        raise OptimizeError("evaluation data: metric accuracy needs a 'labels' array")
    if data.count < need:
        raise OptimizeError(
            f"evaluation data: {data.count} samples are too few to judge a drop of "
            f"{s.max_drop:g} in {s.metric.value}; need at least {need}"
        )
    log.info("evaluation data: %d samples", data.count)
    return data, synthetic


def _calibration(
    s: settings.Settings, signature: signatures.Signature, evaluation: datasets.Dataset
) -> datasets.Dataset:
    if s.calibration_uri:
        path = _fetch_data(s.calibration_uri, s.work_dir / "calibration", "calibration data")
        data = datasets.load_npz(path, signature, "calibration data")
    else:
        log.info("no calibration data: calibrating on the evaluation inputs")
        data = evaluation
    return data.take(s.calibration_samples)


def _judges(
    ctx: _Context, backend: base.Backend, device: str, precision: api.Precision
) -> tuple[Callable[[pathlib.Path], float], Callable[[np.ndarray, list[int]], float]]:
    """For searching candidates: the drop of a model file, and the score of outputs, on the search subset."""
    assert ctx.search is not None and ctx.search_outputs is not None
    search, reference = ctx.search, ctx.search_outputs
    metric, labels = ctx.s.metric, ctx.search.labels
    reference_score = evaluating.score(metric, reference, reference, labels)

    def scorer(outputs: np.ndarray, indices: list[int]) -> float:
        return evaluating.score(metric, outputs, reference[indices], None if labels is None else labels[indices])

    def judge(path: pathlib.Path) -> float:
        runner = backend.load(path, device, precision, ctx.s.threads)
        outputs = evaluating.predict(runner, search, ctx.eval_batch, ctx.output)
        return reference_score - evaluating.score(metric, outputs, reference, labels)

    return judge, scorer


def _candidate(
    ctx: _Context, spec: api.CandidateSpec, search_seconds: float
) -> tuple[api.CandidateResult, pathlib.Path | None]:
    device = _device(ctx.s, spec)
    fields: dict[str, object] = {
        "runtime": spec.runtime,
        "precision": spec.precision,
        "method": spec.method,
        "device": device,
        "passed": False,
    }
    backend = registry.backend(spec.runtime)
    if not backend.supports(spec, ctx.s.format):
        fields["reason"] = f"{spec.runtime.value} cannot build {spec.key} from {ctx.s.format}"
        return api.CandidateResult.model_validate(fields), None
    out_dir = ctx.s.work_dir / "candidates" / spec.key
    judge, scorer = _judges(ctx, backend, device, spec.precision)
    build_ctx = base.BuildContext(
        ctx.source, ctx.s.format, out_dir, ctx.calibration, ctx.reduce_range,
        judge=judge, max_drop=ctx.s.max_drop, search_seconds=search_seconds,
        evaluation=ctx.search, output=ctx.output, scorer=scorer, threads=ctx.s.threads,
    )  # fmt: skip
    path: pathlib.Path | None = None
    step = "build"
    try:
        started = time.monotonic()
        path = backend.build(spec, build_ctx)
        fields["sizeBytes"] = base.artifact_size(path)
        log.info(
            "  built in %.1fs (%d bytes); evaluating",
            time.monotonic() - started,
            fields["sizeBytes"],
        )
        with benchmarking.peak_memory() as memory:
            step = "load"
            runner = backend.load(path, device, spec.precision, ctx.s.threads)
            step = "evaluate"
            outputs = evaluating.predict(runner, ctx.evaluation, ctx.eval_batch, ctx.output)
            candidate_score = evaluating.score(ctx.s.metric, outputs, ctx.reference_outputs, ctx.evaluation.labels)
            fields["accuracy"] = candidate_score
            fields["accuracyDrop"] = max(0.0, ctx.reference_score - candidate_score)
            step = "benchmark"
            log.info("  benchmarking (batch 1 and batch %d)", ctx.batch)
            m = benchmarking.measure(runner, ctx.evaluation, ctx.batch, ctx.budget)
            del runner
        fields.update(p50Ms=m.p50_ms, p99Ms=m.p99_ms, throughput=m.throughput, peakMemoryBytes=memory.bytes)
    except OptimizeError:
        raise
    except Exception as e:
        fields["reason"] = f"{step} failed: {_one_line(e)}"[:500]
        log.warning("  %s", fields["reason"])
        if path is not None and step == "build":
            shutil.rmtree(out_dir, ignore_errors=True)
            path = None
    return api.CandidateResult.model_validate(fields), path


def _log_result(i: int, n: int, r: api.CandidateResult) -> None:
    if r.reason and r.throughput is None:
        log.info("[%d/%d] %s: failed: %s", i, n, r.key, r.reason)
        return
    log.info(
        "[%d/%d] %s: p50 %.2f ms, %.1f samples/s, drop %.4f, %d bytes",
        i, n, r.key, r.p50Ms or 0.0, r.throughput or 0.0, r.accuracyDrop or 0.0, r.sizeBytes or 0,
    )  # fmt: skip


def _upload(
    s: settings.Settings,
    winner: api.CandidateResult,
    path: pathlib.Path,
    reference: api.CandidateResult,
) -> api.SelectedArtifact:
    store = s.artifact_store or (s.work_dir / "artifacts").resolve().as_uri()
    key = f"{s.artifact_key.strip('/')}/{winner.key}"
    log.info("uploading %s to %s/%s", winner.key, storage.redact(store), key)
    try:
        uri = storage.upload(path.parent, store, key)
    except storage.StorageError as e:
        raise OptimizeError(f"artifact store: {e}") from e
    ratio = None
    if reference.throughput and winner.throughput:
        ratio = winner.throughput / reference.throughput
    return api.SelectedArtifact(
        runtime=winner.runtime,
        precision=winner.precision,
        method=winner.method,
        uri=uri,
        sha256=fetching.sha256_of(path),
        throughputRatio=ratio,
        throughput=winner.throughput,
        p50Ms=winner.p50Ms,
        p99Ms=winner.p99Ms,
        costPerMillion=winner.costPerMillion,
        pool=s.pool,
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
