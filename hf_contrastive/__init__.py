"""hf_contrastive: contrastive representation learning (SimCLR, SupCon, CLEAR) as Hugging Face
transformers models.

Importing the package registers its configs, models and image processor with transformers' Auto
classes (`AutoConfig`, `AutoModel`, `AutoModelForPreTraining`, `AutoModelForImageClassification`,
`AutoImageProcessor`), so saved folders load without `trust_remote_code` where it is installed.
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
)

from .modeling import (
    NTXentLoss,
    SimCLRConfig,
    SimCLRForImageClassification,
    SimCLRForPreTraining,
    SimCLRImageProcessor,
    SimCLRModel,
    SupConLoss,
    gather_with_grad,
    supervised_contrastive_loss,
)
from .optim import LARS, lars_param_groups, scale_learning_rate

__version__ = "0.1.0"

AutoConfig.register("simclr", SimCLRConfig, exist_ok=True)
AutoModel.register(SimCLRConfig, SimCLRModel, exist_ok=True)
AutoModelForPreTraining.register(SimCLRConfig, SimCLRForPreTraining, exist_ok=True)
AutoModelForImageClassification.register(SimCLRConfig, SimCLRForImageClassification, exist_ok=True)
AutoImageProcessor.register(SimCLRConfig, image_processor_classes={"torchvision": SimCLRImageProcessor}, exist_ok=True)

__all__ = [
    "LARS",
    "NTXentLoss",
    "SimCLRConfig",
    "SimCLRForImageClassification",
    "SimCLRForPreTraining",
    "SimCLRImageProcessor",
    "SimCLRModel",
    "SupConLoss",
    "gather_with_grad",
    "lars_param_groups",
    "scale_learning_rate",
    "supervised_contrastive_loss",
]
