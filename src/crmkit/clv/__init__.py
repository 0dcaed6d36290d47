"""Probabilistic customer-base models: who is still a customer, how much they will buy, and what they are worth."""

from crmkit.clv._base import FitError, FitInfo
from crmkit.clv._bgbb import BGBB
from crmkit.clv._bgnbd import BGNBD, MBGNBD
from crmkit.clv._gamma_gamma import GammaGamma, clv, clv_one
from crmkit.clv._pareto import ParetoNBD
from crmkit.clv._simulate import simulate

__all__ = ["BGBB", "BGNBD", "MBGNBD", "FitError", "FitInfo", "GammaGamma", "ParetoNBD", "clv", "clv_one", "simulate"]
