"""Probabilistic customer-base models: who is still a customer, how much they will buy, and what they are worth."""

from crmkit.clv._base import FitError, FitInfo
from crmkit.clv._bgnbd import BGNBD, MBGNBD

__all__ = ["BGNBD", "MBGNBD", "FitError", "FitInfo"]
