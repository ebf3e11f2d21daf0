import torch

from ferkit.engine.losses import distillation_loss, partial_label_loss


def test_masked_classes_do_not_compete():
    # A sample whose source cannot express class 2 gets no gradient pushing class 2 down.
    logits = torch.tensor([[1.0, 0.0, 5.0]], requires_grad=True)
    target = torch.tensor([[1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False]])
    loss = partial_label_loss(logits, target, mask)
    loss.backward()
    assert logits.grad[0, 2] == 0
    expected = -torch.log_softmax(torch.tensor([1.0, 0.0]), 0)[0]
    assert torch.isclose(loss, expected)


def test_full_mask_equals_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 3, 1])
    onehot = torch.nn.functional.one_hot(y, 4).float()
    mask = torch.ones(5, 4, dtype=torch.bool)
    ours = partial_label_loss(logits, onehot, mask, label_smoothing=0.1)
    ref = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert torch.isclose(ours, ref, atol=1e-6)


def test_soft_targets_and_weights():
    logits = torch.zeros(2, 2)
    t = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    m = torch.ones(2, 2, dtype=torch.bool)
    assert torch.isclose(partial_label_loss(logits, t, m), torch.log(torch.tensor(2.0)))
    w = torch.tensor([1.0, 3.0])
    logits2 = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    t2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    weighted = partial_label_loss(logits2, t2, m, class_weights=w)
    per = -torch.log_softmax(logits2, 1)[[0, 1], [1, 0]]
    assert torch.isclose(weighted, (3 * per[0] + per[1]) / 4)


def test_distillation_is_zero_at_the_teacher_and_ignores_classes_it_lacks():
    torch.manual_seed(0)
    teacher = torch.randn(4, 3)
    mask = torch.tensor([True, True, False])
    student = teacher.clone()
    student[:, 2] += 7.0  # a class the teacher lacks: free to differ
    student.requires_grad_(True)
    loss = distillation_loss(student, teacher, mask, temperature=2.0)
    assert abs(loss.item()) < 1e-6
    other = torch.randn(4, 3, requires_grad=True)
    loss = distillation_loss(other, teacher, mask, temperature=2.0)
    loss.backward()
    assert loss.item() > 0 and (other.grad[:, 2] == 0).all()
    p = torch.softmax(teacher[:, :2] / 2, 1)  # by hand: T^2 * KL(p || q) over the shared classes
    q = torch.softmax(other.detach()[:, :2] / 2, 1)
    assert torch.isclose(loss, 4 * (p * (p.log() - q.log())).sum(1).mean(), atol=1e-6)
