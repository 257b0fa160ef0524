"""What a ``p2s train`` run that fails on a user error leaves behind: nothing."""

from __future__ import annotations

from pathlib import Path

from p2s.utils.errors import P2SError, TrainingDivergedError


class RunFolderGuard:
    """Remove what a run that failed on a user error before its first iteration wrote
    (MMEngine's ``<timestamp>/`` log folder, and the work folder if the run made it):
    a wrong path or option leaves nothing behind.  Other failures keep their logs, as
    does a run that diverged (even in its first iteration)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.runner = None
        from p2s.utils.paths import missing_folders

        missing = missing_folders(work_dir)
        #: the outermost folder of the path that the run will make (None: it exists)
        self._made = missing[-1] if missing else None
        self._before = set(work_dir.iterdir()) if work_dir.is_dir() else set()
        self._visualizers_before = set(_visualizer_instances())

    def __enter__(self) -> RunFolderGuard:
        return self

    @property
    def started(self) -> bool:
        """Whether the run got past its first iteration (or resumed one).  Reads the built
        loop only: ``Runner.iter`` would build it (and raise again) when it failed to build."""
        loop = getattr(self.runner, "_train_loop", None)
        return loop is not None and not isinstance(loop, dict) and loop.iter > 0

    def __exit__(self, kind, error, traceback) -> None:
        import shutil

        if not isinstance(error, P2SError) or isinstance(error, TrainingDivergedError) or self.started:
            return
        self._close_new_visualizers()
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)
            return
        for entry in set(self.work_dir.iterdir()) - self._before:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def _close_new_visualizers(self) -> None:
        """Flush and close the visualizers this run made before removing their folder:
        TensorBoard writes its event file from a thread, which would otherwise fail (and
        recreate the folder) after the removal."""
        from mmengine.visualization import Visualizer

        for name in set(_visualizer_instances()) - self._visualizers_before:
            visualizer = Visualizer._instance_dict.pop(name)
            try:
                visualizer.close()
            except OSError:  # its folder went already; the run failed anyway
                pass


def _visualizer_instances() -> list[str]:
    from mmengine.visualization import Visualizer

    return list(Visualizer._instance_dict)
