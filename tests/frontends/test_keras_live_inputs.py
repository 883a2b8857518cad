"""The live Keras reader's inputs and runs (:mod:`archlint.frontends.keras_live`), on small
models shaped like the keras-hub models that exposed each case (no keras-hub needed):

- a layer that imports torchvision while it runs (keras-hub's SAM 3 calls ``roi_align``):
  the import works where torchvision's compiled ops do not load beside this torch;
- a free-sized image input whose side the model ties to another size (SAM's mask prompt,
  four times its image embedding's side): other sides are tried;
- a model whose own ``call`` refuses (keras-hub's Gemma 4 assistant): one clear error at
  once, while a ``NotImplementedError`` from inside a layer still lets other sizes be tried;
- dict inputs keep their own names (Keras flattens a dict in sorted key order).

All cases run in one fresh interpreter: torchvision must not be imported before the reader
runs, and Keras's backend is chosen at import."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("keras") is None:
    pytest.skip("keras is not installed", allow_module_level=True)

SCRIPT = r'''
import json, sys
import keras
from keras import layers, ops
from archlint.errors import LoadError
from archlint.frontends.keras import Loader
from archlint.frontends.keras_live import from_model

out = {"torchvision_before": "torchvision" in sys.modules}


class RoiPool(layers.Layer):
    """Pools a fixed box with torchvision's roi_align, importing torchvision when it runs."""
    def call(self, x):
        import torch
        import torchvision
        boxes = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
        y = torchvision.ops.roi_align(ops.transpose(x, (0, 3, 1, 2)), boxes, (2, 2))
        return ops.log2(ops.transpose(y, (0, 2, 3, 1)) + 1.0)

    def compute_output_shape(self, shape):
        return (1, 2, 2, shape[-1])


img = keras.Input((8, 8, 3))
model = keras.Model(img, layers.Dense(4)(RoiPool()(layers.Conv2D(6, 3, padding="same")(img))))
try:
    g = from_model(model, Loader, name="roi")
    out["roi"] = {"total": g.total_params, "count": model.count_params(), "share": g.coverage()["share"]}
except LoadError as e:
    out["roi"] = {"error": str(e)}


class MaskEmbed(layers.Layer):
    """SAM's mask prompt: (batch, masks, H, W, 1) downscaled 4x, added to the image embedding."""
    def __init__(self, **kw):
        super().__init__(**kw)
        self.c1 = layers.Conv2D(4, 2, strides=2)
        self.c2 = layers.Conv2D(8, 2, strides=2)

    def call(self, emb, masks):
        s = ops.shape(masks)
        m = self.c2(self.c1(ops.reshape(masks, (s[0] * s[1], s[2], s[3], s[4]))))
        return emb + m

    def compute_output_spec(self, emb, masks):
        return keras.KerasTensor((None,) + tuple(emb.shape[1:]))


images = keras.Input((32, 32, 3), name="images")
masks = keras.Input((None, None, None, 1), name="masks")
emb = layers.Conv2D(8, 4, strides=4)(images)  # an 8x8 image embedding: masks must be 32x32
model = keras.Model({"images": images, "masks": masks}, MaskEmbed()(emb, masks))
try:
    g = from_model(model, Loader, name="sam_like")
    out["mask"] = {"total": g.total_params, "count": model.count_params(), "share": g.coverage()["share"],
                   "inputs": {v.name: list(v.shape) for v in g.inputs}}
except LoadError as e:
    out["mask"] = {"error": str(e)}


class Draft(keras.Model):
    """A functional model whose call refuses, as keras-hub's speculative-decoding assistant does."""
    calls = 0

    def __init__(self, **kw):
        i = keras.Input((4,))
        super().__init__(i, layers.Dense(2)(i), **kw)

    def call(self, *args, **kwargs):
        Draft.calls += 1
        raise NotImplementedError("a draft model runs only through its target model")


try:
    from_model(Draft(), Loader, name="draft")
    out["draft"] = {"error": None}
except LoadError as e:
    out["draft"] = {"error": str(e), "calls": Draft.calls}

ARMED = [False]


class NoKernel(layers.Layer):
    """Raises what torch raises for an op with no kernel here, once the model is built."""
    runs = 0

    def call(self, x):
        if ARMED[0]:
            NoKernel.runs += 1
            raise NotImplementedError("Could not run 'aten::foo' with arguments from the 'CPU' backend")
        return x


i = keras.Input((None, 4))
model = keras.Model(i, NoKernel()(i))
ARMED[0] = True
try:
    from_model(model, Loader, name="nokernel")
    out["nokernel"] = {"error": None}
except LoadError as e:
    out["nokernel"] = {"error": str(e), "runs": NoKernel.runs}

a, x = keras.Input((6,), name="a"), keras.Input((4,), name="x")
model = keras.Model({"x": x, "a": a}, layers.Concatenate()([layers.Dense(3)(x), layers.Dense(3)(a)]))
g = from_model(model, Loader, name="named")
out["names"] = {v.name: list(v.shape) for v in g.inputs}
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def result() -> dict:
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
def test_a_layer_importing_torchvision_while_it_runs_loads(result):
    assert result["torchvision_before"] is False  # the import happens inside the run, as in keras-hub's SAM 3
    roi = result["roi"]
    assert "error" not in roi, roi
    assert roi["total"] == roi["count"] == 3 * 3 * 3 * 6 + 6 + 6 * 4 + 4
    assert roi["share"] == 1.0  # log2 is understood glue


def test_a_free_image_input_tied_to_another_size_is_tried_at_other_sides(result):
    mask = result["mask"]
    assert "error" not in mask, mask
    assert mask["total"] == mask["count"]
    assert mask["share"] == 1.0
    # masks 32x32 (4x the 8x8 embedding), channels first in the graph; 16 masks (the default length)
    assert mask["inputs"]["masks"] == [1, 1, 16, 32, 32]
    assert mask["inputs"]["images"] == [1, 3, 32, 32]


def test_a_model_whose_own_call_refuses_is_one_clear_error_at_once(result):
    draft = result["draft"]
    assert draft["error"] and "refuses to be called on its own" in draft["error"]
    assert "a draft model runs only through its target model" in draft["error"]
    assert draft["calls"] == 1  # no other input sizes tried


def test_not_implemented_inside_a_layer_still_tries_other_sizes(result):
    nk = result["nokernel"]
    assert nk["error"] and "did not run on inputs of its declared shapes" in nk["error"]
    assert "refuses" not in nk["error"]
    assert nk["runs"] > 1


def test_dict_inputs_keep_their_own_names(result):
    assert result["names"] == {"a": [1, 6], "x": [1, 4]}
