"""Building a model for inference: on the meta device, without PyTorch's default initialisers.

Their values would be replaced by the checkpoint's, and on meta tensors ``normal_`` imports
``torch._dynamo`` (~65 MB resident for the rest of the process): generation's peak memory.
"""

import subprocess
import sys
from pathlib import Path

import torch

from checkpoint_io.inference import build_empty_model
from model import GLMModel
from tests.reference import tiny_config

REPO = Path(__file__).resolve().parents[1]


def test_empty_model_has_the_model_shapes_and_leaves_the_rng_alone():
    config = tiny_config("gpt2")
    state = torch.get_rng_state()
    empty = build_empty_model(config)
    assert torch.equal(torch.get_rng_state(), state)  # no initialiser drew a number
    assert all(t.is_meta for t in empty.state_dict().values())
    built = GLMModel(config).state_dict()
    assert {k: t.shape for k, t in empty.state_dict().items()} == {
        k: t.shape for k, t in built.items()
    }


def test_empty_model_does_not_import_dynamo():
    script = (
        "import sys\n"
        "from checkpoint_io.inference import build_empty_model\n"
        "from tests.reference import tiny_config\n"
        "build_empty_model(tiny_config('gpt2'))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
