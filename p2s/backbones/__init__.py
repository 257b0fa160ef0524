"""Encoder backbones: image -> named multi-scale features (registry ``BACKBONES``)."""

from p2s.backbones.base import BaseBackbone, run_stages
from p2s.backbones.irse import IRSEBackbone, load_backbone_state
from p2s.backbones.resnet import ResNet34Backbone

__all__ = ["BaseBackbone", "IRSEBackbone", "ResNet34Backbone", "load_backbone_state", "run_stages"]
