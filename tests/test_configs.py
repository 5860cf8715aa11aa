"""Tests for configs/: the training recipes' YAML files and the accelerate configs for real
hardware (what a CPU can check: each parses with accelerate's own loader and says how to launch it;
the DDP one runs on 2 CPU processes in tests/test_training.py)."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from conftest import REPO_ROOT

ACCELERATE_CONFIGS = sorted((REPO_ROOT / "configs" / "accelerate").glob("*.yaml"))
EXPECTED = {  # file: (distributed type, processes, machines)
    "one_gpu.yaml": ("NO", 1, 1),
    "ddp_8gpu_bf16.yaml": ("MULTI_GPU", 8, 1),
    "fsdp_8gpu_clear.yaml": ("FSDP", 8, 1),
    "deepspeed_zero2.yaml": ("DEEPSPEED", 8, 1),
    "multinode_2x8gpu.yaml": ("MULTI_GPU", 16, 2),
}


def test_every_hardware_config_is_shipped():
    assert [path.name for path in ACCELERATE_CONFIGS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda path: path.name)
def test_accelerate_config_parses_with_accelerates_loader_and_names_its_launch_line(path: Path):
    """Property: accelerate's own loader reads the file into the topology its name promises, in
    bf16 where there is a GPU, and the file's comment gives the exact launch command."""
    config = load_config_from_file(str(path))
    distributed, processes, machines = EXPECTED[path.name]
    assert (config.distributed_type.value, config.num_processes, config.num_machines) == (distributed, processes, machines)
    assert config.mixed_precision == "bf16" and not config.use_cpu
    assert f"accelerate launch --config_file configs/accelerate/{path.name}" in path.read_text()
    if distributed == "FSDP":  # CLEAR's transformer layers are the shard units, fully sharded
        assert config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "BertLayer"
        assert config.fsdp_config["fsdp_reshard_after_forward"] is True
    if distributed == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 2
