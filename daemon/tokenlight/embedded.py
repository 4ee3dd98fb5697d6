"""The embedded default model's name and folder, importable without torch (the daemon's start-up
and its remote-mode checks need them before the engine is imported)."""

from pathlib import Path

EMBEDDED_MODEL_NAME = "tokenlight-tiny-py"
EMBEDDED_MODEL_PATH = Path(__file__).resolve().parent / "assets" / EMBEDDED_MODEL_NAME
