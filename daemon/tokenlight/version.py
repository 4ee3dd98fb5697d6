"""Tokenlight's version, in a module that imports nothing, so that any part (the engine's model
identity, the server) can read it without importing the package's public API."""

__version__ = "0.1.0"
