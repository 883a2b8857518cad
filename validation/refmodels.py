"""The networks of the per-rule reference experiments (``reference.py``), built directly in torch.

Three families, each with keyword switches that put one anti-pattern in or take it out:

- :func:`seednet`: the 2018 seed network (blocks of Conv-ReLU-Conv-ReLU-MaxPool, then two wider
  convolutions and a dense head), reduced for CPU: ``width`` channels instead of 60, three blocks
  on 16x16 inputs instead of four on 32x32 (so the map shrinks 16-8-4-2 as the original's 32-...-2).
- :func:`mlp`: a plain multilayer perceptron on flattened images.
- :func:`TinyLM`: a small pre-norm transformer language model over characters; :class:`CharLSTM`
  for the recurrent rule.

Every layer is a module (``nn.ReLU``, not ``F.relu``), so archlint's torch frontend sees the same
graph a user's model gives, and the symptom hooks (``symptoms.py``) find the activations.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def _seed(init_seed: int | None) -> None:
    """Re-seed just before the init pass: networks whose weight layers match layer for layer get the
    same initial weights, whatever else their constructors drew."""
    if init_seed is not None:
        torch.manual_seed(init_seed)


def _glorot(module: nn.Module, init_seed: int | None = None) -> None:
    """Keras defaults, as the seed network: glorot-uniform kernels, zero biases."""
    _seed(init_seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": lambda: nn.Softmax(dim=-1),
            "logsoftmax": lambda: nn.LogSoftmax(dim=-1), "identity": nn.Identity}[name]()


class Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class WithDangling(nn.Module):
    """A network that also computes a branch nobody reads (AL021)."""

    def __init__(self, trunk: nn.Module, dangling: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.dangling = dangling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.dangling(x)  # computed, never used
        return self.trunk(x)


def seednet(*, num_classes: int = 10, width: int = 16, wide: int = 32, blocks: int = 3,
            bn: str = "none", dropout: float = 0.0, dropout_where: str = "before", bias: bool = True,
            double_bn: bool = False, head: str = "dense", head_units: int = 128, stem: str = "seed",
            grow: bool = False, downsample: str = "pool", kernels: tuple[int, ...] | None = None,
            last_kernel: int = 3, big_kernel_at: tuple[int, ...] = (), in_ch: int = 3,
            image: int = 16, init_seed: int | None = None, bn_momentum: float = BN_MOMENTUM,
            pool_dropout: str = "", pool_dropout_rate: float = 0.25) -> nn.Sequential:
    """The reduced seed network. ``bn``: none | before (Conv-BN-ReLU) | after (Conv-ReLU-BN);
    ``dropout``: rate of dropout inserted at every convolution (``dropout_where`` before/after the
    activation; ``before`` with ``bn="before"`` is Conv-Dropout-BN-ReLU); ``head``: dense (Flatten-Dense(head_units)-
    ReLU-Dropout(0.5)-Dense(K)) | gap (GlobalAvgPool-Dense(K)) | big (Flatten-Dense(4*head_units)...);
    ``stem``: seed | imagenet (7x7 stride-2 conv + stride-2 max-pool); ``grow``: double the channels
    at every downsampling; ``downsample``: pool | none | stride1x1 (a 1x1 stride-2 convolution
    instead of each pool) | stride3x3; ``kernels``: kernel size per convolution of the blocks;
    ``last_kernel``: kernel of the two wide convolutions; ``big_kernel_at``: indices of block
    convolutions that get a 7x7 kernel; ``bn_momentum``: PyTorch momentum of the BatchNorm running
    statistics (0.01 = Keras' 0.99, the seed network's; 0.1 = PyTorch's default); ``pool_dropout``:
    "" (none) | before | after: a 2x2 max-pool after the wide convolutions, with a dropout of
    ``pool_dropout_rate`` before it (ReLU-Dropout-MaxPool, AL033's anti-pattern) or after it
    (ReLU-MaxPool-Dropout, the fix), then the head."""
    layers: list[nn.Module] = []
    ch = in_ch
    size = image
    n_block_convs = 2 * blocks
    ks = list(kernels or (3,) * n_block_convs)
    for i in big_kernel_at:
        ks[i] = 7

    def conv(cin: int, cout: int, k: int, stride: int = 1) -> None:
        pad = "same" if stride == 1 else k // 2
        layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=bias))
        if dropout and dropout_where == "before":
            layers.append(nn.Dropout(dropout))
        if bn == "before":
            layers.append(nn.BatchNorm2d(cout, eps=BN_EPS, momentum=bn_momentum))
            if double_bn:
                layers.append(nn.BatchNorm2d(cout, eps=BN_EPS, momentum=bn_momentum))
        layers.append(nn.ReLU())
        if dropout and dropout_where == "after":
            layers.append(nn.Dropout(dropout))
        if bn == "after":
            layers.append(nn.BatchNorm2d(cout, eps=BN_EPS, momentum=bn_momentum))

    w = width
    if stem == "imagenet":
        layers += [nn.Conv2d(ch, w, 7, stride=2, padding=3, bias=bias), nn.ReLU(),
                   nn.MaxPool2d(3, stride=2, padding=1)]
        ch, size = w, size // 4
    k = 0
    for b in range(blocks):
        for _ in range(2):
            conv(ch, w, ks[k])
            ch, k = w, k + 1
        nxt = w * 2 if grow else w
        if downsample == "pool":
            layers.append(nn.MaxPool2d(2))
        elif downsample == "stride1x1":
            layers += [nn.Conv2d(ch, nxt, 1, stride=2, bias=bias), nn.ReLU()]
            ch = nxt
        elif downsample == "stride3x3":
            layers += [nn.Conv2d(ch, nxt, 3, stride=2, padding=1, bias=bias), nn.ReLU()]
            ch = nxt
        if downsample != "none":
            size //= 2
        w = nxt
    for _ in range(2):
        conv(ch, wide, last_kernel)
        ch = wide
    if pool_dropout:
        drop, pool = nn.Dropout(pool_dropout_rate), nn.MaxPool2d(2)
        layers += [drop, pool] if pool_dropout == "before" else [pool, drop]
        size //= 2
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, num_classes)]
    else:
        units = head_units * (4 if head == "big" else 1)
        layers += [nn.Flatten(), nn.Linear(ch * size * size, units), nn.ReLU(), nn.Dropout(0.5),
                   nn.Linear(units, num_classes)]
    net = nn.Sequential(*layers)
    _glorot(net, init_seed)
    return net


def mlp(*, in_features: int, num_classes: int = 10, hidden: tuple[int, ...] = (256, 256), act: str = "relu",
        acts: tuple[str, ...] | None = None, extra_act: str | None = None, norm: bool = False,
        dropout: float = 0.0, logit_dropout: float = 0.0, init: str = "glorot", init_std: float = 0.05,
        residual: bool = False, linear_pair: bool = False, out_units: int | None = None,
        out_act: str | None = None, init_seed: int | None = None) -> nn.Sequential:
    """A plain MLP. ``acts`` overrides the activation per hidden layer; ``extra_act`` adds a second
    activation after each hidden one (AL008); ``norm`` puts BatchNorm1d before each activation;
    ``logit_dropout`` drops the output (AL007); ``init``: glorot | he | zeros | normal (fixed
    ``init_std``); ``residual`` wraps equal-width hidden layers in skip connections; ``linear_pair``
    puts a second dense layer with no activation after each hidden one (AL009); ``out_units`` /
    ``out_act``: the output layer's width and activation (AL026)."""
    layers: list[nn.Module] = []
    d = in_features
    acts = acts or (act,) * len(hidden)
    for i, (h, a) in enumerate(zip(hidden, acts)):
        block: list[nn.Module] = [nn.Linear(d, h)]
        if linear_pair:
            block.append(nn.Linear(h, h))
        if norm:
            block.append(nn.BatchNorm1d(h))
        block.append(_act(a))
        if extra_act:
            block.append(_act(extra_act))
        if dropout:
            block.append(nn.Dropout(dropout))
        if residual and d == h:
            layers.append(Residual(nn.Sequential(*block)))
        else:
            layers += block
        d = h
    layers.append(nn.Linear(d, out_units or num_classes))
    for a in (out_act or "").split("+"):
        if a:
            layers.append(_act(a))
    if logit_dropout:
        layers.append(nn.Dropout(logit_dropout))
    net = nn.Sequential(*layers)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    _seed(init_seed)
    for j, m in enumerate(linears):
        hidden_layer = j < len(linears) - 1
        if init == "zeros" and hidden_layer:
            nn.init.zeros_(m.weight)
        elif init == "normal":
            nn.init.normal_(m.weight, 0.0, init_std)
        elif init == "he" and hidden_layer:
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
    return net


class Block(nn.Module):
    """A pre-norm transformer block: x + attn(LN(x)); x + mlp(LN(x))."""

    def __init__(self, d: int, heads: int, scaled: bool, mask_value: float, double_norm: bool = False,
                 causal: bool = True) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.ln1b = nn.LayerNorm(d) if double_norm else nn.Identity()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * d, d)
        self.heads = heads
        self.scaled = scaled
        self.mask_value = mask_value
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.ln1b(self.ln1(x))
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2)
        if self.scaled:
            scores = scores / math.sqrt(d // self.heads)
        if self.causal:
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, self.mask_value)
        att = torch.softmax(scores, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    """A small pre-norm transformer over characters (GPT-2's layout); causal by default, or
    bidirectional (``causal=False``) for the masked-character task."""

    def __init__(self, vocab: int, *, d: int = 48, layers: int = 3, heads: int = 2, ctx: int = 64,
                 final_norm: bool = True, scaled: bool = True, positions: bool = True,
                 mask_value: float = -1e4, double_norm: bool = False, causal: bool = True,
                 out_vocab: int | None = None, init_seed: int | None = None) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d) if positions else None
        self.blocks = nn.Sequential(*[Block(d, heads, scaled, mask_value, double_norm, causal)
                                      for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d) if final_norm else nn.Identity()
        self.head = nn.Linear(d, out_vocab or vocab)
        _seed(init_seed)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx)
        if self.pos is not None:
            x = x + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln_f(self.blocks(x)))


