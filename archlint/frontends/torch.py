"""PyTorch frontend: a live ``nn.Module`` from a factory spec into the common graph.

``pkg.module:make_model`` or ``path/file.py:Net``: the module is imported and
the attribute called (``--arg`` values as arguments; a class is
instantiated), first under ``torch.device("meta")`` (no weights allocated),
again for real when that fails. Example inputs come from ``--input``, from
the factory (``(model, example_inputs)``), or are chosen from the model
(:func:`default_example`). The module is captured in training mode, so
dropout and batch norm stay in the graph and nothing is folded: by the cheap
capture (:mod:`archlint.frontends._fxcapture`, the same graph as export)
where it applies, else ``torch.export`` (``strict=False``), else
``torch.fx.symbolic_trace``; in eval mode, with a note, when training mode
cannot run. The captured ATen ops are mapped by
:mod:`archlint.frontends._aten`, the same table the ``.pt2`` frontend uses.
torch is imported only here.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import logging
import operator
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, MissingExtraError
from archlint.frontends import LoadOptions
from archlint.execute.spec import WeightRef, WeightTable
from archlint.frontends._aten import ANode, Shape, TRef, build
from archlint.graph import Graph
from archlint.graph.passes import finish

DEFAULT_INPUT_SHAPE = (2, 3, 32, 32)  # batch 2: training-mode batch norm needs more than one value per channel


def import_torch(target: str) -> Any:
    """torch, or a clear error naming the extra to install for ``target``."""
    try:
        import torch
    except ImportError:
        raise MissingExtraError(target, "PyTorch modules", "torch") from None
    return torch


def parse_arg(text: str) -> tuple[str | None, Any]:
    """``"name=value"`` -> (name, value); ``"value"`` -> (None, value).
    Values are Python literals when they parse, else strings."""
    name = None
    if "=" in text:
        k, v = text.split("=", 1)
        if k.isidentifier():
            name, text = k, v
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    return name, value


def _import_target(spec: str) -> tuple[Any, str]:
    """(module, attribute path) for ``pkg.mod:attr`` or ``file.py:attr``."""
    mod_part, attr = spec.rsplit(":", 1)
    try:
        if mod_part.endswith(".py"):
            path = Path(mod_part)
            if not path.is_file():
                raise LoadError(spec, f"no such file {mod_part!r}")
            mod_name = f"_archlint_user_{path.stem}_{abs(hash(str(path.resolve())))}"
            ispec = importlib.util.spec_from_file_location(mod_name, path)
            if ispec is None or ispec.loader is None:
                raise LoadError(spec, f"cannot import {mod_part!r}")
            module = importlib.util.module_from_spec(ispec)
            sys.modules[mod_name] = module
            parent = str(path.resolve().parent)
            added = parent not in sys.path
            if added:
                sys.path.insert(0, parent)
            try:
                ispec.loader.exec_module(module)
            finally:
                if added:
                    sys.path.remove(parent)
        else:
            # the working directory goes first on sys.path only when the spec names a module or
            # package in it (``models.net:make``), and only while importing it: an installed spec
            # (``torchvision.models:resnet18``) never imports a ``colorsys.py`` lying in the cwd
            cwd = os.getcwd()
            top = mod_part.split(".")[0]
            local = os.path.isdir(os.path.join(cwd, top)) or os.path.isfile(os.path.join(cwd, top + ".py"))
            added = local and (not sys.path or sys.path[0] != cwd)
            if added:
                sys.path.insert(0, cwd)
            try:
                module = importlib.import_module(mod_part)
            finally:
                if added:
                    sys.path.remove(cwd)
    except LoadError:
        raise
    except ModuleNotFoundError as e:
        raise LoadError(spec, f"module failed to import: {e}") from None
    except Exception as e:  # noqa: BLE001 - user code: any error is a load error
        raise LoadError(spec, f"module failed to import ({type(e).__name__}: {e})") from None
    return module, attr


def make_module(spec: str, options: LoadOptions) -> Any:
    """Import the spec, call the factory (or instantiate the class) and
    return the ``nn.Module``; raise :class:`LoadError` with the reason."""
    return build_factory(spec, options)[0]


def build_factory(spec: str, options: LoadOptions, meta: bool = False) -> tuple[Any, Example | None]:
    """The ``nn.Module`` a spec names and the example inputs its factory
    returned with it (``(model, example_inputs)`` or ``(model, args, kwargs)``), if any.
    ``meta``: call the factory under ``torch.device("meta")`` (no weights are
    allocated or initialised); raises :class:`MetaBuildError` when it fails there."""
    torch = import_torch(spec)
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()  # torchvision's models import even where its compiled ops do not load
    module, attr = _import_target(spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LoadError(spec, f"{module.__name__ if obj is module else part!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in options.args:
        k, v = parse_arg(text)
        if k is None:
            args.append(v)
        else:
            kwargs[k] = v
    if isinstance(obj, torch.nn.Module):
        if args or kwargs:
            raise LoadError(spec, f"{attr!r} is a module instance; --arg values need a factory or class")
        result = obj
    elif callable(obj):
        try:
            with torch.device("meta") if meta else contextlib.nullcontext():
                result = obj(*args, **kwargs)
                if isinstance(result, type) and issubclass(result, torch.nn.Module):
                    result = result()
        except Exception as e:  # noqa: BLE001 - user code
            if meta:
                raise MetaBuildError(spec, f"{type(e).__name__}: {e}") from None
            raise LoadError(spec, f"factory {attr!r} raised {type(e).__name__}: {_first_line(e)}") from e
    else:
        raise LoadError(spec, f"{attr!r} is a {type(obj).__name__}, not a factory or nn.Module")
    example: Example | None = None
    if isinstance(result, tuple) and result and isinstance(result[0], torch.nn.Module):
        try:
            example = _factory_example(torch, result[1:])
        except ValueError as e:
            raise LoadError(spec, f"{attr!r} returned (model, ...): {e}") from None
        result = result[0]
    if not isinstance(result, torch.nn.Module):
        raise LoadError(spec, f"{attr!r} returned a {type(result).__name__}, not a torch.nn.Module")
    return result, example


class MetaBuildError(LoadError):
    """The factory failed under ``torch.device("meta")``: build it for real."""


@dataclass
class Example:
    """Example inputs for ``forward``: positional ``args`` and keyword ``kwargs``."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    origin: str = "factory"  # "factory", "user" (--input), "default" (archlint chose it)

    def describe(self) -> str:
        def one(v: Any) -> str:
            shape = getattr(v, "shape", None)
            if shape is None:
                return repr(v)
            dtype = str(getattr(v, "dtype", "")).removeprefix("torch.")
            return "x".join(map(str, shape)) + ("" if dtype == "float32" else f":{dtype}")

        parts = [one(a) for a in self.args] + [f"{k}={one(v)}" for k, v in self.kwargs.items() if hasattr(v, "shape")]
        return ", ".join(parts) or "no inputs"


