"""Small constructions of the keras-hub backbones the sweep's argument filler cannot guess
(nested encoders, per-stage lists), transcribed from keras-hub's own backbone tests
(``keras_hub/src/models/<model>/<model>_backbone_test.py``, ``setUp``), so the sweep builds
them as keras-hub's CI does. Each entry builds its keyword arguments when called (nested
backbones are built then), so importing this module imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _resnet(**kw: Any) -> Any:
    from keras_hub.models import ResNetBackbone

    base = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], block_type="basic_block")
    return ResNetBackbone(**{**base, **kw})


def _clip_like(vision: str, text: str, **extra: Any) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        import keras_hub.models as m

        out = {"vision_encoder": getattr(m, vision)(16, 64, 2, 2, 128, name="vision_encoder"),
               "text_encoder": getattr(m, text)(64, 64, 64, 2, 2, 128, name="text_encoder")}
        return {**out, **extra}

    return build


def _basnet() -> dict[str, Any]:
    enc = _resnet(stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[1, 1, 1, 1],
                  stackwise_num_strides=[1, 2, 2, 2])
    return {"image_encoder": enc, "num_classes": 1, "image_shape": (64, 64, 3)}


def _blip2() -> dict[str, Any]:
    from keras_hub.src.models.blip2.blip2_custom_opt import BLIP2CustomOPT
    from keras_hub.src.models.blip2.blip2_qformer import BLIP2QFormer
    from keras_hub.src.models.blip2.blip2_vision_encoder import BLIP2VisionEncoder

    vision = BLIP2VisionEncoder(image_size=32, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8,
                                intermediate_dim=16, use_patch_bias=True, use_class_token=True, use_mha_bias=True,
                                use_mlp_bias=True, dropout_rate=0.0, layer_norm_epsilon=1e-6,
                                initializer_range=0.02, dtype="float32")
    qformer = BLIP2QFormer(num_query_tokens=2, num_layers=2, num_heads=2, hidden_dim=4, intermediate_dim=8,
                           vision_dim=8, cross_attention_frequency=1, dropout=0.0, layer_norm_epsilon=1e-6,
                           dtype="float32")
    lm = BLIP2CustomOPT(vocabulary_size=14, num_layers=2, num_heads=2, hidden_dim=4, intermediate_dim=8,
                        num_query_tokens=2, qformer_hidden_dim=4, max_sequence_length=32, dropout=0.0,
                        language_projection=None, dtype="float32")
    return {"vision_encoder": vision, "qformer": qformer, "language_model": lm}


def _hgnetv2(**kw: Any) -> dict[str, Any]:
    base = dict(embedding_size=32, stem_channels=[3, 16, 32], hidden_act="relu", use_learnable_affine_block=False,
                image_shape=(64, 64, 3), depths=[1, 1], hidden_sizes=[64, 128],
                stackwise_stage_filters=[[32, 16, 64, 1, 1, 3], [64, 32, 128, 1, 1, 3]],
                apply_downsample=[False, True], use_lightweight_conv_block=[False, False],
                out_features=["stem", "stage1", "stage2"])
    return {**base, **kw}


def _dfine() -> dict[str, Any]:
    from keras_hub.models import HGNetV2Backbone

    hg = HGNetV2Backbone(stem_channels=[3, 8, 8], stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
                         apply_downsample=[False, True], use_lightweight_conv_block=[False, False], depths=[1, 1],
                         hidden_sizes=[16, 32], embedding_size=8, use_learnable_affine_block=True, hidden_act="relu",
                         image_shape=(None, None, 3), out_features=["stage1", "stage2"])
    return dict(backbone=hg, decoder_in_channels=[16, 16], encoder_hidden_dim=16, num_denoising=10, num_labels=4,
                hidden_dim=16, learn_initial_query=False, num_queries=10, anchor_image_size=(32, 32),
                feat_strides=[4, 8], num_feature_levels=2, encoder_in_channels=[16, 32], encode_proj_layers=[1],
                num_attention_heads=2, encoder_ffn_dim=32, num_encoder_layers=1, hidden_expansion=0.5,
                depth_multiplier=0.5, eval_idx=-1, num_decoder_layers=3, decoder_attention_heads=2,
                decoder_ffn_dim=32, decoder_n_points=[2, 2], lqe_hidden_dim=16, num_lqe_layers=2,
                out_features=["stage1", "stage2"], image_shape=(None, None, 3), seed=0)


def _deeplab() -> dict[str, Any]:
    enc = _resnet(stackwise_num_filters=[64, 64, 64], stackwise_num_blocks=[2, 2, 2], stackwise_num_strides=[1, 2, 2],
                  use_pre_activation=False)
    return dict(image_encoder=enc, low_level_feature_key="P2", spatial_pyramid_pooling_key="P4",
                dilation_rates=[6, 12, 18], upsampling_size=4, image_shape=(96, 96, 3))


def _depth_anything() -> dict[str, Any]:
    from keras_hub.models import DINOV2Backbone

    enc = DINOV2Backbone(14, 4, 16, 2, 16 * 4, 1.0, 0, image_shape=(126, 126, 3), apply_layernorm=True,
                         name="image_encoder")
    return dict(image_encoder=enc, reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[16, 32, 64, 128],
                fusion_hidden_dim=128, head_hidden_dim=16, head_in_index=-1,
                feature_keys=["stage1", "stage2", "stage3", "stage4"])


def _efficientnet() -> dict[str, Any]:
    return dict(stackwise_kernel_sizes=[3, 3, 3], stackwise_num_repeats=[1, 1, 1],
                stackwise_input_filters=[16, 16, 24], stackwise_output_filters=[16, 24, 32],
                stackwise_expansion_ratios=[1, 4, 4], stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0.25],
                stackwise_strides=[1, 2, 2], stackwise_block_types=["fused", "fused", "unfused"],
                stackwise_force_input_filters=[0] * 3, stackwise_nores_option=[False] * 3,
                width_coefficient=1.0, depth_coefficient=1.0, image_shape=(64, 64, 3))


def _flux() -> dict[str, Any]:
    return dict(input_channels=64, hidden_size=64, mlp_ratio=2.0, num_heads=2, depth=1, depth_single_blocks=1,
                axes_dim=[8, 12, 12], theta=10_000, use_bias=True, guidance_embed=True, image_shape=(16, 64),
                text_shape=(16, 64), image_ids_shape=(16, 3), text_ids_shape=(16, 3), y_shape=(64,))


def _mit() -> dict[str, Any]:
    return dict(layerwise_depths=[2, 2], image_shape=(32, 32, 3), hidden_dims=[4, 8], num_layers=2,
                layerwise_num_heads=[1, 2], layerwise_sr_ratios=[8, 4], max_drop_path_rate=0.1,
                layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2])


def _mobilenet() -> dict[str, Any]:
    return dict(stackwise_expansion=[[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
                stackwise_num_blocks=[2, 3, 2, 3],
                stackwise_num_filters=[[16, 16], [24, 24, 24], [24, 24], [48, 48, 48]],
                stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
                stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
                stackwise_se_ratio=[[None, None], [0.25, 0.25, 0.25], [0.25, 0.25], [0.25, 0.25, 0.25]],
                stackwise_activation=[["relu", "relu"], ["hard_swish"] * 3, ["hard_swish"] * 2, ["hard_swish"] * 3,
                                      ["hard_swish"]],
                stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]], output_num_filters=1024,
                input_activation="hard_swish", output_activation="hard_swish", input_num_filters=16,
                image_shape=(32, 32, 3), depthwise_filters=8, depthwise_stride=2, depthwise_residual=False,
                squeeze_and_excite=0.5, last_layer_filter=288)


def _mobilenetv5() -> dict[str, Any]:
    return dict(stackwise_block_types=[["er"], ["uir", "uir"]], stackwise_num_blocks=[1, 2],
                stackwise_num_filters=[[24], [48, 48]], stackwise_strides=[[2], [2, 1]],
                stackwise_act_layers=[["relu"], ["relu", "relu"]], stackwise_exp_ratios=[[4.0], [6.0, 6.0]],
                stackwise_se_ratios=[[0.0], [0.0, 0.0]], stackwise_dw_kernel_sizes=[[0], [5, 5]],
                stackwise_dw_start_kernel_sizes=[[0], [0, 0]], stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
                stackwise_exp_kernel_sizes=[[3], [0, 0]], stackwise_pw_kernel_sizes=[[1], [0, 0]],
                stackwise_num_heads=[[0], [0, 0]], stackwise_key_dims=[[0], [0, 0]],
                stackwise_value_dims=[[0], [0, 0]], stackwise_kv_strides=[[0], [0, 0]],
                stackwise_use_cpe=[[False], [False, False]], image_shape=(32, 32, 3), stem_size=16, use_msfa=False)


def _parseq() -> dict[str, Any]:
    from keras_hub.models import ViTBackbone

    enc = ViTBackbone(image_shape=(32, 128, 3), patch_size=(4, 8), num_layers=2, num_heads=2, hidden_dim=64,
                      mlp_dim=256, use_class_token=False, name="image_encoder")
    return dict(image_encoder=enc, vocabulary_size=97, max_label_length=25, decoder_hidden_dim=64,
                num_decoder_layers=1, num_decoder_heads=2, decoder_mlp_dim=256, dropout_rate=0.0,
                attention_dropout=0.0)


def _pali_gemma() -> dict[str, Any]:
    return dict(vocabulary_size=256, image_size=16, num_layers=2, num_query_heads=2, num_key_value_heads=1,
                hidden_dim=8, intermediate_dim=16, head_dim=4, vit_patch_size=4, vit_num_layers=2, vit_num_heads=2,
                vit_hidden_dim=8, vit_intermediate_dim=16)


def _retinanet() -> dict[str, Any]:
    enc = _resnet(stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[1, 1, 1, 1],
                  stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block", use_pre_activation=False)
    return dict(image_encoder=enc, min_level=3, max_level=7, use_p5=True, image_shape=(256, 256, 3))


def _sam() -> dict[str, Any]:
    """keras-hub's SAMImageSegmenter test: 128x128 images, 8x8 embeddings (4 encoder layers, not 16)."""
    from keras_hub.models import ViTDetBackbone
    from keras_hub.src.models.sam.sam_mask_decoder import SAMMaskDecoder
    from keras_hub.src.models.sam.sam_prompt_encoder import SAMPromptEncoder

    enc = ViTDetBackbone(hidden_size=16, num_layers=4, intermediate_dim=64, num_heads=2,
                         global_attention_layer_indices=[1, 3], patch_size=16, num_output_channels=32, window_size=2,
                         image_shape=(128, 128, 3))
    prompt = SAMPromptEncoder(hidden_size=32, image_embedding_size=(8, 8), input_image_size=(128, 128),
                              mask_in_channels=16)
    decoder = SAMMaskDecoder(num_layers=2, hidden_size=32, intermediate_dim=32, num_heads=8, embedding_dim=32,
                             num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=8)
    return dict(image_encoder=enc, prompt_encoder=prompt, mask_decoder=decoder)


