"""The prompt path: normalize -> classify (several stages) -> fuse -> decide -> rewrite.

:class:`PromptGuard` is what the CLI (``fairframe guard check|scan``) and the HTTP service call::

    from fairframe.guard import PromptGuard

    guard = PromptGuard.default()               # lexicon + embedding + gibberish, default policy
    d = guard.check("a photo of a n.a.k.e.d woman")
    d.action, d.categories["nudity"], d.prompt_out, d.negative_prompt_out

**Stages.** Every stage implements :class:`~fairframe.guard.stage.PromptStage` and scores a batch
of normalized prompts. Stages run in the order given; their probabilities are fused into one
calibrated score per category (:class:`~fairframe.guard.fusion.Fusion`), and the policy turns the
scores into an action (:func:`~fairframe.guard.decision.decide_action`).

**Failing closed.** A stage named in ``required`` that raises makes the check raise
:class:`GuardUnavailableError` (the service answers 503 and serves nothing). An optional stage that
raises is skipped; the decision lists it in ``errors``.

**Rewriting.** Rewriters run after the decision unless the action is ``block``: the anonymizer and
the diversity augmenter whenever they are configured, forced negatives and the LLM rewriter only
for the ``rewrite`` and ``regenerate`` actions. When a rewriter changed the positive prompt, the
new prompt is checked again and the check blocks if the rewritten prompt would be blocked.

**Input limits.** Prompts must be non-empty after stripping and at most ``max_prompt_chars`` long
(:class:`~fairframe.errors.InputDataError` otherwise, naming the limit). Invalid UTF-8 cannot
reach a ``str``; control characters are removed by the normalizer.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairframe.errors import BackendError, ConfigError, FairframeError, InputDataError
from fairframe.guard.decision import Action, Decision, Finding, decide_action
from fairframe.guard.fusion import Fusion
from fairframe.guard.normalize import NormalizedPrompt, normalize
from fairframe.guard.policy import Policy, default_policy
from fairframe.guard.rewriters.base import merge_negative_prompts
from fairframe.guard.script import is_visible
from fairframe.guard.stage import PromptStage, StageResult

if TYPE_CHECKING:
    from fairframe.guard.rewriters import RewriteContext, Rewriter, RewriteResult

__all__ = ["DEFAULT_MAX_PROMPT_CHARS", "GuardUnavailableError", "PromptGuard"]

#: Longest prompt accepted by default (characters, before normalization).
DEFAULT_MAX_PROMPT_CHARS = 4000

_ALWAYS_REWRITERS = frozenset({"anonymize", "diversity"})


class GuardUnavailableError(BackendError):
    """A required stage failed, so the guard refuses to decide (fail closed)."""


@dataclass(frozen=True)
class _Scored:
    norm: NormalizedPrompt
    scores: dict[str, float]
    findings: tuple[Finding, ...]
    latency_ms: dict[str, float]
    errors: tuple[str, ...]
    by_stage: dict[str, Mapping[str, float]]
    framed: frozenset[str] = frozenset()
    unframed: Mapping[str, Mapping[str, float]] | None = None
    named: Mapping[str, float] | None = None
    minor_cue: bool | None = None
    language: str | None = None
    unread: frozenset[str] = frozenset()
    read: Mapping[str, Mapping[str, float]] | None = None


def _minor_cue(results: Iterable[StageResult]) -> bool | None:
    """Whether any stage found a word that may describe a minor; ``None`` when none says."""
    said = [cue for r in results if (cue := getattr(r, "minor_cue", None)) is not None]
    return any(said) if said else None


def _part_texts(readers: Sequence[Sequence[StageResult]], attr: str, wanted: Sequence[bool]
                ) -> dict[int, str]:
    """Prompt index -> the first text the readers give in ``attr`` (``unframed_text``,
    ``english_text``) for the prompts ``wanted``."""
    todo: dict[int, str] = {}
    for i, want in enumerate(wanted):
        text = next((t for r in readers if (t := getattr(r[i], attr, None)) is not None),
                    None) if want else None
        if text is not None:
            todo[i] = text
    return todo


def _max_scores(maps: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The largest score per category over several score maps."""
    out: dict[str, float] = {}
    for m in maps:
        for cat, v in m.items():
            out[cat] = max(out.get(cat, 0.0), v)
    return out


