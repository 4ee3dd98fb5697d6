"""Renderers for an attribution: ANSI terminal text and a standalone HTML page (no torch needed)."""

from __future__ import annotations

from .colors import diverging_rgb
from .html import render_html
from .terminal import render_terminal

__all__ = ["diverging_rgb", "render_html", "render_terminal"]
