"""The interpreter workflow's mixins: no stub a mixin declares for another part is what the
workflow runs, and the handlers that moved out of ``interpreter/workflow.py`` are registered."""

from __future__ import annotations

import ast
import inspect
import textwrap

from temporalio import workflow

from interpreter.request import ATTEMPT_SIGNAL, STATUS_QUERY, STEP_QUERY, TRANSITIONS_QUERY
from interpreter.run_end import RunEnding
from interpreter.run_queries import RunQueries
from interpreter.step_runtime import StepRuntime
from interpreter.workflow import InterpreterWorkflow


def _is_stub(function: object) -> bool:
    """The function's body (after its docstring) only raises ``NotImplementedError``."""
    source = textwrap.dedent(inspect.getsource(function))  # type: ignore[arg-type]
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    raised = body[0].exc
    name = raised.func if isinstance(raised, ast.Call) else raised
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"


def _resolved_methods() -> dict[str, tuple[type, object]]:
    """Each method name of the workflow and the class whose definition it runs."""
    found: dict[str, tuple[type, object]] = {}
    for cls in InterpreterWorkflow.__mro__:
        for name, value in vars(cls).items():
            if name not in found and inspect.isfunction(value):
                found[name] = (cls, value)
    return found


def test_no_method_of_the_workflow_is_a_stub() -> None:
    stubs = {
        name: cls.__qualname__
        for name, (cls, function) in _resolved_methods().items()
        if _is_stub(function)
    }
    assert stubs == {}


def test_the_stub_check_sees_a_stub_that_would_win() -> None:
    """The check above can fail: a mixin before StepRuntime with a stub of its method wins."""

    class Stubbing:
        def _current_scope(self) -> None:
            raise NotImplementedError

    class Wrong(Stubbing, StepRuntime):
        pass

    assert _is_stub(Wrong._current_scope)
    assert not _is_stub(InterpreterWorkflow._current_scope)
    assert InterpreterWorkflow._current_scope is StepRuntime._current_scope


def test_moved_handlers_and_methods_are_the_workflows() -> None:
    definition = workflow._Definition.must_from_class(InterpreterWorkflow)
    assert {STATUS_QUERY, STEP_QUERY, TRANSITIONS_QUERY} <= set(definition.queries)
    assert ATTEMPT_SIGNAL in definition.signals
    assert InterpreterWorkflow.status is RunQueries.status
    assert InterpreterWorkflow.attempt_started is RunQueries.attempt_started
    assert InterpreterWorkflow._report is RunEnding._report
    for name in ("_run_info", "child_id", "run_ref", "record_input", "default_sources"):
        assert getattr(InterpreterWorkflow, name) is getattr(StepRuntime, name), name
