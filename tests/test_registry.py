"""The task registry: registration, case-insensitive lookup, helpful errors."""

import pytest

from tasks.registry import TASKS, TaskSpec, get_task, register_task


def _spec(name: str, family: str = "cloze") -> TaskSpec:
    return TaskSpec(
        name=name,
        family=family,
        build_datasets=lambda args, tok: None,
        build_model=lambda args, tok: None,
        forward_step=None,
        evaluate=lambda *a: {},
        metrics=("accuracy",),
    )


def test_register_and_lookup_case_insensitive():
    spec = _spec("zz-registry-test")
    register_task(spec, "ZZ-Alias-Test")
    assert get_task("ZZ-REGISTRY-TEST") is spec
    assert get_task("zz-alias-test") is spec
    assert TASKS["zz-alias-test"] is spec


def test_unknown_task_lists_known_ones():
    register_task(_spec("zz-known-task"))
    with pytest.raises(ValueError, match="not a known task.*zz-known-task"):
        get_task("no-such-task")


def test_duplicate_name_is_rejected():
    register_task(_spec("zz-dup"))
    with pytest.raises(ValueError, match="already registered"):
        register_task(_spec("zz-dup"))


def test_bad_family_and_upper_case_name_are_rejected():
    with pytest.raises(ValueError, match="family"):
        _spec("zz-bad", family="vision")
    with pytest.raises(ValueError, match="lower-case"):
        _spec("ZZ")


def test_tasks_view_is_read_only():
    with pytest.raises(TypeError):
        TASKS["x"] = _spec("x")  # type: ignore[index]
