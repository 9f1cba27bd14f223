"""Experiment configuration: schema (pydantic) and loading (YAML + overrides)."""

from perfkit.config.loader import (
    LoadedConfig,
    Override,
    config_from_dict,
    load_config,
    parse_override,
)
from perfkit.config.schema import (
    DataConfig,
    ExperimentConfig,
    GateConfig,
    LoopConfig,
    ModelConfig,
    OptimizerConfig,
    ProfilerConfig,
    SchedulerConfig,
    TogglesConfig,
)

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "GateConfig",
    "LoadedConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimizerConfig",
    "Override",
    "ProfilerConfig",
    "SchedulerConfig",
    "TogglesConfig",
    "config_from_dict",
    "load_config",
    "parse_override",
]
