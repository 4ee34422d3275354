"""User-level enforcement for the guard service: API keys, rate limits, strikes, review, incidents.

The service opens one :class:`Enforcer` per process on a database URL (SQLite file by default,
PostgreSQL for several instances sharing state) and calls it around every request::

    from fairframe.guard.enforcement import Enforcer

    enf = Enforcer.open("sqlite:///var/lib/fairframe/guard.db")
    created = enf.create_key("alice", roles=["client"], rate_per_s=0.5, burst=10)
    adm = enf.admit(created.token)                   # key + account status + token bucket
    adm.allowed, adm.reason                          # True, None | False, "rate_limited" ...
    decision_id = enf.record(decision, key_id=adm.key.id)  # hash-chained log, strike, review
    enf.verify_log().ok

:meth:`Enforcer.admit` is one transaction; :meth:`Enforcer.authenticate`,
:meth:`Enforcer.status` and :meth:`Enforcer.check_rate` give the same answers one at a time.

Modules, one concern each: :mod:`.keys` (tokens and roles), :mod:`.ratelimit` (token bucket),
:mod:`.admission` (the three checks before a request, in one transaction),
:mod:`.strikes` (decay, cool-downs, suspension), :mod:`.review` (queue and appeals),
:mod:`.incidents` (user reports), :mod:`.audit_log` (tamper-evident decision log),
:mod:`.settings` (every threshold, with defaults). SQLAlchemy (extra ``service``) and psycopg
(extra ``postgres``) are imported only when a database is opened.
"""

from __future__ import annotations

from fairframe.guard.enforcement._common import GENESIS_HASH, Clock
from fairframe.guard.enforcement._db import SCHEMA_VERSION, redact_url
from fairframe.guard.enforcement.admission import Admission
from fairframe.guard.enforcement.audit_log import LogEntry, LogVerification, entry_hash
from fairframe.guard.enforcement.enforcer import Enforcer, RecordRequest
from fairframe.guard.enforcement.incidents import Incident, IncidentStatus
from fairframe.guard.enforcement.keys import ApiKey, CreatedKey, Role, parse_token
from fairframe.guard.enforcement.ratelimit import RateResult
from fairframe.guard.enforcement.review import (
    ReviewEvent,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    Verdict,
)
from fairframe.guard.enforcement.settings import EnforcementSettings, StrikeSettings
from fairframe.guard.enforcement.strikes import AccountState, AccountStatus, Strike

__all__ = [
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "AccountState",
    "AccountStatus",
    "Admission",
    "ApiKey",
    "Clock",
    "CreatedKey",
    "EnforcementSettings",
    "Enforcer",
    "Incident",
    "IncidentStatus",
    "LogEntry",
    "LogVerification",
    "RateResult",
    "RecordRequest",
    "ReviewEvent",
    "ReviewItem",
    "ReviewKind",
    "ReviewStatus",
    "Role",
    "Strike",
    "StrikeSettings",
    "Verdict",
    "entry_hash",
    "parse_token",
    "redact_url",
]
