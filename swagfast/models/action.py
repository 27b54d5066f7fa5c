"""``action-demo``: a small R(2+1)D-style clip classifier trained on :mod:`swagfast.data.actions`.

Every 3-D convolution is factorised into a spatial (1, k, k) and a temporal (k, 1, 1) one with a
batch norm and ReLU after each (Tran et al.'s R(2+1)D design, much narrower). Input
(B, 3, 16, 112, 112) normalised with mean = std = 0.5; output logits over
:data:`swagfast.data.actions.ACTIONS`. ``features`` (the last block, (B, 64, 4, 14, 14)) is the
layer for CAMs and Saliency Tubes.

The shipped weights (``weights/action_demo.pt``) are made by :func:`train`, seeded, on the CPU
in a few minutes: ``python -m swagfast.models.action --out FILE``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS = Path(__file__).parent / "weights" / "action_demo.pt"
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def _r21d(cin: int, cout: int, k: int, stride_s: int, stride_t: int, kt: int = 3) -> list[nn.Module]:
    return [
        nn.Conv3d(
            cin, cout, (1, k, k), stride=(1, stride_s, stride_s), padding=(0, k // 2, k // 2), bias=False
        ),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, (kt, 1, 1), stride=(stride_t, 1, 1), padding=(kt // 2, 0, 0), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    ]


class ActionNet(nn.Module):
    """stem (1x7x7 /4, 3x1x1) -> 16x28x28; (2+1)D blocks -> 8x14x14 -> 4x14x14; GAP; linear."""

    cam_layer = "features"

    def __init__(self, classes: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_r21d(3, 16, 7, 4, 1))
        self.block2 = nn.Sequential(*_r21d(16, 32, 3, 2, 2))
        self.features = nn.Sequential(*_r21d(32, 64, 3, 1, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(self.block2(self.stem(x))).mean(dim=(2, 3, 4)))


def load_action_demo() -> ActionNet:
    model = ActionNet()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()


def train(
    n: int = 1600, epochs: int = 8, seed: int = 0, batch_size: int = 16, log=print
) -> tuple[ActionNet, dict]:
    """Train :class:`ActionNet` on ``action_set(n, seed=seed)``; report accuracy on a held-out
    ``action_set(400, seed=seed + 1)``. Deterministic given ``seed`` (own generators; the global
    RNG is not used)."""
    from swagfast.data.actions import action_set

    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    data, test = action_set(n, seed=seed), action_set(400, seed=seed + 1)
    log(f"data: {n} + {len(test)} clips in {time.perf_counter() - t0:.0f} s")
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # weight initialisation only, restored afterwards
        model = ActionNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size].numpy()
            x = data.inputs(MEAN, STD, index=idx)
            loss = F.cross_entropy(model(x), data.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = accuracy(model, test)
        secs = time.perf_counter() - t0
        log(f"epoch {epoch + 1}: loss {total / n:.3f}, held-out accuracy {acc:.3f} ({secs:.0f} s)")
    model.eval()
    return model, {
        "n": n,
        "epochs": epochs,
        "seed": seed,
        "accuracy": acc,
        "seconds": time.perf_counter() - t0,
    }


@torch.no_grad()
def accuracy(model: nn.Module, data, batch_size: int = 32) -> float:
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(data), batch_size):
        x = data.inputs(MEAN, STD, index=slice(i, i + batch_size))
        correct += int((model(x).argmax(1) == data.labels[i : i + batch_size]).sum())
    model.train(was)
    return correct / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description="train the action-demo clip model")
    parser.add_argument("--out", default=str(WEIGHTS))
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    model, info = train(args.n, args.epochs, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(out)
    print(f"written {out}: {info}")


if __name__ == "__main__":
    main()
