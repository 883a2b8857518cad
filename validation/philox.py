"""Counter-based random bits (Philox4x32-10) in plain torch integer ops.

A dropout mask drawn here is a pure function of (key, counter): the run's seed and the insertion
slot form the key, the training step and the element's index in the run's own tensor form the
counter. There is no generator state, so a run draws the same bits whichever pack it trains in,
whichever device computes them (integer arithmetic is exact everywhere) and whether or not the
step is captured in a CUDA graph or compiled (the step number is an ordinary device tensor).

Philox4x32-10 is the generator of Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"
(SC 2011), the one cuRAND and PyTorch's CUDA backend use; the known-answer vectors of the
Random123 distribution are checked in ``tests/validation/test_philox.py``. All words are held in
int64 tensors (PyTorch has no uint32 arithmetic); the 32x32 -> 64 bit product is split into
16-bit halves so that nothing overflows.
"""

from __future__ import annotations

MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
ROUNDS = 10


def _mulhilo(a, m: int):
    """(hi, lo) 32-bit words of a * m for int64 tensors a < 2**32 and a 32-bit constant m."""
    m_hi, m_lo = m >> 16, m & 0xFFFF
    hi = (a * m_hi + ((a * m_lo) >> 16)) >> 16
    lo = (a * m) & MASK32  # the low 64 bits of the product wrap exactly; keep the low 32
    return hi, lo


def philox4x32(c0, c1, c2, c3, k0, k1, rounds: int = ROUNDS):
    """Philox4x32-``rounds`` of counter words (c0..c3) under key words (k0, k1).

    Arguments are int64 tensors (broadcastable) or Python ints holding 32-bit values; returns the
    four 32-bit output words as int64 tensors.
    """
    for r in range(rounds):
        if r:
            k0 = (k0 + _W0) & MASK32
            k1 = (k1 + _W1) & MASK32
        hi0, lo0 = _mulhilo(c0, _M0)
        hi1, lo1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def random_words(keys0, keys1, step, n: int, stream: int = 0):
    """``n`` 32-bit random words per key, shape (K, n), as int64.

    ``keys0``/``keys1`` are int64 tensors of shape (K,) (one key per run), ``step`` an int64
    tensor (or int) for the training step. Word ``e`` of a row is lane ``e % 4`` of the Philox
    block at counter (e // 4, step, stream, 0): it depends on the key, the step and e only.
    """
    import torch

    device = keys0.device
    blocks = (n + 3) // 4
    c0 = torch.arange(blocks, device=device, dtype=torch.int64).unsqueeze(0)
    zero = torch.zeros((), device=device, dtype=torch.int64)
    c1 = zero + step
    c2 = zero + stream
    out = philox4x32(c0, c1, c2, zero, keys0.unsqueeze(1), keys1.unsqueeze(1))
    words = torch.stack(out, dim=-1).reshape(keys0.shape[0], blocks * 4)
    return words[:, :n]


def keep_threshold(rate: float) -> int:
    """Integer threshold t with P(word < t) = 1 - rate for a uniform 32-bit word (exact to 2**-32).
    Rate 0 keeps everything (t = 2**32)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate {rate} outside [0, 1)")
    return int(round((1.0 - rate) * 2.0**32))
