"""``archlint show``'s MACs against fvcore's FlopCountAnalysis (which counts multiply-adds)
on torchvision models at 1x3x224x224 (random weights; needs ``pip install fvcore``).

    python benchmarks/flops_vs_fvcore.py resnet18 resnet50 mobilenet_v2 vgg11 densenet121 efficientnet_b0 vit_b_16

Measured (2026-12-07, CPU): resnet18 -0.14 %, resnet50 -0.27 %, mobilenet_v2 -2.13 %, vgg11 0.00 %,
densenet121 -0.55 %, efficientnet_b0 -1.68 %, vit_b_16 -0.08 % (archlint vs fvcore).
"""
from archlint.frontends import _torchvision_compat; _torchvision_compat.install()
import torch, torchvision, sys
from fvcore.nn import FlopCountAnalysis
import archlint
from archlint.compute import graph_compute
for name in sys.argv[1:]:
    m = getattr(torchvision.models, name)(num_classes=1000).eval()
    x = torch.randn(1,3,224,224)
    fa = FlopCountAnalysis(m, x); fa.unsupported_ops_warnings(False); fa.uncalled_modules_warnings(False)
    ref = fa.total()
    g = archlint.check(m, inputs=(1,3,224,224)).graph
    c = graph_compute(g)
    print(f"{name}: fvcore {ref/1e9:.3f} G, archlint {c['macs']/1e9:.3f} G, diff {100*(c['macs']-ref)/ref:+.2f}% uncounted {c['uncounted']}")
