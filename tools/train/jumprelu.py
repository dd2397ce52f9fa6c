"""JumpReLU with straight-through estimators (Rajamanoharan et al. 2024, "Jumping Ahead").

acts = pre * H(pre - theta). The threshold theta gets a gradient through a rectangle kernel of width eps
around the jump, both from the reconstruction loss and from the L0 penalty sum H(pre - theta); the
pre-activations get the ordinary gradient where the unit is open.
"""

import torch


def _kernel(u):
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, eps):
        mask = pre > theta
        ctx.save_for_backward(pre, theta, mask)
        ctx.eps = eps
        return pre * mask

    @staticmethod
    def backward(ctx, g):
        pre, theta, mask = ctx.saved_tensors
        eps = ctx.eps
        g_pre = g * mask
        g_theta = -(theta / eps) * _kernel((pre - theta) / eps) * g
        return g_pre, g_theta.reshape(-1, theta.shape[-1]).sum(0), None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        eps = ctx.eps
        g_theta = -(1.0 / eps) * _kernel((pre - theta) / eps) * g
        return None, g_theta.reshape(-1, theta.shape[-1]).sum(0), None


def jumprelu(pre, theta, eps):
    return _JumpReLU.apply(pre, theta, eps)


def step(pre, theta, eps):
    return _Step.apply(pre, theta, eps)


class L0Controller:
    """Adapts the L0 coefficient multiplicatively so the batch L0 settles at a target: one knob
    (target L0) instead of a coefficient that would need retuning for every layer and dictionary."""

    def __init__(self, target, init=1e-3, rate=0.003):
        self.target = target
        self.coef = init
        self.rate = rate
        self.ema = None

    def update(self, l0):
        import math
        # Smoothed L0, slow multiplicative steps: the thresholds respond with a lag, and a fast
        # controller overshoots (thresholds rise far past the target and barely come back down).
        self.ema = l0 if self.ema is None else 0.98 * self.ema + 0.02 * l0
        err = (self.ema - self.target) / self.target
        self.coef *= math.exp(self.rate * max(-1.0, min(1.0, err)))
        return self.coef

    def active_coef(self):
        """The coefficient applied this step: none while L0 is already under target. Thresholds only
        rise under the L0 penalty and barely come back down from reconstruction alone, so a penalty
        that outlives the crossing drives L0 far below the target."""
        return self.coef if self.ema is None or self.ema > self.target else 0.0
