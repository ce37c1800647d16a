"""What the admin page knows about the rota in force: file, version, reloads, refusals.

The rota watcher (:mod:`callrouter.rota_source`) reports to a :class:`RotaTracker`:
:meth:`RotaTracker.loaded` when a file validated and was swapped in,
:meth:`RotaTracker.refused` when a changed file was refused (the running rota stays). The web
app reads it through :class:`RotaInfo`, so anything with the same attributes works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from callrouter.rota import Rota


class RotaInfo(Protocol):
    """Read side used by the web app."""

    @property
    def path(self) -> Path: ...

    @property
    def rota(self) -> Rota | None: ...

    @property
    def loaded_at(self) -> datetime | None: ...

    @property
    def reloads(self) -> int: ...

    @property
    def refused_at(self) -> datetime | None: ...

    @property
    def refused_problems(self) -> tuple[str, ...]: ...


@dataclass
class RotaTracker:
    """Mutable record of the rota in force and of the last refused reload."""

    path: Path
    rota: Rota | None = None
    loaded_at: datetime | None = None
    reloads: int = 0
    refused_at: datetime | None = None
    refused_problems: tuple[str, ...] = field(default_factory=tuple)

    def loaded(self, rota: Rota, at: datetime) -> None:
        """``rota`` is now in force (first load or a reload); clears a previous refusal."""
        if self.rota is not None:
            self.reloads += 1
        self.rota = rota
        self.loaded_at = at
        self.refused_at = None
        self.refused_problems = ()

    def refused(self, problems: list[str] | tuple[str, ...], at: datetime) -> None:
        """A changed file did not validate; the rota in force stays."""
        self.refused_at = at
        self.refused_problems = tuple(problems)
