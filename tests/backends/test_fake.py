from __future__ import annotations

from collections import Counter

from fairframe.backends.fake import FakeGenerator, FakeLabeler, FakeLLM
from fairframe.types import GenerationRequest, LabelQuestion
from tests.contract.suites import GeneratorContract, LabelerContract, LLMContract


class TestFakeGenerator(GeneratorContract):
    def make_generator(self) -> FakeGenerator:
        return FakeGenerator()


class TestFakeLabeler(LabelerContract):
    def make_labeler(self) -> FakeLabeler:
        return FakeLabeler()


class TestFakeLLM(LLMContract):
    def make_llm(self) -> FakeLLM:
        return FakeLLM()


def test_fake_labeler_follows_shares() -> None:
    gen = FakeGenerator(size=8)
    imgs = [g.image for g in gen.generate([GenerationRequest("x", seed=s) for s in range(2000)])]
    q = LabelQuestion("q", ("a", "b", "c"))
    tops = Counter(r.top for r in FakeLabeler(shares={"a": 0.5, "b": 0.3, "c": 0.2},
                                              unknown_rate=0.1).label(imgs, q))
    n = len(imgs)
    assert abs(tops["unknown"] / n - 0.1) < 0.03
    assert abs(tops["a"] / n - 0.45) < 0.04
    assert abs(tops["b"] / n - 0.27) < 0.04
    assert abs(tops["c"] / n - 0.18) < 0.04
