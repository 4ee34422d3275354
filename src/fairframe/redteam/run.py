"""Run a red-team suite against a target and write ``report.json`` and ``report.html``.

:func:`run_redteam` sends

1. every suite row unmutated (mutator ``"none"``),
2. every row rewritten by each mutator (benign rows too, so the false-positive rate under
   mutation is measured), one query each, with the mutator's ``random.Random`` seeded by
   ``(seed, mutator, row id)``,
3. with ``adaptive_budget``: an :func:`~fairframe.redteam.search.adaptive_search` over all the
   mutators for every unsafe row the unmutated target stopped (mutator ``"adaptive"``),

then computes :func:`~fairframe.redteam.metrics.compute_metrics` and writes the report.

**Resuming.** Every answered batch is appended to ``OUT/results.jsonl`` (one JSON object per
line, flushed and ``fsync``-ed per batch) before the next batch is sent. A rerun with the same
suite, target, seed and mutators reads it back and queries only what is missing, so an
interrupted run resumes without re-querying; a half-written last line is ignored. The first line
records the target and seed; a rerun into the same folder with another target or seed is refused
(use a new ``--out``).

**report.json** (``schema_version`` 1): ``meta`` (fairframe version, git commit of the fairframe
checkout when there is one, guard policy version, target description, seed, mutators, suite
counts, queries), ``headline`` (:func:`~fairframe.redteam.metrics.headline`), ``metrics`` (one
entry per mutator and category, every rate with n and interval) and ``rows`` (every result).

**report.html** is one self-contained page (no script, no external asset; a
Content-Security-Policy forbids loading anything): the headline, the summary table per mutator,
the per-category table, then the unsafe prompts that got through grouped by category and mutator,
and the benign prompts that were stopped. Every prompt is HTML-escaped, and invisible characters
(zero-width, bidi controls) are shown as ``⟨U+200B⟩`` markers.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from fairframe._progress import Progress
from fairframe.errors import ConfigError, InputDataError
from fairframe.redteam.metrics import (
    ADAPTIVE,
    ALL,
    BASELINE,
    Estimate,
    GroupMetrics,
    RowResult,
    compute_metrics,
    headline,
)
from fairframe.redteam.search import adaptive_search
from fairframe.redteam.types import Mutator, SuiteItem, Target, Verdict
from fairframe.types import JSONValue

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "RedteamReport",
    "load_report",
    "render_html",
    "run_redteam",
]

#: Version of the ``report.json`` layout.
REPORT_SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class RedteamReport:
    """What :func:`run_redteam` produced.

    Attributes
    ----------
    out_dir:
        The folder holding ``report.json``, ``report.html`` and ``results.jsonl``.
    meta:
        The report's ``meta`` block.
    headline:
        Baseline recall and FPR, and the attack success rate of any attack.
    metrics:
        One entry per (mutator, category).
    rows:
        Every result.
    queried:
        Prompts sent to the target by this call (0 when everything came from the cache).
    resumed:
        Results read back from ``results.jsonl`` instead of being queried.
    """

    out_dir: Path
    meta: Mapping[str, JSONValue]
    headline: Mapping[str, JSONValue]
    metrics: tuple[GroupMetrics, ...]
    rows: tuple[RowResult, ...]
    queried: int
    resumed: int

    @property
    def json_path(self) -> Path:
        """``OUT/report.json``."""
        return self.out_dir / REPORT_JSON

    @property
    def html_path(self) -> Path:
        """``OUT/report.html``."""
        return self.out_dir / REPORT_HTML

    def group(self, mutator: str, category: str = ALL) -> GroupMetrics:
        """The metrics of one group (``KeyError`` when absent)."""
        for g in self.metrics:
            if g.mutator == mutator and g.category == category:
                return g
        raise KeyError((mutator, category))

    def to_dict(self) -> dict[str, JSONValue]:
        """The ``report.json`` content."""
        return {"schema": "fairframe.redteam.report", "schema_version": REPORT_SCHEMA_VERSION,
                "meta": dict(self.meta), "headline": dict(self.headline),
                "metrics": [g.to_dict() for g in self.metrics],
                "rows": [r.to_dict() for r in self.rows]}


# ---------------------------------------------------------------------------------- helpers
class _Meter:
    """Counts the prompts sent to a target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.name
        self.sent = 0
        self.last_ms = 0.0

    def query(self, prompts: Sequence[str]) -> list[Verdict]:
        verdicts = list(self.target.query(prompts))
        if len(verdicts) != len(prompts):
            raise ConfigError(f"target {self.name!r} returned {len(verdicts)} verdicts for "
                              f"{len(prompts)} prompts; a target must answer every prompt")
        self.sent += len(prompts)
        self.last_ms += sum(v.latency_ms for v in verdicts)
        return verdicts