def _factory_example(torch: Any, rest: tuple[Any, ...]) -> Example:
    """``(model, x)``, ``(model, (x, y))``, ``(model, {"input_ids": x})`` or ``(model, args, kwargs)``."""
    if len(rest) == 2:
        args, kwargs = rest
        if not isinstance(args, (tuple, list)) or not isinstance(kwargs, dict):
            raise ValueError("expected (model, args tuple, kwargs dict)")
        return Example(tuple(args), dict(kwargs))
    if len(rest) != 1:
        raise ValueError(f"expected (model, example_inputs) or (model, args, kwargs), got {len(rest) + 1} items")
    ex = rest[0]
    if isinstance(ex, dict):
        return Example((), dict(ex))
    if isinstance(ex, (tuple, list)):
        return Example(tuple(ex))
    return Example((ex,))


# -- example inputs: --input, or a default suited to the model ---------------------

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "int64": "int64", "int32": "int32", "bool": "bool"}


def model_device(model: Any) -> Any:
    """Where the module's weights live (``meta`` for a meta-device build)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


def _device_types(model: Any) -> set[str]:
    """The device types of every parameter and buffer (``{"meta"}`` for a clean meta build; a
    factory that creates a tensor with ``torch.Tensor(...)`` or on an explicit device leaves
    some on the CPU beside the rest on meta)."""
    return {t.device.type for t in (*model.parameters(), *model.buffers())}


def id_limit(model: Any) -> int | None:
    """The size below which integer inputs are valid token ids: the smallest
    ``nn.Embedding`` and the config's ``vocab_size``; ``None`` when neither is found."""
    from torch import nn

    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if isinstance(vocab, int) and vocab > 0:
        sizes.append(vocab)
    return min(sizes) if sizes else None


def make_tensor(torch: Any, shape: tuple[int, ...], dtype: str, device: Any, id_high: int | None) -> Any:
    """A tensor for one input: random floats, valid ids for integers, ``True`` for bools."""
    dt = getattr(torch, _DTYPES[dtype])
    if dtype == "bool":
        return torch.ones(shape, dtype=dt, device=device)
    if dtype.startswith("int"):
        return torch.randint(0, max(int(id_high or 2), 1), shape, dtype=dt, device=device)
    return torch.randn(shape, dtype=dt, device=device)


def user_example(torch: Any, model: Any, specs: list[Any]) -> Example:
    """Tensors for ``--input`` values: unnamed ones positional, in order; named ones by keyword."""
    device, high = model_device(model), id_limit(model)
    args = tuple(make_tensor(torch, s.shape, s.dtype, device, high) for s in specs if s.name is None)
    kwargs = {s.name: make_tensor(torch, s.shape, s.dtype, device, high) for s in specs if s.name is not None}
    return Example(args, kwargs, origin="user")


def _forward_params(model: Any) -> list[str]:
    import inspect

    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _int_hint(v: Any) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    if isinstance(v, (tuple, list)) and v and all(isinstance(x, int) for x in v):
        return int(v[-1])
    return None


def image_size_hint(model: Any, factory: Any = None) -> int | None:
    """The input size the model says it expects, where it says so: its config
    (``image_size``), its attributes (``image_size``, ``img_size``), timm's
    ``pretrained_cfg``, or the crop size of a torchvision builder's weights."""
    cfg = getattr(model, "config", None)
    for owner in (cfg, model, getattr(model, "patch_embed", None)):
        for attr in ("image_size", "img_size", "input_size"):
            v = _int_hint(getattr(owner, attr, None)) if owner is not None else None
            if v:
                return v
    for attr in ("pretrained_cfg", "default_cfg"):
        pc = getattr(model, attr, None)
        if isinstance(pc, dict):
            v = _int_hint(pc.get("input_size"))
            if v:
                return v
    tv = sys.modules.get("torchvision.models")
    if tv is not None and factory is not None and getattr(factory, "__module__", "").startswith("torchvision.models"):
        try:
            weights = tv.get_model_weights(factory)
            crop = weights.DEFAULT.transforms().crop_size
            return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
        except Exception:  # noqa: BLE001 - a builder without weights metadata
            return None
    return None


