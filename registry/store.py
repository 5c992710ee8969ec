"""Published definitions in SQL (SQLite or PostgreSQL): immutable versions, serial per name.

One table, ``definitions``, keyed by (tenant, name, version). Publishing checks the text with
:func:`registry.source.check`, then inserts version max+1 of its name in a transaction; two
publishes that pick the same version collide on the primary key, and the loser tries again with
the next number, so versions stay 1, 2, 3... with no gap or duplicate. Rows are never updated or
deleted. Every query names the tenant: another tenant's workflow is not found, exactly like a
missing one.

The store is synchronous (SQLAlchemy Core over a pooled engine) and safe to share between
threads; the HTTP API calls it from a thread pool.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    and_,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)

from interpreter.errors import Problem
from interpreter.limits import Limits
from interpreter.lint import Check
from interpreter.spec import Definition
from interpreter.topology import named_subflows
from registry.errors import (
    DefinitionRejected,
    DefinitionTooLarge,
    NotFound,
    PublishConflict,
    StoreUnavailable,
)
from registry.events import EventStore
from registry.source import MAX_NAME_LENGTH, Format, check, to_data
from registry.webhooks import WebhookIndex
from registry.workers import WorkerIndex

DATABASE_URL_ENV = "KWORKFLOW_DATABASE_URL"
"""The environment variable that points the store at a database (else SQLite under cwd)."""
PUBLISH_ATTEMPTS = 8
"""How many versions one publish tries when concurrent publishes of its name take them."""

metadata = MetaData()
definitions = Table(
    "definitions",
    metadata,
    Column("tenant", String(MAX_NAME_LENGTH), primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("source_text", Text, nullable=False),
    Column("source_format", String(8), nullable=False),
    Column("definition_json", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("source_format IN ('yaml', 'json')", name="definitions_source_format"),
)


@dataclass(frozen=True)
class Published:
    """One published version of a workflow.

    Attributes:
        name: The workflow name (the definition's ``name``).
        version: Its version, 1 for the first publish of the name.
        created_at: When it was published (UTC).
        definition: The loaded definition.
        source: The text as it was published.
        format: ``yaml`` or ``json``.
        warnings: The lint warnings of a publish (they do not refuse it); empty when read back.
    """

    name: str
    version: int
    created_at: datetime
    definition: Definition
    source: str
    format: Format
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Summary:
    """A workflow as listed: its latest version.

    Attributes:
        name: The workflow name.
        latest_version: Its highest version.
        description: The latest version's ``description``.
        updated_at: When the latest version was published (UTC).
    """

    name: str
    latest_version: int
    description: str | None
    updated_at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """One version of a workflow, without its definition.

    Attributes:
        version: The version number.
        created_at: When it was published (UTC).
    """

    version: int
    created_at: datetime


def _create_private(database: Path) -> None:
    """Create a SQLite file 0600 (its directory 0700) before SQLite does, if it is missing.

    SQLite gives its journal and WAL files the database file's mode, so none of them is readable
    by other users (a code step, say) whatever the process's umask. kworkflow's own directory
    (``.kworkflow``, the default's) is made 0700 even if it exists.

    Raises:
        StoreUnavailable: The directory or the file cannot be created.
    """
    try:
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if database.parent.name == ".kworkflow":
            database.parent.chmod(0o700)
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreUnavailable(f"cannot create {database}: {exc.strerror or exc}") from None


def default_url() -> str:
    """``$KWORKFLOW_DATABASE_URL``, else a SQLite file ``.kworkflow/registry.db`` under cwd."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return configured
    return f"sqlite:///{Path.cwd() / '.kworkflow' / 'registry.db'}"


class DefinitionStore:
    """Published definitions, per tenant, in a SQL database.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path/registry.db`` (the directory is created) or
            ``postgresql+psycopg://user@host:port/db`` (``postgresql://`` means the same).
            Default: :func:`default_url`.
        limits: The operator's limits every published definition must keep (default: the
            defaults of :mod:`interpreter.limits`).

    Attributes:
        url: The database URL, password hidden.
        backend: ``sqlite`` or ``postgresql``.

    Raises:
        StoreUnavailable: The URL is not usable or the database cannot be reached.
    """

    def __init__(self, url: str | None = None, limits: Limits | None = None) -> None:
        self.limits = limits
        target = _parse_url(url or default_url())
        self.url = target.render_as_string(hide_password=True)
        self.backend = target.get_backend_name()
        if self.backend == "sqlite" and target.database not in (None, "", ":memory:"):
            _create_private(Path(target.database or ""))
        try:
            self._engine = create_engine(target, pool_pre_ping=True)
        except ArgumentError as exc:
            raise StoreUnavailable(f"bad database URL {self.url}: {exc}") from None
        except ImportError as exc:
            raise StoreUnavailable(f"no driver for {self.url}: {exc}") from None
        with self._database():
            try:
                metadata.create_all(self._engine)
            except (IntegrityError, ProgrammingError):  # another process created it meanwhile
                metadata.create_all(self._engine)
            self.events = EventStore(self._engine)
            """Recent CloudEvents and the index of event triggers (:mod:`registry.events`)."""
            self.webhooks = WebhookIndex(self._engine)
            """The index of webhook triggers (:mod:`registry.webhooks`)."""
            self.workers = WorkerIndex(self._engine)
            """What the running workers offer (:mod:`registry.workers`)."""

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> DefinitionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def validate(self, text: str, fmt: Format, tenant: str | None = None) -> list[Problem]:
        """Every problem a publish of ``text`` by ``tenant`` would be rejected for (empty: it
        would publish)."""
        return check(text, fmt, tenant, self.limits)[1]

    def publish(self, tenant: str, text: str, fmt: Format, more: Check | None = None) -> Published:
        """Publish a definition as the next version of its name.

        Args:
            tenant: The owner.
            text: The definition as YAML or as a JSON document.
            fmt: ``yaml`` or ``json``.
            more: Findings of the caller's own, checked with lint's (e.g. the API's
                schedule quota).

        Returns:
            The new version.

        Raises:
            DefinitionTooLarge: The text is over the size bound.
            DefinitionRejected: It does not load, or lint finds anything.
            PublishConflict: Concurrent publishes of the name took every version tried.
            StoreUnavailable: The database cannot be used.
        """
        definition, problems = check(text, fmt, tenant, self.limits, more)
        if any(p.code == "too_large" for p in problems):
            raise DefinitionTooLarge(problems)
        errors = [p for p in problems if p.severity != "warning"]
        if errors or definition is None:
            raise DefinitionRejected(errors)
        warnings = tuple(p for p in problems if p.severity == "warning")
        data = json.dumps(to_data(definition), ensure_ascii=False, separators=(",", ":"))
        table, name = definitions, definition.name
        for attempt in range(PUBLISH_ATTEMPTS):
            created_at = datetime.now(UTC)
            try:
                with self._database(), self._engine.begin() as conn:
                    latest = conn.execute(
                        select(func.max(table.c.version)).where(
                            table.c.tenant == tenant, table.c.name == name
                        )
                    ).scalar()
                    version = (latest or 0) + 1
                    conn.execute(
                        table.insert().values(
                            tenant=tenant,
                            name=name,
                            version=version,
                            source_text=text,
                            source_format=fmt,
                            definition_json=data,
                            description=definition.description,
                            created_at=created_at,
                        )
                    )
            except IntegrityError:  # a concurrent publish took this version
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            with self._database():
                self.events.index_triggers(tenant, name, version, definition)
                self.webhooks.index(tenant, name, version, definition)
            return Published(name, version, created_at, definition, text, fmt, warnings)
        raise PublishConflict(name, PUBLISH_ATTEMPTS)

    def get(self, tenant: str, name: str, version: int | None = None) -> Published:
        """One version of a workflow: ``version``, or the latest when None.

        Raises:
            NotFound: The tenant has no workflow ``name``, or not that version of it.
            StoreUnavailable: The database cannot be used.
        """
        with self._database(), self._engine.connect() as conn:
            row = conn.execute(_version_query(tenant, name, version)).first()
            if row is None and version is not None:
                known = conn.execute(_version_query(tenant, name, None)).first()
                raise NotFound(name, version if known is not None else None)
        if row is None:
            raise NotFound(name)
        return _published(row)

    def versions(self, tenant: str, name: str) -> list[VersionInfo]:
        """Every version of a workflow, oldest first.

        Raises:
            NotFound: The tenant has no workflow ``name``.
            StoreUnavailable: The database cannot be used.
        """
        table = definitions
        query = (
            select(table.c.version, table.c.created_at)
            .where(table.c.tenant == tenant, table.c.name == name)
            .order_by(table.c.version)
        )
        with self._database(), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise NotFound(name)
        return [VersionInfo(row.version, _utc(row.created_at)) for row in rows]

    def list_workflows(self, tenant: str) -> list[Summary]:
        """The tenant's workflows by name, each with its latest version.

        Raises:
            StoreUnavailable: The database cannot be used.
        """
        table = definitions
        latest = (
            select(table.c.name, func.max(table.c.version).label("version"))
            .where(table.c.tenant == tenant)
            .group_by(table.c.name)
            .subquery()
        )
        query = (
            select(table.c.name, table.c.version, table.c.description, table.c.created_at)
            .join_from(
                table,
                latest,
                and_(table.c.name == latest.c.name, table.c.version == latest.c.version),
            )
            .where(table.c.tenant == tenant)
            .order_by(table.c.name)
        )
        with self._database(), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Summary(r.name, r.version, r.description, _utc(r.created_at)) for r in rows]

    def resolve_subflows(self, tenant: str, definition: Definition) -> dict[str, Definition]:
        """Pin every named subflow a run of ``definition`` can start.

        Every ``subflow`` step with ``workflow:`` is resolved: with ``version`` to that version,
        without it to the latest version at this moment. Steps inside inline subflows,
        ``parallel`` inner specs, ``compensate`` specs and the resolved definitions themselves
        are resolved too, so publishing later never changes what a started run calls.

        Args:
            tenant: The owner of the run (subflows resolve among its workflows only).
            definition: The definition about to run.

        Returns:
            The definitions keyed by :attr:`~interpreter.spec.SubflowStep.pin_key`
            (``name`` or ``name@version``).

        Raises:
            NotFound: A named workflow (or version) does not exist for the tenant.
            StoreUnavailable: The database cannot be used.
        """
        pinned: dict[str, Definition] = {}
        pending = list(named_subflows(definition.steps))
        with self._database(), self._engine.connect() as conn:
            while pending:
                step = pending.pop(0)
                key, name = step.pin_key, step.workflow
                if key is None or name is None or key in pinned:
                    continue
                row = conn.execute(_version_query(tenant, name, step.version)).first()
                if row is None:
                    raise NotFound(name, step.version)
                found = _published(row).definition
                pinned[key] = found
                pending.extend(named_subflows(found.steps))
        return pinned

    @contextmanager
    def _database(self) -> Iterator[None]:
        """Turn a database that cannot be reached or used into :class:`StoreUnavailable`."""
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            reason = str(exc.orig) if exc.orig is not None else str(exc)
            raise StoreUnavailable(reason.strip() or type(exc).__name__) from exc


def _parse_url(url: str) -> URL:
    try:
        target = make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailable(f"bad database URL: {exc}") from None
    if target.drivername in ("postgresql", "postgres"):
        target = target.set(drivername="postgresql+psycopg")
    return target


def _version_query(tenant: str, name: str, version: int | None) -> Select[Any]:
    """The row of ``version`` of a workflow, or of its latest version when None."""
    table = definitions
    query = select(table).where(table.c.tenant == tenant, table.c.name == name)
    if version is not None:
        return query.where(table.c.version == version)
    return query.order_by(table.c.version.desc()).limit(1)


def _published(row: Row[Any]) -> Published:
    definition = Definition.model_validate(json.loads(row.definition_json))
    fmt = cast(Format, row.source_format)
    return Published(row.name, row.version, _utc(row.created_at), definition, row.source_text, fmt)


def _utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives it back without a zone)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
