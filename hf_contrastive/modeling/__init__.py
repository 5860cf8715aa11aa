"""Everything a Hub repository carries: configs, models and the losses they use.

Flat on purpose: transformers' ``trust_remote_code`` copies a modeling file and its same-folder
relative imports, nothing else.
"""

from .losses import NTXentLoss, SupConLoss, gather_with_grad, supervised_contrastive_loss

__all__ = ["NTXentLoss", "SupConLoss", "gather_with_grad", "supervised_contrastive_loss"]
