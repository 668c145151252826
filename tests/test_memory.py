"""common.memory: malloc keeps freed blocks (a freed large tensor's pages are reused), and
decoding's large tensors sit on huge pages."""

import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.memory import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_large_block_is_reused_without_new_page_faults():
    assert retain_freed_memory()
    block = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB: mmap'ed by default glibc
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(32 << 20, dtype=torch.uint8)  # fits in the freed block
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 2048, faults  # 8192 pages of 4 KiB if it all came from fresh memory


_HUGE_PAGES_PROBE = """
import re
from common.memory import use_huge_pages
import torch
on = use_huge_pages()
block = torch.ones(64 << 20, dtype=torch.uint8)  # touched: 64 MiB of resident pages
start = block.data_ptr()
huge, inside = 0, False
for line in open("/proc/self/smaps"):
    mapping = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)  # a mapping's header line
    if mapping:
        inside = int(mapping[1], 16) <= start < int(mapping[2], 16)
    elif inside and line.startswith("AnonHugePages:"):
        huge = int(line.split()[1])
print(on, huge)
"""


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "absent"
    return text.split("[")[1].split("]")[0]


@pytest.mark.skipif(_thp_mode() not in ("always", "madvise"), reason="kernel without THP")
@pytest.mark.parametrize("setting", [None, "0"])
def test_decoding_tensors_sit_on_huge_pages_unless_turned_off(setting, monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    if setting is not None:
        monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", setting)
    repo = Path(__file__).resolve().parents[1]
    probe = [sys.executable, "-c", _HUGE_PAGES_PROBE]
    out = subprocess.run(probe, cwd=repo, capture_output=True, text=True, check=True).stdout
    on, huge_kib = out.split()
    if setting == "0":
        assert on == "False" and (_thp_mode() == "always" or int(huge_kib) == 0)
    else:
        # some of the 64 MiB at least: a fragmented host may back the rest with small pages
        assert on == "True" and int(huge_kib) >= 8 << 10, out
