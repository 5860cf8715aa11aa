"""Smoke job for a fresh install: the contrastive core runs end to end on this machine.

Computes NT-Xent and SupCon (forward and backward) on random embeddings, takes one LARS step,
and checks that WordNet (for CLEAR's synonym substitution) is where the set-up put it.
Prints what it measured and exits non-zero on any failure.

    .venv/bin/python scripts/check_install.py
"""

import sys
from pathlib import Path

import torch

import hf_contrastive
from hf_contrastive import LARS, NTXentLoss, SupConLoss, lars_param_groups, scale_learning_rate


def main() -> int:
    print(f"hf_contrastive {hf_contrastive.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
    optimizer = LARS(lars_param_groups(encoder), lr=scale_learning_rate(256))
    x = torch.randn(256, 2, 32)
    projections = encoder(x.reshape(512, 32)).reshape(256, 2, 16)
    ntxent = NTXentLoss(temperature=0.5)(projections[:, 0], projections[:, 1])
    supcon = SupConLoss(temperature=0.1)(projections, torch.randint(0, 10, (256,)))
    (ntxent + supcon).backward()
    optimizer.step()
    print(f"NT-Xent {ntxent.item():.4f} (log(2N-1) = {torch.log(torch.tensor(511.0)).item():.4f} for random embeddings), SupCon {supcon.item():.4f}")
    wordnet = Path("/usr/share/wordnet/data.noun")
    print(f"WordNet (Debian) at {wordnet.parent}: {'found' if wordnet.exists() else 'MISSING'}")
    ok = torch.isfinite(ntxent) and torch.isfinite(supcon) and wordnet.exists()
    print("install OK" if ok else "install BROKEN")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