def default_example(torch: Any, model: Any, factory: Any = None) -> Example:
    """An input suited to the model when none was given: token ids for a model
    whose ``forward`` takes ``input_ids`` or that starts with an embedding, an
    image of the size the model expects (224 for an ImageNet-style
    downsampling stem, else 32) for one that starts with a convolution, a
    feature vector for an MLP. Batch 2, so training-mode batch norm runs."""
    from torch import nn

    device, high = model_device(model), id_limit(model)
    params = _forward_params(model)
    cfg = getattr(model, "config", None)

    def ids(n: int = 16) -> Any:
        return make_tensor(torch, (2, n), "int64", device, high)

    if params[:1] == ["input_ids"]:
        kwargs = {"input_ids": ids()}
        if getattr(cfg, "is_encoder_decoder", False) and "decoder_input_ids" in params:
            kwargs["decoder_input_ids"] = ids()
        return Example((), kwargs, origin="default")
    if params[:1] == ["pixel_values"]:
        size = image_size_hint(model, factory) or 224
        ch = getattr(cfg, "num_channels", 3) or 3
        return Example((), {"pixel_values": torch.randn(2, ch, size, size, device=device)}, origin="default")
    if params[:1] == ["input_values"] and cfg is not None and getattr(cfg, "num_mel_bins", None) and getattr(cfg, "max_length", None):
        # a spectrogram, (batch, frames, mel bins): the Audio Spectrogram Transformer
        return Example((), {"input_values": torch.randn(2, int(cfg.max_length), int(cfg.num_mel_bins), device=device)}, origin="default")
    if params[:1] == ["input_features"] and cfg is not None and getattr(cfg, "input_feat_per_channel", None):
        # filterbank frames, (batch, frames, features): Speech2Text
        feats = int(cfg.input_feat_per_channel) * int(getattr(cfg, "input_channels", 1) or 1)
        kwargs = {"input_features": torch.randn(2, 224, feats, device=device)}
        if getattr(cfg, "is_encoder_decoder", False) and "decoder_input_ids" in params:
            kwargs["decoder_input_ids"] = ids()
        return Example((), kwargs, origin="default")
    if params[:1] == ["input_values"]:  # a raw waveform, (batch, samples): wav2vec 2.0, HuBERT, WavLM
        rate = getattr(getattr(model, "config", None), "sampling_rate", None)
        samples = int(rate) if isinstance(rate, int) and 0 < rate <= 48_000 else 16_000
        return Example((), {"input_values": torch.randn(2, samples, device=device)}, origin="default")
    if params[:1] == ["input_features"] and cfg is not None and getattr(cfg, "num_mel_bins", None):
        frames = 2 * int(getattr(cfg, "max_source_positions", 1500) or 1500)
        kwargs = {"input_features": torch.randn(2, cfg.num_mel_bins, frames, device=device)}
        if getattr(cfg, "is_encoder_decoder", False) and "decoder_input_ids" in params:
            kwargs["decoder_input_ids"] = ids()
        return Example((), kwargs, origin="default")
    first = next((m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding, nn.EmbeddingBag, nn.RNNBase))), None)
    if isinstance(first, (nn.Embedding, nn.EmbeddingBag)):
        return Example((ids(),), origin="default")
    if isinstance(first, nn.Linear):
        return Example((torch.randn(2, first.in_features, device=device),), origin="default")
    if isinstance(first, nn.RNNBase):
        shape = (2, 16, first.input_size) if first.batch_first else (16, 2, first.input_size)
        return Example((torch.randn(*shape, device=device),), origin="default")
    if isinstance(first, nn.modules.conv._ConvNd):
        nd = len(first.kernel_size)
        size = image_size_hint(model, factory)
        if size is None:
            size = 224 if max(first.stride) >= 2 else 32  # a downsampling stem is an ImageNet-style stem
        ch = first.in_channels if not first.transposed else first.in_channels
        return Example((torch.randn(2, ch, *([size] * nd), device=device),), origin="default")
    return Example((torch.randn(*DEFAULT_INPUT_SHAPE, device=device),), origin="default")


def load(target: str, options: LoadOptions) -> Graph:
    """Build, capture and map the module named by a factory spec.

    The factory is first called under ``torch.device("meta")``: no weight is
    allocated or initialised, and the architecture is the same. When that
    build or its capture fails (a factory that loads weights, a ``forward``
    that reads tensor values), the factory is called again on the default
    device and captured as written."""
    torch = import_torch(target)
    try:
        model, example = build_factory(target, options, meta=True)
    except MetaBuildError:
        pass
    else:
        types = _device_types(model)
        if "meta" not in types:
            return _load_built(torch, target, options, model, example)  # the build ignored the default device
        if types == {"meta"}:
            try:
                graph = _load_built(torch, target, options, model, example)
            except LoadError:
                pass
            else:
                _weights_from_real_build(graph, target, options)
                return graph
        # else: some parameters or buffers left the meta device (``torch.Tensor(...)``, an explicit
        # device): a capture would mix devices, so the model is built again on the CPU
        del model
    model, example = build_factory(target, options)
    return _load_built(torch, target, options, model, example)


