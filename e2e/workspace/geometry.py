"""Small plane-geometry helpers: points, distances, polygons."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def __sub__(self, other: Point) -> Point:
        return Point(self.x - other.x, self.y - other.y)


def distance(a: Point, b: Point) -> float:
    """Return the Euclidean distance between two points."""
    return math.hypot(a.x - b.x, a.y - b.y)


def polygon_area(points: list[Point]) -> float:
    """Return the area of a simple polygon with the shoelace formula."""
    total = 0.0
    for i, p in enumerate(points):
        q = points[(i + 1) % len(points)]
        total += p.x * q.y - q.x * p.y
    return abs(total) / 2.0


def perimeter(points: list[Point]) -> float:
    """Return the length of the closed path through the points."""
    return sum(distance(p, points[(i + 1) % len(points)]) for i, p in enumerate(points))


def centroid(points: list[Point]) -> Point:
    """Return the arithmetic mean of the points."""
    if not points:
        raise ValueError("centroid() of an empty list")
    n = len(points)
    return Point(sum(p.x for p in points) / n, sum(p.y for p in points) / n)