def _segformer() -> dict[str, Any]:
    from keras_hub.models import MiTBackbone

    return dict(projection_filters=32, image_encoder=MiTBackbone(**_mit()))


def _sd3() -> dict[str, Any]:
    from keras_hub.src.models.vae.vae_backbone import VAEBackbone
    from keras_hub.src.models.clip.clip_text_encoder import CLIPTextEncoder

    vae = VAEBackbone([32, 32, 32, 32], [1, 1, 1, 1], [32, 32, 32, 32], [1, 1, 1, 1], sampler_method="mode", name="vae")
    clip_l = CLIPTextEncoder(20, 32, 32, 2, 2, 64, "quick_gelu", -2, name="clip_l")
    clip_g = CLIPTextEncoder(20, 64, 64, 2, 2, 128, "gelu", -2, name="clip_g")
    return dict(mmdit_patch_size=2, mmdit_hidden_dim=32, mmdit_num_layers=2, mmdit_num_heads=2,
                mmdit_position_size=192, mmdit_qk_norm=None, mmdit_dual_attention_indices=None, vae=vae,
                clip_l=clip_l, clip_g=clip_g, image_shape=(64, 64, 3))


def _sam3() -> dict[str, Any]:
    from keras_hub.src.models.sam3.sam3_detr_decoder import SAM3DetrDecoder
    from keras_hub.src.models.sam3.sam3_detr_encoder import SAM3DetrEncoder
    from keras_hub.src.models.sam3.sam3_geometry_encoder import SAM3GeometryEncoder
    from keras_hub.src.models.sam3.sam3_mask_decoder import SAM3MaskDecoder
    from keras_hub.src.models.sam3.sam3_text_encoder import SAM3TextEncoder
    from keras_hub.src.models.sam3.sam3_vision_encoder import SAM3VisionEncoder

    small = dict(hidden_dim=16, intermediate_dim=32, num_heads=2, num_layers=2)
    return dict(
        vision_encoder=SAM3VisionEncoder(image_shape=(28, 28, 3), patch_size=14, fpn_hidden_dim=16,
                                         fpn_scale_factors=[4.0, 2.0, 1.0, 0.5], pretrain_image_shape=(42, 42, 3),
                                         window_size=2, global_attn_indexes=[1, 2], **small),
        text_encoder=SAM3TextEncoder(vocabulary_size=32, embedding_dim=16, **small),
        geometry_encoder=SAM3GeometryEncoder(roi_size=7, **small),
        detr_encoder=SAM3DetrEncoder(**small),
        detr_decoder=SAM3DetrDecoder(image_shape=(28, 28, 3), patch_size=14, num_queries=8, **small),
        mask_decoder=SAM3MaskDecoder(num_upsampling_stages=3, hidden_dim=16, num_heads=2),
    )


