"""The definitions registry: published workflow definitions, immutable versions per tenant.

:class:`DefinitionStore` keeps them in SQL (SQLite by default, PostgreSQL by URL);
:mod:`registry.source` checks a definition text before it is stored.
"""

from registry.errors import (
    DefinitionRejected,
    DefinitionTooLarge,
    NotFound,
    PublishConflict,
    RegistryError,
    StoreUnavailable,
)
from registry.source import FORMATS, MAX_DEFINITION_BYTES, Format
from registry.store import (
    DATABASE_URL_ENV,
    DefinitionStore,
    Published,
    Summary,
    VersionInfo,
    default_url,
)

__all__ = [
    "DATABASE_URL_ENV",
    "FORMATS",
    "MAX_DEFINITION_BYTES",
    "DefinitionRejected",
    "DefinitionStore",
    "DefinitionTooLarge",
    "Format",
    "NotFound",
    "PublishConflict",
    "Published",
    "RegistryError",
    "StoreUnavailable",
    "Summary",
    "VersionInfo",
    "default_url",
]
