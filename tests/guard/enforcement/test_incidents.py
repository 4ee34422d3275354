"""Incident reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from fairframe.errors import ConfigError, StateError
from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import Enforcer, IncidentStatus, ReviewKind
from tests.guard.enforcement.conftest import MakeEnforcer

IMG = hashlib.sha256(b"image bytes").hexdigest()


def allowed() -> Decision:
    return Decision(Action.ALLOW, {"nudity": 0.1}, prompt_in="a beach", policy_version="t/1")


def test_report_by_decision_id_queues_a_review(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key
    served = enforcer.record(allowed(), key_id=key.id)
    inc = enforcer.report_incident(category="nudity", description="  shows a nude person ",
                                   key_id=key.id, decision_id=served, phash="F0E1d2c3b4a59687")
    assert inc.status is IncidentStatus.OPEN and inc.description == "shows a nude person"
    assert inc.decision_id == served and inc.phash == "f0e1d2c3b4a59687"
    item = enforcer.get_review(inc.review_id or 0)
    assert item is not None and item.kind is ReviewKind.INCIDENT and item.incident_id == inc.id
    assert item.action == "allow" and dict(item.categories) == {"nudity": 0.1}
    assert enforcer.get_incident(inc.id) == inc and enforcer.get_incident(99) is None
    assert inc.to_dict()["status"] == "open"


def test_report_by_image_hash_links_the_decision(enforcer: Enforcer) -> None:
    served = enforcer.record(allowed(), key_id=None, image_sha256=IMG.upper())
    assert enforcer.log_entry(served).image_sha256 == IMG  # type: ignore[union-attr]
    inc = enforcer.report_incident(category="violence", description="gore", image_sha256=IMG)
    assert inc.decision_id == served and inc.key_id is None
    unknown = hashlib.sha256(b"other").hexdigest()
    inc2 = enforcer.report_incident(category="violence", description="x", image_sha256=unknown)
    assert inc2.decision_id is None and inc2.image_sha256 == unknown


def test_a_blocked_decision_served_nothing_to_report(enforcer: Enforcer) -> None:
    refused = enforcer.record(
        Decision(Action.BLOCK, {"nudity": 1.0}, prompt_in="x", policy_version="t/1"),
        key_id=None, image_sha256=IMG,
    )
    queued = enforcer.list_reviews()  # the block queued its own review item
    with pytest.raises(StateError, match=f"decision {refused} was a block: no image was served"):
        enforcer.report_incident(category="nudity", description="x", decision_id=refused)
    assert enforcer.list_incidents() == [] and enforcer.list_reviews() == queued
    # the same image found by its hash is linked: a refused image a user saw is worth a look
    inc = enforcer.report_incident(category="nudity", description="x", image_sha256=IMG)
    assert inc.decision_id == refused


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"category": "meh", "description": "x", "image_sha256": IMG}, "unknown incident category"),
        ({"category": "hate", "description": " ", "image_sha256": IMG}, "needs a description"),
        ({"category": "hate", "description": "x"}, "decision_id or the image_sha256"),
        ({"category": "hate", "description": "x", "image_sha256": "abc"}, "64 hex"),
        ({"category": "hate", "description": "x", "decision_id": 42}, "unknown decision"),
        ({"category": "hate", "description": "x", "image_sha256": IMG, "phash": "zz"}, "phash"),
        ({"category": "hate", "description": "x", "image_sha256": IMG, "key_id": "no"},
         "unknown API key"),
        ({"category": "hate", "description": "x" * 5000, "image_sha256": IMG}, "at most"),
    ],
)
def test_invalid_reports(enforcer: Enforcer, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        enforcer.report_incident(**kwargs)  # type: ignore[arg-type]
    assert enforcer.list_incidents() == [] and enforcer.list_reviews() == []


def test_status_transitions(enforcer: Enforcer) -> None:
    inc = enforcer.report_incident(category="hate", description="x", image_sha256=IMG)
    assert enforcer.update_incident(inc.id, "investigating").status is IncidentStatus.INVESTIGATING
    assert enforcer.update_incident(inc.id, "dismissed").status is IncidentStatus.DISMISSED
    with pytest.raises(ConfigError, match="it can move to: open"):
        enforcer.update_incident(inc.id, "confirmed")
    assert enforcer.update_incident(inc.id, "open").status is IncidentStatus.OPEN
    with pytest.raises(ConfigError, match="unknown incident status"):
        enforcer.update_incident(inc.id, "closed")
    with pytest.raises(ConfigError, match="unknown incident"):
        enforcer.update_incident(99, "open")
    assert [i.id for i in enforcer.list_incidents("open")] == [inc.id]
    assert enforcer.list_incidents(IncidentStatus.DISMISSED) == []


def test_review_drives_the_incident(enforcer: Enforcer) -> None:
    a = enforcer.report_incident(category="hate", description="x", image_sha256=IMG)
    b = enforcer.report_incident(category="hate", description="y", image_sha256=IMG)
    item = enforcer.claim_review(a.review_id, reviewer="r")
    assert item is not None
    assert enforcer.get_incident(a.id).status is IncidentStatus.INVESTIGATING  # type: ignore[union-attr]
    enforcer.resolve_review(item.id, verdict="upheld", reviewer="r")
    assert enforcer.get_incident(a.id).status is IncidentStatus.CONFIRMED  # type: ignore[union-attr]
    enforcer.update_incident(b.id, "confirmed")
    enforcer.resolve_review(b.review_id or 0, verdict="overturned", reviewer="r")
    assert enforcer.get_incident(b.id).status is IncidentStatus.DISMISSED  # type: ignore[union-attr]


def test_a_key_reports_only_its_own_decisions_when_asked(enforcer: Enforcer) -> None:
    mine, theirs = enforcer.create_key("a").key.id, enforcer.create_key("b").key.id
    their_image = enforcer.record(allowed(), key_id=theirs, image_sha256=IMG)
    with pytest.raises(ConfigError, match="unknown decision"):
        enforcer.report_incident(category="nudity", description="x", key_id=mine,
                                 decision_id=their_image, own_only=True)
    by_hash = enforcer.report_incident(category="nudity", description="x", key_id=mine,
                                       image_sha256=IMG, own_only=True)
    assert by_hash.decision_id is None  # their decision is not linked for this key
    my_image = enforcer.record(allowed(), key_id=mine, image_sha256=IMG)
    assert enforcer.report_incident(category="nudity", description="x", key_id=mine,
                                    image_sha256=IMG, own_only=True).decision_id == my_image
    assert enforcer.report_incident(category="nudity", description="x", key_id=mine,
                                    decision_id=their_image).decision_id == their_image


def test_nul_characters_never_reach_the_store(make_enforcer: MakeEnforcer) -> None:
    enforcer = make_enforcer(store_prompts=True)
    key = enforcer.create_key("a").key.id
    with pytest.raises(ConfigError, match="description contains a NUL character"):
        enforcer.report_incident(category="nudity", description="a\x00b", image_sha256=IMG)
    entry = enforcer.record(allowed(), key_id=key, prompt="a\x00beach")
    logged = enforcer.log_entry(entry)
    assert logged is not None and logged.prompt == "a\ufffdbeach"
    assert logged.prompt_sha256 == hashlib.sha256(b"a\x00beach").hexdigest()
    assert enforcer.verify_log().ok