class CharLSTM(nn.Module):
    """A 2-layer LSTM language model over characters. ``variational``: the same dropout mask at
    every time step between the layers (Gal & Ghahramani's form, AL108's fix); otherwise
    ``nn.LSTM(dropout=...)``, a fresh mask per step."""

    def __init__(self, vocab: int, *, d: int = 128, dropout: float = 0.3, variational: bool = False,
                 init_seed: int | None = None) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.variational = variational
        self.p = dropout
        if variational:
            self.l1 = nn.LSTM(d, d, batch_first=True)
            self.l2 = nn.LSTM(d, d, batch_first=True)
        else:
            self.rnn = nn.LSTM(d, d, num_layers=2, dropout=dropout, batch_first=True)
        self.head = nn.Linear(d, vocab)
        _seed(init_seed)
        for m in self.modules():
            if isinstance(m, nn.LSTM):
                m.reset_parameters()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.emb(idx)
        if self.variational:
            h, _ = self.l1(x)
            if self.training and self.p:
                mask = torch.bernoulli(torch.full((h.shape[0], 1, h.shape[2]), 1 - self.p, device=h.device))
                h = h * mask / (1 - self.p)
            h, _ = self.l2(h)
        else:
            h, _ = self.rnn(x)
        return self.head(h)


def invres(*, num_classes: int = 10, width: int = 32, expand: int = 4, stages: int = 3, per_stage: int = 2,
           relu_out: bool = False, init_seed: int | None = None, bn_momentum: float = BN_MOMENTUM) -> nn.Sequential:
    """A small MobileNetV2-style network: a 3x3 stem, then per stage ``per_stage`` inverted residual
    blocks x + BN(Conv1x1(ReLU(BN(DWConv3x3(ReLU(BN(Conv1x1(x)))))))) (expansion ``expand``, so the
    projection reduces by ``expand``x) and a max-pool; GAP head. ``relu_out`` adds a ReLU after the
    projection's BN, on the narrow residual stream (AL017's anti-pattern); ``bn_momentum`` as in
    :func:`seednet`."""

    class InvRes(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            e = c * expand
            body = [nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e, eps=BN_EPS, momentum=bn_momentum), nn.ReLU(),
                    nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False),
                    nn.BatchNorm2d(e, eps=BN_EPS, momentum=bn_momentum), nn.ReLU(),
                    nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c, eps=BN_EPS, momentum=bn_momentum)]
            if relu_out:
                body.append(nn.ReLU())
            self.body = nn.Sequential(*body)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x)

    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1, bias=False),
                               nn.BatchNorm2d(width, eps=BN_EPS, momentum=bn_momentum), nn.ReLU()]
    for s in range(stages):
        layers += [InvRes(width) for _ in range(per_stage)]
        if s < stages - 1:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    net = nn.Sequential(*layers)
    _glorot(net, init_seed)
    return net


def fold_batchnorm(net: nn.Sequential) -> nn.Sequential:
    """The inference form of a network: every BatchNorm directly after a convolution folded into it
    (what deployment tools do); other BatchNorms stay. Call on a network in eval mode for real use;
    here it serves to time the folded form."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = net.eval()
    mods = list(net)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            out.append(fuse_conv_bn_eval(m, mods[i + 1]))
            i += 2
            continue
        out.append(m)
        i += 1
    return nn.Sequential(*out)