def _weights_from_real_build(graph: Graph, target: str, options: LoadOptions) -> None:
    """A graph captured on the meta device has no weights: an executor that
    asks for them gets the factory's real build (called then, not before)."""
    table = graph.meta.get("weights")
    if table is None:
        return

    def load() -> dict[str, Any]:
        real, _ = build_factory(target, options)
        return {fqn: t for fqn, t in [*real.named_parameters(), *real.named_buffers()]}

    table.set_loader(load)


def _load_built(torch: Any, target: str, options: LoadOptions, model: Any, example: Example | None) -> Graph:
    graph = _load_built_graph(torch, target, options, model, example)
    if options.args:
        graph.meta["spec_args"] = list(options.args)  # report headers name the model: spec --arg ...
    return graph


def _load_built_graph(torch: Any, target: str, options: LoadOptions, model: Any, example: Example | None) -> Graph:
    notes: list[str] = []
    specs = options.example_inputs()
    if specs:
        example = user_example(torch, model, specs)
    elif example is None:
        factory = factory_object(target)
        example = default_example(torch, model, factory)
        notes.append(f"assumed input {'shape ' if not example.kwargs else ''}{example.describe()} (pass --input-shape or --input NAME=SHAPE[:DTYPE] to set it)")
    name = target.rsplit(":", 1)[-1]
    try:
        graph = _capture(model, example, name=name, spec=target)
    except LoadError:
        if example.origin != "default":
            raise
        graph = None
        device = model_device(model)
        for shape in ((2, 3, 224, 224), DEFAULT_INPUT_SHAPE, (1, 3, 32, 32)):  # common image inputs
            other = Example((torch.randn(*shape, device=device),), origin="default")
            if other.describe() == example.describe():
                continue
            try:
                graph = _capture(model, other, name=name, spec=target)
            except LoadError:
                continue
            notes = [f"assumed input shape {other.describe()} (pass --input-shape or --input NAME=SHAPE[:DTYPE] to set it)"]
            break
        if graph is None:
            raise
    if notes:
        graph.meta.setdefault("notes", [])[:0] = notes
    _judge_half_precision(torch, model, example, graph, name)
    return graph


#: float16's largest finite value
FP16_MAX = 65504.0


def wide_constants(graph: Graph, above: float = FP16_MAX) -> list[dict[str, Any]]:
    """Scalar constants of elementwise ops and attention masks beyond ``above`` in magnitude:
    ``{"layer", "op", "value"}`` for each (what AL107 judges)."""
    import math

    out = []
    for n in graph.nodes:
        vals = n.attrs.get("mask_constants") or ()
        if not vals and isinstance(n.attrs.get("scalar"), (int, float)):
            vals = (n.attrs["scalar"],)
        for c in vals:
            if isinstance(c, (int, float)) and math.isfinite(c) and abs(c) > above:
                out.append({"layer": n.layer, "op": n.op_type, "value": float(c)})
    return out


def _judge_half_precision(torch: Any, model: Any, example: Example, graph: Graph, name: str) -> None:
    """When a float32 capture holds constants beyond float16's range, capture the model again in
    half precision (on the meta device: no weights, no compute) and keep the constants it uses
    there: code that picks its mask constant by dtype (``torch.finfo(x.dtype).min``, XLNet's
    65500 in float16 and 1e30 otherwise) is judged on what it would run in half precision
    (``graph.meta["half_precision"]``, read by AL107)."""
    if not wide_constants(graph):
        return

    def half(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.to(device="meta", dtype=torch.float16 if v.is_floating_point() else v.dtype)
        return v

    try:
        model.to(device="meta", dtype=torch.float16)
        ex = Example(tuple(half(a) for a in example.args), {k: half(v) for k, v in example.kwargs.items()}, example.origin)
        hg = capture(model, ex, name=name)
    except Exception as e:  # noqa: BLE001 - not capturable in half precision: AL107 judges the float32 constants
        graph.meta["half_precision"] = {"error": f"{type(e).__name__}: {_first_line(e)}"}
        return
    graph.meta["half_precision"] = {"constants": wide_constants(hg, FP16_MAX / 2)}


def factory_object(spec: str) -> Any:
    """The factory object a spec names (already imported), for size hints."""
    mod_part, attr = spec.rsplit(":", 1)
    obj: Any = sys.modules.get(mod_part)
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    return obj


def from_module(model: Any, input_shape: tuple[int, ...] | None = None, name: str = "model", spec: str | None = None,
                example: Example | None = None) -> Graph:
    """Capture ``model`` (training mode where it runs) with one float input of
    ``input_shape`` or the given ``example``, and map it to a :class:`Graph`."""
    torch = import_torch(spec or name)
    if example is None:
        example = Example((torch.randn(*(input_shape or DEFAULT_INPUT_SHAPE), device=model_device(model)),), origin="user")
    return capture(model, example, name, spec)


def capture(model: Any, example: Example, name: str = "model", spec: str | None = None, fast: bool = True) -> Graph:
    """:func:`_capture`, then the pass pipeline: the finished graph ``load_graph`` gives."""
    return finish(_capture(model, example, name, spec, fast))


def _capture(model: Any, example: Example, name: str = "model", spec: str | None = None, fast: bool = True) -> Graph:
    """Capture ``model`` with ``example`` and map it to a :class:`Graph`.

    Training mode first (dropout and batch norm stay in the graph): with
    ``torch.export`` (``strict=False``), then ``torch.fx`` for a module of
    one tensor input. When training mode cannot run (a detection model that
    demands targets), eval mode, with a note that says so."""
    torch = import_torch(spec or name)
    kwargs = dict(example.kwargs)
    if "use_cache" in _all_params(model) and "use_cache" not in kwargs:
        kwargs["use_cache"] = False  # a KV cache is an inference-time buffer, not architecture
    args = tuple(example.args)
    restore = _layer_drop_off(model)
    try:
        graph = _capture_modes(torch, model, args, kwargs, example, name, spec, fast)
        _mark_training_only_outputs(torch, model, args, kwargs, graph)
    finally:
        for mod, attr, value in restore:
            setattr(mod, attr, value)
    if restore:
        graph.meta.setdefault("notes", []).append(
            "layer drop (" + ", ".join(sorted({attr for _, attr, _ in restore})) + ", training-only random skipping "
            "of whole layers) was turned off for the capture: a trace would follow one random draw"
        )
    return graph


def _mark_training_only_outputs(torch: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], graph: Graph) -> None:
    """Outputs a training-mode capture returns that the model does not return in eval mode
    (GoogLeNet's and Inception's auxiliary logits): ``graph.meta["training_only_outputs"]``."""
    outs = graph.outputs
    if graph.meta.get("capture_mode") != "train" or len(outs) < 2:
        return
    try:
        model.eval()
        with torch.no_grad(), _quiet():
            leaves = _tensor_leaves(torch, model(*args, **kwargs))
    except Exception:  # noqa: BLE001 - a model that cannot run in eval mode: nothing learnt
        return
    finally:
        model.train()
    k = len(leaves)
    if 0 < k < len(outs) and all(outs[i].shape in (None, _shape(t)) for i, t in enumerate(leaves)):
        graph.meta["training_only_outputs"] = [v.name for v in outs[k:]]


