"""Kernels k(a, b) for kernel self-attention (Section 2.2) and kernel GD (Eq. 3, Appendix C).

Every kernel maps a (..., D) and b (..., m, D) to (..., m): the kernel between `a` and each
row of `b`. Kernels with a finite feature space also expose `feature_map`, so a gradient step
can be run explicitly in that space (chapter `02_proofs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from icl_lib.validation import check_positive_float, check_positive_int

__all__ = ["Kernel", "LinearKernel", "PolynomialKernel", "RBFKernel"]


class Kernel:
    """A symmetric positive semi-definite kernel, evaluated between a point and a set of points."""

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # (..., D), (..., m, D) -> (..., m)
        raise NotImplementedError


@dataclass(frozen=True)
class LinearKernel(Kernel):
    """k(a, b) = <a, b>; feature map: the identity. Eq. 3 with it is Eq. 2."""

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (b @ a.unsqueeze(-1)).squeeze(-1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True)
class PolynomialKernel(Kernel):
    """k(a, b) = (<a, b> + c)^degree, whose feature map is the degree-fold tensor power of [x, sqrt(c)]."""

    degree: int = 2
    c: float = 1.0

    def __post_init__(self) -> None:
        check_positive_int("degree", self.degree)
        if self.c < 0:
            raise ValueError(f"c={self.c} must be >= 0")

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((b @ a.unsqueeze(-1)).squeeze(-1) + self.c) ** self.degree

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x), (..., D) -> (..., (D+1)^degree), with <phi(a), phi(b)> = k(a, b)."""
        x_tilde = torch.cat([x, x.new_full((*x.shape[:-1], 1), self.c**0.5)], dim=-1)
        phi = x_tilde
        for _ in range(self.degree - 1):
            phi = (phi.unsqueeze(-1) * x_tilde.unsqueeze(-2)).flatten(-2)
        return phi


@dataclass(frozen=True)
class RBFKernel(Kernel):
    """k(a, b) = exp(-||a - b||^2 / (2 sigma^2)) (Section 3.3); its feature space is infinite-dimensional."""

    sigma2: float = 1.0

    def __post_init__(self) -> None:
        check_positive_float("sigma2", self.sigma2)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sq_dist = ((b - a.unsqueeze(-2)) ** 2).sum(dim=-1)
        return torch.exp(-sq_dist / (2 * self.sigma2))
