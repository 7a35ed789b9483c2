"""Pure numpy/Pillow/OpenCV core: no Qt, onnxruntime or torch imports allowed here.

Array contract everywhere: float32, HWC, RGB(A), range [0, 1]. Convert dtype/layout only at the edges.
"""
