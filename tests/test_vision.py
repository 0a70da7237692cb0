"""Tests for course_lib.vision: encoder shapes and the rotation pretext task."""
import pytest
import torch

from course_lib.vision import encoders, pretext


def test_conv_encoder_shapes():
    enc = encoders.ConvEncoder(width=8)
    assert enc.dim == 64
    assert enc(torch.rand(5, 3, 32, 32)).shape == (5, 64)
    assert enc(torch.rand(2, 3, 64, 64)).shape == (2, 64)  # any size: global average pool
    grey = encoders.ConvEncoder(width=4, in_channels=1)
    assert grey(torch.rand(2, 1, 28, 28)).shape == (2, grey.dim)


def test_make_encoder():
    assert isinstance(encoders.make_encoder("convnet", width=4), encoders.ConvEncoder)
    r = encoders.make_encoder("resnet18")
    assert r.dim == 512 and r(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match="convnet, resnet18"):
        encoders.make_encoder("vgg")


def test_rotate_batch_labels_and_inverse():
    x = torch.rand(3, 2, 5, 5)
    x_rot, y_rot = pretext.rotate_batch(x)
    assert x_rot.shape == (12, 2, 5, 5) and y_rot.dtype == torch.long
    assert y_rot.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for i in range(12):
        # undoing the rotation (clockwise k quarter turns) gives back the original image
        assert torch.equal(torch.rot90(x_rot[i], -int(y_rot[i]), dims=(1, 2)), x[i % 3])
    # label 1 is a counter-clockwise quarter turn: the top-right pixel moves to the top-left
    img = torch.zeros(1, 1, 3, 3)
    img[0, 0, 0, 2] = 1.0
    assert pretext.rotate_batch(img)[0][1, 0, 0, 0] == 1.0
    with pytest.raises(ValueError, match="square"):
        pretext.rotate_batch(torch.rand(1, 3, 4, 5))


def test_rotation_net_logits():
    net = pretext.RotationNet(encoders.ConvEncoder(width=4))
    x_rot, y_rot = pretext.rotate_batch(torch.rand(2, 3, 16, 16))
    logits = net(x_rot)
    assert logits.shape == (8, 4)
    torch.nn.functional.cross_entropy(logits, y_rot).backward()
