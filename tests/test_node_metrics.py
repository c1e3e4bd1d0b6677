import math

import torch

from semantic_restore.nodes import SemRestoreColorMetrics


def test_node_returns_string_and_floats():
    node = SemRestoreColorMetrics()
    img = torch.rand(3, 16, 12, 3)
    report, p_rgb, p_ab, de, colorful, flick = node.execute(img, ground_truth=img)
    assert isinstance(report, str) and "CIEDE2000" in report
    assert p_rgb == math.inf and de < 1e-6 and colorful > 0 and flick > 0
    out = node.execute(img)
    assert math.isnan(out[1]) and "n/a" in out[0]
    assert len(node.RETURN_TYPES) == len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_NAMES)
