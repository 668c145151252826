"""serve_glm.py's command line: bad flags and missing weights are one-line errors; -h shows
the server's flags and the model's."""

import pytest

import serve_glm

TINY = ["--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--block-lm", "--max-batch-size", "0"], "--max-batch-size 0 must be >= 1"),
        (["--block-lm", "--batching", "later"], "argument --batching: invalid choice"),
        (["--block-lm"], "no weights to serve: give --load-pretrained"),
        (["--load-pretrained", "ckpt"], "it needs a --block-lm model"),
    ],
)
def test_bad_command_lines_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        serve_glm.main(TINY + argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_lists_server_and_model_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        serve_glm.main(["-h"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--max-batch-size" in out and "--max-queue" in out and "--num-layers" in out
