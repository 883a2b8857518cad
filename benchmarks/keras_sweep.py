"""The Keras sweep (issue 23): every keras-hub backbone that builds from its constructor
at a small size (arguments by name, ``SPECIAL``, or transcribed from keras-hub's own
tests, ``keras_hub_small.py``), every keras-hub task model on such a backbone
(``preprocessor=None``), all keras.applications models and keras.io-style models, each
saved with ``model.save`` and linted from its own file.

Per model: does it load, the coverage (share of nodes understood, nodes without a
shape), whether archlint's parameter total (trainable plus Keras's non-trainable
statistics) equals ``model.count_params()``, and every warning/error finding.

    KERAS_BACKEND=torch python benchmarks/keras_sweep.py [--only NAME] [--out DIR]
      [--table docs/keras-sweep.md] [--skip-applications]

Needs keras, torch and keras-hub (``pip install keras-hub``; it pulls tensorflow-text,
so it is not in the dev extra). Models are built with random weights; nothing is
downloaded. Results are cached per model in ``--out`` (JSON), so a rerun only builds what
is missing. Each model is built and linted in a child process with a time limit.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: small values for constructor arguments, by name (keras-hub's names)
SMALL = {
    "vocabulary_size": 128, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
    "max_sequence_length": 32, "num_query_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
    "num_segments": 2, "embedding_dim": 32, "num_groups": 1, "num_inner_repetitions": 1,
    "num_encoder_layers": 2, "num_decoder_layers": 2, "key_value_dim": 16, "num_experts": 4,
    "top_k": 2, "num_experts_per_tok": 2, "moe_intermediate_dim": 32, "shared_expert_intermediate_dim": 32,
    "num_classes": 4, "dropout": 0.1, "image_shape": (32, 32, 3), "patch_size": 8, "image_size": 32,
    "mlp_dim": 64, "num_channels": 3, "max_source_sequence_length": 32, "max_target_sequence_length": 32,
    "num_key_value_groups": 1, "layer_norm_epsilon": 1e-6, "query_head_dim_normalize": True,
    "sliding_window_size": 16, "rope_max_wavelength": 10000, "kernel_size": 3, "num_blocks": 2,
    "vocab_size": 128, "num_attention_heads": 2, "head_size": 16, "hidden_size": 32, "embed_dim": 32,
    "depths": [1, 1], "window_size": 4, "num_layers_enc": 1, "num_layers_dec": 1, "encoder_num_layers": 1,
    "decoder_num_layers": 1, "encoder_num_heads": 2, "decoder_num_heads": 2, "filter_dim": 16,
    "shared_expert_intermediate_size": 32, "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
    "max_position_embeddings": 64, "rope_theta": 10000.0, "partial_rotary_factor": 1.0,
    "rope_layer_enabled_list": [True, True], "layer_types": ["full_attention", "full_attention"],
    "encoder_hidden_dim": 32, "encoder_intermediate_dim": 64, "encoder_num_attention_heads": 2,
    "encoder_num_key_value_heads": 1, "encoder_head_dim": 16, "encoder_layer_types": ["full_attention"],
    "decoder_hidden_dim": 32, "decoder_intermediate_dim": 64, "decoder_num_attention_heads": 2,
    "decoder_num_key_value_heads": 1, "decoder_head_dim": 16, "decoder_layer_types": ["full_attention"],
    "global_attention_layer_indices": [1], "num_frames": 2, "num_spatial_layers": 1, "num_temporal_layers": 1,
    "num_auxiliary_layers": 1,
}

#: hand-written small constructions where the generic filler cannot guess
SPECIAL = {
    # ImageNet stems (7x7/2 convolution, 3x3/2 pooling) at ImageNet's 224x224: on 32x32 AL015 rightly fires
    "ResNetBackbone": dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128],
                           stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
                           image_shape=(224, 224, 3)),
    "VGGBackbone": dict(stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=(32, 32, 3)),
    "DenseNetBackbone": dict(stackwise_num_repeats=[1, 1], image_shape=(224, 224, 3)),
    "ViTBackbone": dict(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64),
    "DeiTBackbone": dict(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                         intermediate_dim=64),
    "SwinTransformerBackbone": dict(image_shape=(32, 32, 3), patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                                    window_size=4),
    "GPT2Backbone": dict(vocabulary_size=128, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
                         max_sequence_length=32),
}


def keras_io_models() -> dict[str, object]:
    """Models in the style of the keras.io examples (ViT, GPT, text classifier, seq2seq,
    Siamese, BiLSTM), small."""
    import keras
    from keras import layers

    out: dict[str, object] = {}
    ids = keras.Input((32,), dtype="int32")
    x = layers.Embedding(128, 32)(ids)
    x = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(16))(x)
    out["kerasio_bilstm"] = keras.Model(ids, layers.Dense(1, activation="sigmoid")(x))

    enc_in = keras.Input((None, 16)); dec_in = keras.Input((None, 12))
    _, h, c = layers.LSTM(32, return_state=True)(enc_in)
    dec = layers.LSTM(32, return_sequences=True)(dec_in, initial_state=[h, c])
    out["kerasio_seq2seq"] = keras.Model([enc_in, dec_in], layers.Dense(12, activation="softmax")(dec))

    t_in = keras.Input((28, 28, 1))
    t = layers.Conv2D(8, 3, activation="relu")(t_in)
    t = layers.GlobalAveragePooling2D()(layers.MaxPooling2D()(layers.Conv2D(16, 3, activation="relu")(t)))
    tower = keras.Model(t_in, layers.Dense(16)(t), name="tower")
    a = keras.Input((28, 28, 1)); b = keras.Input((28, 28, 1))
    d = layers.Subtract()([tower(a), tower(b)])
    out["kerasio_siamese"] = keras.Model([a, b], layers.Dense(1, activation="sigmoid")(d))

    ids = keras.Input((32,), dtype="int32")
    x = layers.Embedding(128, 32)(ids)
    x = layers.Conv1D(32, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    out["kerasio_text_cnn"] = keras.Model(ids, layers.Dense(2, activation="softmax")(layers.Dropout(0.5)(x)))

    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(32, 8, strides=8)(inp)
    x = layers.Reshape((16, 32))(x)
    for _ in range(2):
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.MultiHeadAttention(2, 16, dropout=0.1)(h, h)
        x = layers.Add()([h, x])
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.Dense(64, activation="gelu")(h)
        h = layers.Dense(32)(layers.Dropout(0.1)(h))
        x = layers.Add()([h, x])
    x = layers.GlobalAveragePooling1D()(layers.LayerNormalization(epsilon=1e-6)(x))
    out["kerasio_vit"] = keras.Model(inp, layers.Dense(10, activation="softmax")(x))

    ids = keras.Input((32,), dtype="int32")
    x = layers.Embedding(128, 32)(ids)
    for _ in range(2):
        h = layers.MultiHeadAttention(2, 16)(x, x, use_causal_mask=True)
        x = layers.LayerNormalization()(layers.Add()([x, layers.Dropout(0.1)(h)]))
        h = layers.Dense(32)(layers.Dense(64, activation="relu")(x))
        x = layers.LayerNormalization()(layers.Add()([x, layers.Dropout(0.1)(h)]))
    out["kerasio_gpt"] = keras.Model(ids, layers.Dense(128)(x))
    return out


def application_names() -> list[str]:
    import keras

    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def backbone_names() -> list[str]:
    import keras_hub

    return sorted(n for n in dir(keras_hub.models) if n.endswith("Backbone") and n not in ("Backbone", "FeaturePyramidBackbone"))


def _small_kwargs(cls: type) -> dict[str, object] | None:
    from keras_hub_small import CONSTRUCTIONS  # transcribed from keras-hub's own backbone tests

    if cls.__name__ in SPECIAL:
        return dict(SPECIAL[cls.__name__])
    if cls.__name__ in CONSTRUCTIONS:
        return CONSTRUCTIONS[cls.__name__]()
    kw: dict[str, object] = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs", "args", "dtype", "name"):
            continue
        if name in SMALL:
            kw[name] = SMALL[name]
        elif p.default is inspect.Parameter.empty:
            return None  # a required argument the filler does not know
    return kw


def build(name: str):
    """Build one model by name: ``hub:<Backbone>``, ``hubtask:<Task>``, ``app:<Name>``, ``io:<name>``."""
    import keras

    kind, _, what = name.partition(":")
    if kind == "io":
        return keras_io_models()[what]
    if kind == "app":
        fn = getattr(keras.applications, what)
        try:
            return fn(weights=None, input_shape=(96, 96, 3), classes=10)
        except (ValueError, TypeError):
            return fn(weights=None)
    import keras_hub

    if kind == "hub":
        cls = getattr(keras_hub.models, what)
        kw = _small_kwargs(cls)
        if kw is None:
            raise RuntimeError("no small construction known (required constructor arguments)")
        return cls(**kw)
    if kind == "hubtask":
        from keras_hub_small import TASK_CONSTRUCTIONS

        task, _, bb = what.partition("@")
        kw: dict[str, object] = TASK_CONSTRUCTIONS[task]() if task in TASK_CONSTRUCTIONS else {}
        if "backbone" not in kw:
            kw["backbone"] = build(f"hub:{bb}")
        cls = getattr(keras_hub.models, task)
        for pname, p in inspect.signature(cls.__init__).parameters.items():
            if pname in ("self", "kwargs", "args", "dtype", "name") or pname in kw or p.kind is p.VAR_KEYWORD:
                continue
            if pname == "preprocessor":
                kw[pname] = None
            elif pname in TASK_SMALL:
                kw[pname] = TASK_SMALL[pname]
            elif p.default is inspect.Parameter.empty:
                raise RuntimeError(f"no small construction known (required argument {pname!r})")
        return cls(**kw)
    raise ValueError(name)


#: small values for task constructor arguments, by name
TASK_SMALL: dict[str, object] = {"num_classes": 4, "depth_estimation_type": "relative"}


def task_names() -> list[str]:
    """Every keras-hub task class that names its backbone class, as ``Task@Backbone``."""
    import keras_hub

    out = []
    for n in sorted(dir(keras_hub.models)):
        cls = getattr(keras_hub.models, n)
        if not isinstance(cls, type) or not issubclass(cls, keras_hub.models.Task):
            continue
        bb = getattr(cls, "backbone_cls", None)
        if isinstance(bb, type) and cls.__module__.startswith("keras_hub.src.models.") and bb.__name__ != "Backbone":
            out.append(f"{n}@{bb.__name__}")
    return out


def child(name: str, out: Path) -> dict[str, object]:
    """Build, save and lint one model (run in a child process)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    row: dict[str, object] = {"model": name}
    t0 = time.perf_counter()
    try:
        model = build(name)
    except Exception as e:  # noqa: BLE001 - the sweep records what does not build
        row.update(status="does not build", detail=f"{type(e).__name__}: {str(e)[:160]}")
        return row
    row["count_params"] = int(model.count_params())
    path = out / (name.replace(":", "_").replace("@", "_") + ".keras")
    try:
        model.save(path)
    except Exception as e:  # noqa: BLE001
        row.update(status="does not save", detail=f"{type(e).__name__}: {str(e)[:160]}")
        return row
    row["build_s"] = round(time.perf_counter() - t0, 1)
    return lint_saved(row, path)


