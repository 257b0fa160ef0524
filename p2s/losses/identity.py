"""Identity loss: cosine distance of ArcFace (IR-SE50) embeddings (official ``id_lambda``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from p2s.backbones.irse import IRSE50_HOW_TO_GET, IRSEBackbone
from p2s.losses.base import FACE_CROP, BaseLoss, FrozenNetworkMixin, check_crop, crop_images
from p2s.registry import LOSSES
from p2s.utils.errors import P2SError

#: the face size the ArcFace head was trained on (its linear layer takes 512 x 7 x 7)
ARCFACE_SIZE = 112


@LOSSES.register_module()
class IDLoss(FrozenNetworkMixin, BaseLoss):
    """``mean_i (1 - <e(pred_i), e(target_i)>)`` with ``e`` the L2-normalised IR-SE50 embedding.

    As in pSp, both images are cropped to the face region, average-pooled to 112x112 and
    embedded by the frozen ArcFace network; the target embeddings are detached.

    Args:
        weights: path of ``model_ir_se50.pth`` (TreB1eN's IR-SE50, linked from pSp's README).
        loss_weight: factor on the mean distance (official ``id_lambda``, 0.1 for encoding).
        crop: ``(top, bottom, left, right)`` face region of the 256x256 images, or ``None``.
        loss_name: logged name.
        depth: IR-SE depth (50 for ``model_ir_se50.pth``).
        random_init: allow ``weights=None`` and keep the network random (tests only).
        network: extra ``IRSEBackbone`` options, e.g. a tiny ``units``/``widths`` for tests.
    """

    def __init__(
        self,
        weights: str | None,
        loss_weight: float = 0.1,
        crop: tuple[int, int, int, int] | None = FACE_CROP,
        loss_name: str = "loss_id",
        depth: int = 50,
        random_init: bool = False,
        network: dict | None = None,
    ) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        if weights is None and not random_init:
            raise P2SError(
                "IDLoss needs the IR-SE50 ArcFace weights: set weights to the path of "
                f"model_ir_se50.pth in the config. {IRSE50_HOW_TO_GET}"
            )
        self.crop = check_crop(crop, type(self).__name__)
        self.weights_path = None if weights is None else str(weights)
        facenet = IRSEBackbone(
            depth=depth, mode="ir_se", with_output_layer=True, weights=weights, **(network or {})
        )
        self.add_frozen("facenet", facenet)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Crop, pool to 112x112 and embed: ``[N, 3, H, W]`` -> ``[N, 512]`` unit vectors."""
        faces = F.adaptive_avg_pool2d(crop_images(images, self.crop), (ARCFACE_SIZE, ARCFACE_SIZE))
        return self.facenet.embed(faces)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        # the target needs no graph: embedding it apart keeps the backward to the pred half
        with torch.no_grad():
            target_emb = self.embed(target.to(pred.dtype))
        similarity = (self.embed(pred) * target_emb).sum(dim=1)
        return (1 - similarity).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weights={self.weights_path!r}, crop={self.crop}"
