"""The loader: YAML and schema mistakes become located Problems, valid YAML a Definition."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from interpreter.errors import DefinitionError, Problem
from interpreter.loader import load_data, load_file, load_text
from interpreter.spec import AggregateStep, ToolStep


def problems(text: str) -> list[Problem]:
    with pytest.raises(DefinitionError) as info:
        load_text(textwrap.dedent(text), "flow.yaml")
    assert info.value.source == "flow.yaml"
    return info.value.problems


def one(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


HEAD = "kworkflow: 1\nname: demo\n"


def test_a_valid_definition_loads_with_yaml_1_2_scalars() -> None:
    definition = load_text(
        HEAD
        + textwrap.dedent("""\
        steps:
          - id: a
            kind: tool
            tool: t
            on_error: continue
            args: {answer: yes, flag: no, off: on, day: 2024-01-02, real: true}
          - id: b
            kind: aggregate
        edges:
          - {from: a, to: b, on: failed}
        """)
    )
    step = definition.steps[0]
    assert isinstance(step, ToolStep)
    assert step.args == {
        "answer": "yes",
        "flag": "no",
        "off": "on",
        "day": "2024-01-02",
        "real": True,
    }
    assert definition.edges is not None and definition.edges[0].on == "failed"


def test_anchors_aliases_and_merge_keys_are_fine() -> None:
    definition = load_text(
        HEAD
        + textwrap.dedent("""\
        steps:
          - &base {id: a, kind: aggregate, from: [b]}
          - <<: *base
            id: b
        edges: []
        """)
    )
    assert [s.id for s in definition.steps] == ["a", "b"]
    assert isinstance(definition.steps[1], AggregateStep) and definition.steps[1].from_ == ["b"]


def test_yaml_syntax_error_has_line_column_and_plain_words() -> None:
    assert one("kworkflow: 1\nname: a: b\n") == Problem(
        "",
        "a ':' is not allowed here: quote a value that contains ': ', or fix the indent",
        2,
        8,
        code="yaml",
    )


def test_tab_indentation() -> None:
    found = one("kworkflow: 1\nsteps:\n\t- id: a\n")
    assert (found.line, found.column, found.code) == (3, 1, "yaml")
    assert found.message == "a tab cannot be used here: indent YAML with spaces"


def test_unclosed_flow_mapping_names_where_it_starts() -> None:
    found = one("kworkflow: 1\nname: x\nsteps: [{id: a, kind: llm\n")
    assert (
        found.message
        == "a mapping in brackets is not closed or lacks a comma (it starts at line 3)"
    )
    assert (found.line, found.code) == (4, "yaml")


def test_duplicate_key_names_the_key_and_both_lines() -> None:
    found = one("kworkflow: 1\nname: a\nsteps:\n  - id: a\n    kind: llm\n    id: b\n")
    assert found == Problem(
        "steps[0].id", "duplicate key `id` (first at line 4)", 6, 5, code="duplicate_key"
    )


def test_empty_document_and_non_mapping_top_level() -> None:
    assert one("") == Problem(
        "", "the document is empty: a definition starts with `kworkflow: 1`", 1, 1, code="empty"
    )
    assert one("# only a comment\n").code == "empty"
    found = one("- a\n- b\n")
    assert found.message == (
        "the top level must be a mapping (`kworkflow: 1`, `name`, `steps`...), not a list"
    )
    assert (found.line, found.column, found.code) == (1, 1, "not_mapping")


def test_two_documents_are_refused() -> None:
    found = one("kworkflow: 1\n---\nname: x\n")
    assert found.message == "only one YAML document is allowed, but a second one starts here"
    assert (found.line, found.column) == (2, 1)


def test_documents_over_one_mebibyte_are_refused() -> None:
    found = one("kworkflow: 1\n" + "# pad\n" * 200_000)
    assert found == Problem("", "the document is larger than 1024 KiB", code="too_large")


def test_alias_bombs_and_recursive_aliases_are_refused() -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 6)]
    found = one("\n".join(rows) + "\n")
    assert (found.code, found.message) == (
        "too_complex",
        "the document expands to more than 100000 values",
    )
    found = one("steps: &s [*s]\n")
    assert (found.code, found.message) == (
        "too_complex",
        "an alias refers to a node that contains it",
    )
    assert one("a: " + "[" * 150 + "]" * 150 + "\n").code == "too_complex"


def test_unknown_field_points_at_the_key_and_suggests() -> None:
    found = one(HEAD + "steps:\n  - id: a\n    kind: llm\n    prompt: hi\n    promt: hi\n")
    assert found == Problem(
        "steps[0].promt",
        "unknown field `promt` (did you mean `prompt`?)",
        7,
        5,
        step="a",
        code="unknown_field",
    )
    found = one(HEAD + "steps:\n  - {id: a, kind: tool, tool: t, xyz: 1}\n")
    assert (found.message, found.line, found.column) == ("unknown field `xyz`", 4, 34)


def test_missing_field_uses_the_parent_mapping_position() -> None:
    found = one(HEAD + "steps:\n  - id: a\n    kind: tool\n")
    assert found == Problem("steps[0].tool", "missing required field `tool`", 4, 5, step="a")


def test_kind_must_be_known_and_present() -> None:
    found = problems(HEAD + "steps:\n  - id: a\n    kind: lmm\n  - id: b\n")
    assert found == [
        Problem(
            "steps[0].kind",
            "`kind` must be one of llm, tool, code, agent, subflow, human, event, branch, "
            "parallel, aggregate, not 'lmm'",
            5,
            11,
            step="a",
        ),
        Problem("steps[1].kind", "missing required field `kind`", 6, 5, step="b"),
    ]


def test_durations_patterns_bounds_and_literals() -> None:
    found = problems(
        "kworkflow: 1\nname: My Flow\ntimeout: soon\nsteps:\n"
        "  - id: Plan\n    kind: llm\n    prompt: hi\n    on_error: ignore\n"
        "    retry: {max_attempts: -1, backoff_coefficient: 0.5}\n"
    )
    assert [(p.path, p.line, p.column, p.message) for p in found] == [
        (
            "name",
            2,
            7,
            "'My Flow' is not a valid name: names are lower-case letters, digits, _, . and -, "
            "starting with a letter or digit",
        ),
        (
            "timeout",
            3,
            10,
            "'soon' is not a duration: use a number and a unit (ms, s, m, h, d), e.g. '30s'",
        ),
        (
            "steps[0].id",
            5,
            9,
            "'Plan' is not a valid step id: step ids are lower-case letters, digits and _, "
            "starting with a letter",
        ),
        ("steps[0].on_error", 8, 15, "`on_error` must be one of fail, continue, not 'ignore'"),
        ("steps[0].retry.max_attempts", 9, 27, "`max_attempts` must be at least 0, not -1"),
        (
            "steps[0].retry.backoff_coefficient",
            9,
            52,
            "`backoff_coefficient` must be at least 1.0, not 0.5",
        ),
    ]
    assert {p.step for p in found[2:]} == {"Plan"}


def test_durations_over_one_hundred_years_are_refused_where_written() -> None:
    """A huge duration is a located finding, not an OverflowError in the loader or the run."""
    found = problems(
        HEAD + "timeout: 99999999999d\nsteps:\n"
        "  - {id: ask, kind: human, prompt: hi, timeout: 5000000d}\n"
        "  - {id: call, kind: tool, tool: echo, retry: {max_interval: 36526d}}\n"
    )
    limit = "a duration must be at most 100 years (36525d)"
    assert [(p.path, p.line, p.column, p.message) for p in found] == [
        ("timeout", 3, 10, f"'99999999999d': {limit}"),
        ("steps[0].timeout", 5, 49, f"'5000000d': {limit}"),
        ("steps[1].retry.max_interval", 6, 62, f"'36526d': {limit}"),
    ]
    load_text(HEAD + "timeout: 36525d\nsteps:\n  - {id: a, kind: aggregate, expr: '1'}\n")


def test_version_types_and_empty_lists() -> None:
    found = problems("kworkflow: 2\nname: 5\nsteps: []\n")
    assert [(p.path, p.message) for p in found] == [
        ("kworkflow", "`kworkflow` must be 1, not 2"),
        ("name", "`name` must be a string, not a number"),
        ("steps", "`steps` must not be empty"),
    ]


def test_a_step_that_is_not_a_mapping() -> None:
    found = one(HEAD + "steps:\n  - just text\n")
    assert found == Problem("steps[0]", "`steps[0]` must be a mapping, not a string", 4, 5)


def test_model_rules_are_reported_on_the_step() -> None:
    found = one(HEAD + "steps:\n  - id: a\n    kind: llm\n")
    assert found == Problem(
        "steps[0]", "an llm step needs exactly one of `prompt` or `messages`", 4, 5, step="a"
    )


def test_edge_ids_report_one_problem_per_place() -> None:
    found = problems(
        HEAD + "steps:\n  - {id: a, kind: aggregate}\n"
        "edges:\n  - {from: 5, to: [a, B]}\n  - {from: a, to: Bad, on: later}\n"
    )
    assert [(p.path, p.line, p.column, p.message) for p in found] == [
        ("edges[0].from", 6, 12, "`from` must be a step id or a list of step ids, not a number"),
        (
            "edges[0].to[1]",
            6,
            23,
            "'B' is not a valid step id: step ids are lower-case letters, digits and _, "
            "starting with a letter",
        ),
        (
            "edges[1].to",
            7,
            19,
            "'Bad' is not a valid step id: step ids are lower-case letters, digits and _, "
            "starting with a letter",
        ),
        ("edges[1].on", 7, 28, "`on` must be one of succeeded, failed, always, not 'later'"),
    ]


def test_graph_steps_need_ids_and_inner_specs_have_none() -> None:
    found = problems(
        HEAD
        + textwrap.dedent("""\
        steps:
          - kind: aggregate
          - id: fan
            kind: parallel
            branches:
              one: {id: x, kind: aggregate}
          - id: each
            kind: parallel
            for_each: [1]
            step: {kind: aggregate, compensate: {id: y, kind: aggregate}}
          - id: sub
            kind: subflow
            steps: [{kind: aggregate}]
        """)
    )
    inner = "an inner step spec has no `id`: it runs as part of the step around it"
    assert [(p.path, p.line, p.column, p.code, p.step, p.message) for p in found] == [
        ("steps[0].id", 4, 5, "schema", None, "missing required field `id`"),
        ("steps[1].branches.one.id", 8, 17, "inner_id", "fan", inner),
        ("steps[2].step.compensate.id", 12, 46, "inner_id", "each", inner),
        ("steps[3].steps[0].id", 15, 13, "schema", "sub", "missing required field `id`"),
    ]


def test_json_schemas_are_checked() -> None:
    found = problems(
        HEAD
        + textwrap.dedent("""\
        input: {type: object, properties: {topic: {type: text}}}
        tools:
          crm: {url: "http://crm", input_schema: {required: 5}}
        steps:
          - {id: a, kind: llm, prompt: hi, output_schema: {type: [1]}}
          - {id: b, kind: human, form: {minLength: -1}}
        """)
    )
    assert [(p.path, p.line, p.column, p.code, p.step) for p in found] == [
        ("input.properties.topic.type", 3, 50, "json_schema", None),
        ("tools.crm.input_schema.required", 5, 53, "json_schema", None),
        ("steps[0].output_schema.type", 7, 58, "json_schema", "a"),
        ("steps[1].form.minLength", 8, 44, "json_schema", "b"),
    ]
    assert found[0].message == (
        "not a valid JSON Schema: 'text' is not valid under any of the given schemas"
    )


def test_every_problem_is_reported_at_once_in_document_order() -> None:
    found = problems(HEAD + "steps:\n  - {id: a, kind: tool}\n  - {kind: code, source: x}\n")
    assert [p.path for p in found] == ["steps[0].tool", "steps[1].id"]


def test_load_data_reports_paths_without_positions() -> None:
    with pytest.raises(DefinitionError) as info:
        load_data({"kworkflow": 1, "name": "x", "steps": [{"id": "a", "kind": "llm"}]})
    assert info.value.problems == [
        Problem("steps[0]", "an llm step needs exactly one of `prompt` or `messages`", step="a")
    ]
    with pytest.raises(DefinitionError) as info:
        load_data(["not", "a", "mapping"], source="body")
    assert info.value.problems[0].code == "not_mapping"
    body = json.loads('{"kworkflow": 1, "name": "x", "steps": [{"id": "a", "kind": "aggregate"}]}')
    assert load_data(body).name == "x"


def test_load_file_and_the_error_text(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(HEAD + "steps:\n  - {id: a, kind: aggregate}\n", encoding="utf-8")
    assert load_file(good).steps[0].id == "a"
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "steps:\n  - {id: a, kind: tool}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_file(bad)
    assert str(info.value) == f"{bad}:4:5: steps[0].tool: missing required field `tool`"
    with pytest.raises(DefinitionError) as info:
        load_file(tmp_path / "missing.yaml")
    assert info.value.problems == [
        Problem("", "cannot read the file: No such file or directory", code="io")
    ]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\n")
    with pytest.raises(DefinitionError) as info:
        load_file(binary)
    assert info.value.problems[0].code == "encoding"


def test_control_characters_are_located() -> None:
    found = one("kworkflow: 1\nname: a\x07\n")
    assert found == Problem("", "the character U+0007 is not allowed in YAML", 2, 8, code="yaml")
