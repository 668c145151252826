"""Helpers every layer may use; standard library only.

- ``common.atomic``: writes that a reader sees whole or not at all (files and folders), and the
  removal of temporaries left behind by dead processes.
- ``common.errors``: the one way an entry point reports bad input: one line, exit status 2.
- ``common.memory``: make ``malloc`` reuse freed blocks (CPU training allocates and frees
  large tensors every step).
"""
