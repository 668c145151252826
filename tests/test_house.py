"""The house rules of docs/architecture.md, checked on the code itself.

- Every flag has one home: a section field (its flag group), the compatibility table (a warning
  when set) or the unsupported table (an error). No section field and no consumer config field
  goes unread.
- ``GLMArgs`` stops at the entry scripts: only they and ``training/arguments.py`` import it.
- Each helper exists once: the rank-0 check, the barrier, atomic writes (and their fsync), the
  distributed start-up and the one-line bad-input exit.
"""

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from checkpoint_io import CheckpointLocation
from data_utils.blank_infilling import MaskingConfig
from data_utils.tokenization import TokenizerConfig
from model import GLMConfig
from model.generation import GenerationConfig
from tasks import config as task_configs
from training import epochs, flags
from training.arguments import parse_args
from training.checkpointing import ResumeOptions, SaveOptions
from training.engine import EngineConfig, ScheduleConfig
from training.loop import LoopConfig
from training.sections import SECTIONS

REPO = Path(__file__).resolve().parents[1]
NOT_FLAGS = {("parallel", "deepspeed_json")}  # read from the --deepspeed_config file


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text()
        for path in REPO.rglob("*.py")
        if not {".venv", "tests", "bench"} & set(path.relative_to(REPO).parts)
    }


def _dest(names: tuple[str, ...]) -> str:
    return names[0].lstrip("-").replace("-", "_")


def test_each_section_holds_exactly_its_flag_group():
    assert set(SECTIONS) == set(flags.FLAG_GROUPS)
    for name, section in SECTIONS.items():
        fields = {f.name for f in dataclasses.fields(section)} - {
            f for s, f in NOT_FLAGS if s == name
        }
        dests = {_dest(names) for names, _ in flags.FLAG_GROUPS[name]}
        assert fields == dests, name


def test_every_flag_is_listed_once():
    names = [names[0] for group in flags.FLAG_GROUPS.values() for names, _ in group]
    names += [*flags.COMPATIBILITY_FLAGS, *flags.UNSUPPORTED_FLAGS]
    assert len(names) == len(set(names))


def _reads(tree: ast.AST) -> set[str]:
    """Attribute names read, and the keys of ``values["x"]`` / ``values.get("x")`` (how
    ``training/arguments.py`` checks flags while parsing)."""
    reads = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            reads.add(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            reads.add(node.slice.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get":
            reads |= {a.value for a in node.args[:1] if isinstance(a, ast.Constant)}
    return reads


def _attribute_reads(skip: set[str]) -> set[str]:
    reads = set()
    for path, text in _sources().items():
        if path.relative_to(REPO).as_posix() not in skip:
            reads |= _reads(ast.parse(text))
    return reads


def test_no_parsed_flag_goes_unread():
    reads = _attribute_reads({"training/sections.py", "training/flags.py"})
    unread = [
        f"{name}.{f.name}"
        for name, section in SECTIONS.items()
        for f in dataclasses.fields(section)
        if f.name not in reads
    ]
    assert not unread, f"parsed but never read (wire them up or move them to a table): {unread}"


CONSUMER_CONFIGS = [
    LoopConfig,
    EngineConfig,
    ScheduleConfig,
    SaveOptions,
    ResumeOptions,
    epochs.EpochConfig,
    MaskingConfig,
    TokenizerConfig,
    GLMConfig,
    GenerationConfig,
    CheckpointLocation,
    task_configs.TaskRun,
    task_configs.ClozeOptions,
    task_configs.ClozeTaskConfig,
    task_configs.MultichoiceConfig,
    task_configs.Seq2SeqConfig,
    task_configs.LMTaskConfig,
]


@pytest.mark.parametrize("config", CONSUMER_CONFIGS, ids=lambda c: c.__name__)
def test_every_consumer_config_field_is_read(config):
    reads = _attribute_reads({"training/arguments.py", "training/task_configs.py"})
    unread = [f.name for f in dataclasses.fields(config) if f.name not in reads]
    assert not unread, f"{config.__name__} fields nobody reads: {unread}"


def test_compatibility_flags_warn_and_unsupported_flags_fail(capsys):
    parse_args(["--deepspeed", "--mem-length", "3", "--filter-english"])
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 3 and all("has no effect here" in line for line in warnings)
    for name, (kind, reason) in flags.UNSUPPORTED_FLAGS.items():
        value = [] if kind == "switch" else ["x"] if kind in (str, "list") else ["1"]
        with pytest.raises(SystemExit):
            parse_args([name, *value])
        assert f"{name} is not supported: {reason}" in capsys.readouterr().err


ENTRY_POINTS = {"pretrain_glm.py", "finetune_glm.py", "generate_samples.py", "change_mp.py"}


def test_glm_args_stop_at_the_entry_scripts():
    # scripts/estimate_memory.py plans a run from the same flags a run parses
    allowed = ENTRY_POINTS | {"serve_glm.py", "lm_eval_glm.py", "training/arguments.py"}
    allowed |= {"scripts/estimate_memory.py"}
    users = {
        path.relative_to(REPO).as_posix()
        for path, text in _sources().items()
        if re.search(r"\bGLMArgs\b|\bparse_args\b.*training", text)
        and "from training.arguments import" in text
    }
    assert users <= allowed, sorted(users - allowed)


# pattern -> the one file allowed to hold it
SINGLE_HELPERS = {
    r"get_rank\(\)\s*==\s*0": None,
    r"os\.fsync\(": "common/atomic.py",
    r"os\.replace\(": "common/atomic.py",
    r"init_process_group\(": "mpu/launch.py",
    r"dist\.barrier\(": "mpu/parallel_state.py",
    r"def exit_on_bad_input": "common/errors.py",
    r"sys\.exit\(f": None,
    r"raise SystemExit\(": "common/errors.py",
}


@pytest.mark.parametrize("pattern", sorted(SINGLE_HELPERS))
def test_each_helper_exists_once(pattern):
    where = {
        path.relative_to(REPO).as_posix()
        for path, text in _sources().items()
        if re.search(pattern, text)
    }
    allowed = {SINGLE_HELPERS[pattern]} - {None}
    assert where <= allowed, f"{pattern} outside {allowed or 'the helpers'}: {sorted(where)}"
