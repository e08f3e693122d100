"""Reference top-k for the classify example.

Run from this directory with Debian's interpreter:
    /usr/bin/python3 gen.py

Draws a deterministic 300x260 PNG, runs torchvision's evaluation transform
(Resize(256) bilinear, CenterCrop(224), ToTensor, ImageNet Normalize) and the
small torchvision models of ../../../vgg/testdata and ../../../resnet/testdata
(rebuilt from their state dicts), and writes the softmax top-5 to expected.json.
"""
import json
import math

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.models.vgg import VGG, make_layers

import torch.nn as nn

H, W = 260, 300
yy, xx = np.mgrid[0:H, 0:W]
img = np.stack([
    127 + 120 * np.sin(xx / 17.0) * np.cos(yy / 23.0),
    127 + 120 * np.sin((xx + yy) / 31.0),
    127 + 120 * np.cos(xx * yy / 4000.0),
], -1).round().clip(0, 255).astype(np.uint8)
Image.fromarray(img).save("pattern.png")

tf = transforms.Compose([
    transforms.Resize(256, interpolation=transforms.InterpolationMode.BILINEAR),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])
x = tf(Image.open("pattern.png").convert("RGB")).unsqueeze(0)


def vgg16s():
    cfg = [2, 2, "M", 4, 4, "M", 8, 8, 8, "M", 16, 16, 16, "M", 16, 16, 16, "M"]
    m = VGG(make_layers(cfg), num_classes=10, init_weights=False)
    m.classifier = nn.Sequential(nn.Linear(16 * 49, 8), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(8, 8), nn.ReLU(True), nn.Dropout(), nn.Linear(8, 10))
    m.load_state_dict(torch.load("../../../vgg/testdata/vgg16s.pth"))
    return m.eval()


def basic():
    m = ResNet(BasicBlock, [2, 1, 1, 2], num_classes=6)
    w = 4
    m.inplanes = w
    m.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
    m.bn1 = nn.BatchNorm2d(w)
    m.layer1 = m._make_layer(BasicBlock, w, 2)
    m.layer2 = m._make_layer(BasicBlock, 2 * w, 1, stride=2)
    m.layer3 = m._make_layer(BasicBlock, 4 * w, 1, stride=2)
    m.layer4 = m._make_layer(BasicBlock, 8 * w, 2, stride=2)
    m.fc = nn.Linear(8 * w, 6)
    m.load_state_dict(torch.load("../../../resnet/testdata/basic.pth"))
    return m.eval()


out = {}
with torch.no_grad():
    for name, m in (("vgg16s.pth", vgg16s()), ("basic.pth", basic())):
        p = torch.softmax(m(x)[0].double(), 0)
        top = torch.topk(p, 5)
        out[name] = {"index": top.indices.tolist(), "prob": top.values.tolist()}
with open("expected.json", "w") as f:
    json.dump(out, f, indent=1)
