"""The content-addressed cache of images, labels and LLM calls, and its keys.

Every cached value is keyed by a hash of exactly what changes it (see :mod:`fairframe.store.keys`
and ``docs/audit.md``), so a rerun or a crashed run resumes without redoing work, and two runs that
share work share it.
"""

from fairframe.store.cached_llm import CachedLLM
from fairframe.store.keys import canonical_json, hash_bytes, make_key
from fairframe.store.sqlite_store import CachedImage, Store, VerifyReport

__all__ = [
    "CachedImage",
    "CachedLLM",
    "Store",
    "VerifyReport",
    "canonical_json",
    "hash_bytes",
    "make_key",
]
