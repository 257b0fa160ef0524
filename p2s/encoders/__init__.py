"""Encoders: image -> W+ (or W) codes (registry ``ENCODERS``)."""

from p2s.encoders.ablation import WEncoder, WPlusEncoder
from p2s.encoders.base import BackboneEncoder, BaseEncoder
from p2s.encoders.gradual import GradualStyleEncoder

__all__ = ["BackboneEncoder", "BaseEncoder", "GradualStyleEncoder", "WEncoder", "WPlusEncoder"]
