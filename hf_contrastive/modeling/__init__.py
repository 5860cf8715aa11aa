"""Everything a Hub repository carries: configs, models, image processor and the losses they use.

Flat on purpose: transformers' ``trust_remote_code`` copies a modeling file and its same-folder
relative imports, nothing else.
"""

from .configuration_clear import CLEARConfig
from .configuration_simclr import SimCLRConfig
from .image_processing_simclr import SimCLRImageProcessor
from .losses import NTXentLoss, SupConLoss, gather_with_grad, supervised_contrastive_loss
from .modeling_clear import (
    CLEARForPreTraining,
    CLEARForSequenceClassification,
    CLEARModel,
    CLEARPreTrainedModel,
    CLEARPreTrainingOutput,
)
from .modeling_simclr import (
    SimCLRForImageClassification,
    SimCLRForPreTraining,
    SimCLRModel,
    SimCLRPreTrainedModel,
    SimCLRPreTrainingOutput,
)

__all__ = [
    "CLEARConfig",
    "CLEARForPreTraining",
    "CLEARForSequenceClassification",
    "CLEARModel",
    "CLEARPreTrainedModel",
    "CLEARPreTrainingOutput",
    "NTXentLoss",
    "SimCLRConfig",
    "SimCLRForImageClassification",
    "SimCLRForPreTraining",
    "SimCLRImageProcessor",
    "SimCLRModel",
    "SimCLRPreTrainedModel",
    "SimCLRPreTrainingOutput",
    "SupConLoss",
    "gather_with_grad",
    "supervised_contrastive_loss",
]
