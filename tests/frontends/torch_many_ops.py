"""Every nn layer family the torch frontend maps, for test_torch.py."""

import torch
from torch import nn

class All(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 4, 3)
        self.ln = nn.LayerNorm(30)
        self.prelu = nn.PReLU()
        self.d1 = nn.Dropout1d(0.1)
        self.c2 = nn.Conv2d(3, 6, 3, padding=1)
        self.gn = nn.GroupNorm(2, 6)
        self.inorm = nn.InstanceNorm2d(6)
        self.gelu = nn.GELU(); self.silu = nn.SiLU(); self.hs = nn.Hardswish(); self.mish = nn.Mish()
        self.elu = nn.ELU(); self.lrelu = nn.LeakyReLU(0.1); self.sig = nn.Sigmoid(); self.tanh = nn.Tanh()
        self.ad = nn.AlphaDropout(0.1); self.fad = nn.FeatureAlphaDropout(0.1)
        self.avg = nn.AvgPool2d(2); self.amax = nn.AdaptiveMaxPool2d(1)
        self.ct = nn.ConvTranspose2d(12, 4, 2, stride=2)
        self.c3 = nn.Conv3d(1, 2, 3, padding=1); self.d3 = nn.Dropout3d(0.2); self.bn3 = nn.BatchNorm3d(2)

    def forward(self, x):
        a = self.prelu(self.ln(self.c1(x[:, :, 0, :])))
        a = self.d1(a)
        y = self.c2(x)
        y = self.inorm(self.gn(y))
        y = self.tanh(self.sig(self.lrelu(self.elu(self.mish(self.hs(self.silu(self.gelu(y))))))))
        y = self.fad(self.ad(y))
        z = torch.cat([y, y * y], dim=1)
        z += z
        z = self.ct(self.avg(z))
        g = self.amax(z).reshape(1, 4)
        v = self.bn3(self.d3(self.c3(x[:, :1].unsqueeze(1))))
        return g, a, v

def make():
    return All()
