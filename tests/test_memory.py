"""common.memory: malloc keeps freed blocks, so a freed large tensor's pages are reused."""

import platform
import resource

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
