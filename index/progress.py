"""A terminal progress bar that fits the ``Progress`` callback of ``Index.add_*`` and the evaluator."""

from __future__ import annotations

import sys


class ProgressBar:
    """Callable as ``bar(done, total)``; draws a tqdm bar on stderr on first call, nothing when ``quiet``.

    Example:
        >>> bar = ProgressBar("embedding", "chunk"); index.add_paths(paths, progress=bar); bar.close()
    """

    def __init__(self, desc: str, unit: str, *, quiet: bool = False) -> None:
        self.desc = desc
        self.unit = unit
        self.quiet = quiet
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
