import torch
from torch import nn

from ferkit.engine.losses import distillation_loss
from ferkit.engine.prior import Teacher


def _fixed(logits: torch.Tensor) -> nn.Module:
    """A 'model' that answers the same logits for every face."""

    class Fixed(nn.Module):
        def forward(self, x):
            return logits.expand(len(x), -1)

    return Fixed()


def test_one_teacher_gives_its_own_softened_distribution():
    z = torch.tensor([[1.0, -2.0, 0.5]])
    mask = torch.tensor([True, True, False])
    t = Teacher([_fixed(z)], [torch.tensor([0, 1, 0])], mask)
    out = t.logits(torch.zeros(2, 1, 4, 4), temperature=3.0)
    want = torch.softmax(z[:, :2] / 3.0, 1).expand(2, -1)
    assert torch.allclose(torch.softmax(out[:, :2] / 3.0, 1), want, atol=1e-6)
    assert (out[:, 2] == 0).all()  # a class the teacher lacks carries nothing


def test_an_ensemble_teaches_the_mean_of_its_softened_predictions():
    a, b = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[-1.0, 1.0, 3.0]])
    cols_b = torch.tensor([2, 0, 1])  # b orders its classes differently: columns map them to the student's order
    t = Teacher([_fixed(a), _fixed(b)], [torch.tensor([0, 1, 2]), cols_b], torch.ones(3, dtype=torch.bool))
    temp = 2.0
    out = t.logits(torch.zeros(1, 1, 4, 4), temperature=temp)
    mean = (torch.softmax(a / temp, 1) + torch.softmax(b[:, cols_b] / temp, 1)) / 2
    assert torch.allclose(torch.softmax(out / temp, 1), mean, atol=1e-6)
    # the distillation loss is zero exactly at the ensemble's mean prediction, not at either member's
    student = temp * torch.log(mean)
    assert distillation_loss(student, out, t.mask, temp) < 1e-6
    assert distillation_loss(a, out, t.mask, temp) > 1e-3


def test_a_two_head_student_learns_each_head_as_its_own_distribution():
    z = torch.tensor([[1.0, 0.0, 2.0, -1.0, 0.5]])  # a teacher with heads (3 classes) + (2 classes)
    t = Teacher([_fixed(z)], [torch.arange(5)], torch.ones(5, dtype=torch.bool), [slice(0, 3), slice(3, 5)])
    out = t.logits(torch.zeros(1, 1, 4, 4), temperature=1.0)
    assert torch.allclose(torch.softmax(out[:, :3], 1), torch.softmax(z[:, :3], 1), atol=1e-6)
    assert torch.allclose(torch.softmax(out[:, 3:], 1), torch.softmax(z[:, 3:], 1), atol=1e-6)
    heads = [slice(0, 3), slice(3, 5)]
    assert distillation_loss(z, out, t.mask, 1.0, heads) < 1e-6
    # shifting one head's logits by a constant changes nothing within that head
    shifted = z.clone()
    shifted[:, 3:] += 5.0
    assert distillation_loss(shifted, out, t.mask, 1.0, heads) < 1e-6
    assert distillation_loss(shifted, out, t.mask, 1.0) > 1e-3  # as one distribution, it would
