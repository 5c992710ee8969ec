"""DefinitionStore on SQLite and PostgreSQL: versions, immutability, tenants, checks, pinning."""

from __future__ import annotations

import json
import threading
from datetime import UTC
from pathlib import Path

import pytest

from interpreter.lint import lint
from interpreter.loader import load_data, load_text
from registry.errors import (
    DefinitionRejected,
    DefinitionTooLarge,
    NotFound,
    StoreUnavailable,
)
from registry.source import MAX_DEFINITION_BYTES
from registry.store import DATABASE_URL_ENV, DefinitionStore, Summary


def leaf(name: str, greeting: str = "hi", description: str | None = None) -> str:
    """A minimal clean definition whose one step yields ``greeting``."""
    about = f"description: {description}\n" if description else ""
    step = f"{{id: s, kind: aggregate, expr: '\"{greeting}\"'}}"
    return f"kworkflow: 1\nname: {name}\n{about}steps:\n  - {step}\n"


def caller(name: str, *refs: str) -> str:
    """A definition with one subflow step per ``workflow[@version]`` in ``refs``."""
    steps = ""
    for n, ref in enumerate(refs):
        workflow, _, version = ref.partition("@")
        pin = f", version: {version}" if version else ""
        steps += f"  - {{id: s{n}, kind: subflow, workflow: {workflow}{pin}}}\n"
    return f"kworkflow: 1\nname: {name}\nedges: []\nsteps:\n{steps}"


def test_publishes_serial_versions_and_gets_latest_or_any(store: DefinitionStore) -> None:
    first = store.publish("acme", leaf("hello", "one"), "yaml")
    second = store.publish("acme", leaf("hello", "two"), "yaml")
    other = store.publish("acme", leaf("other"), "yaml")

    assert (first.name, first.version, second.version, other.version) == ("hello", 1, 2, 1)
    assert first.created_at.tzinfo is UTC and second.created_at >= first.created_at
    latest = store.get("acme", "hello")
    assert (latest.version, latest.format, latest.source) == (2, "yaml", leaf("hello", "two"))
    assert latest.definition == load_text(leaf("hello", "two"))
    assert latest.created_at == second.created_at
    assert store.get("acme", "hello", 1).definition == load_text(leaf("hello", "one"))
    assert [v.version for v in store.versions("acme", "hello")] == [1, 2]


def test_old_versions_never_change(store: DefinitionStore) -> None:
    store.publish("acme", leaf("hello", "one", "first"), "yaml")
    before = store.get("acme", "hello", 1)
    for n in range(3):
        store.publish("acme", leaf("hello", f"v{n}", "later"), "yaml")

    after = store.get("acme", "hello", 1)
    assert after == before
    assert after.definition.description == "first"
    assert store.versions("acme", "hello")[0].created_at == before.created_at
    assert store.get("acme", "hello").version == 4