def lint_saved(row: dict[str, object], path: Path) -> dict[str, object]:
    """Read a saved model with archlint: the row's load, coverage, parameter and finding fields."""
    from archlint.api import lint
    from archlint.config import Config
    from archlint.findings import Severity
    from archlint.frontends import load_graph

    t1 = time.perf_counter()
    try:
        graph = load_graph(path)
    except Exception as e:  # noqa: BLE001
        row.update(status="load error", detail=f"{type(e).__name__}: {str(e).replace(str(path), path.name)[:300]}")
        return row
    row.pop("detail", None)
    row["load_s"] = round(time.perf_counter() - t1, 1)
    cov = graph.coverage()
    total = graph.total_params + int(graph.meta.get("non_trainable_params", 0) or 0)
    row.update(status="loaded", nodes=cov["nodes"], coverage=cov["share"], shapeless=cov["shapeless"],
               unknown=cov["unknown"], params=total, params_match=total == row["count_params"],
               route=graph.meta.get("capture", "config"))
    findings = lint(str(path), Config())
    # Severity is an IntEnum: compared as such (its .value is 1, 2, 3, never "warning")
    row["findings"] = [
        {"code": f.code, "severity": f.severity.label, "layer": f.layer, "message": f.message[:200]}
        for f in findings if f.severity >= Severity.WARNING
    ]
    row["infos"] = sum(1 for f in findings if f.severity == Severity.INFO)
    return row


