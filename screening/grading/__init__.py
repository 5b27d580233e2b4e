"""Grading an examination: the bridge to ml/ (bridge.py) and the worker's writes (worker.py)."""
