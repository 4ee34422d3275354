"""The guard service through the ASGI client: endpoints, auth, enforcement, limits, errors."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402

from fairframe.errors import (  # noqa: E402
    BackendError,
    CommitUnknownError,
    ConfigError,
    InputDataError,
    StoreError,
)
from fairframe.guard import default_lexicon  # noqa: E402
from fairframe.guard.config import GuardConfig  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer  # noqa: E402
from fairframe.guard.normalize import NormalizedPrompt  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.guard.rewriters import Anonymizer, ForcedNegatives  # noqa: E402
from fairframe.guard.stage import StageResult  # noqa: E402
from fairframe.service import create_app  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def make_guard(*extra: Any, required: set[str] | None = None) -> PromptGuard:
    return PromptGuard([default_lexicon(), *extra], rewriters=[Anonymizer(), ForcedNegatives()],
                       max_prompt_chars=500, required=required)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def enforcer(tmp_path: Path, clock: Clock) -> Iterator[Enforcer]:
    settings = EnforcementSettings.model_validate(
        {"default_rate_per_s": 1.0, "default_burst": 5,
         "strikes": {"cooldown_at": 3, "suspend_at": 10, "cooldown_base_s": 60}})
    enf = Enforcer.open(f"sqlite:///{tmp_path / 'guard.db'}", settings, clock=clock)
    yield enf
    enf.close()


@pytest.fixture
def keys(enforcer: Enforcer) -> dict[str, str]:
    return {
        "client": enforcer.create_key("alice").token,
        "reviewer": enforcer.create_key("rita", roles=("reviewer",), burst=100).token,
        "admin": enforcer.create_key("root", roles=("admin",), burst=100).token,
    }


def client_for(guard: PromptGuard, enforcer: Enforcer, **service: Any) -> TestClient:
    cfg = GuardConfig.model_validate({"service": {"max_body_bytes": 4096, **service}})
    return TestClient(create_app(cfg, guard=guard, enforcer=enforcer),
                      raise_server_exceptions=False)


@pytest.fixture
def client(enforcer: Enforcer) -> Iterator[TestClient]:
    with client_for(make_guard(), enforcer) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_check_returns_the_decision_and_logs_it(client: TestClient, keys: dict[str, str],
                                                enforcer: Enforcer) -> None:
    r = client.post("/v1/prompts/check", json={"prompt": "a bloody corpse, oil painting"},
                    headers=auth(keys["client"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "rewrite"
    assert body["categories"]["violence"] >= 0.7
    assert "gore" in body["negative_prompt_out"]
    assert {"normalize", "lexicon", "fusion"} <= set(body["latency_ms"])
    entry = enforcer.log_entry(body["decision_id"])
    assert entry is not None and entry.action == "rewrite"
    assert entry.prompt is None  # only the hash is stored by default
    assert enforcer.verify_log().ok


def test_rewrite_endpoint_anonymizes(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/prompts/rewrite",
                    json={"prompt": "my neighbour John Smith walking his dog"},
                    headers={"X-API-Key": keys["client"]})
    assert r.status_code == 200, r.text
    assert "John Smith" not in r.json()["prompt_out"]
    benign = client.post("/v1/prompts/rewrite", json={"prompt": "a red bicycle"},
                         headers=auth(keys["client"]))
    assert benign.json()["prompt_out"] == "a red bicycle"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer ff_000000000000_nope"}, 401),
     ({"X-API-Key": "garbage"}, 401)],
)
def test_auth_is_required(client: TestClient, headers: dict[str, str], status: int) -> None:
    r = client.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]["type"] == "unauthorized"


def test_rate_limit_answers_429_with_retry_after(client: TestClient, keys: dict[str, str],
                                                 clock: Clock) -> None:
    codes = [client.post("/v1/prompts/check", json={"prompt": "a cat"},
                         headers=auth(keys["client"])).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = client.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
    assert r.headers["Retry-After"] == "1"
    clock.t += 1.0
    assert client.post("/v1/prompts/check", json={"prompt": "a cat"},
                       headers=auth(keys["client"])).status_code == 200


def test_blocks_escalate_to_a_cooldown_then_admin_reinstates(
        client: TestClient, keys: dict[str, str], clock: Clock) -> None:
    for _ in range(3):
        r = client.post("/v1/prompts/check", json={"prompt": "hardcore porn"},
                        headers=auth(keys["client"]))
        assert r.json()["action"] == "block"
    r = client.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "account_cooldown"
    # a readable UTC time (the test clock is at Unix 1,000,000 s: 1970-01-12)
    assert "is in a cool-down until 1970-01-12T" in r.json()["error"]["message"]
    message = r.json()["error"]["message"]
    assert "effective strikes >= cooldown_at 3" in message  # why
    assert "POST /v1/appeals" in message  # and the ways out
    key_id = keys["client"].split("_")[1]
    assert f"POST /v1/keys/{key_id}/reinstate" in message
    assert int(r.headers["Retry-After"]) >= 1
    forbidden = client.post(f"/v1/keys/{key_id}/reinstate", headers=auth(keys["client"]))
    assert forbidden.status_code == 403
    ok = client.post(f"/v1/keys/{key_id}/reinstate", headers=auth(keys["admin"]))
    assert ok.status_code == 200 and ok.json()["state"] == "active"
    assert client.post("/v1/prompts/check", json={"prompt": "a cat"},
                       headers=auth(keys["client"])).status_code == 200


def test_review_queue_and_appeal(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/prompts/check", json={"prompt": "hardcore porn"},
                    headers=auth(keys["client"]))
    decision_id = r.json()["decision_id"]
    assert client.get("/v1/reviews", headers=auth(keys["client"])).status_code == 403
    queue = client.get("/v1/reviews", params={"status": "pending"}, headers=auth(keys["reviewer"]))
    assert queue.status_code == 200
    (item,) = [i for i in queue.json() if i["decision_id"] == decision_id]
    assert client.post(f"/v1/reviews/{item['id']}/claim",
                       headers=auth(keys["reviewer"])).status_code == 200
    done = client.post(f"/v1/reviews/{item['id']}/resolve",
                       json={"verdict": "upheld", "note": "explicit"},
                       headers=auth(keys["reviewer"]))
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    twice = client.post(f"/v1/reviews/{item['id']}/resolve", json={"verdict": "upheld"},
                        headers=auth(keys["reviewer"]))
    assert twice.status_code == 409
    appeal = client.post("/v1/appeals", json={"decision_id": decision_id, "reason": "art"},
                         headers=auth(keys["client"]))
    assert appeal.status_code == 201 and appeal.json()["status"] == "appealed"
    again = client.post("/v1/appeals", json={"decision_id": decision_id},
                        headers=auth(keys["client"]))
    assert again.status_code == 409
    missing = client.post("/v1/appeals", json={"decision_id": 999999},
                          headers=auth(keys["client"]))
    assert missing.status_code == 404


def test_reviewers_review_others_by_key_and_release_claims(
        client: TestClient, keys: dict[str, str], enforcer: Enforcer) -> None:
    admin = auth(keys["admin"])
    # a reviewer-only key is not a client: it cannot send prompts to get its own blocks reviewed
    r = client.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["reviewer"]))
    assert r.status_code == 403 and "'client' role" in r.text
    both = enforcer.create_key("rita", roles=("client", "reviewer"), burst=50).token
    mine = client.post("/v1/prompts/check", json={"prompt": "hardcore porn"},
                       headers=auth(both)).json()["decision_id"]
    theirs = client.post("/v1/prompts/check", json={"prompt": "hardcore porn"},
                         headers=auth(keys["client"])).json()["decision_id"]
    queue = {i["decision_id"]: i["id"] for i in client.get("/v1/reviews", headers=admin).json()}
    own = client.post(f"/v1/reviews/{queue[mine]}/resolve", json={"verdict": "overturned"},
                      headers=auth(both))
    assert own.status_code == 403 and "own requests" in own.text
    assert client.post(f"/v1/reviews/{queue[mine]}/claim", headers=auth(both)).status_code == 403
    # claims are the key's, not its name's: two keys named "rita" are two reviewers
    claimed = client.post(f"/v1/reviews/{queue[theirs]}/claim", headers=auth(keys["reviewer"]))
    assert claimed.status_code == 200 and claimed.json()["claimed_by"].startswith("rita (")
    other = client.post(f"/v1/reviews/{queue[theirs]}/resolve", json={"verdict": "upheld"},
                        headers=auth(both))
    assert other.status_code == 409 and "only they can resolve it" in other.text
    assert client.post(f"/v1/reviews/{queue[theirs]}/release",
                       headers=auth(both)).status_code == 409
    # the claimer left: an administrator frees the item
    reviewer_id = keys["reviewer"].split("_")[1]
    assert client.delete(f"/v1/keys/{reviewer_id}", headers=admin).status_code == 200
    freed = client.post(f"/v1/reviews/{queue[theirs]}/release", headers=admin)
    assert freed.status_code == 200 and freed.json()["status"] == "pending"
    done = client.post(f"/v1/reviews/{queue[theirs]}/resolve", json={"verdict": "upheld"},
                       headers=auth(both))
    assert done.status_code == 200
    again = client.post(f"/v1/reviews/{queue[theirs]}/resolve", json={"verdict": "upheld"},
                        headers=auth(both))
    assert again.status_code == 409 and "may appeal once to reopen it" in again.text
    # a revoked key stays revoked
    back = client.post(f"/v1/keys/{reviewer_id}/reinstate", headers=admin)
    assert back.status_code == 409 and "revocation is final" in back.text
    # the queue pages like the incident list
    ids = [i["id"] for i in client.get("/v1/reviews", headers=admin).json()]
    assert len(ids) == 2
    page = client.get("/v1/reviews", params={"after_id": ids[0], "limit": 1}, headers=admin)
    assert [i["id"] for i in page.json()] == ids[1:]


def test_appeals_and_incidents_are_rate_limited_and_private(
        client: TestClient, keys: dict[str, str], enforcer: Enforcer, clock: Clock) -> None:
    other = enforcer.create_key("bob", burst=50).token
    served = client.post("/v1/prompts/check", json={"prompt": "a lighthouse"},
                         headers=auth(other)).json()["decision_id"]
    report = {"decision_id": served, "category": "nudity", "description": "nude"}
    # another key's decision is unknown to this key, as for appeals; an admin may report it
    r = client.post("/v1/incidents", json=report, headers=auth(keys["client"]))
    assert r.status_code == 404 and "your key received" in r.text
    assert client.post("/v1/incidents", json=report, headers=auth(keys["admin"])).status_code == 201
    # a NUL would break PostgreSQL: refused everywhere, naming the field
    r = client.post("/v1/incidents", json={**report, "description": "bad\u0000x"},
                    headers=auth(other))
    assert r.status_code == 422 and "NUL" in r.text
    # each report takes a token of the key's bucket (burst 5; the refused report took one)
    image = {"image_sha256": "cd" * 32, "category": "nudity", "description": "nude"}
    codes = [client.post("/v1/incidents", json=image, headers=auth(keys["client"])).status_code
             for _ in range(5)]
    assert codes == [201] * 4 + [429]
    r = client.post("/v1/appeals", json={"decision_id": served}, headers=auth(keys["client"]))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"


def test_key_limits_and_probes(client: TestClient, keys: dict[str, str],
                               enforcer: Enforcer) -> None:
    admin = auth(keys["admin"])
    r = client.post("/v1/keys", json={"name": "slow", "rate_per_s": 5e-324}, headers=admin)
    assert r.status_code == 422 and "rate_per_s" in r.text
    with pytest.raises(ConfigError, match="at least 1.16e-05 .one request a day"):
        enforcer.create_key("slow", rate_per_s=1e-300)
    daily = client.post("/v1/keys", json={"name": "daily", "rate_per_s": 1 / 86400, "burst": 1},
                        headers=admin).json()["token"]
    codes = [client.post("/v1/prompts/check", json={"prompt": "a cat"},
                         headers=auth(daily)) for _ in range(2)]
    assert [c.status_code for c in codes] == [200, 429]
    assert codes[1].headers["Retry-After"] == "86400"
    long_id = client.delete("/v1/keys/" + "x" * 5000, headers=admin)
    assert long_id.status_code == 422 and "x" * 100 not in long_id.text
    for path in ("/healthz", "/readyz"):
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""


def test_a_nul_in_a_stored_prompt_is_kept_as_a_replacement_character(
        enforcer: Enforcer, keys: dict[str, str], tmp_path: Path) -> None:
    settings = EnforcementSettings.model_validate({"store_prompts": True})
    stored = Enforcer.open(f"sqlite:///{tmp_path / 'stored.db'}", settings)
    token = stored.create_key("c").token
    with client_for(make_guard(), stored) as c:
        r = c.post("/v1/prompts/check", json={"prompt": "a\u0000cat"}, headers=auth(token))
    assert r.status_code == 200
    entry = stored.log_entry(r.json()["decision_id"])
    assert entry is not None and entry.prompt == "a\ufffdcat"
    assert entry.prompt_sha256 == hashlib.sha256("a\u0000cat".encode()).hexdigest()
    assert stored.verify_log().ok
    stored.close()


def test_incident_report_enqueues_a_review(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
    assert r.status_code == 404
    r = client.post("/v1/incidents", json={"image_sha256": "ab" * 32, "category": "nudity",
                                           "description": "nudity in a served image"},
                    headers=auth(keys["client"]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open"
    queue = client.get("/v1/reviews", headers=auth(keys["reviewer"])).json()
    assert any(i.get("incident_id") == r.json()["id"] for i in queue)


def test_reviewers_read_incidents_and_decisions(client: TestClient,
                                                keys: dict[str, str]) -> None:
    served = client.post("/v1/prompts/check", json={"prompt": "a lighthouse at dusk"},
                         headers=auth(keys["client"])).json()
    assert served["action"] == "allow"
    report = client.post("/v1/incidents", json={
        "decision_id": served["decision_id"], "category": "sexual",
        "description": "explicit image served"}, headers=auth(keys["client"])).json()
    refused = client.post("/v1/prompts/check", json={"prompt": "hardcore porn"},
                          headers=auth(keys["client"])).json()
    nothing = client.post("/v1/incidents", json={
        "decision_id": refused["decision_id"], "category": "sexual",
        "description": "explicit image served"}, headers=auth(keys["client"]))
    assert nothing.status_code == 409 and "no image was served" in nothing.text
    rev = auth(keys["reviewer"])
    listed = client.get("/v1/incidents", params={"status": "open"}, headers=rev)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()] == [report["id"]]
    assert client.get("/v1/incidents", params={"status": "dismissed"}, headers=rev).json() == []
    assert client.get("/v1/incidents", params={"after_id": report["id"]}, headers=rev).json() == []
    one = client.get(f"/v1/incidents/{report['id']}", headers=rev)
    assert one.status_code == 200 and one.json()["decision_id"] == served["decision_id"]
    decision = client.get(f"/v1/decisions/{refused['decision_id']}", headers=rev)
    assert decision.status_code == 200
    assert decision.json()["action"] == "block" and "sexual" in decision.json()["categories"]
    # clients may not read them; unknown ids are 404 naming the id; bad statuses are 422
    assert client.get("/v1/incidents", headers=auth(keys["client"])).status_code == 403
    assert client.get(f"/v1/decisions/{served['decision_id']}",
                      headers=auth(keys["client"])).status_code == 403
    missing = client.get("/v1/decisions/999", headers=rev)
    assert missing.status_code == 404 and "no decision 999" in missing.json()["error"]["message"]
    assert client.get("/v1/incidents/999", headers=rev).status_code == 404
    assert client.get("/v1/incidents", params={"status": "closed"}, headers=rev).status_code == 422
    # a 405 lists every method of the path, from all its routes
    wrong = client.put("/v1/incidents", headers=rev)
    assert wrong.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["Allow"].split(",")}


def test_admin_creates_and_revokes_keys(client: TestClient, keys: dict[str, str]) -> None:
    assert client.post("/v1/keys", json={"name": "bob"},
                       headers=auth(keys["client"])).status_code == 403
    created = client.post("/v1/keys", json={"name": "bob", "roles": ["client"], "burst": 3},
                          headers=auth(keys["admin"]))
    assert created.status_code == 201
    token = created.json()["token"]
    assert client.post("/v1/prompts/check", json={"prompt": "a cat"},
                       headers=auth(token)).status_code == 200
    key_id = created.json()["key"]["id"]
    assert client.delete(f"/v1/keys/{key_id}", headers=auth(keys["admin"])).status_code == 200
    assert client.post("/v1/prompts/check", json={"prompt": "a cat"},
                       headers=auth(token)).status_code == 401
    verify = client.get("/v1/log/verify", headers=auth(keys["admin"]))
    assert verify.status_code == 200 and verify.json()["ok"] is True


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b'{"prompt": ', 400, "malformed_json"),
        (b'{"prompt": "caf\xe9"}', 400, "malformed_json"),
        (b'{"prompt": ""}', 422, "invalid_request"),
        (b'{"prompt": "   "}', 422, "invalid_request"),
        (b'{"prompt": 12}', 422, "invalid_request"),
        (b'{"prmpt": "a cat"}', 422, "invalid_request"),
        (b'[1, 2]', 422, "invalid_request"),
        (('{"prompt": "' + "a" * 600 + '"}').encode(), 422, "invalid_request"),
        (('{"prompt": "' + "a" * 5000 + '"}').encode(), 413, "payload_too_large"),
        (b'{"prompt": "a\\u0000b\\u0007 cat"}', 200, None),
        (b'{"prompt": "a \\ud800 cat"}', 422, "invalid_request"),
    ],
)
def test_bad_input_is_a_clear_error_and_the_service_keeps_serving(
        client: TestClient, keys: dict[str, str], body: bytes, status: int,
        kind: str | None) -> None:
    h = {**auth(keys["admin"]), "Content-Type": "application/json"}
    r = client.post("/v1/prompts/check", content=body, headers=h)
    assert r.status_code == status, r.text
    if kind is not None:
        err = r.json()["error"]
        assert err["type"] == kind and err["message"]
    assert client.post("/v1/prompts/check", json={"prompt": "a cat"},
                       headers=auth(keys["admin"])).status_code == 200


def test_a_refused_oversized_body_is_counted_under_its_route(
        client: TestClient, keys: dict[str, str]) -> None:
    big = ('{"prompt": "' + "a" * 5000 + '"}').encode()
    for path in ("/v1/prompts/check", "/nowhere"):
        r = client.post(path, content=big, headers={**auth(keys["admin"]),
                                                     "Content-Type": "application/json"})
        assert r.status_code == 413
    text = client.get("/metrics").text
    assert 'fairframe_guard_requests_total{route="/v1/prompts/check",status="413"} 1.0' in text
    assert 'fairframe_guard_requests_total{route="unmatched",status="413"} 1.0' in text


def test_wrong_content_type_and_blank_prompts_say_what_to_fix(
        client: TestClient, keys: dict[str, str]) -> None:
    for ctype, body in [("text/plain", '{"prompt": "a cat"}'), ("application/x-www-form-urlencoded",
                                                               "prompt=a+cat")]:
        r = client.post("/v1/prompts/check", content=body,
                        headers={**auth(keys["admin"]), "Content-Type": ctype})
        assert r.status_code == 415, r.text
        assert r.json()["error"]["type"] == "unsupported_media_type"
        assert "Content-Type: application/json" in r.json()["error"]["message"]
    r = client.post("/v1/prompts/check", json={"prompt": "   "}, headers=auth(keys["admin"]))
    assert r.status_code == 422
    assert r.json()["error"]["message"] == (
        "prompt: must hold a visible character (not only white space, control, zero-width or "
        "other format characters)")
    for invisible in ("\u0000\u0001", "\u200b\u200b\u200b", "\u202e\ufeff \U000e0041"):
        r = client.post("/v1/prompts/check", json={"prompt": invisible},
                        headers=auth(keys["admin"]))
        assert r.status_code == 422 and "visible character" in r.text, invisible
    for shown in ("\u200ba\u200b", "🐱", "\u0301"):  # one visible character is enough
        assert client.post("/v1/prompts/check", json={"prompt": shown},
                           headers=auth(keys["admin"])).status_code == 200
    no_type = client.post("/v1/prompts/check", content=b'{"prompt": "a cat"}',
                          headers=auth(keys["admin"]))
    assert no_type.status_code == 415 and "without a Content-Type header" in no_type.text
    deep = b'{"prompt": "a", "negative_prompt": ' + b"[" * 1800 + b"]" * 1800 + b"}"
    r = client.post("/v1/prompts/check", content=deep, headers={
        **auth(keys["admin"]), "Content-Type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"], r.text
    for body, status in [('{"prompt": "a cat"}', 200), ("null", 422)]:  # a JSON media type
        r = client.post("/v1/prompts/check", content=body, headers={
            **auth(keys["admin"]), "Content-Type": "application/merge-patch+json"})
        assert r.status_code == status, r.text


def test_the_limit_message_names_the_limit(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/prompts/check", json={"prompt": "a" * 600}, headers=auth(keys["admin"]))
    assert r.json()["error"]["message"] == "prompt: String should have at most 500 characters"


class Broken:
    name = "judge"

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        raise BackendError("judge endpoint unreachable")


def test_required_stage_failure_fails_closed_with_503(enforcer: Enforcer,
                                                      keys: dict[str, str]) -> None:
    with client_for(make_guard(Broken()), enforcer) as c:
        assert c.get("/readyz").status_code == 503
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
        assert r.status_code == 503
        assert r.json()["error"]["type"] == "guard_unavailable"
        metrics = c.get("/metrics").text
        assert "fairframe_guard_failed_closed_total 1.0" in metrics
    with client_for(make_guard(Broken(), required={"lexicon"}), enforcer) as c:
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
        assert r.status_code == 200
        assert r.json()["errors"] == ["judge: BackendError: judge endpoint unreachable"]


def test_health_ready_policy_metrics_and_openapi(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["stages"] == ["lexicon"]
    policy = client.get("/v1/policy").json()
    assert policy["categories"]["sexual_minors"]["action"] == "block"
    client.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
    text = client.get("/metrics").text
    assert 'fairframe_guard_decisions_total{action="allow"} 1.0' in text
    assert 'fairframe_guard_requests_total{route="/v1/prompts/check",status="200"}' in text
    spec = client.get("/openapi.json").json()
    assert {"/v1/prompts/check", "/v1/prompts/rewrite", "/v1/incidents", "/v1/reviews",
            "/healthz", "/metrics"} <= set(spec["paths"])
    # every JSON answer is typed, and the key-holding operations say how to authenticate
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            if path != "/metrics":
                schema = ok["content"]["application/json"]["schema"]
                assert schema and schema != {}, (method, path)
            if path.startswith("/v1/") and path != "/v1/policy":
                assert op.get("security"), (method, path)


def test_anonymous_mode_when_keys_are_not_required(enforcer: Enforcer) -> None:
    with client_for(make_guard(), enforcer, require_api_key=False) as c:
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"})
        assert r.status_code == 200


def test_unexpected_errors_are_500_json_and_logged(enforcer: Enforcer, keys: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with client_for(make_guard(), enforcer) as c:
        def boom(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(enforcer, "record", boom)
        monkeypatch.setattr(enforcer, "record_many", boom)
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["client"]))
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "internal_error"
        assert "see the service log for" in r.json()["error"]["message"]
        assert "disk on fire" in caplog.text
        monkeypatch.undo()
        assert c.post("/v1/prompts/check", json={"prompt": "a cat"},
                      headers=auth(keys["client"])).status_code == 200


class Batched:
    """A stage that says it runs on batches (so ``batching = "auto"`` turns micro-batching on)
    and records the batch sizes it sees; it scores nothing."""

    name = "batched"
    max_batch_size = 16

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        self.sizes.append(len(prompts))
        time.sleep(0.02)  # long enough for concurrent requests to queue behind a batch
        return [StageResult({}) for _ in prompts]


def test_micro_batching_serves_the_same_decisions(enforcer: Enforcer,
                                                  keys: dict[str, str]) -> None:
    prompts = ["a bloody corpse, oil painting", "a cat on a sofa", "email me at a@b.co",
               "a n.a.k.e.d woman", "a lighthouse at dawn", "a knife fight, gore"] * 3
    stage = Batched()
    answers = {}
    for mode in ("off", "auto"):
        with client_for(make_guard(stage), enforcer, batching=mode) as c:
            with ThreadPoolExecutor(8) as pool:
                responses = list(pool.map(
                    lambda p: c.post("/v1/prompts/rewrite", json={"prompt": p},
                                     headers=auth(keys["admin"])), prompts))
            assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
            answers[mode] = [{k: r.json()[k] for k in ("action", "categories", "prompt_out",
                                                       "negative_prompt_out")}
                             for r in responses]
            text = c.get("/metrics").text
            if mode == "auto":
                count = float(text.split("fairframe_guard_batch_size_count ")[1].split()[0])
                total = float(text.split("fairframe_guard_batch_size_sum ")[1].split()[0])
                assert total == len(prompts) and count < len(prompts)  # some calls had several
        if mode == "off":
            assert set(stage.sizes) == {1}
            stage.sizes.clear()
    assert answers["auto"] == answers["off"]
    assert max(stage.sizes) > 1


class FailsOn:
    """Fails its whole scan when any prompt of the batch contains ``word``; slow enough for
    concurrent requests to share a batch."""

    name = "picky"
    max_batch_size = 16

    def __init__(self, word: str) -> None:
        self.word = word
        self.sizes: list[int] = []

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        self.sizes.append(len(prompts))
        time.sleep(0.02)
        if any(self.word in p.text for p in prompts):
            raise BackendError(f"cannot score {self.word!r}")
        return [StageResult({}) for _ in prompts]


def test_micro_batching_keeps_per_request_errors_apart(enforcer: Enforcer,
                                                        keys: dict[str, str]) -> None:
    stage = FailsOn("boom")
    prompts = ["a cat", "a boom box", "a dog", "a tree", "a boat", "a house"] * 2
    class Strict(PromptGuard):
        def validate(self, prompt: object) -> str:
            if prompt == "a forbidden word":
                raise InputDataError("not this one")
            return super().validate(prompt)

    guard = make_guard(stage, required={"lexicon", "picky"})
    strict = Strict(guard.stages, rewriters=guard.rewriters, required=guard.required,
                    max_prompt_chars=guard.max_prompt_chars)
    with client_for(strict, enforcer) as c:
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(
                lambda p: c.post("/v1/prompts/check", json={"prompt": p},
                                 headers=auth(keys["admin"])), prompts))
        # passes the schema but not the guard's own check (a subclass's stricter one), which
        # runs per request, before the prompts of a batch share the guard call
        bad = c.post("/v1/prompts/check", json={"prompt": "a forbidden word"},
                     headers=auth(keys["admin"]))
        assert bad.status_code == 422 and "not this one" in bad.json()["error"]["message"]
        assert c.get("/readyz").status_code == 200
    assert max(stage.sizes) > 1  # requests did share batches
    for prompt, r in zip(prompts, responses, strict=True):
        if "boom" in prompt:
            assert r.status_code == 503 and r.json()["error"]["type"] == "guard_unavailable"
        else:
            assert r.status_code == 200, (prompt, r.text)


class RemoteJudge(Batched):
    name = "judge"
    remote = True


def test_auto_batching_is_on_unless_a_stage_is_remote(
        enforcer: Enforcer, keys: dict[str, str]) -> None:
    for stages, on in [((), True), ((Batched(),), True), ((Batched(), RemoteJudge()), False)]:
        with client_for(make_guard(*stages), enforcer) as c:
            c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["admin"]))
            assert ("fairframe_guard_batch_size_count 1.0" in c.get("/metrics").text) is on
    with client_for(make_guard(), enforcer, batching="on") as c:
        assert c.post("/v1/prompts/check", json={"prompt": "a cat"},
                      headers=auth(keys["admin"])).status_code == 200
        c.app.state.guard_batcher.close()  # as if its thread had died
        assert c.get("/readyz").status_code == 503
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["admin"]))
        assert r.status_code == 503 and "closed" in r.json()["error"]["message"]


class Gate:
    """A stage whose first call blocks until released: the requests sent meanwhile queue up and
    form the next batch together."""

    name = "gate"
    max_batch_size = 16

    def __init__(self, fail_on: str | None = None, block_on: str = "blocker") -> None:
        self.release = threading.Event()
        self.first = threading.Event()
        self.fail_on = fail_on
        self.block_on = block_on
        self.sizes: list[int] = []

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        if not self.first.is_set() and any(self.block_on in p.text for p in prompts):
            self.first.set()
            self.release.wait(10)
        self.sizes.append(len(prompts))
        if self.fail_on and any(self.fail_on in p.text for p in prompts):
            raise BackendError(f"cannot score {self.fail_on!r}")
        return [StageResult({}) for _ in prompts]


def _queued_behind_a_blocked_batch(c: TestClient, gate: Gate,
                                   calls: list[tuple[str, dict[str, str]]]) -> list[Any]:
    """Send one request that blocks the runner, then ``calls`` concurrently; release."""
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        blocker = pool.submit(c.post, "/v1/prompts/check", json={"prompt": "a blocker"},
                              headers=calls[0][1])
        assert gate.first.wait(10)
        futures = [pool.submit(c.post, "/v1/prompts/check", json={"prompt": p}, headers=h)
                   for p, h in calls]
        batcher = c.app.state.guard_batcher
        deadline = time.monotonic() + 10
        while batcher._queue.qsize() < len(calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.release.set()
        assert blocker.result().status_code == 200
        return [f.result() for f in futures]


def test_micro_batching_admits_and_logs_each_request_once(enforcer: Enforcer) -> None:
    token = enforcer.create_key("bob", burst=7).token  # the test clock never refills it
    gate = Gate(fail_on="boom")
    prompts = ["a cat", "a boom box", "a dog", "a tree", "a boat", "a house"]
    with client_for(make_guard(gate, required={"lexicon", "gate"}), enforcer,
                    batching="on") as c:
        calls = [(p, auth(token)) for p in prompts] + [("a cat", auth("ff_nope_nope"))]
        responses = _queued_behind_a_blocked_batch(c, gate, calls)
        assert [r.status_code for r in responses] == [200, 503, 200, 200, 200, 200, 401]
        assert 6 in gate.sizes  # the six admitted prompts shared one guard call
        # seven tokens, seven admissions (the blocker and six): the failed batch was re-run
        # per prompt without charging or logging again
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(token))
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert enforcer.verify_log().n_entries == 6  # five served + the blocker
    assert responses[1].json()["error"]["type"] == "guard_unavailable"


def test_a_micro_batch_is_admitted_and_logged_in_one_transaction_each(
        enforcer: Enforcer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = enforcer.create_key("bob", burst=5).token  # the test clock never refills it
    calls: dict[str, list[int]] = {"admit_many": [], "record_many": []}
    for name in calls:
        real = getattr(enforcer, name)

        def spy(items: Any, *a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls[_name].append(len(items))
            return _real(items, *a, **kw)
        monkeypatch.setattr(enforcer, name, spy)
    gate = Gate()
    with client_for(make_guard(gate), enforcer, batching="on") as c:
        prompts = ["a cat", "a bloody corpse, gore", "a dog", "a tree", "a boat"]
        responses = _queued_behind_a_blocked_batch(c, gate, [(p, auth(token)) for p in prompts])
    # the requests join the queue in any order: one of the five finds the bucket empty
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 429]
    assert 5 in calls["admit_many"] and 4 in calls["record_many"]
    served = [r.json() for r in responses if r.status_code == 200]
    assert sorted(body["decision_id"] for body in served) == [2, 3, 4, 5]
    log = {e.id: e.action for e in enforcer.list_log()}
    assert all(log[body["decision_id"]] == body["action"] for body in served)
    assert enforcer.verify_log().ok and len(log) == 5


def test_a_failed_batch_transaction_falls_back_to_one_per_request(
        enforcer: Enforcer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    token = enforcer.create_key("bob", burst=4).token

    for name in ("admit_many", "record_many"):
        real = getattr(enforcer, name)

        def broken(items: Any, *a: Any, _real: Any = real, **kw: Any) -> Any:
            if len(items) > 1:  # as if one request's row made the batch transaction fail
                raise StoreError("the batch transaction failed")
            return _real(items, *a, **kw)
        monkeypatch.setattr(enforcer, name, broken)
    gate = Gate()
    with client_for(make_guard(gate), enforcer, batching="on") as c:
        responses = _queued_behind_a_blocked_batch(
            c, gate, [(f"a cat number {i}", auth(token)) for i in range(4)]
            + [("a dog", auth("ff_nope_nope"))])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 401, 429]
    assert responses[4].status_code == 401
    assert enforcer.verify_log().n_entries == 4  # the blocker and three, each logged once
    assert "admitting each request on its own" in caplog.text
    assert "logging each request on its own" in caplog.text


def test_a_batch_commit_of_unknown_outcome_is_never_redone(
        enforcer: Enforcer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = enforcer.create_key("bob", burst=20).token
    logged_before = enforcer.verify_log().n_entries
    singles = {"admit": 0, "record": 0}

    def counter(single: str) -> Any:
        real = getattr(enforcer, single)

        def counted(*a: Any, **kw: Any) -> Any:
            singles[single] += 1
            return real(*a, **kw)
        return counted

    def lost_commit(name: str) -> Any:
        real = getattr(enforcer, name)

        def lost(items: Any, *a: Any, **kw: Any) -> Any:
            if len(items) > 1:  # the batch's commit failed: it may have landed
                raise CommitUnknownError("the connection dropped while committing")
            return real(items, *a, **kw)
        return lost

    for name in ("admit_many", "record_many"):
        for single in singles:  # count the per-request calls a fallback would make
            singles[single] = 0
            monkeypatch.setattr(enforcer, single, counter(single))
        monkeypatch.setattr(enforcer, name, lost_commit(name))
        gate = Gate()
        with client_for(make_guard(gate), enforcer, batching="on") as c:
            responses = _queued_behind_a_blocked_batch(
                c, gate, [(f"a cat number {i}", auth(token)) for i in range(3)])
        assert [r.status_code for r in responses] == [503] * 3, name
        assert {r.json()["error"]["type"] for r in responses} == {"store_unavailable"}
        assert singles == {"admit": 0, "record": 0}, name  # nothing admitted or logged again
        monkeypatch.undo()
    # the blockers were logged; the lost batches were not logged a second time
    assert enforcer.verify_log().n_entries == logged_before + 2


def test_a_check_still_running_after_shutdown_answers_503(tmp_path: Path) -> None:
    cfg = GuardConfig.model_validate({"service": {
        "batching": "off", "database_url": f"sqlite:///{tmp_path / 'own.db'}"}})
    app = create_app(cfg, guard=make_guard())
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/readyz").status_code == 200
    # the app closed the store it opened; a request that arrives late gets a clean 503
    r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth("ff_x_y"))
    assert r.status_code == 503 and r.json()["error"]["type"] == "guard_unavailable"


def test_an_app_started_again_after_shutdown_serves(enforcer: Enforcer,
                                                    keys: dict[str, str]) -> None:
    cfg = GuardConfig.model_validate({"service": {"batching": "on"}})
    app = create_app(cfg, guard=make_guard(Batched()), enforcer=enforcer)
    for _ in range(2):  # each `with` runs the lifespan: start, serve, shut down
        with TestClient(app) as c:
            r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=auth(keys["admin"]))
            assert r.status_code == 200, r.text
            assert c.get("/readyz").status_code == 200


class Miscounts(Gate):
    """Returns one result too few for batches of several prompts."""

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        out = super().scan_batch(prompts)
        return out[:-1] if len(out) > 1 else out


def test_a_broken_batch_call_never_admits_or_logs_twice(enforcer: Enforcer,
                                                         keys: dict[str, str]) -> None:
    gate = Miscounts()
    with client_for(make_guard(gate), enforcer, batching="on") as c:
        responses = _queued_behind_a_blocked_batch(
            c, gate, [(f"a cat number {i}", auth(keys["admin"])) for i in range(4)])
        # the pipeline refuses the short answer; each prompt is then checked alone
        assert [r.status_code for r in responses] == [200] * 4
        assert enforcer.verify_log().n_entries == 5


def test_a_check_that_outlasts_the_timeout_answers_guard_timeout(enforcer: Enforcer,
                                                                  keys: dict[str, str]) -> None:
    gate = Gate(block_on="a cat")
    with client_for(make_guard(gate), enforcer, batching="on", batch_timeout_s=0.3) as c:
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(c.post, "/v1/prompts/check", json={"prompt": "a cat"},
                               headers=auth(keys["admin"]))
            assert gate.first.wait(10)
            r = slow.result()
            gate.release.set()
        assert r.status_code == 503 and r.json()["error"]["type"] == "guard_timeout"
        assert "fairframe_guard_failed_closed_total 0.0" in c.get("/metrics").text
        ok = c.post("/v1/prompts/check", json={"prompt": "a dog"}, headers=auth(keys["admin"]))
        assert ok.status_code == 200
