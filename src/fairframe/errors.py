"""Every exception Fairframe raises on purpose.

One tree, rooted at :class:`FairframeError`. Where a built-in exception fits, a leaf also subclasses
it, so ``except ValueError`` or ``except ImportError`` in caller code keeps working::

    FairframeError
    ├── ConfigError                  (ValueError)   a config file or value is invalid
    │   ├── InputDataError           (ValueError)   a caption file, manifest or image is unusable
    │   ├── NotFoundError            (LookupError)  an id (API key, review, incident) names nothing
    │   └── StateError                              a change the current state does not allow
    ├── InsufficientDataError        (ValueError)   too few observations for a statistic
    ├── UnknownComponentError        (LookupError)  no component registered under that name
    ├── DuplicateComponentError      (ValueError)   a name is registered twice
    ├── PluginLoadError              (ImportError)  an entry point or "module:attr" failed to import
    ├── MissingDependencyError       (ImportError)  an optional extra is not installed
    ├── BackendError                 (RuntimeError) a generator / labeler / LLM failed
    │   ├── ModelLoadError                          model files missing or unreadable
    │   ├── EndpointError                           an HTTP endpoint is unreachable or fails
    │   │   └── EndpointStatusError                 it answered with an HTTP error status
    │   └── ProposalError                           an LLM never produced a valid bias proposal
    └── StoreError                   (RuntimeError) the cache cannot be opened or is corrupted
        ├── CorruptBlobError                        a cached blob does not match its hash
        └── CommitUnknownError                      a commit failed: it may or may not have landed

Every error message is one line that names the problem and the fix. The CLI prints ``str(error)``
and exits with :attr:`FairframeError.exit_code`; library callers can catch the classes above.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "CommitUnknownError",
    "ConfigError",
    "CorruptBlobError",
    "DuplicateComponentError",
    "EndpointError",
    "EndpointStatusError",
    "FairframeError",
    "InsufficientDataError",
    "InputDataError",
    "NotFoundError",
    "StateError",
    "MissingDependencyError",
    "ModelLoadError",
    "PluginLoadError",
    "ProposalError",
    "StoreError",
    "UnknownComponentError",
]


class FairframeError(Exception):
    """Root of every error Fairframe raises on purpose."""

    #: Process exit code the CLI uses for this error.
    exit_code: int = 1


class InsufficientDataError(FairframeError, ValueError):
    """Too few observations for the requested statistic.

    Attributes
    ----------
    reason:
        One line saying what was available and what is needed, e.g.
        ``"3 classified answer(s); at least 10 needed"``.
    n:
        The number of observations that were available.
    min_n:
        The number that is needed.
    """

    exit_code = 2

    def __init__(self, reason: str, *, n: int = 0, min_n: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.n = n
        self.min_n = min_n


class ConfigError(FairframeError, ValueError):
    """A configuration file or value is invalid; the message names the key, the file and the fix."""

    exit_code = 2


class InputDataError(ConfigError):
    """An input the user supplied (caption file, image manifest, image) cannot be used."""


class NotFoundError(ConfigError, LookupError):
    """An id (API key, review item, incident, decision) names nothing that exists."""


class StateError(ConfigError):
    """A change that the current state does not allow (e.g. resolving an unclaimed review)."""


class UnknownComponentError(FairframeError, LookupError):
    """No component is registered under the requested name.

    Attributes
    ----------
    kind:
        The registry's kind, e.g. ``"generator"``.
    name:
        The name that was asked for.
    available:
        The names that do exist.
    """

    exit_code = 2

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        names = ", ".join(self.available) or "(none)"
        super().__init__(
            f"unknown {kind} {name!r}; available: {names}. "
            f"Use one of these names or a 'package.module:Name' path."
        )


class DuplicateComponentError(FairframeError, ValueError):
    """A name is already registered; pass ``replace=True`` to override it."""


class PluginLoadError(FairframeError, ImportError):
    """A plug-in (entry point or ``"module:attr"`` path) could not be imported."""

    exit_code = 2


class MissingDependencyError(FairframeError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it.

    Attributes
    ----------
    package:
        The import name that failed.
    extra:
        The ``fairframe[extra]`` that installs it.
    """

    exit_code = 3

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        self.package = package
        self.extra = extra
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"{package} is not installed{what}; install it with "
            f"`pip install \"fairframe[{extra}]\" -c constraints.txt`"
        )


class BackendError(FairframeError, RuntimeError):
    """A backend (generator, labeler, LLM) failed while doing its job."""

    exit_code = 4


class ModelLoadError(BackendError):
    """Model files are missing, incomplete or of the wrong kind."""


class EndpointError(BackendError):
    """An HTTP endpoint could not be reached or returned an unusable answer."""


class EndpointStatusError(EndpointError):
    """An endpoint answered with an HTTP error status (kept so callers can react to it).

    Attributes
    ----------
    status_code:
        The HTTP status of the final answer.
    url:
        The URL that was requested (credentials removed).
    """

    def __init__(self, message: str, *, status_code: int, url: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url


class ProposalError(BackendError):
    """An LLM did not produce a valid bias proposal within the allowed attempts."""


class StoreError(FairframeError, RuntimeError):
    """The cache database or blob folder cannot be used."""

    exit_code = 5


class CorruptBlobError(StoreError):
    """A cached blob is missing or its content no longer matches its hash."""


class CommitUnknownError(StoreError):
    """A transaction's COMMIT failed (e.g. the connection dropped while it was sent): the
    database may or may not have applied it, so the work must not simply be redone."""
