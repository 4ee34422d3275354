"""Generic conformance suites: one per Protocol. Every implementation's tests subclass one.

A test class supplies the component (built from a tiny offline model or a loopback server) and
inherits the checks::

    class TestMyGenerator(GeneratorContract):
        def make_generator(self):
            return MyGenerator(model=tiny_model_dir)
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from PIL import Image

from fairframe.protocols import LLM, Generator, Labeler
from fairframe.types import UNKNOWN, ChatMessage, GenerationRequest, LabelQuestion


class GeneratorContract:
    """Checks every generator must pass."""

    #: Set False for backends that cannot reproduce an image from a seed (e.g. some APIs).
    deterministic = True

    def make_generator(self) -> Generator:
        raise NotImplementedError("return a generator built on a tiny offline model")

    def make_requests(self) -> list[GenerationRequest]:
        return [
            GenerationRequest(prompt="a photo of a doctor", seed=0, height=32, width=32,
                              num_inference_steps=2, guidance_scale=2.0),
            GenerationRequest(prompt="a photo of a nurse", seed=1, height=32, width=32,
                              num_inference_steps=2, guidance_scale=2.0),
        ]

    def test_satisfies_protocol(self) -> None:
        gen = self.make_generator()
        assert isinstance(gen, Generator)
        assert isinstance(gen.max_batch_size, int) and gen.max_batch_size >= 1

    def test_identity_is_json_and_stable(self) -> None:
        gen = self.make_generator()
        ident = dict(gen.identity())
        assert ident.get("backend")
        assert json.loads(json.dumps(ident, sort_keys=True)) == ident
        assert dict(self.make_generator().identity()) == ident

    def test_one_rgb_image_per_request_in_order(self) -> None:
        gen = self.make_generator()
        reqs = self.make_requests()
        out = gen.generate(reqs)
        assert [o.request for o in out] == reqs
        for o in out:
            assert isinstance(o.image, Image.Image)
            assert o.image.mode == "RGB"
            json.dumps(dict(o.metadata))

    def test_same_seed_same_image(self) -> None:
        if not self.deterministic:
            return
        gen = self.make_generator()
        req = self.make_requests()[:1]
        a = np.asarray(gen.generate(req)[0].image, dtype=np.int16)
        b = np.asarray(gen.generate(req)[0].image, dtype=np.int16)
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1

    def test_batch_matches_single(self) -> None:
        if not self.deterministic:
            return
        gen = self.make_generator()
        reqs = self.make_requests()
        batch = gen.generate(reqs)
        single = gen.generate(reqs[1:])
        a = np.asarray(batch[1].image, dtype=np.int16)
        b = np.asarray(single[0].image, dtype=np.int16)
        assert np.abs(a - b).max() <= 2


class LabelerContract:
    """Checks every labeler must pass."""

    def make_labeler(self) -> Labeler:
        raise NotImplementedError("return a labeler built on a tiny offline model")

    def make_images(self) -> Sequence[Image.Image]:
        rng = np.random.default_rng(0)
        return [
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), "RGB")
            for _ in range(3)
        ]

    def make_question(self) -> LabelQuestion:
        return LabelQuestion("What is the gender of the person?", ("man", "woman"), "person")

    def test_satisfies_protocol(self) -> None:
        lab = self.make_labeler()
        assert isinstance(lab, Labeler)
        assert lab.max_batch_size >= 1

    def test_identity_is_json_and_stable(self) -> None:
        ident = dict(self.make_labeler().identity())
        assert ident.get("backend")
        assert json.loads(json.dumps(ident, sort_keys=True)) == ident
        assert dict(self.make_labeler().identity()) == ident

    def test_distribution_over_choices_and_unknown(self) -> None:
        q = self.make_question()
        results = self.make_labeler().label(self.make_images(), q)
        assert len(results) == len(self.make_images())
        for r in results:
            assert set(r.probs) == set(q.choices) | {UNKNOWN}
            assert abs(sum(r.probs.values()) - 1.0) < 1e-4
            assert all(p >= 0 for p in r.probs.values())

    def test_deterministic_and_batch_invariant(self) -> None:
        lab = self.make_labeler()
        q = self.make_question()
        imgs = list(self.make_images())
        first = lab.label(imgs, q)
        again = lab.label(imgs, q)
        alone = lab.label(imgs[1:2], q)
        for a, b in zip(first, again, strict=True):
            for k in a.probs:
                assert abs(a.probs[k] - b.probs[k]) < 1e-5
        for k in first[1].probs:
            assert abs(first[1].probs[k] - alone[0].probs[k]) < 1e-3

    def test_three_choices(self) -> None:
        q = LabelQuestion("How old is the person?", ("young", "middle-aged", "old"), "person")
        r = self.make_labeler().label(self.make_images()[:1], q)[0]
        assert set(r.probs) == {"young", "middle-aged", "old", UNKNOWN}


class LLMContract:
    """Checks every LLM backend must pass."""

    def make_llm(self) -> LLM:
        raise NotImplementedError("return an LLM built on a tiny offline model or loopback server")

    def messages(self) -> list[ChatMessage]:
        return [
            ChatMessage("system", "Answer in JSON."),
            ChatMessage("user", 'prompt: "a photo of a doctor"'),
        ]

    def test_satisfies_protocol(self) -> None:
        assert isinstance(self.make_llm(), LLM)

    def test_identity_is_json_and_stable(self) -> None:
        ident = dict(self.make_llm().identity())
        assert ident.get("backend")
        assert json.loads(json.dumps(ident, sort_keys=True)) == ident

    def test_returns_text_deterministically(self) -> None:
        llm = self.make_llm()
        a = llm.chat(self.messages(), temperature=0.0, max_tokens=16)
        b = llm.chat(self.messages(), temperature=0.0, max_tokens=16)
        assert isinstance(a, str)
        assert a == b