def relint(args: argparse.Namespace) -> int:
    """Read every saved model again with the current archlint (no rebuilding)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    for cache in sorted(args.out.glob("*.json")):
        row = json.loads(cache.read_text())
        path = cache.with_suffix(".keras")
        if "count_params" not in row or not path.exists():
            continue
        if args.only and not any(o in str(row["model"]) for o in args.only):
            continue
        row = lint_saved(row, path)
        cache.write_text(json.dumps(row, indent=1))
        print(f"{row['model']}: {row.get('status')} {row.get('coverage', '')} match={row.get('params_match', '')} "
              f"{[f['code'] for f in row.get('findings', [])]}", flush=True)
    return 0


#: the table is written below this line of the page; what stands above it is kept
TABLE_MARK = "<!-- table: python benchmarks/keras_sweep.py --table docs/keras-sweep.md -->"


GROUPS = {"io": "keras.io-style models", "app": "keras.applications", "hub": "keras-hub backbones",
          "hubtask": "keras-hub task models"}


def counts(rows: list[dict[str, object]]) -> str:
    """Per group: how many models, built, loaded, with the exact parameter total, with 95 %
    coverage or more, and with a warning or error (generated, so the page's figures match its table)."""
    lines = ["| group | models | built and saved | loaded | exact parameter total | coverage >= 95 % | with warnings/errors |",
             "|---|---|---|---|---|---|---|"]
    for key, title in GROUPS.items():
        rs = [r for r in rows if str(r["model"]).split(":", 1)[0] == key]
        if not rs:
            continue
        loaded = [r for r in rs if r.get("status") == "loaded"]
        built = [r for r in rs if r.get("status") not in ("does not build", "does not save", "timed out", "crashed")]
        lines.append(f"| {title} | {len(rs)} | {len(built)} | {len(loaded)} | {sum(bool(r['params_match']) for r in loaded)} | "
                     f"{sum(float(r['coverage']) >= 0.95 for r in loaded)} | {sum(bool(r['findings']) for r in loaded)} |")
    return "\n".join(lines)


def table(rows: list[dict[str, object]]) -> str:
    lines = [counts(rows), "",
             "| model | status | nodes | coverage | no shape | params (archlint / Keras) | match | warnings+errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") != "loaded":
            detail = " ".join(str(r.get("detail", "")).replace("|", "/").split())  # one table row, whatever Keras printed
            detail = re.sub(r"\x1b\[[0-9;]*m|\[[0-9;]*m", "", detail)
            detail = re.sub(r"\S*/([^/\s]+\.keras)", r"\1", detail)  # the saved file by name, not by path
            detail = detail.replace("the Keras model did not run on inputs of its declared shapes", "did not run")
            detail = detail.replace("the Keras model refuses to be called on its own, and archlint reads a live Keras "
                                    "model by calling it once", "refuses to be called")
            lines.append(f"| {r['model']} | {r.get('status')}: {detail[:200]} | | | | | | |")
            continue
        fs = ", ".join(sorted({f"{f['code']}" for f in r["findings"]})) or "-"  # type: ignore[union-attr]
        lines.append(
            f"| {r['model']} | loaded | {r['nodes']} | {float(r['coverage']):.0%} | {r['shapeless']} | "
            f"{int(r['params']):,} / {int(r['count_params']):,} | {'yes' if r['params_match'] else 'NO'} | {fs} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "keras_sweep")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--table", type=Path, default=None)
    ap.add_argument("--skip-applications", action="store_true")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--child", nargs="*", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=12, help="models per child process (imports paid once)")
    ap.add_argument("--relint", action="store_true",
                    help="read every saved model again with the current archlint (no rebuilding) and update the rows")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.relint:
        return relint(args)
    if args.child:
        import signal

        def alarm(*_: object) -> None:
            raise TimeoutError(f"over {args.timeout:g} s")

        signal.signal(signal.SIGALRM, alarm)
        for name in args.child:
            signal.alarm(int(args.timeout))
            try:
                row = child(name, args.out)
            except TimeoutError as e:
                row = {"model": name, "status": "timed out", "detail": str(e)}
            signal.alarm(0)
            print("\n" + json.dumps(row), flush=True)
        return 0
    os.environ.setdefault("KERAS_BACKEND", "torch")
    names = [f"io:{n}" for n in ("kerasio_bilstm", "kerasio_seq2seq", "kerasio_siamese", "kerasio_text_cnn",
                                   "kerasio_vit", "kerasio_gpt")]
    if not args.skip_applications:
        names += [f"app:{n}" for n in application_names()]
    try:
        names += [f"hub:{n}" for n in backbone_names()] + [f"hubtask:{t}" for t in task_names()]
    except ImportError:
        print("keras-hub is not installed: its models are left out", file=sys.stderr)
    if args.only:
        names = [n for n in names if any(o in n for o in args.only)]
    rows: dict[str, dict[str, object]] = {}
    todo = []
    for name in names:
        cache = args.out / (name.replace(":", "_").replace("@", "_") + ".json")
        if cache.exists():
            rows[name] = json.loads(cache.read_text())
        else:
            todo.append(name)
    for i in range(0, len(todo), args.batch):
        batch = todo[i : i + args.batch]
        proc = subprocess.Popen([sys.executable, __file__, "--out", str(args.out), "--timeout", str(args.timeout),
                                 "--child", *batch], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            name = str(row["model"])
            (args.out / (name.replace(":", "_").replace("@", "_") + ".json")).write_text(json.dumps(row, indent=1))
            rows[name] = row
            print(f"{name}: {row.get('status')} {row.get('coverage', '')} match={row.get('params_match', '')} "
                  f"{[f['code'] for f in row.get('findings', [])]}", flush=True)
        proc.wait()
        for name in batch:
            rows.setdefault(name, {"model": name, "status": "crashed", "detail": f"child exited {proc.returncode}"})
    rows_list = [rows[n] for n in names if n in rows]
    text = table(rows_list)
    if args.table:
        head = args.table.read_text().split(TABLE_MARK)[0] if args.table.exists() else ""
        args.table.write_text(head + TABLE_MARK + "\n\n" + text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