def _capture_modes(torch: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], example: Example, name: str,
                   spec: str | None, fast: bool) -> Graph:
    errors: list[str] = []
    causes: list[BaseException] = []
    if fast and not kwargs:
        graph = _fast_capture(model, args, name)
        if graph is not None:
            return graph
    for mode in ("train", "eval"):
        model.train(mode == "train")
        graph = _capture_in_mode(torch, model, args, kwargs, name, mode, errors, causes)
        if graph is not None:
            return graph
    model.train()
    unique = list(dict.fromkeys(errors))
    raise LoadError(
        spec or name,
        f"failed to trace: {_hint(unique, example)} (input {example.describe()}; "
        f"--verbose shows the {len(unique)} backend error{'s' if len(unique) != 1 else ''})",
        details="\n".join(unique),
    ) from (causes[0] if causes else None)


def _capture_in_mode(torch: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str, mode: str,
                     errors: list[str], causes: list[BaseException]) -> Graph | None:
    """One try in one mode: ``torch.export``, then ``torch.fx`` for one tensor input; ``None``
    when both fail (their errors appended)."""
    label = mode
    try:
        with _quiet():
            ep = _export(torch, model, args, kwargs)
    except Exception as e:  # noqa: BLE001 - fall back to fx, then eval mode
        errors.append(f"torch.export ({label}): {type(e).__name__}: {_first_line(e)}")
        causes.append(e)
    else:
        graph = _from_exported(ep, name, model)
        graph.meta["capture"] = "torch.export"
        _mark_mode(graph, label, errors)
        return graph
    if len(args) == 1 and not kwargs and hasattr(args[0], "shape"):
        try:
            with _quiet():
                graph = _from_fx(model, args[0], name)
        except Exception as e:  # noqa: BLE001
            errors.append(f"torch.fx ({label}): {type(e).__name__}: {_first_line(e)}")
            causes.append(e)
        else:
            graph.meta["capture"] = "torch.fx"
            graph.meta["export_error"] = errors[-1]
            _mark_mode(graph, label, errors)
            return graph
    return None


#: module attributes holding a layer-drop probability (fairseq, transformers: whole layers skipped
#: at random in training)
_LAYER_DROP_ATTRS = ("layerdrop", "layer_drop", "encoder_layerdrop", "decoder_layerdrop")


def _layer_drop_off(model: Any) -> list[tuple[Any, str, Any]]:
    """Set every positive layer-drop probability in ``model`` to 0; return what to restore."""
    restore = []
    for mod in model.modules():
        for attr in _LAYER_DROP_ATTRS:
            v = getattr(mod, attr, None)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                restore.append((mod, attr, v))
                setattr(mod, attr, 0.0)
    return restore


def _fast_capture(model: Any, args: tuple[Any, ...], name: str) -> Graph | None:
    """The cheap capture (:mod:`archlint.frontends._fxcapture`), or ``None``
    when the model needs ``torch.export``."""
    from archlint.frontends._fxcapture import Unsupported, capture as fx_capture

    model.train()
    placeholders: dict[str, tuple[str, str]] = {}
    try:
        with _quiet():
            nodes, inputs, outputs, shapes = fx_capture(model, args, placeholders)
    except Unsupported as e:
        model.train()
        _fast_capture.last_reason = str(e)  # type: ignore[attr-defined]
        return None
    model.train()
    graph = build(name, "torch", nodes, inputs, outputs, shapes, module_weights(model, placeholders, shapes))
    graph.meta["capture"] = "torch.fx"
    graph.meta["capture_mode"] = "train"
    return graph


def _mark_mode(graph: Graph, mode: str, errors: list[str]) -> None:
    graph.meta["capture_mode"] = mode
    if mode == "eval":
        why = errors[0].split(": ", 1)[1] if errors else "training mode failed"
        graph.meta.setdefault("notes", []).append(
            f"captured in eval mode: training mode failed ({why}); batch norm is read with its running "
            "statistics and training-only branches (auxiliary heads, losses) are not seen"
        )


