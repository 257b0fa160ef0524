"""``p2s convert ada-pkl IN OUT``: foreign checkpoints -> plain p2s weight files, once, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from p2s.cli.common import user_errors

convert_app = typer.Typer(
    no_args_is_help=True,
    help="Convert foreign checkpoints to plain p2s weight files (offline, once).",
)


@convert_app.callback()
def _convert_group() -> None:
    """Convert foreign checkpoints to plain p2s weight files (offline, once).

    Foreign pickles are read with a restricted unpickler: nothing in them is imported
    or run.  The outputs load with torch.load(weights_only=True).
    """


@convert_app.command("ada-pkl")
@user_errors
def ada_pkl(
    src: Annotated[
        Path, typer.Argument(metavar="IN.pkl", help="NVlabs stylegan2-ada-pytorch snapshot (.pkl).")
    ],
    dst: Annotated[
        Path, typer.Argument(metavar="OUT.pt", help="Where to write the p2s weight file.")
    ],
    key: Annotated[
        str, typer.Option("--key", help="Snapshot entry holding the generator.")
    ] = "G_ema",
) -> None:
    """Convert a StyleGAN2-ADA generator to StyleGAN2Generator weights.

    Writes {'g_ema', 'latent_avg', 'p2s_generator'}; build the generator with the
    printed config and weights=OUT.pt.
    """
    from p2s.convert.ada import convert_ada_pickle

    result = convert_ada_pickle(src, dst, key=key)
    fields = {**result.config, "weights": str(result.output)}
    typer.echo(f"generator: dict({', '.join(f'{k}={v!r}' for k, v in fields.items())})")
    typer.echo(result.summary())
