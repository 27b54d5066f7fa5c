"""Explaining a model in training mode leaves it as it was: BatchNorm's running statistics and
counts, and the global random streams dropout draws from."""

from __future__ import annotations

import torch
from torch import nn

from swagfast import RISE, SWAG, AblationCAM, GradCAM, JitterCAM, ScoreCAM, attribution, metrics
from swagfast.failure import filter_gradient, filter_scores, masked_activation


class TrainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, 6, 3, stride=2, padding=1),
        )
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.body(x)).mean(dim=(2, 3))))


def test_explaining_a_model_in_training_mode_changes_nothing():
    torch.manual_seed(0)
    model = TrainNet().train()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    heat = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(2))
    calls = {
        "guided": lambda: attribution.attribute(model, x, "guided"),
        "noise": lambda: attribution.attribute(model, x, "noise"),
        "SWAG": lambda: SWAG(model, "G", 8)(x),
        "Grad-CAM": lambda: GradCAM(model, "body")(x),
        "Score-CAM": lambda: ScoreCAM(model, "body")(x),
        "Ablation-CAM": lambda: AblationCAM(model, "body")(x),
        "Jitter-CAM": lambda: JitterCAM(model, "body", "grad-cam")(x),
        "RISE": lambda: RISE(model, 16, s=4)(x),
        "deletion": lambda: metrics.deletion(model, x, heat, steps=4),
        "faithfulness": lambda: metrics.faithfulness(model, x, heat),
        "filter removal": lambda: metrics.filter_removal_auc(
            model, "body", [(x, torch.tensor([0, 1]))], torch.ones(6)
        ),
        "filter scores": lambda: filter_scores(model, "body", x),
        "filter gradient": lambda: filter_gradient(model, "body", x, [0, 1]),
        "masked activation": lambda: masked_activation(model, "body", x, 1, image=x.sigmoid()),
    }
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    for name, call in calls.items():
        call()
        changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
        assert not changed, (name, changed)
        assert torch.equal(torch.random.get_rng_state(), rng), name  # dropout's draws were put back
        assert model.training and all(m.training for m in model.modules()), name
    # dropout draws from a seeded stream: the same explanation whatever the caller's RNG state
    torch.manual_seed(1)
    a = GradCAM(model, "body")(x).heatmap
    torch.manual_seed(2)
    assert torch.equal(GradCAM(model, "body")(x).heatmap, a)
    model(x)  # the check can fail: a plain forward pass in training mode does change them
    assert not torch.equal(model.state_dict()["body.1.running_mean"], before["body.1.running_mean"])


def test_a_submodule_in_training_under_an_eval_model_is_kept_too():
    torch.manual_seed(0)
    model = TrainNet().eval()
    model.body[1].train()  # one BatchNorm left in training mode under an eval model
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    GradCAM(model, "body")(x)
    SWAG(model, "G", 8)(x)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.body[1].training and not model.training
