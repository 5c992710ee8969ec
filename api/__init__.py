"""The HTTP API: a thin FastAPI facade over Temporal (definitions registry, runs, human answers).

Built by the API issue; the package exists so the layout and the tooling are in place.
"""
