"""The seed's seven models in PyTorch, written afresh from the seed's facts
(the INT305 report's scripts are not imported; models/ holds the same facts
in Go, and models/torch_test.go checks the two agree).

    import seed_models
    model = seed_models.build("vgg")     # an nn.Module, seed init
    seed_models.NAMES                    # the seven names, gotrain's spelling

Every model takes (N, 1, 28, 28) MNIST batches and returns (N, 10). Module
names are chosen so that model.state_dict() has the seed's keys, shapes and
order exactly (models/testdata/state_dict/<name>.txt; gotrain's models declare
the same names). The seed's quirks are kept on purpose:

- baseline: Dropout(0.25) after the pool, Dropout(0.5) after fc1, raw logits.
- resnet: ResNet-50 layout whose bottleneck has no leading 1x1: conv2 (3x3,
  stride) + bn2 + ReLU, conv3 (1x1) + bn3, add, ReLU.
- lightresnet: torchvision ResNet-50 v1.5 with a 1-channel stem.
- seresnet: kuangliu PreActBlock with SE; no BN after conv2, no ReLU after
  the add, the 1x1 shortcut (no BN) reads relu(bn1(x)); no final BN+ReLU.
- vgg: [1,1,2,2,2] conv-BN-ReLU, pools after the first two stages only,
  fc1-BN1d-ReLU-fc2-BN1d-ReLU-fc3, then a softmax INSIDE the model (the
  seed's loss, F.cross_entropy, is then a double softmax).
- googlenet: torchvision's without aux heads; BasicConv2d BN eps 1e-3; the
  "5x5" branch is a 3x3.
- vit: patch 4, width 768, 12 pre-norm blocks, 8 heads; qkv split as
  "(h d qkv)" (qkv innermost); attention = softmax(q.k^T) / sqrt(768) (after
  the softmax, by the full width); mean over all 50 tokens (cls included).

Initialisation follows the seed (PyTorch defaults; Kaiming normal fan-out
for the ResNets' convs; a normal truncated at +-2 sigma, sigma 0.01, for
GoogLeNet's conv and linear weights, drawn with torch instead of scipy).
Only torch is needed (no einops, torchvision or scipy).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

NAMES = ["baseline", "resnet", "lightresnet", "seresnet", "vgg", "googlenet", "vit"]


# ---- baseline (spec 2.1) ----------------------------------------------------


class Baseline(nn.Module):
    """The PyTorch MNIST example with 8/16/64 channels (149,418 params)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


# ---- resnet and lightresnet (spec 2.2, 2.3) ----------------------------------