#: Clothing named in a negative prompt: "a woman --no clothes" asks the model for a nude one.
_CLOTHING = re.compile(
    r"(?<![^\W_])(?:cloth(?:es|ing|ed)|dress(?:es|ed)?|garments?|outfits?|(?:t-)?shirts?"
    r"|pants|trousers|jeans|skirts?|underwear|lingerie|bras?|panties|bikinis?|swimsuits?"
    r"|swimwear|covered|modest(?:y)?|shorts|tops?|jackets?|coats?|sweaters?|uniforms?"
    r"|costumes?|robes?)(?![^\W_])", re.IGNORECASE)
#: The change the normalizer's record gets when a negative prompt removes clothing.
_UNDRESSED = "negative prompt removes clothing (read as: naked)"


def _without_clothing(negative: str | None) -> str | None:
    """``negative`` without its terms that name clothing."""
    if not negative:
        return None
    kept = [t.strip() for t in negative.split(",") if t.strip() and not _CLOTHING.search(t)]
    return ", ".join(kept) or None


def _undressing(norm: NormalizedPrompt, negative: str | None) -> bool:
    """Whether the request's negative prompt (or the prompt's inline one) names clothing while
    the prompt names a person: a known way to get nudity without a nudity word."""
    from fairframe.guard.rewriters.diversity import mentions_person

    text = " ".join(t for t in (negative, norm.negative_source) if t)
    return bool(text) and _CLOTHING.search(text) is not None and mentions_person(norm.main_text)


def _undressed(norm: NormalizedPrompt) -> NormalizedPrompt:
    """``norm`` with a reading "naked" appended (mapped to the clothing word of an inline
    negative prompt, else to the end of the prompt), so every stage reads what the negative
    prompt asks for, minors' rules included."""
    end = len(norm.original)
    span = (end, end)
    cut = norm.positive is not None and norm.negative_source
    if cut:
        m = _CLOTHING.search(norm.original, len(norm.positive or ""))
        if m is not None:
            span = (m.start(), m.end())
    return norm.with_reading("naked", [span] * len("naked"), _UNDRESSED)


#: Unicode tag characters (U+E0000-U+E007F), which can smuggle ASCII past a reader.
_TAGS = re.compile("[\U000E0000-\U000E007F]")
#: The built-in prompt stages' names (a fusion file may weigh one this guard lacks).
_BUILTIN_STAGES = ("lexicon", "embedding", "gibberish", "llm_judge")


def _check_weight_stages(fusion: Fusion, names: Sequence[str]) -> None:
    """Refuse a fusion weight whose stage looks like a misspelt stage name ("embeding"): it
    would be ignored without a word. Other unknown names may weigh image stages, so pass."""
    import difflib

    known = {*names, *_BUILTIN_STAGES}
    for key in fusion.weights:
        stage = key.partition(":")[0]
        if stage in known:
            continue
        close = difflib.get_close_matches(stage, sorted(known), n=1, cutoff=0.75)
        if close:
            raise ConfigError(f"fusion weight {key!r} names no stage; did you mean "
                              f"{close[0]!r}? Stages: {', '.join(sorted(known))}")


