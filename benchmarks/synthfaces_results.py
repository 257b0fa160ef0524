"""Held-out results of the shipped synthetic-face models (README's results table).

Renders the held-out set (renderer seed 1, never used in training) if it is missing,
scores every shipped translation model on it, runs the W+ projector on the first
``--projector-n`` faces as the optimisation baseline, prints a Markdown table and
writes JSON.  ``--record`` stores the figures (and a 4-face check value the test suite
re-measures) in ``p2s/zoo/catalogue.json``.

    python benchmarks/synthfaces_results.py --faces data/synthfaces_64_heldout --n 500 --record
    python benchmarks/synthfaces_results.py --model synthfaces-inversion=work_dirs/inv/iter_1500.pth
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, report  # noqa: E402

from p2s import zoo  # noqa: E402
from p2s.evaluation.heldout import evaluate_mean_face, evaluate_projection, evaluate_translation  # noqa: E402

HELDOUT_SEED = 1
#: faces the test suite re-scores against the recorded value
CHECK_N = 4
#: the paper's ablation claim (Table 5): pSp better than a naive W+ encoder, better than W
CLAIMED_ORDER = ["synthfaces-inversion", "synthfaces-inversion-wplus", "synthfaces-inversion-w"]


def ensure_faces(folder: Path, n: int) -> None:
    from p2s.synthfaces.generate import generate

    have = len(list((folder / "images").glob("*.png"))) if (folder / "images").is_dir() else 0
    if have < n:
        print(f"rendering {n} held-out faces (seed {HELDOUT_SEED}) into {folder}")
        generate(folder, n, size=64, seed=HELDOUT_SEED)


def parse_models(pairs: list[str]) -> dict[str, str]:
    """``name`` or ``name=checkpoint`` (a trained file scored as that catalogue entry)."""
    models = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        models[name] = path or name
    return models


def paired(better: list[float], worse: list[float], resamples: int = 2000) -> dict:
    """How often and by how much ``better`` has the lower per-image MSE on the same faces,
    with a 95 % bootstrap interval of the mean difference (``worse - better``)."""
    a, b = np.asarray(better), np.asarray(worse)
    diff = b - a
    rng = np.random.default_rng(0)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return dict(wins=float((a < b).mean()), mean_difference=float(diff.mean()), ci95=[float(low), float(high)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, default=Path("data/synthfaces_64_heldout"))
    parser.add_argument("--n", type=int, default=500, help="held-out faces scored per model")
    parser.add_argument("--model", nargs="*", default=None, help="name or name=checkpoint (default: all shipped)")
    parser.add_argument("--projector-n", type=int, default=32, help="faces the projector inverts (0: skip)")
    parser.add_argument("--projector-steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--record", action="store_true", help="store the figures in p2s/zoo/catalogue.json")
    parser.add_argument("--out", type=Path, default=Path("synthfaces_results.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    ensure_faces(args.faces, args.n)
    entries = {e.name: e for e in zoo.catalogue().values() if e.kind == "translation" and e.data}
    models = parse_models(args.model) if args.model else {name: name for name in entries}
    rows, recorded, per_image = [], {}, {}
    for name, checkpoint in models.items():
        data = entries[name].data
        figures = evaluate_translation(checkpoint, args.faces, data["source"], data["target"], limit=args.n,
                                       device=args.device)
        rows.append(dict(model=name, task=entries[name].task, **figures.as_dict()))
        per_image[name] = figures.per_image_mse
        recorded[name] = dict(held_out=dict(figures.as_dict(), seed=HELDOUT_SEED),
                              check=dict(seed=HELDOUT_SEED, n=CHECK_N,
                                         mse=float(np.mean(figures.per_image_mse[:CHECK_N]))))
        print(f"{name}: MSE {figures.mse:.5f}  PSNR {figures.psnr:.2f}  SSIM {figures.ssim:.4f}", flush=True)
    inversion = next((n for n in models if entries[n].task == "Inversion" and not entries[n].data.get("compare_with")),
                     None)
    if args.projector_n and inversion:
        figures = evaluate_projection(models[inversion], args.faces, limit=args.projector_n,
                                      steps=args.projector_steps, device=args.device)
        rows.append(dict(model=f"p2s project ({args.projector_steps} steps, L2)", task="Inversion",
                         **figures.as_dict()))
        recorded[inversion]["projector"] = dict(figures.as_dict(), steps=args.projector_steps, seed=HELDOUT_SEED)
    if inversion:
        for target in sorted({entries[n].data["target"] for n in models}):
            figures = evaluate_mean_face(models[inversion], args.faces, target, limit=args.n, device=args.device)
            rows.append(dict(model=f"G(latent_avg): no encoder, vs {target}/", task="baseline", **figures.as_dict()))
            recorded[inversion][f"mean_face_{target}"] = dict(figures.as_dict(), seed=HELDOUT_SEED)
    ablation = ablation_pairs(per_image)
    meta = dict(machine=machine(), device=args.device, faces=str(args.faces), seed=HELDOUT_SEED, ablation=ablation)
    report(rows, ["model", "task", "n", "mse", "psnr", "ssim", "seconds_per_image"], args.out, meta)
    for pair, stats in ablation.items():
        print(f"{pair}: lower MSE on {stats['wins']:.1%} of the faces, by {stats['mean_difference']:.5f} "
              f"(95 % CI {stats['ci95'][0]:.5f} .. {stats['ci95'][1]:.5f})")
    if args.record:
        record(recorded)


def ablation_pairs(per_image: dict) -> dict:
    """The paper's ablation ordering tested pair by pair on the same faces:
    pSp better than naive W+, naive W+ better than W (and pSp than W)."""
    pairs = {}
    for better, worse in [*zip(CLAIMED_ORDER, CLAIMED_ORDER[1:]), (CLAIMED_ORDER[0], CLAIMED_ORDER[-1])]:
        if better in per_image and worse in per_image:
            pairs[f"{better} vs {worse}"] = paired(per_image[better], per_image[worse])
    return pairs


def record(results: dict[str, dict]) -> None:
    """Merge ``results`` into the catalogue entries' ``results``."""
    entries = json.loads(zoo.CATALOGUE.read_text())
    for name, figures in results.items():
        entries[name].setdefault("results", {}).update(figures)
    zoo.CATALOGUE.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    print(f"recorded held-out figures of {len(results)} models in {zoo.CATALOGUE}")


if __name__ == "__main__":
    main()