def _hint(errors: list[str], example: Example) -> str:
    """The fix the errors point to, else how to give the right input."""
    import re

    text = " ".join(errors)
    if re.search(r"data-dependent|DataDependent|control flow|Dynamic control flow", text):
        return ("forward branches on tensor values (data-dependent control flow), which a trace cannot follow "
                "whatever the input shape: rewrite the branch with torch.cond or on shapes, or lint an ONNX export")
    if "meta" in text and re.search(r"device|Tensor on device", text):
        return "the model mixes devices (weights on 'meta' and on the CPU): build it on one device"
    m = re.search(r"expected input\[([\d, ]+)\] to have (\d+) channels", text)
    if m and example.args:
        dims = [int(d) for d in m.group(1).split(",")]
        dims[1] = int(m.group(2))
        return f"the model expects {m.group(2)} input channels: pass --input-shape {'x'.join(map(str, dims))}"
    if re.search(r"Expected tensor for argument #1 'indices'|expected scalar type Long|Embedding", text):
        return "the model takes token ids: pass --input NAME=SHAPE:int64 (e.g. --input input_ids=2x16:int64)"
    return ("pass the input the model expects: --input-shape 2x3x224x224, or --input NAME=SHAPE[:DTYPE] per "
            "forward argument (e.g. --input input_ids=2x16:int64), or return (model, example_inputs) from the factory")


