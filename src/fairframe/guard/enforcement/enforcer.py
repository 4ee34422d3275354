"""The :class:`Enforcer`: the one object the HTTP service uses for user-level enforcement."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from fairframe.guard.enforcement import (
    admission,
    audit_log,
    incidents,
    keys,
    ratelimit,
    review,
    strikes,
)
from fairframe.guard.enforcement._common import (
    Clock,
    check_positive,
    check_sha256,
    sha256_text,
    storable,
)
from fairframe.guard.enforcement._db import Database
from fairframe.guard.enforcement.settings import EnforcementSettings

if TYPE_CHECKING:
    from fairframe.guard.decision import Decision
    from fairframe.guard.enforcement.admission import Admission
    from fairframe.guard.enforcement.audit_log import LogEntry, LogVerification
    from fairframe.guard.enforcement.incidents import Incident, IncidentStatus
    from fairframe.guard.enforcement.keys import ApiKey, CreatedKey, Role
    from fairframe.guard.enforcement.ratelimit import RateResult
    from fairframe.guard.enforcement.review import ReviewEvent, ReviewItem, ReviewStatus, Verdict
    from fairframe.guard.enforcement.strikes import AccountStatus, Strike
    from fairframe.guard.policy import Policy

__all__ = ["Enforcer", "RecordRequest"]


class RecordRequest(NamedTuple):
    """One decision to log with :meth:`Enforcer.record_many` (the arguments of
    :meth:`Enforcer.record`)."""

    decision: Decision
    key_id: str | None = None
    prompt: str | None = None
    image_sha256: str | None = None


class Enforcer:
    """API keys, rate limits, strikes, the review queue, incidents and the decision log.

    Open one per process with :meth:`open` and share it between threads; several processes or
    service instances may open the same database (use PostgreSQL across machines). Every method
    is one database transaction.

    Parameters
    ----------
    db:
        An open :class:`~fairframe.guard.enforcement._db.Database` (use :meth:`open`).
    settings:
        Thresholds and defaults.
    policy:
        The policy whose rules decide which categories caused a decision (for strike weights);
        ``None`` weighs by the top-scoring category.
    clock:
        Returns Unix seconds; ``time.time`` by default.

    Examples
    --------
    >>> enf = Enforcer.open("sqlite:///guard.db")                      # doctest: +SKIP
    >>> created = enf.create_key("alice")                              # doctest: +SKIP
    >>> adm = enf.admit(created.token)                                 # doctest: +SKIP
    >>> adm.allowed, adm.status.state.value, adm.rate.remaining        # doctest: +SKIP
    (True, 'active', 19)
    """

    def __init__(
        self,
        db: Database,
        *,
        settings: EnforcementSettings | None = None,
        policy: Policy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._settings = settings if settings is not None else EnforcementSettings()
        self._policy = policy
        self._clock: Clock = clock if clock is not None else time.time

    @classmethod
    def open(
        cls,
        url: str,
        settings: EnforcementSettings | None = None,
        *,
        policy: Policy | None = None,
        clock: Clock | None = None,
    ) -> Enforcer:
        """Open (and on first use create) the database at ``url``.

        Parameters
        ----------
        url:
            ``sqlite:///path/guard.db`` or ``postgresql+psycopg://user:password@host/dbname``.
        settings:
            Defaults to :class:`EnforcementSettings` ``()``.
        policy:
            Defaults to the built-in default policy.
        clock:
            Defaults to ``time.time``.

        Raises
        ------
        MissingDependencyError
            SQLAlchemy (extra ``service``) or psycopg (extra ``postgres``) is not installed.
        ConfigError
            The URL is malformed or unsupported.
        StoreError
            The database cannot be reached, or was written by a newer Fairframe.
        """
        settings = settings if settings is not None else EnforcementSettings()
        if policy is None:
            from fairframe.guard.policy import default_policy

            policy = default_policy()
        db = Database.open(
            url,
            busy_timeout_s=settings.busy_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            pool_size=settings.pool_size,
        )
        return cls(db, settings=settings, policy=policy, clock=clock)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password redacted."""
        return self._db.url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.dialect

    @property
    def settings(self) -> EnforcementSettings:
        """The settings in force."""
        return self._settings

    def close(self) -> None:
        """Close the database connections."""
        self._db.close()

    def __enter__(self) -> Enforcer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Enforcer({self._db.url!r})"

    # -- keys ---------------------------------------------------------------------------------

    def create_key(
        self,
        name: str,
        *,
        roles: Iterable[Role | str] = ("client",),
        rate_per_s: float | None = None,
        burst: int | None = None,
    ) -> CreatedKey:
        """Create a key; the plaintext token is in the result and nowhere else.

        ``rate_per_s`` and ``burst`` default to ``settings.default_rate_per_s`` and
        ``settings.default_burst``.
        """
        s = self._settings
        with self._db.write() as conn:
            return keys.insert_key(
                conn,
                name=name,
                roles=roles,
                rate_per_s=s.default_rate_per_s if rate_per_s is None else rate_per_s,
                burst=s.default_burst if burst is None else burst,
                now=self._clock(),
            )

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key (idempotent); its token stops authenticating at once."""
        with self._db.write() as conn:
            return keys.revoke(conn, key_id, now=self._clock())

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, or ``None``."""
        with self._db.read() as conn:
            return keys.get_key(conn, key_id)

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """All keys, oldest first (never their secrets)."""
        with self._db.read() as conn:
            return keys.list_keys(conn, include_revoked=include_revoked)

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key whose plaintext token this is, else ``None``."""
        if keys.parse_token(token) is None:
            return None
        with self._db.read() as conn:
            return keys.authenticate(conn, token)

    # -- admission: what the service asks before every request ---------------------------------

    def admit(self, token: str, *, cost: float = 1.0) -> Admission:
        """Authenticate ``token``, read its account status and take ``cost`` rate-limit tokens,
        in one write transaction.

        The same answers as :meth:`authenticate`, then :meth:`status`, then :meth:`check_rate`,
        at one moment (the clock is read once), for about the cost of one of them. A suspended or
        cooling-down account takes no tokens.

        Parameters
        ----------
        token:
            The plaintext token the client sent (``ff_<id>_<secret>``).
        cost:
            Tokens the request takes (a finite number > 0).

        Returns
        -------
        Admission
            ``key`` (``None``: malformed, unknown, wrong or revoked token), ``status``, ``rate``
            (``None`` when not checked), ``allowed`` and ``reason``.

        Raises
        ------
        ConfigError
            ``cost`` is not a finite number > 0, or exceeds the key's burst.
        StoreError
            The database failed.

        Examples
        --------
        >>> adm = enf.admit(created.token)                              # doctest: +SKIP
        >>> adm.allowed, adm.rate.remaining                             # doctest: +SKIP
        (True, 19)
        """
        return self.admit_many([token], cost=cost)[0]

    def admit_many(self, tokens: Sequence[str], *, cost: float = 1.0) -> list[Admission]:
        """:meth:`admit` for several requests, in order, in one write transaction.

        The answers are those of calling :meth:`admit` once per token in order at one moment
        (the clock is read once): two requests with the same key each take ``cost`` tokens. The
        service admits each micro-batch of checks this way (one transaction instead of one per
        request). Raises what :meth:`admit` raises; then nothing was taken.
        """
        cost = check_positive(cost, "cost")
        out = [admission.Admission(None, None, None) for _ in tokens]
        todo = [i for i, token in enumerate(tokens) if keys.parse_token(token) is not None]
        if todo:
            with self._db.write() as conn:
                done = admission.admit_many(
                    conn, [tokens[i] for i in todo], now=self._clock(), cost=cost,
                    settings=self._settings.strikes,
                )
            for i, adm in zip(todo, done, strict=True):
                out[i] = adm
        return out

    # -- rate limits and account status -------------------------------------------------------

    def check_rate(self, key_id: str, *, cost: float = 1.0) -> RateResult:
        """Take ``cost`` tokens from the key's bucket (see :mod:`.ratelimit` for the formula)."""
        with self._db.write() as conn:
            return ratelimit.check(conn, key_id, now=self._clock(), cost=cost)

    def status(self, key_id: str) -> AccountStatus:
        """The key's state (active, cooldown, suspended) and effective strikes now."""
        with self._db.read() as conn:
            return strikes.status(conn, key_id, now=self._clock(), settings=self._settings.strikes)

    def list_strikes(self, key_id: str, *, include_removed: bool = False) -> list[Strike]:
        """The key's strikes, oldest first."""
        with self._db.read() as conn:
            keys.require_key(conn, key_id)
            return strikes.list_strikes(conn, key_id, include_removed=include_removed)

    def reinstate(
        self, key_id: str, *, by: str | None = None, note: str = "", clear_strikes: bool = True
    ) -> AccountStatus:
        """End a suspension or cool-down (an admin action); by default also clear the strikes.

        Cool-downs before the reinstatement no longer count towards ``max_cooldowns``.
        """
        with self._db.write() as conn:
            return strikes.reinstate(
                conn, key_id, by=by, note=note, clear_strikes=clear_strikes, now=self._clock(),
                settings=self._settings.strikes,
            )

    # -- the decision log ---------------------------------------------------------------------

    def record(
        self,
        decision: Decision,
        *,
        key_id: str | None,
        prompt: str | None = None,
        image_sha256: str | None = None,
    ) -> int:
        """Log a guard decision and apply its consequences; returns the log entry (decision) id.

        In one transaction: append the entry (prompt SHA-256 always, prompt text only with
        ``store_prompts``); when the action has a strike weight and a key is given, record a
        strike and escalate; when the action is in ``review_actions``, queue a review item. An
        ``allow`` decision runs four statements: the key's existence, the chain head's lock,
        the insert, the head's update.

        Parameters
        ----------
        decision:
            The guard's decision.
        key_id:
            The key that made the request (``None``: anonymous, no strike).
        prompt:
            The prompt as received; defaults to ``decision.prompt_in``.
        image_sha256:
            SHA-256 of the image the decision is about, if any (incidents can refer to it).

        Raises
        ------
        NotFoundError
            No key has the id ``key_id``.
        """
        return self.record_many([RecordRequest(decision, key_id, prompt, image_sha256)])[0]

    def record_many(self, requests: Sequence[RecordRequest]) -> list[int]:
        """:meth:`record` for several decisions, in order, in one write transaction; returns
        their log entry ids.

        The chain head is locked, read and updated once and the entries go in with one
        ``executemany``; strikes and review items follow as :meth:`record` would make them. The
        service logs each micro-batch of checks this way. Raises what :meth:`record` raises
        (e.g. :class:`~fairframe.errors.NotFoundError` for an unknown key); then nothing was
        written.
        """
        s = self._settings
        # pure work first: the write transaction holds the database (SQLite) or head row lock
        todo = []
        for r in requests:
            text = r.decision.prompt_in if r.prompt is None else r.prompt
            todo.append((
                r, text, None if text is None else sha256_text(text),
                check_sha256(r.image_sha256, "image_sha256"),
                strikes.strike_weight(r.decision, s.strikes, self._policy),
            ))
        if not todo:
            return []
        with self._db.write() as conn:
            now = self._clock()
            known: dict[str, str] = {}
            rows = []
            for r, text, prompt_sha256, image_sha256, _ in todo:
                key_id = r.key_id
                if key_id is not None:
                    if key_id not in known:
                        known[key_id] = keys.require_id(conn, key_id)
                    key_id = known[key_id]
                rows.append({
                    "created": now, "key_id": key_id, "prompt_sha256": prompt_sha256,
                    "prompt": storable(text) if s.store_prompts else None,
                    "image_sha256": image_sha256,
                    "policy_version": r.decision.policy_version,
                    "action": r.decision.action.value, "categories": r.decision.categories,
                })
            entries = audit_log.append_many(conn, rows)
            for entry, (r, _, _, _, weight) in zip(entries, todo, strict=True):
                if entry.key_id is not None and weight is not None:
                    strikes.add_strike(
                        conn, entry.key_id, weight=weight, action=r.decision.action.value,
                        decision_id=entry.id, now=now, settings=s.strikes,
                    )
                if r.decision.action in s.review_actions:
                    review.enqueue_decision(conn, entry, now=now)
            return [entry.id for entry in entries]

    def log_entry(self, entry_id: int) -> LogEntry | None:
        """The decision-log entry with this id, or ``None``."""
        with self._db.read() as conn:
            return audit_log.get(conn, entry_id)

    def list_log(self, *, after_id: int = 0, limit: int = 100) -> list[LogEntry]:
        """Up to ``limit`` log entries after ``after_id``, in order."""
        with self._db.read() as conn:
            return audit_log.list_entries(conn, after_id=after_id, limit=limit)

    def verify_log(self) -> LogVerification:
        """Check the whole hash chain (see :mod:`.audit_log`)."""
        with self._db.read() as conn:
            return audit_log.verify(conn)

    # -- review queue -------------------------------------------------------------------------

    def list_reviews(
        self, status: ReviewStatus | str | None = None, *, after_id: int = 0, limit: int = 100
    ) -> list[ReviewItem]:
        """Review items (optionally of one status), oldest first."""
        with self._db.read() as conn:
            return review.list_items(conn, status=status, after_id=after_id, limit=limit)

    def get_review(self, review_id: int) -> ReviewItem | None:
        """The review item with this id, or ``None``."""
        with self._db.read() as conn:
            return review.get(conn, review_id)

    def review_history(self, review_id: int) -> list[ReviewEvent]:
        """Every change of a review item, oldest first."""
        with self._db.read() as conn:
            return review.history(conn, review_id)

    def claim_review(
        self, review_id: int | None = None, *, reviewer: str
    ) -> ReviewItem | None:
        """Claim an item, or with no id the next waiting one (appeals first, then the oldest);
        ``None`` when no id is given and nothing waits."""
        with self._db.write() as conn:
            item = review.claim(
                conn, reviewer, review_id, postgres=self._db.dialect == "postgresql",
                now=self._clock(),
            )
            if item is not None and item.incident_id is not None:
                inc = incidents.get(conn, item.incident_id, for_update=True)
                if inc is not None and inc.status is incidents.IncidentStatus.OPEN:
                    incidents.update_status(
                        conn, inc.id, incidents.IncidentStatus.INVESTIGATING, now=self._clock()
                    )
            return item

    def release_review(self, review_id: int, *, reviewer: str, force: bool = False
                       ) -> ReviewItem:
        """Give a claimed item back to the queue; ``force``: whoever claimed it (an
        administrator freeing a departed reviewer's claim; ``reviewer`` is recorded)."""
        with self._db.write() as conn:
            return review.release(conn, review_id, reviewer=reviewer, now=self._clock(),
                                  force=force)

    def resolve_review(
        self, review_id: int, *, verdict: Verdict | str, reviewer: str, note: str = ""
    ) -> ReviewItem:
        """Give a verdict; ``overturned`` removes the decision's strike (and a cool-down that no
        longer holds), and moves an incident to ``dismissed`` (``upheld``: ``confirmed``)."""
        with self._db.write() as conn:
            now = self._clock()
            item = review.resolve(
                conn, review_id, verdict=verdict, reviewer=reviewer, note=note, now=now
            )
            overturned = item.verdict is review.Verdict.OVERTURNED
            if overturned and item.decision_id is not None:
                strikes.remove_for_decision(
                    conn, item.decision_id, reason=f"overturned on review {item.id} by {reviewer}",
                    now=now, settings=self._settings.strikes,
                )
            if item.incident_id is not None:
                target = (
                    incidents.IncidentStatus.DISMISSED
                    if overturned
                    else incidents.IncidentStatus.CONFIRMED
                )
                inc = incidents.get(conn, item.incident_id, for_update=True)
                if inc is not None and inc.status is not target:
                    if target not in incidents.TRANSITIONS[inc.status]:
                        incidents.update_status(
                            conn, inc.id, incidents.IncidentStatus.OPEN, now=now
                        )
                    incidents.update_status(conn, inc.id, target, now=now)
            return item

    def appeal(self, decision_id: int, *, key_id: str | None, reason: str = "") -> ReviewItem:
        """Appeal a decision (once); ``key_id`` must be the key that received it (``None``: an
        admin appealing on a user's behalf)."""
        with self._db.write() as conn:
            return review.appeal(conn, decision_id, key_id=key_id, reason=reason, now=self._clock())

    # -- incidents ----------------------------------------------------------------------------

    def report_incident(
        self,
        *,
        category: str,
        description: str,
        key_id: str | None = None,
        decision_id: int | None = None,
        image_sha256: str | None = None,
        phash: str | None = None,
        own_only: bool = False,
    ) -> Incident:
        """Record a user's report about a served image and queue it for review. ``own_only``
        (the service sets it for client keys): ``key_id`` may report only on its own decisions;
        another key's decision id is unknown (as for appeals), and an image hash links only to
        its decisions."""
        with self._db.write() as conn:
            return incidents.report(
                conn, category=category, description=description, key_id=key_id,
                decision_id=decision_id, image_sha256=image_sha256, phash=phash,
                now=self._clock(), own_only=own_only,
            )

    def get_incident(self, incident_id: int) -> Incident | None:
        """The incident with this id, or ``None``."""
        with self._db.read() as conn:
            return incidents.get(conn, incident_id)

    def list_incidents(
        self, status: IncidentStatus | str | None = None, *, after_id: int = 0, limit: int = 100
    ) -> list[Incident]:
        """Incidents (optionally of one status), oldest first."""
        with self._db.read() as conn:
            return incidents.list_incidents(conn, status=status, after_id=after_id, limit=limit)

    def update_incident(self, incident_id: int, status: IncidentStatus | str) -> Incident:
        """Move an incident to another status (see :data:`.incidents.TRANSITIONS`)."""
        with self._db.write() as conn:
            return incidents.update_status(conn, incident_id, status, now=self._clock())
