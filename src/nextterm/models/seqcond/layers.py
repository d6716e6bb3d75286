"""The two block types of the SeqCond hybrid and their decoding caches.

Each block has a parallel ``forward`` over a right-padded batch ``[B, T, d]`` (training and prefill;
it can fill a decoding cache at each row's length) and a recurrent ``step`` over one token per row
``[B, d]`` at per-row absolute positions, which updates the cache in place (so that a CUDA graph can
capture it). Formulas and parameter names follow docs/seqcond.md. As in the published
implementation, positions from ``maxlen - 1`` on all read the position tables (RoPE angles, the
SCA position prior) at ``maxlen - 1``.

* :class:`SCABlock` (SeqCond attention): a fixed-size float32 state per row: the running sums of the
  token weights and of the complex features, plus the last ``kernel - 1`` conv inputs.
* :class:`TransformerBlock`: RoPE (half-split) + parameter-free q/k RMS norm, GQA softmax attention,
  a SiLU-gated FFN with biases; its cache is a preallocated key/value buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nextterm.models.seqcond.configuration import SeqCondConfig

NORM_EPS = 1e-6
WEIGHT_MIN, WEIGHT_MAX = 1e-4, 5000.0
DENOMINATOR_MIN = 1e-4
THETA_MIN, THETA_MAX = 0.001, 3.0


@dataclass
class _Cache:
    """Tensors of one block's decoding state, batch first; updated in place by ``step``."""

    def tensors(self) -> list[Tensor]:
        return [getattr(self, field.name) for field in fields(self)]

    def select(self, rows: Tensor) -> None:
        """Keep / reorder / duplicate batch rows."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name).index_select(0, rows))

    def clone(self):
        return type(self)(*(tensor.clone() for tensor in self.tensors()))

    def copy_(self, other: _Cache) -> None:
        for mine, theirs in zip(self.tensors(), other.tensors(), strict=True):
            mine.copy_(theirs)

    def nbytes(self) -> int:
        return sum(tensor.numel() * tensor.element_size() for tensor in self.tensors())


@dataclass
class SCACache(_Cache):
    """Running sums of an SCA block: ``den`` [B, K], ``num_re`` / ``num_im`` [B, K, H, M] (float32),
    and ``conv`` [B, kernel - 1, C], the last pre-activation inputs of the causal conv."""

    den: Tensor
    num_re: Tensor
    num_im: Tensor
    conv: Tensor


@dataclass
class KVCache(_Cache):
    """Keys and values of a transformer block, ``[B, kv_heads, capacity, head_dim]``."""

    key: Tensor
    value: Tensor

    @property
    def capacity(self) -> int:
        return self.key.shape[2]

    def grow(self, capacity: int) -> None:
        """Enlarge the buffers to ``capacity`` positions, keeping their contents."""
        extra = capacity - self.capacity
        if extra > 0:
            self.key = F.pad(self.key, (0, 0, 0, extra))
            self.value = F.pad(self.value, (0, 0, 0, extra))


def rms_normalize(x: Tensor, eps: float = NORM_EPS) -> Tensor:
    """``x * rsqrt(mean(x^2) + eps)`` over the last axis, in float32, cast back to ``x``'s dtype."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class SeqCondRMSNorm(nn.Module):
    """RMSNorm whose weight is named ``scale`` (block norms)."""

    def __init__(self, width: int, eps: float = NORM_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * self.scale.float()).to(x.dtype)


class GatedRMSNorm(nn.Module):
    """``RMSNorm(y * silu(gate))`` with a weight named ``weight``."""

    def __init__(self, width: int, eps: float = NORM_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, y: Tensor, gate: Tensor) -> Tensor:
        x32 = y.float() * F.silu(gate.float())
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * self.weight.float()).to(y.dtype)