class Bottleneck(nn.Module):
    """A ResNet bottleneck with expansion 4 and the stride on the 3x3.

    standard=True is torchvision's [1x1, 3x3, 1x1] block (lightresnet);
    standard=False is the seed's "resnet" block, [3x3, 1x1], whose modules
    keep torchvision's names conv2/bn2 and conv3/bn3.
    """

    def __init__(self, inplanes, planes, stride, downsample, standard):
        super().__init__()
        if standard:
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            mid_in = planes
        else:
            mid_in = inplanes
        self.standard = standard
        self.conv2 = nn.Conv2d(mid_in, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = x
        if self.standard:
            out = self.relu(self.bn1(self.conv1(out)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet-50 layout [3,4,6,3] on 1x28x28 inputs, 10 classes."""

    def __init__(self, standard):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for stage, blocks in enumerate([3, 4, 6, 3]):
            planes = 64 << stage
            stride = 1 if stage == 0 else 2
            mods = []
            for i in range(blocks):
                s = stride if i == 0 else 1
                down = None
                if i == 0 and (s != 1 or inplanes != 4 * planes):
                    down = nn.Sequential(nn.Conv2d(inplanes, 4 * planes, 1, s, bias=False),
                                         nn.BatchNorm2d(4 * planes))
                mods.append(Bottleneck(inplanes, planes, s, down, standard))
                inplanes = 4 * planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*mods))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- seresnet (spec 2.4) -------------------------------------------------------


class PreActSEBlock(nn.Module):
    """kuangliu's PreActBlock with squeeze-and-excitation (reduction 16)."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))
        else:
            self.shortcut = None  # identity; registers no state
        self.fc1 = nn.Conv2d(planes, planes // 16, 1)
        self.fc2 = nn.Conv2d(planes // 16, planes, 1)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))  # no BN after conv2
        w = F.avg_pool2d(out, out.size(2))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w))))
        return out * w + shortcut  # no ReLU after the add


class SEResNet(nn.Module):
    """Pre-activation SE-ResNet [3,4,6,3] at 28x28 (21,439,478 params)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for stage, blocks in enumerate([3, 4, 6, 3]):
            planes = 64 << stage
            stride = 1 if stage == 0 else 2
            mods = []
            for i in range(blocks):
                mods.append(PreActSEBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*mods))
        self.linear = nn.Linear(512, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)  # no final BN + ReLU
        return self.linear(out.view(out.size(0), -1))


# ---- vgg (spec 2.5) -------------------------------------------------------------


class VGG(nn.Module):
    """VGG [1,1,2,2,2] with BN, pooling after stages 1-2 only, softmax inside."""

    def __init__(self):
        super().__init__()
        in_ch = 1
        for name, ch, n in [("conv3_64", 64, 1), ("conv3_128", 128, 1), ("conv3_256", 256, 2),
                            ("conv3_512a", 512, 2), ("conv3_512b", 512, 2)]:
            mods = []
            for _ in range(n):
                mods += [nn.Conv2d(in_ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
                in_ch = ch
            setattr(self, name, nn.Sequential(*mods))
        # Declared in the seed's order: fc1, bn1, bn2, fc2, fc3.
        self.fc1 = nn.Linear(512 * 7 * 7, 4096)
        self.bn1 = nn.BatchNorm1d(4096)
        self.bn2 = nn.BatchNorm1d(4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, 10)

    def forward(self, x):
        out = F.max_pool2d(self.conv3_64(x), 2)
        out = F.max_pool2d(self.conv3_128(out), 2)
        out = self.conv3_512b(self.conv3_512a(self.conv3_256(out)))  # 7x7 throughout
        out = out.view(out.size(0), -1)
        out = F.relu(self.bn1(self.fc1(out)))
        out = F.relu(self.bn2(self.fc2(out)))
        return F.softmax(self.fc3(out), dim=1)  # the seed's softmax inside the model


# ---- googlenet (spec 2.6) ---------------------------------------------------


class BasicConv2d(nn.Module):
    """conv (no bias), BN (eps 1e-3), ReLU."""

    def __init__(self, in_ch, out_ch, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """torchvision's Inception block; branch3 is a 3x3 where the paper has 5x5."""

    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_ch, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_ch, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(in_ch, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision GoogLeNet, 1-channel input, 10 classes, no aux classifiers."""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(1, 64, 7, 2, 3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.01, a=-0.02, b=0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for m in [self.inception4a, self.inception4b, self.inception4c, self.inception4d, self.inception4e]:
            x = m(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


# ---- vit (spec 2.7) ----------------------------------------------------------------


class PatchesToTokens(nn.Module):
    """(N, E, H, W) -> (N, H*W, E), patches row-major (einops 'b e h w -> b (h w) e')."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)


class PatchEmbedding(nn.Module):
    """4x4/4 patch conv, a prepended cls token, added position embeddings."""

    def __init__(self, patch=4, emb=768, img=28):
        super().__init__()
        self.projection = nn.Sequential(nn.Conv2d(1, emb, patch, patch), PatchesToTokens())
        self.cls_token = nn.Parameter(torch.randn(1, 1, emb))
        self.positions = nn.Parameter(torch.randn((img // patch) ** 2 + 1, emb))

    def forward(self, x):
        x = self.projection(x)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        return torch.cat([cls, x], dim=1) + self.positions


class MultiHeadAttention(nn.Module):
    """The seed's attention: qkv split "(h d qkv)", softmax then / sqrt(emb)."""

    def __init__(self, emb=768, heads=8, dropout=0.0):
        super().__init__()
        self.emb, self.heads = emb, heads
        self.qkv = nn.Linear(emb, 3 * emb)
        self.att_drop = nn.Dropout(dropout)
        self.projection = nn.Linear(emb, emb)

    def forward(self, x):
        n, t, e = x.shape
        h = self.heads
        # "b n (h d qkv) -> qkv b h n d": qkv is the innermost factor of 3E.
        qkv = self.qkv(x).view(n, t, h, e // h, 3).permute(4, 0, 2, 1, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]
        energy = q @ k.transpose(-1, -2)
        att = self.att_drop(F.softmax(energy, dim=-1) / self.emb ** 0.5)
        out = (att @ v).permute(0, 2, 1, 3).reshape(n, t, e)
        return self.projection(out)


class ResidualAdd(nn.Module):
    """y = fn(x) + x."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class TokenMean(nn.Module):
    """Mean over all tokens, cls included (einops Reduce 'b n e -> b e')."""

    def forward(self, x):
        return x.mean(dim=1)


def _encoder_block(emb=768, heads=8, expansion=4, drop=0.0):
    return nn.Sequential(
        ResidualAdd(nn.Sequential(nn.LayerNorm(emb), MultiHeadAttention(emb, heads), nn.Dropout(drop))),
        ResidualAdd(nn.Sequential(
            nn.LayerNorm(emb),
            nn.Sequential(nn.Linear(emb, expansion * emb), nn.GELU(), nn.Dropout(drop),
                          nn.Linear(expansion * emb, emb)),
            nn.Dropout(drop))))


def ViT(emb=768, depth=12, heads=8):
    """The seed's ViT: Sequential(PatchEmbedding, encoder, head), so the
    state_dict keys are 0.*, 1.<block>.*, 2.*."""
    return nn.Sequential(
        PatchEmbedding(4, emb, 28),
        nn.Sequential(*[_encoder_block(emb, heads) for _ in range(depth)]),
        nn.Sequential(TokenMean(), nn.LayerNorm(emb), nn.Linear(emb, 10)))


# ---- registry ----------------------------------------------------------------------

_BUILDERS = {
    "baseline": Baseline,
    "resnet": lambda: ResNet(standard=False),
    "lightresnet": lambda: ResNet(standard=True),
    "seresnet": SEResNet,
    "vgg": VGG,
    "googlenet": GoogLeNet,
    "vit": ViT,
}


def build(name):
    """Returns a freshly initialised seed model (train mode) by gotrain name."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise ValueError("unknown model %r (known: %s)" % (name, ", ".join(NAMES))) from None


def set_dropout(model, p):
    """Sets the probability of every nn.Dropout of model to p."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
    return model


if __name__ == "__main__":
    for n in NAMES:
        m = build(n)
        params = sum(p.numel() for p in m.parameters())
        y = m.eval()(torch.zeros(2, 1, 28, 28))
        print("%-12s %12d params  output %s" % (n, params, tuple(y.shape)))
