"""The HTTP API: a thin FastAPI facade over Temporal (definitions registry, runs, human answers).

Start it with ``create_app`` (:mod:`api.app`) or ``kworkflow api``; docs/api.md is the contract.
"""