def rope_cos_sin(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """Cos and sin tables ``[..., head_dim / 2]`` (float32) for integer ``positions``."""
    half = head_dim // 2
    inv_freq = 1.0 / base ** (
        torch.arange(half, device=positions.device, dtype=torch.float32) / half
    )
    angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Half-split rotary embedding of ``x`` [..., head_dim]; cos/sin broadcast to [..., head_dim/2]."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


class SeqCondAttention(nn.Module):
    """The SCA operator: causal conv, characteristic-function state, complex readout."""

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__()
        d = config.d_model
        self.num_heads = k_heads = config.seqcond_heads
        self.num_query_heads = config.num_query_heads
        self.group = k_heads // config.num_query_heads
        self.num_thetas = m = config.num_thetas
        self.width = h = config.seqcond_state_width
        self.num_anchor = config.num_anchor_heads
        self.out_expand = config.out_expand_factor
        self.kernel = config.conv_kernel_size
        self.maxlen = config.maxlen
        self.channels = k_heads * h + k_heads + config.num_query_heads * h * m * 2

        self.in_proj = nn.Linear(d, self.channels, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(self.channels, 1, self.kernel))
        if m == 1:
            self.theta_raw = nn.Parameter(torch.empty(1, 1, k_heads, h, 1))
        else:
            self.theta_d_raw = nn.Parameter(torch.empty(1, 1, k_heads, h, m))
        self.w_int_raw = nn.Parameter(torch.empty(1, 1, config.num_query_heads, self.group, h, m))
        if k_heads > self.num_anchor:  # with every head an anchor head there is no decay prior
            self.decay_slopes = nn.Parameter(torch.empty(k_heads - self.num_anchor))
        if self.num_anchor:
            self.anchor_slopes = nn.Parameter(torch.empty(self.num_anchor))
        self.score_scale = nn.Parameter(torch.empty(k_heads))
        self.score_bias = nn.Parameter(torch.empty(k_heads))
        self.phase_scale = nn.Parameter(torch.empty(k_heads))
        self.gate_proj = nn.Linear(d, k_heads * 2 * h, bias=False)
        self.gated_norm = GatedRMSNorm(k_heads * 2 * h)
        self.W_readout = nn.Parameter(torch.empty(k_heads, 2 * h, 2 * self.out_expand * h))
        self.out_proj = nn.Linear(k_heads * self.out_expand * h, d, bias=False)

    # -- initial values (used by SeqCondPreTrainedModel._init_weights) -------------------------
    def initial_theta_raw(self) -> Tensor:
        """Raw frequencies that make theta geometric from 0.001 to 3 (over M, or over H if M == 1)."""
        k_heads, h, m = self.num_heads, self.width, self.num_thetas
        if m == 1:
            theta = (
                torch.logspace(math.log10(THETA_MIN), math.log10(THETA_MAX), h)
                if h > 1
                else torch.tensor([1.0])
            )
            fraction = ((theta - THETA_MIN) / (THETA_MAX - THETA_MIN)).clamp(1e-4, 1 - 1e-4)
            return torch.logit(fraction).view(1, 1, 1, h, 1).expand(1, 1, k_heads, h, 1).clone()
        theta = torch.logspace(math.log10(THETA_MIN), math.log10(THETA_MAX), m)
        cumulative = (theta - THETA_MIN) / (THETA_MAX - THETA_MIN)
        steps = torch.diff(cumulative, prepend=torch.zeros(1)).clamp_min(1e-3)
        raw = torch.log(torch.expm1(steps))  # inverse softplus (the 1e-4 offset is negligible)
        return raw.view(1, 1, 1, 1, m).expand(1, 1, k_heads, h, m).clone()

    def initial_slopes(self, count: int) -> Tensor:
        """Decay rates softplus(slope) spread geometrically over [1e-4, 1e-2] (inverse softplus)."""
        rates = torch.logspace(-4, -2, count) if count > 1 else torch.full((count,), 1e-3)
        return torch.log(torch.expm1(rates))

    # -- shared pieces --------------------------------------------------------------------------
    def theta(self) -> Tensor:
        """Frequencies (K, H, M), float32, monotone in (0.001, 3]."""
        if self.num_thetas == 1:
            return (THETA_MIN + (THETA_MAX - THETA_MIN) * torch.sigmoid(self.theta_raw.float()))[
                0, 0
            ]
        d = F.softplus(self.theta_d_raw.float()) + 1e-4
        return (
            THETA_MIN + (THETA_MAX - THETA_MIN) * torch.cumsum(d, -1) / d.sum(-1, keepdim=True)
        )[0, 0]

    def position_prior(self, positions: Tensor) -> Tensor:
        """Absolute-position prior ``[..., K]`` (float32) for integer ``positions`` [...]."""
        j = positions.clamp(max=self.maxlen - 1).to(torch.float32).unsqueeze(-1)
        priors = []
        if self.num_anchor < self.num_heads:
            priors.append(torch.exp(-F.softplus(self.decay_slopes.float()) * (self.maxlen - 1 - j)))
        if self.num_anchor:
            priors.append(torch.exp(-F.softplus(self.anchor_slopes.float()) * j))
        return torch.cat(priors, dim=-1)

    def _split(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Values (…, K, H), scores (…, K) and queries (…, Kq, H, M, 2) of activated conv output z."""
        k_heads, h = self.num_heads, self.width
        lead = z.shape[:-1]
        values = z[..., : k_heads * h].reshape(*lead, k_heads, h)
        scores = z[..., k_heads * h : k_heads * h + k_heads]
        queries = z[..., k_heads * h + k_heads :].reshape(
            *lead, self.num_query_heads, h, self.num_thetas, 2
        )
        return values, scores, queries

    def _features(
        self, values: Tensor, scores: Tensor, positions: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Token weights w (…, K) and feature parts Re f, Im f (…, K, H, M), float32."""
        values = values.float()
        raw = F.softplus(self.score_scale.float() * scores.float() + self.score_bias.float())
        weights = (raw * self.position_prior(positions)).clamp(WEIGHT_MIN, WEIGHT_MAX)
        squashed = F.softsign(self.phase_scale.float().unsqueeze(-1) * values)
        phase = self.theta() * squashed.unsqueeze(-1)
        amplitude = (weights.unsqueeze(-1) * values).unsqueeze(-1)
        return weights, amplitude * torch.cos(phase), amplitude * torch.sin(phase)

    def _readout(
        self, u: Tensor, den: Tensor, num_re: Tensor, num_im: Tensor, queries: Tensor
    ) -> Tensor:
        """From sums (…, K) / (…, K, H, M) and queries to the block output (…, d)."""
        k_heads, h, m = self.num_heads, self.width, self.num_thetas
        lead = den.shape[:-1]
        inverse = (1.0 / den.clamp_min(DENOMINATOR_MIN))[..., None, None]
        grouped = (*lead, self.num_query_heads, self.group, h, m)
        s_re = (num_re * inverse).reshape(grouped)
        s_im = (num_im * inverse).reshape(grouped)
        q_re = queries[..., 0].float().unsqueeze(-3)
        q_im = queries[..., 1].float().unsqueeze(-3)
        scale = 1.0 / math.sqrt(h)
        mix = torch.softmax(self.w_int_raw.float(), dim=-1)[0, 0]
        y_re = ((s_re * q_re + s_im * q_im) * mix).sum(-1) * scale
        y_im = ((s_im * q_re - s_re * q_im) * mix).sum(-1) * scale
        y = torch.cat([y_re.reshape(*lead, k_heads, h), y_im.reshape(*lead, k_heads, h)], dim=-1)
        y = self.gated_norm(y.reshape(*lead, k_heads * 2 * h).to(u.dtype), self.gate_proj(u))
        mixed = torch.einsum("...kc,kce->...ke", y.reshape(*lead, k_heads, 2 * h), self.W_readout)
        value, gate = mixed.chunk(2, dim=-1)
        return self.out_proj(
            (value * torch.sigmoid(gate)).reshape(*lead, k_heads * self.out_expand * h)
        )

    # -- parallel and recurrent forms -----------------------------------------------------------
    def forward(
        self, u: Tensor, lengths: Tensor | None = None, cache: SCACache | None = None
    ) -> Tensor:
        """Parallel form over ``u`` [B, T, d]; with ``cache``, store the state at ``lengths - 1``."""
        batch, length, _ = u.shape
        z_in = self.in_proj(u)
        padded = F.pad(z_in.transpose(1, 2), (self.kernel - 1, 0))
        z = F.silu(F.conv1d(padded, self.conv_weight, groups=self.channels).transpose(1, 2))
        values, scores, queries = self._split(z)
        positions = torch.arange(length, device=u.device)
        weights, f_re, f_im = self._features(values, scores, positions)
        den = torch.cumsum(weights, dim=1)
        num_re = torch.cumsum(f_re, dim=1)
        num_im = torch.cumsum(f_im, dim=1)
        if cache is not None:
            last = (lengths - 1).view(batch, 1)
            cache.den.copy_(
                den.gather(1, last.unsqueeze(-1).expand(-1, -1, den.shape[-1])).squeeze(1)
            )
            index = last.view(batch, 1, 1, 1, 1).expand(-1, -1, *num_re.shape[2:])
            cache.num_re.copy_(num_re.gather(1, index).squeeze(1))
            cache.num_im.copy_(num_im.gather(1, index).squeeze(1))
            if self.kernel > 1:
                window = lengths.view(batch, 1) + torch.arange(self.kernel - 1, device=u.device)
                history = padded.transpose(1, 2)  # [B, T + kernel - 1, C], left zero-padded
                cache.conv.copy_(
                    history.gather(1, window.unsqueeze(-1).expand(-1, -1, self.channels))
                )
        return self._readout(u, den, num_re, num_im, queries)

    def step(self, u: Tensor, positions: Tensor, cache: SCACache) -> Tensor:
        """Recurrent form for one token per row: ``u`` [B, d] at ``positions`` [B]."""
        z_in = self.in_proj(u)
        window = torch.cat([cache.conv, z_in.unsqueeze(1)], dim=1)  # [B, kernel, C], oldest first
        z = F.silu((window * self.conv_weight[:, 0, :].transpose(0, 1)).sum(1))
        if self.kernel > 1:
            cache.conv.copy_(window[:, 1:])
        values, scores, queries = self._split(z)
        weights, f_re, f_im = self._features(values, scores, positions)
        cache.den.add_(weights)
        cache.num_re.add_(f_re)
        cache.num_im.add_(f_im)
        return self._readout(u, cache.den, cache.num_re, cache.num_im, queries)

    def empty_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> SCACache:
        k_heads, h, m = self.num_heads, self.width, self.num_thetas
        zeros = torch.zeros
        return SCACache(
            den=zeros(batch, k_heads, device=device, dtype=torch.float32),
            num_re=zeros(batch, k_heads, h, m, device=device, dtype=torch.float32),
            num_im=zeros(batch, k_heads, h, m, device=device, dtype=torch.float32),
            conv=zeros(batch, self.kernel - 1, self.channels, device=device, dtype=dtype),
        )


class SCABlock(nn.Module):
    """``x + SCA(norm(x))``."""

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__()
        self.norm = SeqCondRMSNorm(config.d_model)
        self.attn = SeqCondAttention(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, cache: SCACache | None = None
    ) -> Tensor:
        return x + self.dropout(self.attn(self.norm(x), lengths, cache))

    def step(self, x: Tensor, positions: Tensor, cache: SCACache, kv_length: int) -> Tensor:
        return x + self.attn.step(self.norm(x), positions, cache)

    def empty_cache(
        self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype
    ) -> SCACache:
        return self.attn.empty_cache(batch, device, dtype)


class TransformerAttention(nn.Module):
    """Causal GQA softmax attention with half-split RoPE and parameter-free q/k RMS norm."""

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__()
        d = config.d_model
        self.num_heads, self.num_kv_heads, self.head_dim = (
            config.num_heads,
            config.num_kv_heads,
            config.head_dim,
        )
        self.qk_norm, self.qk_norm_eps, self.rope_base = (
            config.qk_norm,
            config.qk_norm_eps,
            config.rope_base,
        )
        self.maxlen = config.maxlen
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.num_kv_heads * self.head_dim, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def _project(self, x: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q [..., heads, hd], k and v [..., kv_heads, hd] at ``positions`` (shape of x[..., 0])."""
        lead = x.shape[:-1]
        q = self.q_proj(x).view(*lead, self.num_heads, self.head_dim)
        k = self.k_proj(x).view(*lead, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).view(*lead, self.num_kv_heads, self.head_dim)
        cos, sin = rope_cos_sin(positions.clamp(max=self.maxlen - 1), self.head_dim, self.rope_base)
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.qk_norm:
            q, k = rms_normalize(q, self.qk_norm_eps), rms_normalize(k, self.qk_norm_eps)
        return q, k, v

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        batch, length, _ = x.shape
        q, k, v = self._project(x, torch.arange(length, device=x.device))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            cache.key[:, :, :length].copy_(k)
            cache.value[:, :, :length].copy_(v)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, -1))

    def step(self, x: Tensor, positions: Tensor, cache: KVCache, kv_length: int) -> Tensor:
        """One token per row at ``positions``; attends over the first ``kv_length`` cache slots."""
        batch = x.shape[0]
        q, k, v = self._project(x, positions)
        slot = positions.view(batch, 1, 1, 1).expand(-1, self.num_kv_heads, 1, self.head_dim)
        cache.key.scatter_(2, slot, k.unsqueeze(2))
        cache.value.scatter_(2, slot, v.unsqueeze(2))
        visible = torch.arange(kv_length, device=x.device).view(1, -1) <= positions.view(-1, 1)
        out = F.scaled_dot_product_attention(
            q.unsqueeze(2),
            cache.key[:, :, :kv_length],
            cache.value[:, :, :kv_length],
            attn_mask=visible.view(batch, 1, 1, kv_length),
            enable_gqa=True,
        )
        return self.out_proj(out.reshape(batch, -1))


class TransformerBlock(nn.Module):
    """Pre-norm attention and SiLU-gated FFN (``ff_in`` -> (u, v) -> ``ff_out(silu(v) * u)``)."""

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__()
        self.norm1 = SeqCondRMSNorm(config.d_model)
        self.attn = TransformerAttention(config)
        self.norm2 = SeqCondRMSNorm(config.d_model)
        self.ff_in = nn.Linear(config.d_model, 2 * config.d_ff, bias=True)
        self.ff_out = nn.Linear(config.d_ff, config.d_model, bias=True)
        self.dropout = nn.Dropout(config.dropout)

    def _ffn(self, x: Tensor) -> Tensor:
        u, v = self.ff_in(self.norm2(x)).chunk(2, dim=-1)
        return self.ff_out(F.silu(v) * u)

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, cache: KVCache | None = None
    ) -> Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), cache))
        return x + self.dropout(self._ffn(x))

    def step(self, x: Tensor, positions: Tensor, cache: KVCache, kv_length: int) -> Tensor:
        x = x + self.attn.step(self.norm1(x), positions, cache, kv_length)
        return x + self._ffn(x)

    def empty_cache(
        self, batch: int, capacity: int, device: torch.device, dtype: torch.dtype
    ) -> KVCache:
        shape = (batch, self.attn.num_kv_heads, capacity, self.attn.head_dim)
        return KVCache(
            key=torch.zeros(shape, device=device, dtype=dtype),
            value=torch.zeros(shape, device=device, dtype=dtype),
        )