#: backbone class name -> a function building its small keyword arguments
CONSTRUCTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "BASNetBackbone": _basnet,
    "BLIP2Backbone": _blip2,
    "CLIPBackbone": _clip_like("CLIPVisionEncoder", "CLIPTextEncoder", projection_dim=64),
    "MetaCLIP2Backbone": _clip_like("MetaCLIP2VisionEncoder", "MetaCLIP2TextEncoder", projection_dim=64),
    "SigLIPBackbone": _clip_like("SigLIPVisionEncoder", "SigLIPTextEncoder"),
    "CSPNetBackbone": lambda: dict(stem_filters=16, stem_kernel_size=3, stem_strides=1, stackwise_strides=2,
                                   stackwise_depth=[1, 1], stackwise_num_filters=[16, 24], image_shape=(None, None, 3),
                                   down_growth=True, bottle_ratio=(0.5, 1.0), block_ratio=(1.0, 0.5),
                                   expand_ratio=(2.0, 1.0), block_type="dark_block", stage_type="csp",
                                   stem_padding="same"),
    "DFineBackbone": _dfine,
    "DeepLabV3Backbone": _deeplab,
    "DepthAnythingBackbone": _depth_anything,
    "EfficientNetBackbone": _efficientnet,
    "FluxBackbone": _flux,
    "HGNetV2Backbone": _hgnetv2,
    "MiTBackbone": _mit,
    "MobileNetBackbone": _mobilenet,
    "MobileNetV5Backbone": _mobilenetv5,
    # the encoder's convolutions give filter_dim features to blocks of hidden_dim: they must be equal
    "MoonshineBackbone": lambda: dict(vocabulary_size=128, filter_dim=32, encoder_num_layers=1, decoder_num_layers=1,
                                      hidden_dim=32, intermediate_dim=64, encoder_num_heads=2, decoder_num_heads=2,
                                      max_position_embeddings=64),
    "PARSeqBackbone": _parseq,
    # LoRA ranks below the width, as in every published RWKV-7 (the defaults, 32-128, exceed a
    # 32-wide model and turn each low-rank pair into an expansion AL009 rightly flags)
    "RWKV7Backbone": lambda: dict(hidden_size=32, head_size=16, num_layers=2, vocabulary_size=128,
                                  intermediate_dim=64, gate_lora=16, mv_lora=8, aaa_lora=16, decay_lora=16),
    "PaliGemmaBackbone": _pali_gemma,
    "RetinaNetBackbone": _retinanet,
    "SAMBackbone": _sam,
    "SAM3PromptableConceptBackbone": _sam3,
    # the text-only form of keras-hub's test (no vision or audio encoder)
    "Gemma3nBackbone": lambda: dict(text_vocab_size=10, text_hidden_size=4, num_hidden_layers=1, pad_token_id=0,
                                    num_attention_heads=1, num_key_value_heads=1, head_dim=4, intermediate_size=[8],
                                    hidden_activation="gelu_approximate", layer_types=["full_attention"],
                                    sliding_window=4, rope_theta=10000.0, max_position_embeddings=32,
                                    vocab_size_per_layer_input=10, hidden_size_per_layer_input=2, altup_num_inputs=2,
                                    laurel_rank=1),
    "SegFormerBackbone": _segformer,
    "StableDiffusion3Backbone": _sd3,
    "XceptionBackbone": lambda: dict(stackwise_conv_filters=[[32, 64], [128, 128], [256, 256]],
                                     stackwise_pooling=[False, True, False], image_shape=(None, None, 3)),
}


