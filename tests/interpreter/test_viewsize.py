"""The status view's bound: which values become size markers, and what a marker keeps."""

from __future__ import annotations

from typing import Any

from api.schemas_runs import UsageOut, totals
from interpreter.viewsize import bounded_view, is_truncated, json_size, truncated


def view(**outputs: Any) -> dict[str, Any]:
    steps = {sid: {"id": sid, "input": {"n": 1}, "output": out} for sid, out in outputs.items()}
    return {"steps": steps, "result": None, "pending_human": []}


def outputs(answer: dict[str, Any]) -> dict[str, Any]:
    return {sid: step["output"] for sid, step in answer["steps"].items()}


def test_small_values_are_left_alone() -> None:
    answer = bounded_view(view(a="x" * 100, b={"k": [1, 2]}), value_limit=1000, budget=5000)
    assert outputs(answer) == {"a": "x" * 100, "b": {"k": [1, 2]}}


def test_a_value_above_the_limit_is_a_marker_of_its_json_size() -> None:
    answer = bounded_view(view(a="é" * 600, b="x" * 10), value_limit=1000, budget=10_000)
    assert outputs(answer) == {"a": truncated(1202), "b": "x" * 10}  # é is 2 bytes, + quotes
    assert answer["steps"]["a"]["input"] == {"n": 1}


def test_the_largest_values_go_first_until_all_fit_the_budget() -> None:
    answer = bounded_view(
        view(a="a" * 400, b="b" * 300, c="c" * 200, d="d" * 100), value_limit=1000, budget=500
    )
    # 402 + 302 + 202 + 102 + 4 small inputs of 7: without a and b, 202 + 102 + 28 fit
    assert outputs(answer) == {
        "a": truncated(402),
        "b": truncated(302),
        "c": "c" * 200,
        "d": "d" * 100,
    }


def test_result_and_prompts_are_bounded_too() -> None:
    answer = view(a=1)
    answer["result"] = ["r" * 50]
    answer["pending_human"] = [{"step": "h", "prompt": "p" * 60}]
    bounded = bounded_view(answer, value_limit=53, budget=10_000)
    assert bounded["result"] == truncated(json_size(["r" * 50]))
    assert bounded["pending_human"] == [{"step": "h", "prompt": truncated(62)}]


def test_a_truncated_output_keeps_the_model_usage_it_held() -> None:
    calls = [
        {"text": "t" * 200, "usage": {"input_tokens": 3, "output_tokens": 5}, "cost_usd": 0.25},
        {"text": "u" * 200, "usage": {"input_tokens": 4, "output_tokens": True}, "cost_usd": 0.5},
    ]
    answer = view(fan=calls)
    answer["steps"]["fan"]["kind"] = "parallel"
    bounded = bounded_view(answer, value_limit=100, budget=10_000)
    [marker] = outputs(bounded).values()
    assert marker == {
        "$truncated": True,
        "size": json_size(calls),
        "usage": {"input_tokens": 7, "output_tokens": 5},
        "cost_usd": 0.75,
    }
    assert totals(bounded) == (UsageOut(input_tokens=7, output_tokens=5), 0.75)  # the API's
    assert is_truncated(marker)
    assert not is_truncated({"$truncated": "yes", "size": 1})
