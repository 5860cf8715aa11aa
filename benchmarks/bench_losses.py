"""Forward+backward time and peak memory of NTXentLoss / SupConLoss against a naive implementation.

The naive implementation is the SupCon reference code's computation (HobbitLong/SupContrast,
``losses.py``): it materialises the full (2N x 2N) positive mask, the self mask, exp(logits) and
log-probabilities, and lets autograd keep what it needs. Every case runs in a fresh subprocess so
its peak resident memory (VmHWM after resetting it, minus the resident memory just before the
call) belongs to that case alone. The plain matrix multiply ``z @ z.T`` of the same shape is timed
in the same run (into a preallocated output): a forward+backward needs three products of that
many FLOPs (2 (2N)^2 D each), so ``3 x t_matmul / t_loss`` is the fraction of the machine's
matrix-multiply rate the loss reaches.

    python benchmarks/bench_losses.py                 # 2N in 512 2048 8192, D = 128
    python benchmarks/bench_losses.py --sizes 512 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


IMPLEMENTATIONS = ("naive_supcon_reference", "NTXentLoss", "SupConLoss", "SupConLoss_chunk1024", "matmul_only")


def naive_supcon(features: torch.Tensor, temperature: float = 0.5, base_temperature: float = 0.5) -> torch.Tensor:
    """SupCon reference code, SimCLR case (labels=None, contrast_mode='all')."""
    features = F.normalize(features, dim=-1)
    batch_size, contrast_count = features.shape[0], features.shape[1]
    mask = torch.eye(batch_size, dtype=torch.float32)
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_dot_contrast = torch.div(contrast_feature @ contrast_feature.T, temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(contrast_count, contrast_count)
    logits_mask = torch.scatter(
        torch.ones_like(mask), 1, torch.arange(batch_size * contrast_count).view(-1, 1), 0
    )
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    return loss.view(contrast_count, batch_size).mean()


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_case(implementation: str, two_n: int, dim: int, repeats: int, threads: int) -> dict:
    """One case, in this (fresh) process."""
    from hf_contrastive import NTXentLoss, SupConLoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n = two_n // 2
    features = torch.randn(n, 2, dim)

    if implementation == "naive_supcon_reference":
        step = lambda x: naive_supcon(x).backward()  # noqa: E731
    elif implementation == "NTXentLoss":
        loss_fn = NTXentLoss(temperature=0.5)
        step = lambda x: loss_fn(x[:, 0], x[:, 1]).backward()  # noqa: E731
    elif implementation == "SupConLoss":
        loss_fn = SupConLoss(temperature=0.5, base_temperature=0.5)
        step = lambda x: loss_fn(x).backward()  # noqa: E731
    elif implementation == "SupConLoss_chunk1024":
        loss_fn = SupConLoss(temperature=0.5, base_temperature=0.5, chunk_size=1024)
        step = lambda x: loss_fn(x).backward()  # noqa: E731
    elif implementation == "matmul_only":
        # the machine's steady matrix-multiply rate: output preallocated, so no page faults
        z = features.reshape(two_n, dim)
        out = torch.empty(two_n, two_n)
        step = lambda x: torch.mm(z, z.T, out=out)  # noqa: E731
    else:
        raise ValueError(implementation)

    def call():
        x = features.clone().requires_grad_(True)
        step(x)

    reset = _reset_peak()
    before = _rss_kib("VmRSS")
    call()
    peak_mib = (_rss_kib("VmHWM") - before) / 1024 if reset else float("nan")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"implementation": implementation, "two_n": two_n, "dim": dim, "median_s": statistics.median(times), "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192], help="2N values")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--case", nargs=2, metavar=("IMPLEMENTATION", "TWO_N"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.dim, args.repeats, args.threads)))
        return

    print(f"torch {torch.__version__}, {args.threads} thread(s), D={args.dim}, median of {args.repeats} after 1 warm-up call")
    print(f"{'2N':>6} {'implementation':<24} {'fwd+bwd s':>10} {'peak MiB':>9} {'time / naive':>13} {'mem / naive':>12} {'of matmul rate':>15}")
    for two_n in args.sizes:
        rows = {}
        for implementation in IMPLEMENTATIONS:
            command = [sys.executable, __file__, "--case", implementation, str(two_n), "--dim", str(args.dim),
                       "--repeats", str(args.repeats), "--threads", str(args.threads)]  # fmt: skip
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows[implementation] = json.loads(output.strip().splitlines()[-1])
        naive, matmul = rows["naive_supcon_reference"], rows["matmul_only"]
        for implementation, row in rows.items():
            if implementation == "matmul_only":
                gflops = 2 * two_n**2 * args.dim / matmul["median_s"] / 1e9
                rate = f"{gflops:.0f} GFLOP/s"
            else:
                rate = f"{3 * matmul['median_s'] / row['median_s']:.0%}"
            print(
                f"{two_n:>6} {implementation:<24} {row['median_s']:>10.4f} {row['peak_mib']:>9.1f} "
                f"{row['median_s'] / naive['median_s']:>13.2f} {row['peak_mib'] / naive['peak_mib']:>12.2f} {rate:>15}"
            )


if __name__ == "__main__":
    main()