def _blip2_flan_t5() -> dict[str, Any]:
    """keras-hub's BLIP2Seq2SeqLM test: a BLIP-2 backbone whose language model is Flan-T5."""
    from keras_hub.models import BLIP2Backbone
    from keras_hub.src.models.blip2.blip2_flan_t5_lm import BLIP2FlanT5
    from keras_hub.src.models.blip2.blip2_qformer import BLIP2QFormer
    from keras_hub.src.models.blip2.blip2_vision_encoder import BLIP2VisionEncoder

    vision = BLIP2VisionEncoder(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                                intermediate_dim=32, use_patch_bias=True, use_class_token=True, use_mha_bias=True,
                                use_mlp_bias=True, dropout_rate=0.0, layer_norm_epsilon=1e-5, initializer_range=0.02)
    qformer = BLIP2QFormer(num_query_tokens=4, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
                           vision_dim=16, cross_attention_frequency=2, dropout=0.0, layer_norm_epsilon=1e-5)
    lm = BLIP2FlanT5(vocabulary_size=128, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
                     key_value_dim=8, num_query_tokens=4, qformer_hidden_dim=8, dropout=0.0)
    return {"backbone": BLIP2Backbone(vision_encoder=vision, qformer=qformer, language_model=lm)}


#: task class name -> its extra keyword arguments (and its own backbone, where the task needs
#: another than the backbone class's small construction), from keras-hub's task tests
TASK_CONSTRUCTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "BLIP2Seq2SeqLM": _blip2_flan_t5,
    "Gemma4AssistantCausalLM": lambda: dict(backbone_hidden_size=16, num_centroids=4, centroid_intermediate_top_k=2,
                                            use_ordered_embeddings=True),
}
