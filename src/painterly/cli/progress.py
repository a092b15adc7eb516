"""A terminal progress bar fed by :class:`painterly.events.Step` events (CLI only)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..events import Step


class ProgressBar:
    """``with ProgressBar() as bar: ... callback=bar.update``. Quiet when ``enabled`` is False.

    The bar appears with the first update, so that a run refused before any work prints only
    its one-line error.
    """

    def __init__(self, description: str = "painting", *, enabled: bool = True, total: int | None = None,
                 eta: bool = True):
        self.enabled = enabled
        self.console = Console(stderr=True)
        estimate = (TextColumn("eta"), TimeRemainingColumn()) if eta else ()  # eta=False: the caller's info says it
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), *estimate,
            console=self.console, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task(description, total=total, info="")

        self.started = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (the last state stays on the terminal); a later update draws again."""
        if self.started:
            self.progress.stop()
            self.started = False

    def update(self, step: Step) -> None:
        terms = " ".join(f"{k} {v:.3g}" for k, v in step.terms.items() if ":" not in k)
        tile = f" tile {step.tile}/{step.tiles}" if step.tiles else ""
        terms = f" ({terms})" if terms else ""  # the step after a scale's last tile carries the blend, no terms
        info = f"scale {step.scale + 1}/{step.scales} {step.size[1]}x{step.size[0]}{tile}  loss {step.loss:.4g}{terms}"
        self.advance(step.done, step.total, info)

    def advance(self, completed: int, total: int, info: str = "") -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        self.progress.update(self.task, total=total, completed=completed, info=info)