class PromptGuard:
    """The prompt path of the guard (see the module docstring).

    Parameters
    ----------
    stages:
        Prompt stages in run order; their ``name`` attributes must be unique.
    policy:
        The policy that decides; default :func:`~fairframe.guard.policy.default_policy`.
    fusion:
        How stage probabilities combine; default :class:`~fairframe.guard.fusion.Fusion`.
    required:
        Names of stages whose failure fails the check closed. Default: every stage.
    rewriters:
        Rewriters applied after the decision (see the module docstring).
    max_prompt_chars:
        Longest accepted prompt.
    """

    def __init__(
        self,
        stages: Sequence[PromptStage],
        *,
        policy: Policy | None = None,
        fusion: Fusion | None = None,
        required: Collection[str] | None = None,
        rewriters: Sequence[Rewriter] = (),
        max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS,
    ) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise InputDataError(f"guard stage names must be unique, got {names}")
        if not stages:
            raise InputDataError("a prompt guard needs at least one stage (e.g. the lexicon)")
        self.stages = tuple(stages)
        #: Stages whose evidence a protective frame never caps (``reads_frames``: the lexicon,
        #: the LLM judge; :mod:`~fairframe.guard.frames`).
        self.frame_exempt = frozenset(s.name for s in stages if getattr(s, "reads_frames", False))
        #: Per stage, the language codes it reads (``languages``; ``None``: any). The fusion caps
        #: a stage's evidence on a prompt in a language it does not read (:mod:`.language`).
        self.stage_languages: dict[str, frozenset[str] | None] = {
            s.name: (None if (langs := getattr(s, "languages", None)) is None
                     else frozenset(langs)) for s in stages}
        self.policy = policy if policy is not None else default_policy()
        self.fusion = fusion if fusion is not None else Fusion()
        _check_weight_stages(self.fusion, names)
        self.required = frozenset(names if required is None else required)
        unknown = sorted(self.required - set(names))
        if unknown:
            raise InputDataError(f"required stages {unknown} are not configured; stages: {names}")
        self.rewriters = tuple(rewriters)
        if max_prompt_chars < 1:
            raise InputDataError("max_prompt_chars must be >= 1")
        self.max_prompt_chars = max_prompt_chars
        self._lock = threading.Lock()

    @classmethod
    def default(cls, *, policy: Policy | None = None, embedding: bool = True) -> PromptGuard:
        """Lexicon + gibberish detector (+ the embedding classifier when ``embedding``)."""
        from fairframe.guard.config import GuardConfig

        cfg = GuardConfig.model_validate({"stages": {"embedding": {"enabled": embedding}}})
        return cfg.build_guard(policy=policy)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The configured stage names, in run order."""
        return tuple(s.name for s in self.stages)

    def warm_up(self) -> None:
        """Load every stage's model and rewriter index now (the first check would otherwise pay
        for it)."""
        for r in self.rewriters:
            warm = getattr(r, "warm_up", None)
            if callable(warm):
                warm()
        self.check_batch(["a photo of a red bicycle"])

    # ------------------------------------------------------------------ checking

    def validate(self, prompt: object) -> str:
        """Return ``prompt`` if the guard accepts it, else raise :class:`InputDataError`."""
        if not isinstance(prompt, str):
            raise InputDataError(f"a prompt must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InputDataError("the prompt is empty; send the text to check")
        if not any(is_visible(c) for c in prompt):
            raise InputDataError(
                "the prompt has no visible characters (only white space, control, zero-width or "
                "other format characters, which the normalizer removes); send the text to check")

        return self._checked_text(prompt, "prompt")

    def _checked_text(self, text: str, what: str) -> str:
        """``text`` when it is valid UTF-8 of at most ``max_prompt_chars`` characters."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputDataError(
                f"the {what} holds bytes that are not valid UTF-8 (a lone surrogate at character "
                f"{exc.start}, as when a shell passes undecodable bytes); send valid UTF-8 text"
            ) from exc
        if len(text) > self.max_prompt_chars:
            raise InputDataError(
                f"the {what} has {len(text)} characters; the limit is {self.max_prompt_chars} "
                "(raise max_prompt_chars in the guard config to allow longer prompts)"
            )
        return text

    def _validate_negative(self, negative: object) -> str:
        """A negative prompt passes the prompt's checks but may be empty: a string of valid
        UTF-8 of at most ``max_prompt_chars`` characters."""
        if not isinstance(negative, str):
            raise InputDataError(
                f"a negative prompt must be a string, got {type(negative).__name__}")
        return self._checked_text(negative, "negative prompt")

    def _score(self, prompts: Sequence[str],
               negatives: Sequence[str | None] | None = None) -> list[_Scored]:
        t0 = time.perf_counter()
        norms = [normalize(p) for p in prompts]
        for i, norm in enumerate(norms):
            negative = None if negatives is None else negatives[i]
            if _undressing(norm, negative):
                norms[i] = _undressed(norm)
        norm_ms = (time.perf_counter() - t0) * 1e3 / max(len(prompts), 1)
        per_stage: dict[str, list[StageResult]] = {}
        latency: dict[str, float] = {"normalize": norm_ms}
        errors: list[str] = []
        for stage in self.stages:
            t = time.perf_counter()
            try:
                results = stage.scan_batch(norms)
            except FairframeError as exc:
                self._stage_failed(stage.name, exc, errors)
                continue
            except Exception as exc:  # a third-party stage's own failure
                self._stage_failed(stage.name, exc, errors)
                continue
            if len(results) != len(norms):
                raise GuardUnavailableError(
                    f"guard stage {stage.name!r} returned {len(results)} results for "
                    f"{len(norms)} prompts; the stage is broken"
                )
            per_stage[stage.name] = results
            latency[stage.name] = (time.perf_counter() - t) * 1e3 / max(len(prompts), 1)
        # frames and minor cues count only from stages that read them (the lexicon): no other
        # stage can cap
        readers = [res for name, res in per_stage.items() if name in self.frame_exempt]
        framed_of = [frozenset[str]().union(*(getattr(res[i], "framed", ()) for res in readers))
                     for i in range(len(norms))]
        named_of = [_max_scores(getattr(res[i], "framed_scores", {}) for res in readers)
                    for i in range(len(norms))]
        cue_of = [_minor_cue(res[i] for res in readers) for i in range(len(norms))]
        lang_of = [next((lang for res in readers
                         if (lang := getattr(res[i], "language", None)) is not None), None)
                   for i in range(len(norms))]
        unread_of = [self._unread(lang, per_stage) for lang in lang_of]
        t = time.perf_counter()
        notes: dict[int, list[str]] = {}
        unframed = self._unframed_scores(per_stage, readers, framed_of, notes)
        if unframed:
            latency["frames"] = (time.perf_counter() - t) * 1e3 / max(len(prompts), 1)
        t = time.perf_counter()
        english = self._english_scores(per_stage, readers, unread_of, notes)
        if english:
            latency["language"] = (time.perf_counter() - t) * 1e3 / max(len(prompts), 1)
        out = []
        for i, norm in enumerate(norms):
            t = time.perf_counter()
            stage_scores = {name: res[i].scores for name, res in per_stage.items()}
            fused = self.fusion.fuse(stage_scores, framed=framed_of[i], exempt=self.frame_exempt,
                                     unframed=unframed.get(i), framed_scores=named_of[i],
                                     minor_cue=cue_of[i], unread=unread_of[i],
                                     read=english.get(i))
            findings = tuple(f for res in per_stage.values() for f in res[i].findings)
            lat = {**latency, "fusion": (time.perf_counter() - t) * 1e3}
            out.append(_Scored(norm, fused, findings, lat, (*errors, *notes.get(i, ())),
                               stage_scores, framed_of[i], unframed.get(i), named_of[i],
                               cue_of[i], lang_of[i], unread_of[i], english.get(i)))
        return out

    def _unread(self, language: str | None, stages: Iterable[str]) -> frozenset[str]:
        """The stages among ``stages`` that do not read ``language`` (none when it is
        unknown)."""
        if language is None:
            return frozenset()
        return frozenset(name for name in stages
                         if (langs := self.stage_languages.get(name)) is not None
                         and language not in langs)

    def _unframed_scores(self, per_stage: Mapping[str, Sequence[StageResult]],
                         readers: Sequence[Sequence[StageResult]],
                         framed_of: Sequence[frozenset[str]], notes: dict[int, list[str]]
                         ) -> dict[int, dict[str, Mapping[str, float]]]:
        """For each prompt with a framed category: per capped stage, its scores for the prompt
        with the frames cut out (:mod:`~fairframe.guard.frames`), keyed by the prompt's index
        (:meth:`_part_scores`)."""
        todo = _part_texts(readers, "unframed_text", [bool(f) for f in framed_of])
        stages = [name for name in per_stage if name not in self.frame_exempt]
        return self._part_scores(todo, stages, per_stage, notes,
                                 "frames", "the prompt without its frames")

    def _english_scores(self, per_stage: Mapping[str, Sequence[StageResult]],
                        readers: Sequence[Sequence[StageResult]],
                        unread_of: Sequence[frozenset[str]], notes: dict[int, list[str]]
                        ) -> dict[int, dict[str, Mapping[str, float]]]:
        """For each prompt in a language some stages do not read: per such stage, its scores
        for the prompt's English segments (:func:`~fairframe.guard.language.english_segments`),
        keyed by the prompt's index (:meth:`_part_scores`)."""
        todo = _part_texts(readers, "english_text", [bool(u) for u in unread_of])
        stages = sorted(set().union(*unread_of)) if todo else []
        return self._part_scores(todo, stages, per_stage, notes,
                                 "language", "the prompt's English segments")

    def _part_scores(self, todo: Mapping[int, str], stages: Collection[str],
                     per_stage: Mapping[str, Sequence[StageResult]],
                     notes: dict[int, list[str]], what: str, part: str
                     ) -> dict[int, dict[str, Mapping[str, float]]]:
        """Score the texts ``todo`` (prompt index -> a part of that prompt) again with the
        stages named in ``stages``: per prompt index, per stage, its scores for the part.

        When an optional stage fails on the parts, they are scored one by one, and for a prompt
        it still fails on, the stage's scores of the whole prompt stand in (so its evidence is
        not capped for that prompt) and the prompt's decision says so; other prompts are not
        affected. A required stage's failure fails closed, as in the first pass."""
        out: dict[int, dict[str, Mapping[str, float]]] = {i: {} for i in todo}
        keys = list(todo)
        if not keys:
            return out
        norms = [normalize(todo[i]) for i in keys]
        for stage in self.stages:
            if stage.name not in stages or stage.name not in per_stage:
                continue
            try:
                results = self._rescore(stage, norms, part)
            except GuardUnavailableError:
                raise
            except Exception:  # an optional stage's failure: isolate the prompts it fails on
                results = []
                for i, norm in zip(keys, norms, strict=True):
                    try:
                        results.append(self._rescore(stage, [norm], part)[0])
                    except GuardUnavailableError:
                        raise
                    except Exception as exc:
                        notes.setdefault(i, []).append(
                            f"{what}: {stage.name} failed on {part} "
                            f"({type(exc).__name__}); its evidence was not capped")
                        results.append(per_stage[stage.name][i])
            for i, res in zip(keys, results, strict=True):
                out[i][stage.name] = res.scores
        return out

    def _rescore(self, stage: PromptStage, norms: Sequence[NormalizedPrompt], part: str
                 ) -> list[StageResult]:
        """One stage on parts of prompts; a required stage that fails fails closed."""
        try:
            results = stage.scan_batch(norms)
        except Exception as exc:
            if stage.name in self.required:
                raise GuardUnavailableError(
                    f"required guard stage {stage.name} failed on {part} of a prompt "
                    f"({type(exc).__name__}); refusing to decide (fail closed)"
                ) from exc
            raise
        if len(results) != len(norms):
            raise GuardUnavailableError(
                f"guard stage {stage.name!r} returned {len(results)} results for "
                f"{len(norms)} prompts; the stage is broken"
            )
        return results

    def _stage_failed(self, name: str, exc: Exception, errors: list[str]) -> None:
        line = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if name in self.required:
            raise GuardUnavailableError(
                f"required guard stage {line}; refusing to decide (fail closed). Fix the stage "
                "or mark it optional in the guard config"
            ) from exc
        errors.append(line)

    def raw_scores(self, prompts: Sequence[str]) -> list[dict[str, float]]:
        """The fused scores *before* calibration (:meth:`Fusion.raw`), one dict per prompt, from
        the same stages and failure rules as :meth:`check`; for fitting a calibration map."""
        checked = [self.validate(p) for p in prompts]
        return ([self.fusion.raw(s.by_stage, framed=s.framed, exempt=self.frame_exempt,
                                 unframed=s.unframed, framed_scores=s.named,
                                 minor_cue=s.minor_cue, unread=s.unread, read=s.read)
                 for s in self._score(checked)] if checked else [])

    def check(self, prompt: str, *, negative_prompt: str | None = None,
              context: RewriteContext | None = None) -> Decision:
        """Check one prompt and return the :class:`~fairframe.guard.decision.Decision`.

        Raises
        ------
        InputDataError
            Empty or too long prompt.
        GuardUnavailableError
            A required stage failed (fail closed).
        """
        return self.check_batch([prompt], negative_prompts=[negative_prompt], context=context)[0]

    def check_batch(
        self,
        prompts: Sequence[str],
        *,
        negative_prompts: Sequence[str | None] | None = None,
        context: RewriteContext | None = None,
    ) -> list[Decision]:
        """Check many prompts at once (stages see the whole batch, which is much faster for
        model-backed stages). Same errors as :meth:`check`, raised for the first bad prompt."""
        checked = [self.validate(p) for p in prompts]
        negs = list(negative_prompts) if negative_prompts is not None else [None] * len(prompts)
        if len(negs) != len(checked):
            raise InputDataError("negative_prompts must have one entry per prompt")
        negs = [None if n is None else self._validate_negative(n) for n in negs]
        if not checked:
            return []
        scored = self._score(checked, negs)
        return [self._decide(s, neg, context) for s, neg in zip(scored, negs, strict=True)]

    def _decide(self, s: _Scored, negative: str | None,
                context: RewriteContext | None) -> Decision:
        action = decide_action(s.scores, self.policy)
        latency = dict(s.latency_ms)
        prompt_out = negative_out = None
        rewrites: tuple[dict[str, Any], ...] = ()
        if action is not Action.BLOCK and self.rewriters:
            draft = Decision(action=action, categories=s.scores, findings=s.findings,
                             prompt_in=s.norm.original, policy_version=self.policy.version)
            t = time.perf_counter()
            result = self._rewrite(s.norm.original, draft, context)
            latency["rewrite"] = (time.perf_counter() - t) * 1e3
            if result is not None and result.changed:
                rewrites = tuple(e.to_dict() for e in result.edits)
                if result.prompt != s.norm.original:
                    prompt_out = result.prompt
                    recheck = self._score([result.prompt])[0]
                    if decide_action(recheck.scores, self.policy) is Action.BLOCK:
                        action = Action.BLOCK
                        prompt_out = None
                if result.negative_prompt and action is not Action.BLOCK:
                    negative_out = merge_negative_prompts(negative, result.negative_prompt)
        if _UNDRESSED in s.norm.changes and action is not Action.BLOCK:
            # the negative prompt asked for no clothing: served without those terms (the forced
            # negatives of the nudity rule, if any, stay); "" when nothing is left, so that the
            # request's own negative prompt is not used instead
            kept = [t for t in (negative, s.norm.negative_source, negative_out) if t]
            negative = None
            negative_out = _without_clothing(merge_negative_prompts(*kept)) or ""
        if s.norm.hidden_text and action is not Action.BLOCK:
            # text smuggled in tag characters was checked; the model gets none of it
            prompt_out = _TAGS.sub("", s.norm.original if prompt_out is None else prompt_out)
        if s.norm.positive is not None and action is not Action.BLOCK:
            # an inline negative prompt ("... ### nude", "--no nude") was checked as one, so
            # the model must get it as one: most pipelines read "###" and "--no" as words
            positive = (s.norm.positive if prompt_out is None or prompt_out == s.norm.original
                        else normalize(prompt_out).positive)
            if positive is None:
                # a rewriter took the marker with it (an anonymized URL ending in "###"): the
                # rewritten text holds the unchecked part, so serve the checked part unrewritten
                positive = s.norm.positive
            if s.norm.hidden_text:
                positive = _TAGS.sub("", positive)
            prompt_out = positive
            inline = s.norm.negative_source
            if inline and _UNDRESSED not in s.norm.changes:
                negative_out = merge_negative_prompts(negative, inline, negative_out)
        return Decision(
            action=action,
            categories=s.scores,
            findings=s.findings,
            prompt_in=s.norm.original,
            prompt_out=prompt_out,
            latency_ms=latency,
            policy_version=self.policy.version,
            negative_prompt_out=negative_out,
            rewrites=rewrites,
            errors=s.errors,
            language=s.language,
            unread=tuple(sorted(s.unread)),
        )

    def _rewrite(self, prompt: str, decision: Decision,
                 context: RewriteContext | None) -> RewriteResult | None:
        from fairframe.guard.rewriters import apply_rewriters

        active = [
            r for r in self.rewriters
            if r.name in _ALWAYS_REWRITERS
            or decision.action in (Action.REWRITE, Action.REGENERATE)
        ]
        if not active:
            return None
        return apply_rewriters(prompt, decision, active, context)

