"""The Tokenlight language server (pygls 2): LSP features and the ``tokenlight/*`` requests.

``main(argv)`` is ``tokenlight serve``; ``python -m tokenlight.server`` runs it too. Importing this
package imports neither torch nor transformers: the engine loads on the worker thread when needed.
"""

from .serve import main

__all__ = ["main"]
