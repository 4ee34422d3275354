"""Property-based fuzzing of the service API from its own OpenAPI spec (schemathesis).

``FAIRFRAME_FUZZ_EXAMPLES`` sets the examples per endpoint (default 15, to keep the suite fast; the
release check runs 200).

Every generated request must get a documented status with a body matching the documented schema,
and never a 5xx: bad input is a 4xx with a clear message. The image endpoints take base64 images:
a schema-valid string is rarely a decodable image, so for them a 422 for valid-looking input is
expected (the check that schema-valid requests are accepted is off there; every other check stays).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from PIL import Image  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from fairframe.backends.fake import FakeGenerator  # noqa: E402
from fairframe.guard import default_lexicon  # noqa: E402
from fairframe.guard.config import GuardConfig  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer  # noqa: E402
from fairframe.guard.generate import GuardedGenerator  # noqa: E402
from fairframe.guard.image.pipeline import ImageGuard  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.guard.rewriters import Anonymizer, ForcedNegatives  # noqa: E402
from fairframe.guard.stage import StageResult  # noqa: E402
from fairframe.service import create_app  # noqa: E402


def _app() -> tuple[object, str]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="fairframe-fuzz-"))
    enforcer = Enforcer.open(
        f"sqlite:///{folder / 'guard.db'}",
        EnforcementSettings.model_validate({"default_rate_per_s": 1000.0,
                                            "default_burst": 100000}),
    )
    admin = enforcer.create_key("fuzzer", roles=("admin",), rate_per_s=1000.0,
                                burst=100000).token
    guard = PromptGuard([default_lexicon()], rewriters=[Anonymizer(), ForcedNegatives()],
                        max_prompt_chars=300)
    cfg = GuardConfig.model_validate({"service": {"max_body_bytes": 65536}})
    image_guard = ImageGuard(stages=[_Brightness()])
    generator = GuardedGenerator(prompt_guard=guard, image_guard=image_guard,
                                 generator=FakeGenerator(size=64), budget=2)
    return create_app(cfg, guard=guard, enforcer=enforcer, image_guard=image_guard,
                      generator=generator), admin


class _Brightness:
    """A cheap image stage: ``violence`` = mean brightness (so some images get regenerated)."""

    name = "brightness"

    def check_images(self, images: Sequence[Image.Image], prompts: Sequence[str | None]
                     ) -> list[StageResult]:
        return [StageResult({"violence": float(np.asarray(im).mean() / 255.0)}) for im in images]


APP, ADMIN = _app()
# A negative case may be a body over the size limit: 413 (documented) is the right answer to it,
# and schemathesis's default list of rejections leaves 413 out.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
              "5xx"]
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}))


@schema.parametrize()
@settings(max_examples=int(os.environ.get("FAIRFRAME_FUZZ_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_spec(case: Any) -> None:
    excluded = [positive_data_acceptance] if case.path.startswith("/v1/images/") else []
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, excluded_checks=excluded)
