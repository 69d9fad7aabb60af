# PyInstaller runtime hook. torchvision's import registers fake kernels for its compiled ops
# torchvision::nms and ::qnms; when its _C library cannot load against the bundled torch (the
# only torchvision wheels on this project's machines are CUDA builds, the bundle's torch is the
# CPU build) those ops do not exist and `import torchvision` fails, taking lpips and open_clip
# with it. The app never calls torchvision ops (only its VGG16 definition, through lpips), so
# declare the two schemas in that case. With a matching CPU torchvision (the online build path,
# torchvision==0.29.1+cpu) the library loads and this hook changes nothing.
import glob
import os
import sys


def _declare_torchvision_ops():
    import torch

    for so in glob.glob(os.path.join(sys._MEIPASS, "torchvision", "_C*.so")):
        try:
            torch.ops.load_library(so)
            return None
        except OSError:
            pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    return lib


_SAM_EDITOR_TORCHVISION_LIB = _declare_torchvision_ops()
