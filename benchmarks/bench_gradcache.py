"""Peak memory and time of a training step, plain vs cached gradients (GradCache), on the CPU.

    .venv/bin/python benchmarks/bench_gradcache.py            # the table in benchmarks/README.md (~10 min, 2 cores)
    .venv/bin/python benchmarks/bench_gradcache.py --quick    # smaller batches, a code-path check

One step (forward, loss, backward) of `SimCLRForPreTraining` on a global batch of N images x 2
views, or of `CLEARForPreTraining` on N sentences (masked-LM input and 2 views): "plain" is the
model's forward and `loss.backward()`, "chunked" is
`hf_contrastive.training.gradcache.cached_gradient_step` with chunks of K views (CLEAR: its
masked-LM pass in chunks of K sentences too). Encoders: the SimCLR recipe's default small ResNet on
28 px one-channel images (what the digits default trains), the same with group norm in place of
batch norm (`backbone_norm="group"`: the chunked step is exact), a torchvision ResNet-18 with SimCLR's
3x3 stem on 32 px RGB images, and CLEAR's default tiny BERT (4 layers, 128 wide, vocabulary 8,000)
on 64-token sentences. Inputs are random pixels or token ids (views and masking are not timed). Each case runs in a fresh process with 2 threads. Its peak memory is the
rise of the process's peak resident set (VmHWM, reset just before the step) over its resident set
then. The time is the median of 3 steps after one warm-up step. A plain case whose batch would not
fit the machine is left out (`--max_plain`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENCODERS = ("recipe-resnet-28px", "recipe-resnet-28px-group-norm", "resnet18-32px", "clear-tiny-bert")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def run_case(encoder: str, batch: int, chunk: int) -> dict:
    """One case in this (fresh) process; chunk 0: the plain step."""
    import torch
    from accelerate import Accelerator

    sys.path.insert(0, str(REPO_ROOT))
    from hf_contrastive import CLEARConfig, CLEARForPreTraining, SimCLRConfig, SimCLRForPreTraining
    from hf_contrastive.recipes.clear import CLEARDefaults
    from hf_contrastive.recipes.simclr import SimCLRDefaults, _backbone
    from hf_contrastive.training.gradcache import cached_gradient_step

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if encoder == "clear-tiny-bert":
        defaults = CLEARDefaults()
        text = {"model_type": "bert", "vocab_size": defaults.vocab_size, "hidden_size": defaults.hidden_size,
                "num_hidden_layers": defaults.num_hidden_layers, "num_attention_heads": defaults.num_attention_heads,
                "intermediate_size": defaults.intermediate_size}  # fmt: skip
        model = CLEARForPreTraining(CLEARConfig(text_config=text, **defaults.model_fields())).train()
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(5, defaults.vocab_size, (3, batch, defaults.max_seq_length), generator=generator)
        labels = torch.where(torch.rand(batch, defaults.max_seq_length, generator=generator) < 0.15, ids[0], -100)
        inputs = {"input_ids": ids[0], "labels": labels, "input_ids_a": ids[1], "input_ids_b": ids[2]}
    else:
        if encoder.startswith("recipe-resnet-28px"):
            config = SimCLRConfig(backbone_config=_backbone(SimCLRDefaults(), 1, True), num_channels=1, image_size=28, cifar_stem=True,
                                  projection_dim=64, backbone_norm="group" if encoder.endswith("group-norm") else "batch")  # fmt: skip
        else:
            config = SimCLRConfig(backbone="resnet18", num_channels=3, image_size=32, cifar_stem=True, projection_dim=128)
        model = SimCLRForPreTraining(config).train().to(memory_format=torch.channels_last)
        inputs = {"pixel_values": torch.randn(batch, 2, config.num_channels, config.image_size, config.image_size)}
    accelerator = Accelerator(cpu=True)

    def step() -> None:
        model.zero_grad(set_to_none=False)
        if chunk:
            cached_gradient_step(model, inputs, chunk, accelerator)
        else:
            model(**inputs).loss.backward()

    step()  # warm-up (and the gradients' memory)
    before = _rss_kib("VmRSS")
    _reset_peak()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"peak_mib": (_rss_kib("VmHWM") - before) / 1024, "step_s": statistics.median(times)}


def measure(encoder: str, batch: int, chunk: int) -> dict:
    command = [sys.executable, __file__, "--case", json.dumps([encoder, batch, chunk])]
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="batches 64 and 128 only")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    parser.add_argument("--chunk", type=int, default=256, help="views per chunk (default 256)")
    parser.add_argument("--max_plain", type=int, default=4096, help="largest batch measured plain (default 4096: fits 23 GB here)")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    plans = {"recipe-resnet-28px": (256, 1024, 4096), "recipe-resnet-28px-group-norm": (256, 1024, 4096), "resnet18-32px": (256, 512),
             "clear-tiny-bert": (256, 1024)}  # fmt: skip
    plans = {encoder: (64, 128) if args.quick else plans[encoder] for encoder in args.encoders}
    print(f"{os.cpu_count()} CPU cores, 2 threads a case; chunks of {args.chunk} views; peak memory of one step over its start")
    print(f"{'encoder':<29} {'batch':>6} {'plain MiB':>10} {'chunked MiB':>12} {'plain s':>8} {'chunked s':>10} {'time ratio':>11}")
    for encoder, batches in plans.items():
        for batch in batches:
            chunked = measure(encoder, batch, args.chunk)
            plain = measure(encoder, batch, 0) if batch <= args.max_plain else None
            ratio = f"{chunked['step_s'] / plain['step_s']:.2f}" if plain else "-"
            plain_mib, plain_s = (f"{plain['peak_mib']:.0f}", f"{plain['step_s']:.2f}") if plain else ("-", "-")
            print(f"{encoder:<29} {batch:>6} {plain_mib:>10} {chunked['peak_mib']:>12.0f} {plain_s:>8} {chunked['step_s']:>10.2f} {ratio:>11}")


if __name__ == "__main__":
    main()
