"""Blank filling over HTTP (``serve_glm.py``): the API, the request queue and the batch loop.

``app`` (FastAPI routes, server-sent events, the playground page) -> ``service`` (checking a
request, building its answer) -> ``engine`` (the bounded queue, the decoding thread, the
step plans shared by all tensor-parallel ranks) -> ``decoder`` (continuous batching of blank
filling) -> ``slots`` (the KV cache whose rows hold one request each). ``config`` has the
server's own flags; ``schemas`` the JSON of the API.
"""
