"""The coding-sprint template's tool: ``merge_change``, a stand-in for your VCS or code host.

It touches nothing outside this process: it records the change in an in-memory ledger and
returns a content-addressed commit id, so the template runs anywhere. Replace its body with
a call to your code host (and keep it idempotent: the same change gives the same commit).
"""

from __future__ import annotations

import hashlib

from activities.registry import tool

LEDGER: dict[str, list[str]] = {}
"""branch -> the commits merged into it (this process only)."""


@tool
def merge_change(branch: str, files: list[str]) -> dict[str, object]:
    """Merge a change (the full text of each file) into a branch; the commit id.

    Args:
        branch: The branch to merge into.
        files: The text of each file of the change.
    """
    digest = hashlib.sha256("\0".join([branch, *files]).encode()).hexdigest()[:12]
    commits = LEDGER.setdefault(branch, [])
    if digest not in commits:  # merging the same change again is a no-op
        commits.append(digest)
    return {"branch": branch, "commit": digest, "files": len(files)}
