"""hf_contrastive: contrastive representation learning (SimCLR, SupCon, CLEAR) as Hugging Face
transformers models."""

from .modeling.losses import NTXentLoss, SupConLoss, gather_with_grad, supervised_contrastive_loss
from .optim import LARS, lars_param_groups, scale_learning_rate

__version__ = "0.1.0"

__all__ = [
    "LARS",
    "NTXentLoss",
    "SupConLoss",
    "gather_with_grad",
    "lars_param_groups",
    "scale_learning_rate",
    "supervised_contrastive_loss",
]
