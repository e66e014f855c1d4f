"""Argument types and groups that several ``sweepctl`` subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for integers in ``[low, high]`` (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            upper = "inf)" if high is None else f"{high}]"
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {upper}")
        return value

    return parse
