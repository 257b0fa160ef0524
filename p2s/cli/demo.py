"""``p2s demo``: the shipped models on freshly rendered synthetic faces (offline)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from p2s.cli.common import SEED_MAX, console, err_console, user_errors


@user_errors
def demo(
    output: Annotated[Path, typer.Option(help="folder for one grid PNG per shipped task")],
    n: Annotated[int, typer.Option("--n", min=1, max=64, help="faces to render")] = 4,
    seed: Annotated[Optional[int], typer.Option(min=0, max=SEED_MAX, help="renderer seed (default 2: never used in training)")] = None,
    mix: Annotated[int, typer.Option(min=0, max=8, help="style-mixing variants per face")] = 3,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
) -> None:
    """Render faces, run every shipped task on them, write source | output | target grids."""
    from p2s.apis.demo import DEMO_SEED, run_demo

    start = time.perf_counter()
    with err_console.status("loading the shipped models") as status:
        result = run_demo(output, n=n, seed=DEMO_SEED if seed is None else seed, mix=mix, device=device,
                          on_model=lambda name: status.update(f"running {name}"))
    table = Table("model", "MSE vs target", "grid", title=f"p2s demo: {n} rendered face{'' if n == 1 else 's'}")
    grids = {p.stem: p for p in result.grids}
    for name, mse in result.mse.items():
        table.add_row(name, f"{mse:.4f}", escape(str(grids[name])) if name in grids else "(in the ablation grid)")
    console.print(table)
    err_console.print(f"wrote {len(result.grids)} grids to {escape(str(output))} in {time.perf_counter() - start:.1f} s",
                      highlight=False)
