"""Checkpoint interoperability: resharding, ZeRO consolidation, Hugging Face export and import.

- ``interop.reshard``: move a GLM checkpoint folder to another model-parallel size
  (``change_mp.py``).
- ``interop.zero``: turn a DeepSpeed ZeRO (stage 1-3) training checkpoint into a release
  checkpoint.
- ``interop.hf_export`` / ``interop.hf_import``: write a Hugging Face folder (THUDM glm layout,
  with the remote code in ``interop/hf_remote``) and read one back.

Everything here writes a new folder atomically and never modifies its source.
"""
