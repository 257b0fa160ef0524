"""``python -m p2s ...``: the ``p2s`` command, from a checkout without the console script."""

from p2s.cli.main import app

if __name__ == "__main__":
    app(prog_name="p2s")