def _git_commit() -> str | None:
    """The commit of the fairframe checkout this code runs from, or ``None``."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if len(sha) == 40 else None


def _describe(target: Target) -> dict[str, JSONValue]:
    describe = getattr(target, "describe", None)
    if callable(describe):
        info = describe()
        if isinstance(info, Mapping):
            return dict(info)
    return {"kind": type(target).__name__, "name": target.name}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _mutator_id(m: Mutator) -> str:
    """The mutator's name plus a digest of its options (``params()`` when it has one), so a
    rerun with other options does not reuse cached results."""
    params = getattr(m, "params", None)
    if not callable(params):
        return m.name
    try:
        text = json.dumps(params(), sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(m)
    return f"{m.name}@{_digest(text)[:8]}"


def _key(mutator: str, item: SuiteItem) -> str:
    """A result's cache key: the mutator (with its options), the row's id, prompt and labels
    (a relabelled row is queried again: its pass/fail depends on the label)."""
    return f"{mutator}\x1f{item.id}\x1f{_digest(item.prompt)}\x1f{item.expected}\x1f{item.category}"


#: Fingerprint fields that may be unknown (``None``): an HTTP target's policy version while the
#: server is down. An unknown value matches anything; two known values must agree.
_OPTIONAL_FINGERPRINT = frozenset({"policy_version", "guard"})


def _same_run(stored: Any, now: Mapping[str, JSONValue]) -> bool:
    if not isinstance(stored, dict):
        return False
    for k in set(stored) | set(now):
        a, b = stored.get(k), now.get(k)
        if k in _OPTIONAL_FINGERPRINT and (a is None or b is None):
            continue
        if a != b:
            return False
    return True


class _Cache:
    """``results.jsonl``: append-only, flushed and fsync-ed per batch."""

    def __init__(self, path: Path, fingerprint: Mapping[str, JSONValue]) -> None:
        self.path = path
        self.rows: dict[str, RowResult] = {}
        self.searches: dict[str, JSONValue] = {}
        self.meta_upgrade = False
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            self._load(fingerprint)
            if self.meta_upgrade:  # the first line now records this run's full fingerprint
                lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
                lines[0] = json.dumps({"type": "meta", "fingerprint": dict(fingerprint)},
                                      ensure_ascii=False)
                from fairframe._io import atomic_write

                atomic_write(path, "\n".join(lines).encode("utf-8"))
        self._fh = path.open("a", encoding="utf-8")
        if fresh:
            self._write([{"type": "meta", "fingerprint": dict(fingerprint)}])
        elif not path.read_bytes().endswith(b"\n"):
            self._fh.write("\n")  # seal a half-written last line; it is skipped on reading

    def _load(self, fingerprint: Mapping[str, JSONValue]) -> None:
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut off by an interruption
            if not isinstance(obj, dict):
                continue
            if obj.get("type") == "meta":
                stored = obj.get("fingerprint")
                if i == 0 and not _same_run(stored, fingerprint):
                    raise ConfigError(
                        f"{self.path} holds results of another run "
                        f"({stored}, this run: {dict(fingerprint)}); use a new "
                        "--out folder or delete it to start over")
                if i == 0 and isinstance(stored, dict) and any(
                        stored.get(k) is None and fingerprint.get(k) is not None
                        for k in _OPTIONAL_FINGERPRINT):
                    self.meta_upgrade = True  # learn what an older run did not record
                continue
            if obj.get("type") == "row" and isinstance(obj.get("key"), str):
                row = RowResult.from_dict(obj["row"])
                key = obj["key"]
                if key.count("\x1f") == 2:  # written before labels joined the key: its row
                    key = f"{key}\x1f{row.expected}\x1f{row.category}"  # knows them
                self.rows[key] = row
                if obj.get("search") is not None:
                    self.searches[key] = obj["search"]

    def _write(self, objs: Sequence[Mapping[str, Any]]) -> None:
        for obj in objs:
            self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def add(self, entries: Sequence[tuple[str, RowResult, JSONValue]]) -> None:
        stored = [(k, r.to_dict(), s) for k, r, s in entries]
        self._write([{"type": "row", "key": k, "row": d,
                      **({"search": s} if s is not None else {})} for k, d, s in stored])
        for k, d, s in stored:
            # keep the row as it was written (scores rounded): a resumed run reads exactly this,
            # so the adaptive search starts from the same verdict either way
            self.rows[k] = RowResult.from_dict(d)
            if s is not None:
                self.searches[k] = s

    def close(self) -> None:
        self._fh.close()


def _row(item: SuiteItem, mutator: str, prompt: str, v: Verdict, *, queries: int = 1,
         path: tuple[str, ...] = ()) -> RowResult:
    return RowResult(item_id=item.id, category=item.category, expected=item.expected,
                     mutator=mutator, original=item.prompt, prompt=prompt, passed=v.passed,
                     action=v.action, latency_ms=float(v.latency_ms), queries=queries,
                     error=v.error, scores=dict(v.scores), path=path, source=item.source)


def _progress(progress: Progress | None) -> tuple[AbstractContextManager[Any], Progress | None]:
    return nullcontext(), progress


def _check_inputs(suite: Sequence[SuiteItem], mutators: Sequence[Mutator]) -> None:
    if not suite:
        raise InputDataError("the suite is empty; give a suite file with at least one row")
    ids = Counter(i.id for i in suite)
    dup = sorted(k for k, c in ids.items() if c > 1)
    if dup:
        raise InputDataError(f"suite ids must be unique; repeated: {dup[:5]}")
    names = [m.name for m in mutators]
    reserved = {BASELINE, ADAPTIVE} & set(names)
    if reserved:
        raise ConfigError(f"mutator names {sorted(reserved)} are reserved by the report")
    if len(set(names)) != len(names):
        raise ConfigError(f"mutator names must be unique, got {names}")


# ---------------------------------------------------------------------------------- the run
def run_redteam(
    suite: Sequence[SuiteItem],
    target: Target,
    mutators: Sequence[Mutator],
    *,
    out_dir: str | Path,
    seed: int = 0,
    adaptive_budget: int | None = None,
    progress: Progress | None = None,
    batch_size: int = 32,
    confidence: float = 0.95,
) -> RedteamReport:
    """Attack ``target`` with ``suite`` and ``mutators``; write the reports (module docstring).

    Parameters
    ----------
    suite:
        The rows (unique ids).
    target:
        What to attack (:func:`~fairframe.redteam.targets.make_target`).
    mutators:
        Single-shot mutators; the adaptive search combines them too.
    out_dir:
        Folder for ``results.jsonl``, ``report.json`` and ``report.html`` (created).
    seed:
        Seed of every mutation and search.
    adaptive_budget:
        Queries per adaptive search; ``None`` skips the adaptive phase.
    progress:
        Where to report progress (a :class:`fairframe._progress.Progress`; the CLI passes its
        progress bars); ``None`` reports nothing.
    batch_size:
        Prompts per target call (and per fsync of the cache).
    confidence:
        Nominal coverage of every interval.

    Raises
    ------
    InputDataError
        Empty suite or repeated ids.
    ConfigError
        Bad options, reserved or repeated mutator names, or an ``out_dir`` holding another run.
    """
    _check_inputs(suite, mutators)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if adaptive_budget is not None and adaptive_budget < 1:
        raise ConfigError(f"adaptive_budget must be >= 1, got {adaptive_budget}")
    if adaptive_budget is not None and not mutators:
        raise ConfigError("the adaptive search needs at least one mutator (--mutators)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = [m.name for m in mutators]
    meter = _Meter(target)
    description = _describe(target)
    # the target's policy and (for a local guard) its stages and config: a rerun against a
    # changed target is refused instead of mixing its answers with cached ones
    fingerprint: dict[str, JSONValue] = {
        "target": target.name, "seed": seed,
        "policy_version": description.get("policy_version"),
        "guard": description.get("guard_fingerprint")}
    cache = _Cache(out / RESULTS_FILE, fingerprint)
    resumed = 0
    ids = {m.name: _mutator_id(m) for m in mutators}
    ids[BASELINE] = BASELINE
    adaptive_key = f"{ADAPTIVE}:{adaptive_budget}:{','.join(ids[n] for n in names)}"
    ctx, bars = _progress(progress)
    try:
        with ExitStack() as stack:
            stack.enter_context(ctx)

            def stage(name: str, total: int) -> Callable[[int], None]:
                if bars is None:
                    return lambda n: None
                handle = stack.enter_context(bars.stage(name, total))
                return handle.advance

            phases: list[tuple[str, Mutator | None]] = [(BASELINE, None)]
            phases += [(m.name, m) for m in mutators]
            for name, mutator in phases:
                # error rows (an unreachable target) are asked again on every rerun
                todo = [i for i in suite if _key(ids[name], i) not in cache.rows
                        or cache.rows[_key(ids[name], i)].is_error]
                resumed += len(suite) - len(todo)
                advance = stage(name, len(suite))
                advance(len(suite) - len(todo))
                for batch in _chunks(todo, batch_size):
                    entries = _single_pass(batch, name, mutator, meter, seed)
                    cache.add([(_key(ids[name], i), r, None) for i, r in entries])
                    advance(len(batch))
            if adaptive_budget is not None:
                base = {i.id: cache.rows[_key(BASELINE, i)] for i in suite}
                attacked = [i for i in suite if i.expected == "block"
                            and not base[i.id].is_error and not base[i.id].got_through]
                advance = stage(ADAPTIVE, len(attacked))
                for item in attacked:
                    key = _key(adaptive_key, item)
                    if key in cache.rows and not cache.rows[key].is_error:
                        resumed += 1
                        advance(1)
                        continue
                    row, search = _adaptive(item, base[item.id], meter, mutators,
                                            adaptive_budget, seed)
                    cache.add([(key, row, search)])
                    advance(1)
    finally:
        cache.close()

    rows: list[RowResult] = []
    for name in [BASELINE, *names]:
        rows += [cache.rows[_key(ids[name], i)] for i in suite]
    if adaptive_budget is not None:
        rows += [cache.rows[k] for i in suite if (k := _key(adaptive_key, i)) in cache.rows]
    detector = None
    if description.get("kind") == "generator":
        tpr, fpr = description.get("detector_tpr"), description.get("detector_fpr")
        if isinstance(tpr, int | float) and isinstance(fpr, int | float):
            detector = (float(tpr), float(fpr))
    metrics = compute_metrics(rows, confidence=confidence, detector=detector)
    from fairframe._version import __version__

    sources = Counter(i.source for i in suite)
    meta: dict[str, JSONValue] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "fairframe_version": __version__,
        "git_commit": _git_commit(),
        "target": description,
        "policy_version": description.get("policy_version"),
        "seed": seed,
        "confidence": confidence,
        "mutators": list(names),
        "adaptive_budget": adaptive_budget,
        "suite": {"rows": len(suite), "unsafe": sum(i.expected == "block" for i in suite),
                  "benign": sum(i.expected == "allow" for i in suite),
                  "sources": dict(sorted(sources.items())),
                  "categories": dict(sorted(Counter(i.category for i in suite).items()))},
        "queries_total": sum(r.queries for r in rows),
        "queries_this_run": meter.sent,
        "resumed_rows": resumed,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    report = RedteamReport(out_dir=out, meta=meta,
                           headline=headline(rows, confidence=confidence),
                           metrics=tuple(metrics), rows=tuple(rows), queried=meter.sent,
                           resumed=resumed)
    from fairframe._io import atomic_write

    data = report.to_dict()
    atomic_write(report.json_path, json.dumps(data, indent=1, ensure_ascii=False))
    atomic_write(report.html_path, render_html(data))
    return report


def _chunks(items: Sequence[SuiteItem], size: int) -> Iterator[Sequence[SuiteItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _single_pass(batch: Sequence[SuiteItem], name: str, mutator: Mutator | None,
                 meter: _Meter, seed: int) -> list[tuple[SuiteItem, RowResult]]:
    prompts: dict[str, str] = {}
    failed: dict[str, RowResult] = {}
    for item in batch:
        if mutator is None:
            prompts[item.id] = item.prompt
            continue
        rng = random.Random(f"{seed}:{name}:{item.id}")
        try:
            text = mutator.mutate(item.prompt, rng)
        except Exception as exc:  # a broken mutator must not end the run
            failed[item.id] = _row(item, name, item.prompt, Verdict(
                passed=False, action="error",
                error=f"mutator {name} failed: {type(exc).__name__}: {exc}"), queries=0,
                path=(name,))
            continue
        prompts[item.id] = text
    ask = [i for i in batch if i.id in prompts]
    verdicts = meter.query([prompts[i.id] for i in ask]) if ask else []
    answered = {i.id: _row(i, name, prompts[i.id], v,
                           path=() if mutator is None else (name,))
                for i, v in zip(ask, verdicts, strict=True)}
    return [(i, answered.get(i.id) or failed[i.id]) for i in batch]


def _adaptive(item: SuiteItem, base: RowResult, meter: _Meter, mutators: Sequence[Mutator],
              budget: int, seed: int) -> tuple[RowResult, JSONValue]:
    initial = Verdict(passed=base.passed, action=base.action, scores=dict(base.scores),
                      latency_ms=base.latency_ms, error=base.error)
    before_ms, before_n = meter.last_ms, meter.sent
    res = adaptive_search(item, meter, mutators, budget=budget, rng_seed=seed, initial=initial)
    sent = meter.sent - before_n
    latency = (meter.last_ms - before_ms) / sent if sent else 0.0
    last = res.history[-1]
    chosen = next((s for s in res.history if s.passed), last) if res.success else last
    row = RowResult(item_id=item.id, category=item.category, expected=item.expected,
                    mutator=ADAPTIVE, original=item.prompt, prompt=chosen.prompt,
                    passed=res.success, action=chosen.action, latency_ms=latency,
                    queries=res.queries, error=None, scores={}, path=res.path,
                    source=item.source)
    return row, res.to_dict()


def load_report(path: str | Path) -> dict[str, Any]:
    """Read ``report.json`` from a run folder (or the file itself).

    Raises
    ------
    InputDataError
        Missing, unreadable or not a red-team report of a known schema version.
    """
    p = Path(path)
    file = p / REPORT_JSON if p.is_dir() else p
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputDataError(f"{file} does not exist; run `fairframe redteam run SUITE --out "
                             f"{p}` first") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(f"{file} is not a readable JSON report ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != "fairframe.redteam.report":
        raise InputDataError(f"{file} is not a fairframe red-team report")
    if data.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise InputDataError(f"{file} has schema_version {data.get('schema_version')}; this "
                             f"fairframe reads version {REPORT_SCHEMA_VERSION}")
    return data


# ---------------------------------------------------------------------------------- HTML
_CSS_EXTRA = """
.through td.prompt{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
white-space:pre-wrap;word-break:break-word}
span.inv{background:#fde2e2;color:#a33;border-radius:3px;padding:0 2px;font-size:.8em}
td.prompt{max-width:520px}
"""


def _e(text: object) -> str:
    return escape("" if text is None else str(text), quote=True)


def _visible(text: str) -> str:
    """Escape ``text`` and show invisible or control characters as markers."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch not in "\n\t " and (cat in ("Cf", "Cc", "Co", "Cn") or cat.startswith("Z")):
            out.append(f'<span class="inv">⟨U+{ord(ch):04X}⟩</span>')
        else:
            out.append(escape(ch, quote=True))
    return "".join(out)


def _est_inner(raw: Any, *, pct: bool = True) -> tuple[str, str | None]:
    """``(html, sort value)`` of an estimate: value, interval and n, or n/a with the reason."""
    if raw is None:
        return "—", None
    e = Estimate.from_dict(raw)
    if e.value is None:
        return f'n/a<span class="sub"> ({_e(e.reason)})</span>', None

    def f(v: float) -> str:
        return f"{v * 100:.1f}%" if pct else f"{v:.2f}"

    ci = "" if e.ci_low is None or e.ci_high is None else \
        f' <span class="ci">[{f(e.ci_low)}, {f(e.ci_high)}]</span>'
    return f'<span class="val">{f(e.value)}</span>{ci} <span class="sub">n={e.n}</span>', \
        f"{e.value:.6f}"


def _est(raw: Any, *, pct: bool = True) -> str:
    inner, key = _est_inner(raw, pct=pct)
    if key is None:
        return f'<td class="num muted">{inner}</td>'
    return f'<td class="num" data-sort-value="{key}">{inner}</td>'


def _summary_table(metrics: Sequence[Mapping[str, Any]], corrected: bool) -> str:
    head = ("<tr><th>mutator</th><th class=num>rows</th><th class=num>recall</th>"
            "<th class=num>FPR</th><th class=num>precision</th><th class=num>F1</th>"
            "<th class=num>ASR (stopped → through)</th><th class=num>ASR overall</th>"
            + ("<th class=num>ASR corrected</th>" if corrected else "")
            + "<th class=num>queries / success</th><th class=num>latency p50 ms</th>"
            "<th class=num>latency p95 ms</th><th class=num>errors</th></tr>")
    body = []
    for g in metrics:
        if g["category"] != ALL:
            continue
        body.append(
            f'<tr data-mutator="{_e(g["mutator"])}"><td><code>{_e(g["mutator"])}</code></td>'
            f'<td class=num>{g["rows"]}</td>{_est(g["recall"])}{_est(g["fpr"])}'
            f'{_est(g["precision"])}{_est(g["f1"])}{_est(g["asr"])}{_est(g["asr_overall"])}'
            + (_est(g.get("asr_corrected")) if corrected else "")
            + f'{_est(g["queries_per_success"], pct=False)}'
            f'{_est(g["latency_p50"], pct=False)}{_est(g["latency_p95"], pct=False)}'
            f'<td class=num>{g["errors"]}</td></tr>')
    return (f'<div class="tablewrap"><table id="summary"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _category_table(metrics: Sequence[Mapping[str, Any]]) -> str:
    head = ("<tr><th>category</th><th>mutator</th><th class=num>rows</th>"
            "<th class=num>recall</th><th class=num>FPR</th><th class=num>ASR</th>"
            "<th class=num>ASR overall</th></tr>")
    body = []
    for g in sorted((g for g in metrics if g["category"] != ALL),
                    key=lambda g: (g["category"], g["mutator"] != BASELINE, g["mutator"])):
        body.append(f'<tr><td>{_e(g["category"])}</td><td><code>{_e(g["mutator"])}</code></td>'
                    f'<td class=num>{g["rows"]}</td>{_est(g["recall"])}{_est(g["fpr"])}'
                    f'{_est(g["asr"])}{_est(g["asr_overall"])}</tr>')
    return (f'<div class="tablewrap"><table id="by-category"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _grouped_rows(rows: Sequence[Mapping[str, Any]], *, section_id: str, empty: str) -> str:
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[str(r["category"])][str(r["mutator"])].append(r)
    if not groups:
        return f'<p class="muted" id="{section_id}-empty">{_e(empty)}</p>'
    parts = []
    for cat in sorted(groups):
        total = sum(len(v) for v in groups[cat].values())
        parts.append(f'<section class="through" data-category="{_e(cat)}">'
                     f'<h3>{_e(cat)} <span class="muted small">({total})</span></h3>')
        order = sorted(groups[cat], key=lambda m: (m != BASELINE, m == ADAPTIVE, m))
        for mut in order:
            items = groups[cat][mut]
            label = "none (unmutated)" if mut == BASELINE else mut
            parts.append(f'<h4 data-mutator="{_e(mut)}"><code>{_e(label)}</code> '
                         f'<span class="muted small">({len(items)})</span></h4>'
                         '<div class="tablewrap"><table><thead><tr><th>id</th>'
                         "<th>prompt sent</th><th>original</th><th>action</th>"
                         "<th>path</th><th class=num>queries</th></tr></thead><tbody>")
            for r in items:
                parts.append(
                    f'<tr><td><code>{_e(r["item_id"])}</code></td>'
                    f'<td class="prompt">{_visible(str(r["prompt"]))}</td>'
                    f'<td class="prompt">{_visible(str(r["original"]))}</td>'
                    f'<td>{_e(r["action"])}</td>'
                    f'<td>{_e(" → ".join(r.get("path") or []))}</td>'
                    f'<td class=num>{r.get("queries", 1)}</td></tr>')
            parts.append("</tbody></table></div>")
        parts.append("</section>")
    return "".join(parts)


def _through(r: Mapping[str, Any]) -> bool:
    if r["expected"] == "allow" and r["action"] in ("unsafe_image", "safe_image"):
        return True
    return bool(r["passed"])


def render_html(report: Mapping[str, Any]) -> str:
    """The self-contained ``report.html`` for a ``report.json`` dict (module docstring)."""
    from fairframe.report._assets import CSS

    meta = report.get("meta", {})
    metrics = report.get("metrics", [])
    rows = report.get("rows", [])
    target = meta.get("target") or {}
    corrected = any(g.get("asr_corrected") is not None for g in metrics)
    through = [r for r in rows if r["expected"] == "block" and r["action"] != "error"
               and _through(r)]
    stopped_benign = [r for r in rows if r["expected"] == "allow" and r["action"] != "error"
                      and not _through(r)]
    head = report.get("headline", {})
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
           "form-action 'none'")

    def card(label: str, raw: Any) -> str:
        inner, _ = _est_inner(raw)
        return f'<div class="card"><div class="k">{_e(label)}</div><div class="v">{inner}' \
               "</div></div>"

    facts = [("target", target.get("name")), ("kind", target.get("kind")),
             ("policy", meta.get("policy_version")), ("fairframe", meta.get("fairframe_version")),
             ("commit", (meta.get("git_commit") or "unknown")[:12]), ("seed", meta.get("seed")),
             ("mutators", ", ".join(meta.get("mutators") or []) or "none"),
             ("adaptive budget", meta.get("adaptive_budget")),
             ("queries", meta.get("queries_total")), ("created", meta.get("created"))]
    suite = meta.get("suite") or {}
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="generator" content="fairframe redteam">\n',
        f"<title>Red-team report: {_e(target.get('name'))}</title>\n",
        f"<style>{CSS}{_CSS_EXTRA}</style>\n</head>\n<body>\n",
        '<header class="top"><div class="wrap"><h1>Red-team report</h1>',
        f"<p>target <code>{_e(target.get('name'))}</code> · policy "
        f"<code>{_e(meta.get('policy_version'))}</code> · {suite.get('rows', 0)} suite rows "
        f"({suite.get('unsafe', 0)} unsafe, {suite.get('benign', 0)} benign)</p>",
        "</div></header>\n<main>\n",
        '<div class="cards">', card("recall (unmutated)", head.get("baseline_recall")),
        card("false-positive rate (unmutated)", head.get("baseline_fpr")),
        card("attack success, any attack", head.get("asr_any")), "</div>\n",
        '<div class="kv">', "".join(f'<div><div class="k">{_e(k)}</div>'
                                    f'<span class="mono small">{_e(v)}</span></div>'
                                    for k, v in facts), "</div>\n",
        '<h2 id="summary-h">Summary by mutator</h2>',
        '<p class="muted small">Rates with 95% Wilson intervals (F1: Wilson on the Jaccard '
        "index; queries: t interval; latency: order-statistic interval) and n. "
        "<b>ASR</b> = share of the unsafe prompts the unmutated target stopped that got "
        "through after mutation (headline); <b>ASR overall</b> = share of all unsafe prompts "
        "that got through. n/a = insufficient data, with the reason.</p>",
        _summary_table(metrics, corrected),
        '<h2 id="categories-h">By category</h2>', _category_table(metrics),
        f'<h2 id="through">Unsafe prompts that got through ({len(through)})</h2>',
        _grouped_rows(through, section_id="through",
                      empty="No unsafe prompt got through."),
        f'<h2 id="false-positives">Benign prompts that were stopped ({len(stopped_benign)})</h2>',
        _grouped_rows(stopped_benign, section_id="fp", empty="No benign prompt was stopped."),
        '<footer class="muted small">fairframe redteam · report schema '
        f"{_e(report.get('schema_version'))}</footer>\n</main>\n</body>\n</html>\n",
    ])
