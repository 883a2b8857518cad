import pickle
import tarfile

import numpy as np
import pytest

from archlint_validation import data as D
from archlint_validation.errors import DataError


def _warnings():
    msgs = []
    return msgs, msgs.append


def test_cifar100_tarball_official_name_enforces_md5(tiny_cifar100):
    tar = tiny_cifar100["make_tar"]("cifar-100-python.tar.gz")
    with pytest.raises(DataError, match="md5"):
        D.load(None, tar)
    msgs, warn = _warnings()
    ds = D.load(None, tar, verify=False, warn=warn)
    assert any("--no-verify" in m for m in msgs)
    assert ds.identity["verified"] is False and len(ds.identity["md5"]) == 32


def test_cifar100_tarball_layout_and_labels(tiny_cifar100):
    tar = tiny_cifar100["make_tar"]("tiny-cifar100.tar.gz")
    assert D.detect(tar) == "cifar100"
    msgs, warn = _warnings()
    ds = D.load(None, tar, warn=warn)
    assert any("not checked" in m for m in msgs)
    assert ds.name == "cifar100" and ds.num_classes == 100
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_train.dtype == np.uint8 and ds.x_test.shape == (10, 32, 32, 3)
    raw = tiny_cifar100["train_data"]
    # official rows are 1024 R, then 1024 G, then 1024 B values, each row-major 32x32
    assert tuple(ds.x_train[3, 0, 1]) == (raw[3, 1], raw[3, 1025], raw[3, 2049])
    assert ds.y_train.tolist() == tiny_cifar100["train"][b"fine_labels"]
    assert ds.identity["sha256"] == D.file_digest(tar)


def test_cifar100_extracted_folder(tiny_cifar100):
    root = tiny_cifar100["folder"]
    assert D.detect(root) == "cifar100"
    ds = D.load("cifar100", root)
    assert ds.x_test.shape == (10, 32, 32, 3)
    assert ds.identity["sha256_of_pickles"]


def test_cifar100_missing_key(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match="fine_labels"):
        D.load("cifar100", tmp_path)


def test_cifar10_python_format(tmp_path, make_cifar_pickle):
    cifar_pickle = make_cifar_pickle
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        with open(folder / name, "wb") as f:
            pickle.dump(cifar_pickle(4, {b"labels": 10}, i)[0], f)
    assert D.detect(tmp_path) == "cifar10"
    ds = D.load(None, tmp_path)
    assert ds.num_classes == 10 and ds.x_train.shape == (20, 32, 32, 3) and len(ds.y_test) == 4
    tar = tmp_path / "c10.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    ds2 = D.load(None, tar)
    assert np.array_equal(ds.x_train, ds2.x_train)


def _image_tree(root):
    from PIL import Image

    rng = np.random.RandomState(0)
    for split, n in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog", "emu"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.randint(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / split / cls / f"{i:03d}.png")


def test_imagefolder_dir_and_tarball_cache(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    root = tmp_path / "imgs"
    _image_tree(root)
    assert D.detect(root) == "imagefolder"
    ds = D.load(None, root)
    assert ds.num_classes == 3 and ds.x_train.shape == (18, 32, 32, 3) and ds.identity["classes"] == ["cat", "dog", "emu"]
    tar = tmp_path / "imgs.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(root, arcname="imgs")
    cache = tmp_path / "cache"
    a = D.load(None, tar, cache_dir=cache, limit_train=5)
    assert np.bincount(a.y_train).tolist() == [2, 2, 1]  # balanced subset
    monkeypatch.setattr(D, "_decode_imagefolder", lambda *a, **k: pytest.fail("decoded again"))
    b = D.load(None, tar, cache_dir=cache, limit_train=5)
    assert np.array_equal(a.x_train, b.x_train) and "cache" in b.identity


def test_missing_data_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHLINT_DATA", raising=False)
    with pytest.raises(DataError, match="ARCHLINT_DATA"):
        D.load(None, None)
    monkeypatch.setenv("ARCHLINT_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="does not exist"):
        D.load(None, None)


def test_synthetic_is_labelled_and_split():
    ds = D.load("synthetic", None, limit_train=100)
    assert ds.synthetic and "SYNTHETIC" in ds.identity["note"]
    s = D.split_validation(ds, 10)
    assert len(s.x_val) == 10 and len(s.x_train) == 90
    with pytest.raises(DataError):
        D.split_validation(ds, 100)


def test_real_cifar10_jpeg_smoke(tmp_path, cifar10_jpeg):
    """Two training steps on a few hundred real CIFAR-10 images (the shared tarball)."""
    path = cifar10_jpeg
    torch = pytest.importorskip("torch")
    from archlint_validation import train as T

    ds = D.load(None, path, limit_train=200, limit_test=50, cache_dir=tmp_path)
    assert ds.identity["sha256"] == "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
    assert ds.x_train.shape == (200, 32, 32, 3) and np.bincount(ds.y_train).tolist() == [20] * 10
    assert 100 < ds.x_train.mean() < 140
    dd = T.DeviceData(D.split_validation(ds, 40), "faithful", "cpu")
    res = T.train_single(T.RunSpec("faithful", "dropout0.3", "before", "dense1000", 0), dd,
                         T.TrainConfig(batch_size=20, steps_per_epoch=2, epochs=1, eval_batch=50))
    assert res.steps == 2 and np.isfinite(res.train_loss[0]) and 0.0 <= res.test_acc <= 1.0
    assert torch.get_default_dtype() == torch.float32
