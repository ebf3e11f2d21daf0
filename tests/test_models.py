import pytest
import torch

from ferkit.models import build_model, list_models

# models that cannot be built from defaults alone: an ensemble needs its members
KWARGS = {"ensemble": {"members": [{"arch": "seed_cnn"}, {"arch": "fernet_xs"}]}}


@pytest.mark.parametrize("name", list_models())
def test_tensors_in_logits_out(name):
    model = build_model(name, num_classes=8, **KWARGS.get(name, {})).eval()
    x = torch.rand(3, 1, 48, 48)
    out = model(x)
    assert out.shape == (3, 8)
    assert torch.isfinite(out).all()
    # logits, not probabilities: rows do not sum to one
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))


@pytest.mark.parametrize("name", list_models())
def test_trains_one_step(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, **KWARGS.get(name, {}))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 0])
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_unknown_model_lists_known():
    with pytest.raises(KeyError, match="fernet_s"):
        build_model("resnet9000", num_classes=2)
