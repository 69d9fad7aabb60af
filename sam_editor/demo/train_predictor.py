"""Train the demo bundle's invertibility predictor S (paper §3.1) for the demo generator.

1. Render cluttered car-world images (the clutter is what the generator cannot make).
2. Invert each one into every space l ∈ Φ = {W+, F4, F6, F8, F10} with the inversion engine
   and store the spatial error map e_l = LPIPS(x, x̂_l) (eq. 3.1; the l2+SSIM fallback map
   when the LPIPS-VGG backbone is not installed — recorded in the predictor's metadata).
3. Regress S_l(x) → e_l with ℓ2 (eq. 3.2).
Every step is resumable: finished images are skipped, training resumes from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..gan.layers import LayerSpace
from ..gan.networks import Generator

SPACE_METHOD = {
    LayerSpace.W_PLUS: "wplus",
    LayerSpace.F4: "f4",
    LayerSpace.F6: "f6",
    LayerSpace.F8: "f8",
    LayerSpace.F10: "f10",
}


def make_cluttered_images(out_dir: str | Path, n: int, seed: int, size: int, photo_paths: Sequence[str] = ()) -> Path:
    """Cluttered car-world renders as PNGs (resumable: an existing set of ≥ n images is kept)."""
    from .clutter import write_samples

    out_dir = Path(out_dir)
    if len(list(out_dir.glob("img_*.png"))) < n:
        write_samples(out_dir, n, seed, size=size, clutter=True, photo_paths=tuple(photo_paths))
    return out_dir


def inversion_reconstructor(
    G: Generator, steps: int, perceptual, seed: int = 0
) -> Callable[[torch.Tensor, LayerSpace], torch.Tensor]:
    """reconstruct(x (N,3,H,W) in [-1,1], space) → x̂_l: a single-space inversion of `steps` steps."""
    from ..inversion import InversionSettings, invert

    settings = InversionSettings(steps=steps, optimise_size=None)

    def reconstruct(x: torch.Tensor, space: LayerSpace) -> torch.Tensor:
        result = invert(G, x, method=SPACE_METHOD[space], settings=settings, seed=seed, perceptual=perceptual)
        return result.reconstruction

    return reconstruct


def build_targets(
    G: Generator, images_dir: str | Path, targets_dir: str | Path, steps: int, perceptual, batch_size: int = 4, on_step=None
):
    """e_l for every image and space, written as `.npz` beside a copy of the image (eq. 3.1)."""
    from ..invertibility.data import generate_targets

    size = G.cfg.output_size
    return generate_targets(
        images_dir,
        targets_dir,
        inversion_reconstructor(G, steps, perceptual),
        perceptual.error_map,
        size=size,
        batch_size=batch_size,
        on_step=on_step,
    )


# ---- target generation as batch items (sam_editor.batch: --workers, --ray-address) -------------
class TargetTask:
    """e_l of a few images in every space (eq. 3.1), run by a batch worker: the generator and the
    perceptual metric are loaded once per worker process; the arrays come back to the driver."""

    def __init__(self, generator: str, steps: int, seed: int = 0, device: str = "cpu") -> None:
        self.generator, self.steps, self.seed, self.device = str(generator), int(steps), int(seed), device

    def _models(self):  # noqa: ANN202
        from ..batch import worker_cache

        def build():  # noqa: ANN202
            from ..gan.checkpoints import load_generator_any
            from ..perceptual import default_perceptual

            G, _ = load_generator_any(self.generator, map_location=self.device)
            G = G.eval().requires_grad_(False)
            perceptual = default_perceptual(self.device)
            return G, perceptual, inversion_reconstructor(G, self.steps, perceptual, self.seed)

        return worker_cache(("targets", self.generator, self.steps, self.seed, self.device), build)

    def __call__(self, paths: Sequence[str]) -> dict:
        from ..batch import TaskError
        from ..invertibility.data import load_image, target_errors

        G, perceptual, reconstruct = self._models()
        good, imgs, bad = [], [], {}
        for p in paths:
            try:
                imgs.append(load_image(p, G.cfg.output_size))
                good.append(p)
            except ValueError as exc:  # an unreadable photo: reported, the others go on
                bad[str(p)] = str(exc)
        if not good:
            raise TaskError("; ".join(bad.values()))
        errors = target_errors(imgs, reconstruct, perceptual.error_map, self.device)
        return {"paths": good, "images": imgs, "errors": errors, "bad": bad}


class TargetStore:
    """Each image's `<stem>.npz` in the targets folder: an item is finished when all of its are."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def done(self, item) -> bool:  # noqa: ANN001
        from ..invertibility.data import target_done

        return all(target_done(self.out_dir, p) for p in item.payload)

    def write(self, item, result: dict) -> None:  # noqa: ANN001
        from ..invertibility.data import write_target

        for p, img, err in zip(result["paths"], result["images"], result["errors"], strict=True):
            write_target(self.out_dir, p, img, err)


def build_targets_batch(
    generator: str | Path,
    images: Sequence[Path],
    targets_dir: str | Path,
    steps: int,
    *,
    per_item: int = 4,
    seed: int = 0,
    device: str = "cpu",
    on_result=None,  # noqa: ANN001
    **batch_options,  # noqa: ANN003
):
    """`build_targets` as batch items of `per_item` images (resumable per image; `batch.run_batch` options)."""
    from ..batch import Item, run_batch
    from ..invertibility.data import target_done

    todo = [p for p in images if not target_done(targets_dir, p)]
    chunks = [todo[i : i + per_item] for i in range(0, len(todo), per_item)]
    items = [Item(f"{Path(c[0]).stem}+{len(c)}", [str(p) for p in c]) for c in chunks]
    store = TargetStore(Path(targets_dir))

    def collect(item, result, report) -> None:  # noqa: ANN001
        report.failed.update(result.get("bad", {}))  # unreadable photos of an item that otherwise ran
        if on_result is not None:
            on_result(item, result, report)

    report = run_batch(TargetTask(str(generator), steps, seed, device), items, store, on_result=collect, **batch_options)
    report.skipped.extend(str(p) for p in images if p not in todo)
    return report