def test_concurrent_publishes_of_one_name_get_versions_without_gaps(
    store: DefinitionStore,
) -> None:
    count = 8
    barrier = threading.Barrier(count)
    results: list[int] = []
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        barrier.wait()
        try:
            results.append(store.publish("acme", leaf("race", f"g{n}"), "yaml").version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == list(range(1, count + 1))
    assert [v.version for v in store.versions("acme", "race")] == list(range(1, count + 1))
    greetings = {store.get("acme", "race", v).source for v in range(1, count + 1)}
    assert len(greetings) == count  # each version holds the text of exactly one publish


def test_a_tenant_sees_only_its_own_workflows(store: DefinitionStore) -> None:
    store.publish("a", leaf("secret", description="of a"), "yaml")
    store.publish("a", leaf("secret"), "yaml")

    assert store.list_workflows("b") == []
    with pytest.raises(NotFound, match=r"^no workflow 'secret'$"):
        store.get("b", "secret")
    with pytest.raises(NotFound, match=r"^no workflow 'secret'$"):
        store.get("b", "secret", 1)
    with pytest.raises(NotFound, match=r"^no workflow 'secret'$"):
        store.versions("b", "secret")
    assert store.publish("b", leaf("secret"), "yaml").version == 1  # B's own serial
    assert store.get("a", "secret").version == 2


def test_lists_each_workflow_with_its_latest_version(store: DefinitionStore) -> None:
    store.publish("acme", leaf("zeta", description="old"), "yaml")
    latest = store.publish("acme", leaf("zeta", description="new"), "yaml")
    alpha = store.publish("acme", leaf("alpha"), "yaml")
    store.publish("other", leaf("beta"), "yaml")

    assert store.list_workflows("acme") == [
        Summary("alpha", 1, None, alpha.created_at),
        Summary("zeta", 2, "new", latest.created_at),
    ]


def test_unknown_version_and_unknown_name_are_told_apart(store: DefinitionStore) -> None:
    store.publish("acme", leaf("hello"), "yaml")
    with pytest.raises(NotFound, match=r"^no version 7 of workflow 'hello'$"):
        store.get("acme", "hello", 7)
    with pytest.raises(NotFound, match=r"^no workflow 'nope'$"):
        store.get("acme", "nope")


def test_lint_findings_reject_with_every_problem_located(store: DefinitionStore) -> None:
    text = (
        "kworkflow: 1\nname: bad\nsteps:\n"
        "  - {id: a, kind: aggregate, expr: 'steps.nope.output'}\n"
        "  - {id: b, kind: aggregate, expr: '1 +'}\n"
    )
    with pytest.raises(DefinitionRejected) as caught:
        store.publish("acme", text, "yaml")

    found = [(p.path, p.line, p.column, p.code) for p in caught.value.problems]
    assert found == [
        ("steps[0].expr", 4, 36, "unknown_reference"),
        ("steps[1].expr", 5, 36, "cel"),
    ]
    assert caught.value.problems[0].message == "`steps.nope` names no step"
    assert store.validate(text, "yaml") == caught.value.problems
    assert store.list_workflows("acme") == []


def test_malformed_yaml_and_wrong_types_are_problems(store: DefinitionStore) -> None:
    with pytest.raises(DefinitionRejected) as caught:
        store.publish("acme", "kworkflow: 1\nname: [unclosed\n", "yaml")
    (problem,) = caught.value.problems
    assert (problem.code, problem.line) == ("yaml", 3)

    wrong = "kworkflow: 1\nname: x\nsteps: 5\n"
    (problem,) = store.validate(wrong, "yaml")
    assert (problem.path, problem.line, problem.column) == ("steps", 3, 8)
    assert problem.message == "`steps` must be a list, not a number"
    (empty,) = store.validate("", "yaml")
    assert empty.code == "empty"


def test_json_documents_publish_and_their_problems_have_paths(store: DefinitionStore) -> None:
    data = {"kworkflow": 1, "name": "j", "steps": [{"id": "s", "kind": "aggregate", "expr": "1"}]}
    published = store.publish("acme", json.dumps(data), "json")
    assert (published.version, published.definition) == (1, load_data(data))
    got = store.get("acme", "j")
    assert (got.format, got.source) == ("json", json.dumps(data))

    data["steps"][0]["expr"] = "steps.nope.output"  # type: ignore[index]
    (lint_problem,) = store.validate(json.dumps(data), "json")
    assert (lint_problem.path, lint_problem.line, lint_problem.code) == (
        "steps[0].expr",
        None,
        "unknown_reference",
    )
    (syntax,) = store.validate('{"kworkflow": 1,\n  "name": }', "json")
    assert (syntax.code, syntax.line, syntax.column) == ("json", 2, 11)
    (empty,) = store.validate("  ", "json")
    assert empty.code == "empty"
    (dup,) = store.validate('{"name": "a", "name": "b"}', "json")
    assert (dup.code, dup.message) == ("duplicate_key", "duplicate key `name`")
    (nan,) = store.validate('{"kworkflow": NaN}', "json")
    assert nan.message == "NaN is not a JSON value"
    (deep,) = store.validate("[" * 5000 + "]" * 5000, "json")
    assert deep.code == "too_complex"
    (top,) = store.validate("[1]", "json")
    assert top.code == "not_mapping"


def test_a_definition_over_256_kib_is_too_large(store: DefinitionStore) -> None:
    text = leaf("big") + "# " + "x" * MAX_DEFINITION_BYTES + "\n"
    with pytest.raises(DefinitionTooLarge) as caught:
        store.publish("acme", text, "yaml")
    (problem,) = caught.value.problems
    assert problem.code == "too_large"
    assert problem.message.startswith("the definition is larger than 256 KiB")
    assert store.list_workflows("acme") == []


def test_text_no_column_can_hold_is_rejected(store: DefinitionStore) -> None:
    (nul,) = store.validate(leaf("n", description='"a\\0b"'), "yaml")
    assert nul.code == "encoding"
    (surrogate,) = store.validate(
        '{"kworkflow": 1, "name": "n", "description": "\\ud800", "steps": '
        '[{"id": "s", "kind": "aggregate", "expr": "1"}]}',
        "json",
    )
    assert surrogate.message == "the definition contains U+D800, which is not valid Unicode text"
    (long_name,) = store.validate(leaf("n" * 201), "yaml")
    assert long_name.code == "name_too_long"


def test_stored_definitions_keep_absent_fields_absent(store: DefinitionStore) -> None:
    text = (
        "kworkflow: 1\nname: shape\nsteps:\n"
        "  - {id: pick, kind: branch, cases: [{when: 'true', to: yes_}], default: no_}\n"
        "  - {id: yes_, kind: aggregate, expr: '1'}\n"
        "  - {id: no_, kind: aggregate, expr: '2'}\n"
        "edges:\n  - {from: pick, to: [yes_, no_]}\n"
    )
    store.publish("acme", text, "yaml")
    stored = store.get("acme", "shape").definition
    assert stored == load_text(text)
    assert lint(stored) == []  # an edge's unset `on` did not become a set one
    assert stored.edges is not None and stored.edges[0].model_fields_set == {"from_", "to"}


def test_resolve_subflows_pins_latest_and_explicit_versions_recursively(
    store: DefinitionStore,
) -> None:
    store.publish("acme", leaf("leaf", "v1"), "yaml")
    store.publish("acme", leaf("leaf", "v2"), "yaml")
    store.publish("acme", caller("mid", "leaf@1", "deep"), "yaml")
    store.publish("acme", leaf("deep"), "yaml")
    store.publish("other", leaf("hidden"), "yaml")
    parent = load_text(
        "kworkflow: 1\nname: parent\nedges: []\nsteps:\n"
        "  - {id: a, kind: subflow, workflow: leaf}\n"
        "  - id: b\n    kind: subflow\n    steps:\n"
        "      - {id: c, kind: subflow, workflow: mid}\n"
        "  - id: d\n    kind: parallel\n    branches:\n"
        "      x: {kind: subflow, workflow: leaf, version: 2}\n"
    )

    pinned = store.resolve_subflows("acme", parent)

    assert set(pinned) == {"leaf", "mid", "leaf@1", "deep", "leaf@2"}
    assert pinned["leaf"] == load_text(leaf("leaf", "v2"))  # latest at this moment
    assert pinned["leaf@1"] == load_text(leaf("leaf", "v1"))
    assert pinned["leaf@2"] == pinned["leaf"]
    assert pinned["deep"] == load_text(leaf("deep"))
    store.publish("acme", leaf("leaf", "v3"), "yaml")
    assert pinned["leaf"] == load_text(leaf("leaf", "v2"))  # what was pinned stays


def test_resolve_subflows_names_what_is_missing(store: DefinitionStore) -> None:
    store.publish("acme", leaf("leaf"), "yaml")
    store.publish("other", leaf("theirs"), "yaml")
    with pytest.raises(NotFound, match=r"^no workflow 'ghost'$") as caught:
        store.resolve_subflows("acme", load_text(caller("p", "leaf", "ghost")))
    assert caught.value.name == "ghost"
    with pytest.raises(NotFound, match=r"^no version 4 of workflow 'leaf'$"):
        store.resolve_subflows("acme", load_text(caller("p", "leaf@4")))
    with pytest.raises(NotFound, match=r"^no workflow 'theirs'$"):
        store.resolve_subflows("acme", load_text(caller("p", "theirs")))
    assert store.resolve_subflows("acme", load_text(leaf("plain"))) == {}


def test_a_cycle_of_subflows_is_pinned_once(store: DefinitionStore) -> None:
    store.publish("acme", caller("ping", "pong"), "yaml")
    store.publish("acme", caller("pong", "ping"), "yaml")
    pinned = store.resolve_subflows("acme", load_text(caller("start", "ping")))
    assert sorted(pinned) == ["ping", "pong"]


def test_default_database_is_a_sqlite_file_under_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with DefinitionStore() as store:
        store.publish("acme", leaf("hello"), "yaml")
        assert store.backend == "sqlite"
    assert (tmp_path / ".kworkflow" / "registry.db").is_file()

    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'elsewhere' / 'r.db'}")
    with DefinitionStore() as store:
        assert store.list_workflows("acme") == []
    assert (tmp_path / "elsewhere" / "r.db").is_file()


def test_an_unusable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="bad database URL"):
        DefinitionStore("not a url")
    with pytest.raises(StoreUnavailable, match="unavailable"):
        DefinitionStore("postgresql://nobody@127.0.0.1:1/none")