def _all_params(model: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _export(torch: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``torch.export`` in non-strict mode; outputs it cannot return (a cache
    object) are reduced to their tensors."""
    try:
        return torch.export.export(model, args, kwargs, strict=False)
    except Exception as e:  # noqa: BLE001
        if "pytree" not in str(e) and "not a known type" not in str(e):
            raise
    import functools

    inner = model.forward

    @functools.wraps(inner)
    def tensors_only(*a: Any, **k: Any) -> Any:
        return tuple(_tensor_leaves(torch, inner(*a, **k)))

    model.forward = tensors_only
    try:
        return torch.export.export(model, args, kwargs, strict=False)
    finally:
        del model.forward


def _tensor_leaves(torch: Any, obj: Any) -> list[Any]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensor_leaves(torch, v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensor_leaves(torch, v)]
    return []  # a cache or other object: not an output of the architecture


@contextlib.contextmanager
def _quiet() -> Any:
    """Keep torch's log records and printed tracebacks off the user's stderr:
    a failed capture is reported once, as a load error."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def _first_line(e: BaseException) -> str:
    """The error's first line, without tensor values (an error may print its inputs) and short."""
    import re

    text = re.sub(r"tensor\((?:[^()]|\([^()]*\))*\)", "tensor(...)", str(e).strip(), flags=re.S)
    lines = text.splitlines()
    return lines[0][:200] if lines else ""


def _shape(val: Any) -> Shape | None:
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    out: list[int | None] = []
    for d in shape:
        try:
            out.append(int(d))
        except (TypeError, ValueError, RuntimeError):
            out.append(None)
    return tuple(out)


def _module_stack(meta: dict[str, Any]) -> list[tuple[str, str]]:
    stack = meta.get("nn_module_stack") or {}
    out = []
    for path, cls in stack.values():
        cls_name = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        out.append((_clean_path(str(path)), cls_name))
    return out


def _clean_path(path: str) -> str:
    """``L['self'].features[0]`` style paths -> ``features.0``."""
    if "L[" not in path and "[" not in path:
        return path
    import re

    p = re.sub(r"^L\['self'\]\.?", "", path)
    p = re.sub(r"\[(\d+)\]", r".\1", p)
    p = re.sub(r"getattr\((.*?), '([^']+)'\)", r"\1.\2", p)
    return p.strip(".")


def _arg_value(v: Any) -> Any:
    import torch.fx

    if isinstance(v, torch.fx.Node):
        return TRef(v.name)
    if isinstance(v, (list, tuple)):
        return [_arg_value(x) for x in v]
    if isinstance(v, (int, float, bool, str)) or v is None:
        return v
    try:
        return int(v)
    except (TypeError, ValueError, RuntimeError):
        return str(v)


def _named_args(node: Any) -> dict[str, Any]:
    schema = getattr(node.target, "_schema", None)
    names = [a.name for a in schema.arguments] if schema is not None else []
    out: dict[str, Any] = {}
    for i, v in enumerate(node.args):
        out[names[i] if i < len(names) else f"arg{i}"] = _arg_value(v)
    for k, v in node.kwargs.items():
        out[k] = _arg_value(v)
    return out


def _target_name(target: Any) -> str:
    """``aten.conv2d.default`` for ATen overloads, ``getitem`` for tuple picks."""
    if target is operator.getitem:
        return "getitem"
    if hasattr(target, "_schema"):  # an OpOverload prints as aten.conv2d.default
        return str(target)
    return getattr(target, "__name__", str(target))


def _without_own_frames(trace: str | None) -> str | None:
    """Drop this file's frames (the output wrapper of :func:`_export`) so they
    are never taken for the user's source line."""
    if not trace or __file__ not in trace:
        return trace
    return trace.replace(f'File "{__file__}"', "File <archlint>")


def module_weights(model: Any, placeholders: dict[str, tuple[str, str]], shapes: dict[str, Any],
                   constants: dict[str, Any] | None = None) -> WeightTable:
    """The weight table of a capture: placeholder name -> (FQN, role), the
    tensors read from ``model`` (references, not copies) when first asked.
    A tensor reachable under two names (tied weights) has one key, its first name;
    a parameter that does not require grad is "frozen" (counted, not trained)."""
    named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    canonical: dict[int, str] = {}
    for fqn, t in named:
        canonical.setdefault(id(t), fqn)
    by_fqn = dict(named)

    def load() -> dict[str, Any]:
        out = {fqn: t for fqn, t in [*model.named_parameters(), *model.named_buffers()]}
        out.update(constants or {})
        return out

    table = WeightTable(load, source="module")
    for name, (fqn, role) in placeholders.items():
        t = by_fqn.get(fqn)
        key = canonical.get(id(t), fqn) if t is not None else fqn
        if t is not None and role == "param" and not getattr(t, "requires_grad", True):
            role = "frozen"
        shape = shapes.get(name)
        dtype = str(t.dtype).removeprefix("torch.") if t is not None else None
        table.add(WeightRef(name, key, tuple(shape) if shape is not None else None, dtype, role))
    return table


def from_exported(ep: Any, name: str = "model", model: Any = None) -> Graph:
    """An ``ExportedProgram`` as a finished graph (built, then the pass pipeline);
    ``model``, the module it was exported from, gives the weights an executor reads."""
    return finish(_from_exported(ep, name, model))


def _from_exported(ep: Any, name: str = "model", model: Any = None) -> Graph:
    """Map a live ``torch.export.ExportedProgram``."""
    sig = ep.graph_signature
    shapes: dict[str, Shape | None] = {}
    nodes: list[ANode] = []
    outputs: list[str] = []
    for n in ep.graph.nodes:
        val = n.meta.get("val")
        if isinstance(val, (list, tuple)):
            shapes[n.name] = None
        else:
            shapes[n.name] = _shape(val)
        if n.op == "call_function":
            is_tensor = shapes[n.name] is not None or isinstance(val, (list, tuple))
            nodes.append(
                ANode(
                    name=n.name,
                    target=_target_name(n.target),
                    args=_named_args(n),
                    outputs=[n.name] if is_tensor else [],
                    module_stack=_module_stack(n.meta),
                    stack_trace=_without_own_frames(n.meta.get("stack_trace")),
                )
            )
        elif n.op == "output":
            outputs = [a.name for a in n.args[0] if hasattr(a, "name")]
    user_outputs = set(sig.user_outputs)
    # a user input that is not a tensor (``None``, a flag passed by keyword) has no placeholder and
    # may carry no name at all: only the graph's placeholders are inputs, each once
    placeholders = {n.name for n in ep.graph.nodes if n.op == "placeholder"}
    inputs = list(dict.fromkeys(i for i in sig.user_inputs if isinstance(i, str) and i in placeholders))
    weights: dict[str, tuple[str, str]] = {}
    for ph, fqn in sig.inputs_to_parameters.items():
        weights[ph] = (fqn, "param")
    for ph, fqn in sig.inputs_to_buffers.items():
        weights[ph] = (fqn, "buffer")
    for ph, cname in getattr(sig, "inputs_to_lifted_tensor_constants", {}).items():
        weights[ph] = (cname, "constant")
    constants = {k: v for k, v in getattr(ep, "constants", {}).items() if hasattr(v, "shape")}
    table = module_weights(model if model is not None else ep.module(), weights, shapes, constants)
    return build(name, "torch", nodes, inputs, [o for o in outputs if o in user_outputs], shapes, table)


# -- torch.fx fallback: modules become the ATen calls they stand for -------------

_FX_FUNCS = {
    "relu": "aten.relu", "relu6": "aten.relu6", "gelu": "aten.gelu", "silu": "aten.silu", "sigmoid": "aten.sigmoid",
    "tanh": "aten.tanh", "softmax": "aten.softmax", "log_softmax": "aten.log_softmax", "elu": "aten.elu",
    "leaky_relu": "aten.leaky_relu", "hardswish": "aten.hardswish", "mish": "aten.mish",
    "dropout": "aten.dropout", "dropout1d": "aten.feature_dropout", "dropout2d": "aten.feature_dropout",
    "dropout3d": "aten.feature_dropout", "alpha_dropout": "aten.alpha_dropout",
    "flatten": "aten.flatten", "view": "aten.view", "reshape": "aten.reshape", "mean": "aten.mean",
    "add": "aten.add", "iadd": "aten.add", "mul": "aten.mul", "imul": "aten.mul", "cat": "aten.cat",
    "concat": "aten.cat", "adaptive_avg_pool2d": "aten.adaptive_avg_pool2d",
    "adaptive_max_pool2d": "aten.adaptive_max_pool2d", "max_pool2d": "aten.max_pool2d",
    "avg_pool2d": "aten.avg_pool2d", "getitem": "getitem", "sub": "aten.sub", "truediv": "aten.div",
}
_FX_ARGNAMES = {
    "aten.flatten": ["input", "start_dim", "end_dim"],
    "aten.view": ["input", "size"],
    "aten.reshape": ["input", "size"],
    "aten.mean": ["input", "dim", "keepdim"],
    "aten.softmax": ["input", "dim"],
    "aten.log_softmax": ["input", "dim"],
    "aten.dropout": ["input", "p", "train"],
    "aten.feature_dropout": ["input", "p", "train"],
    "aten.alpha_dropout": ["input", "p", "train"],
    "aten.cat": ["tensors", "dim"],
    "aten.adaptive_avg_pool2d": ["input", "output_size"],
    "aten.adaptive_max_pool2d": ["input", "output_size"],
}


def _fx_module_call(mod: Any, path: str, x: TRef, shapes: dict[str, Shape | None]) -> tuple[str, dict[str, Any]]:
    """The ATen target and named args a leaf module stands for."""
    from torch import nn

    def param(p: str) -> TRef | None:
        t = getattr(mod, p, None)
        if t is None:
            return None
        shapes[f"{path}.{p}"] = tuple(t.shape)
        return TRef(f"{path}.{p}")

    if isinstance(mod, nn.modules.conv._ConvNd):
        return "aten.convolution", {
            "input": x, "weight": param("weight"), "bias": param("bias"), "stride": list(mod.stride),
            "padding": mod.padding if isinstance(mod.padding, str) else list(mod.padding),
            "dilation": list(mod.dilation), "transposed": mod.transposed, "groups": mod.groups,
        }
    if isinstance(mod, nn.Linear):
        return "aten.linear", {"input": x, "weight": param("weight"), "bias": param("bias")}
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        return "aten.batch_norm", {"input": x, "weight": param("weight"), "bias": param("bias"),
                                   "running_mean": param("running_mean"), "training": True,
                                   "momentum": mod.momentum, "eps": mod.eps}
    norms = ((nn.LayerNorm, "aten.layer_norm"), (nn.GroupNorm, "aten.group_norm"),
             (nn.modules.instancenorm._InstanceNorm, "aten.instance_norm"))
    for cls, tgt in norms:
        if isinstance(mod, cls):
            return tgt, {"input": x, "weight": param("weight"), "bias": param("bias")}
    drops = ((nn.Dropout1d, "aten.feature_dropout"), (nn.Dropout2d, "aten.feature_dropout"),
             (nn.Dropout3d, "aten.feature_dropout"), (nn.FeatureAlphaDropout, "aten.feature_alpha_dropout"),
             (nn.AlphaDropout, "aten.alpha_dropout"), (nn.Dropout, "aten.dropout"))
    for cls, tgt in drops:
        if isinstance(mod, cls):
            return tgt, {"input": x, "p": mod.p, "train": True}
    acts = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.GELU: "gelu",
            nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softmax: "softmax", nn.ELU: "elu",
            nn.Hardswish: "hardswish", nn.Mish: "mish", nn.LogSoftmax: "log_softmax"}
    for cls, op in acts.items():
        if type(mod) is cls:
            args: dict[str, Any] = {"input": x}
            if op == "prelu":
                args["weight"] = param("weight")
            if op in ("softmax", "log_softmax"):
                args["dim"] = mod.dim
            return f"aten.{op}", args
    if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        kind = "max" if "Max" in type(mod).__name__ else "avg"
        nd = type(mod).__name__[-2]
        return f"aten.{kind}_pool{nd}d", {"input": x, "kernel_size": mod.kernel_size, "stride": mod.stride,
                                          "padding": mod.padding, "dilation": getattr(mod, "dilation", 1)}
    if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        name = type(mod).__name__
        kind = "avg" if "Avg" in name else "max"
        return f"aten.adaptive_{kind}_pool{name[-2]}d", {"input": x, "output_size": mod.output_size}
    if isinstance(mod, nn.Flatten):
        return "aten.flatten", {"input": x, "start_dim": mod.start_dim, "end_dim": mod.end_dim}
    if isinstance(mod, nn.Identity):
        return "aten.clone", {"input": x}
    return f"module.{type(mod).__name__}", {"input": x}


def _from_fx(model: Any, x: Any, name: str) -> Graph:
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(x)
    shapes: dict[str, Shape | None] = {}
    nodes: list[ANode] = []
    inputs: list[str] = []
    outputs: list[str] = []
    modules = dict(gm.named_modules())
    for n in gm.graph.nodes:
        tm = n.meta.get("tensor_meta")
        shapes[n.name] = tuple(int(d) for d in tm.shape) if hasattr(tm, "shape") else None
        trace = n.meta.get("stack_trace")
        if n.op == "placeholder":
            inputs.append(n.name)
            continue
        if n.op == "output":
            res = n.args[0] if isinstance(n.args[0], (list, tuple)) else [n.args[0]]
            outputs = [a.name for a in res if isinstance(a, torch.fx.Node)]
            continue
        if n.op == "get_attr":
            continue
        outs = [n.name] if shapes[n.name] is not None or n.target is operator.getitem else []
        if n.op == "call_module":
            src = n.args[0] if n.args else None
            ref = TRef(src.name) if isinstance(src, torch.fx.Node) else None
            target, args = _fx_module_call(modules[n.target], str(n.target), ref, shapes)  # type: ignore[arg-type]
            stack = [(str(n.target), f"{type(modules[n.target]).__module__}.{type(modules[n.target]).__name__}")]
        else:
            fname = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            target = _FX_FUNCS.get(fname, f"fx.{fname}")
            names = _FX_ARGNAMES.get(target, [])
            args = {}
            for i, v in enumerate(n.args):
                args[names[i] if i < len(names) else f"arg{i}"] = _arg_value(v)
            for k, v in n.kwargs.items():
                args[k] = _arg_value(v)
            if fname in ("size", "dim", "numel"):
                outs = []
            stack = []
        nodes.append(ANode(n.name, target, args, outs, stack, trace))
    return build(name, "torch", nodes, inputs, outputs, shapes)
