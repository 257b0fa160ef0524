"""The ``p2s`` command line: thin commands over the Python API and the registries."""

from __future__ import annotations

import typer

from p2s.cli.align import align
from p2s.cli.convert import convert_app
from p2s.cli.data import data_app
from p2s.cli.demo import demo
from p2s.cli.edit import directions_app, edit
from p2s.cli.evaluate import evaluate
from p2s.cli.project import project
from p2s.cli.registry import registry_app
from p2s.cli.train import config_app, train
from p2s.cli.translate import interpolate, translate
from p2s.cli.zoo import zoo_app
from p2s.utils.host_memory import reuse_freed_host_memory_without_gpu

app = typer.Typer(
    name="p2s",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    help="pixel2style2pixel: encode images into StyleGAN2's W+ and translate them.",
)


@app.callback()
def _command_process() -> None:
    # before any command: on a machine without a GPU, large freed tensors stay in the process
    # for reuse (CPU passes paid page faults for every fresh activation; p2s.utils.host_memory)
    reuse_freed_host_memory_without_gpu()


app.command()(translate)
app.command()(interpolate)
app.command()(train)
app.command()(align)
app.command()(evaluate)
app.command()(project)
app.command()(edit)
app.command()(demo)
app.add_typer(config_app, name="config")
app.add_typer(convert_app, name="convert")
app.add_typer(directions_app, name="directions")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")
app.add_typer(zoo_app, name="zoo")


if __name__ == "__main__":  # pragma: no cover
    app()
