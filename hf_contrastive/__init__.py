"""hf_contrastive: contrastive representation learning (SimCLR, SupCon, CLEAR) as Hugging Face
transformers models.

Importing the package registers its configs, models and image processor with transformers' Auto
classes (`AutoConfig`, `AutoModel`, `AutoModelForPreTraining`, `AutoModelForImageClassification`,
`AutoModelForSequenceClassification`, `AutoImageProcessor`), so saved folders load without `trust_remote_code` where it is installed.
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
)

from .modeling import (
    CLEARConfig,
    CLEARForPreTraining,
    CLEARForSequenceClassification,
    CLEARModel,
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
AutoConfig.register("clear", CLEARConfig, exist_ok=True)
AutoModel.register(CLEARConfig, CLEARModel, exist_ok=True)
AutoModelForPreTraining.register(CLEARConfig, CLEARForPreTraining, exist_ok=True)
AutoModelForSequenceClassification.register(CLEARConfig, CLEARForSequenceClassification, exist_ok=True)
AutoImageProcessor.register(SimCLRConfig, image_processor_classes={"torchvision": SimCLRImageProcessor}, exist_ok=True)

__all__ = [
    "CLEARConfig",
    "CLEARForPreTraining",
    "CLEARForSequenceClassification",
    "CLEARModel",
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
