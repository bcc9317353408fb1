"""Procedural indoor rooms and outdoor streets with exact metric depth, ray cast in torch.

Why: the package must train and test its networks without downloading a dataset, tests need depth that is
known exactly, and the sample bag and the KITTI fixtures need camera frames with ground truth.  Scenes are made
of analytic primitives (planes, yaw-rotated boxes, vertical cylinders, axis-aligned ellipsoids); every pixel's
nearest hit is found in closed form, so depth is exact up to float32 rounding.  Layout, textures, colours,
lights, camera pose and intrinsics are drawn from one seed, so a network has to learn geometry rather than
memorize a few images, and the same seed always gives the same image.

Modules, in the order the data flows:
  description  Scene, primitives, materials, lights, Camera; reference cameras and intrinsics
  indoor       build_indoor_scene: a furnished room (NYU-like camera)
  outdoor      build_outdoor_scene: a street (KITTI-like camera on a car)
  palette      random colours and camera effects shared by both builders
  raycast      nearest hit per pixel, vectorized over pixels and primitives
  textures     procedural albedo, filtered by the pixel footprint
  shading      lights, shadow maps, sky, haze, camera effects; `render`
  lidar        which pixels a KITTI-mounted 64-beam LiDAR samples (sparse ground truth)
  dataset      render_scene (one seed) and ProceduralDataset (training samples)

Conventions
- World frame: z up, x right and y forward for a camera with zero heading (right-handed).
- Camera frame (REP 103 optical): x right, y down, z forward.  A pixel (u, v) (integer = pixel centre, the
  OpenCV convention of K) looks along K^-1 (u, v, 1); scaled so its camera-frame z component is 1, the ray
  parameter t *is* the depth Z along the optical axis (not the ray length), which is what is stored.
- Depth 0 means invalid: sky, anything beyond the kind's maximum range, and (in sparse mode) pixels that the
  simulated LiDAR does not sample.

On the CPU one torch thread renders a 320x240 room or a 416x128 street in roughly 40-60 ms.
"""

from side_ros.scenes.dataset import DEFAULT_SIZES, RANGE_LABELS, ProceduralDataset, ProceduralSample, render_scene
from side_ros.scenes.description import (
    KINDS,
    KITTI_CAMERA,
    MAX_DEPTH,
    NYU_CAMERA,
    Camera,
    DirectionalLight,
    Material,
    PointLight,
    PostFX,
    Scene,
    Sky,
    Tex,
    camera_from_angles,
    default_intrinsics,
    focal_scale_of,
)
from side_ros.scenes.indoor import build_indoor_scene
from side_ros.scenes.lidar import lidar_mask
from side_ros.scenes.outdoor import build_outdoor_scene
from side_ros.scenes.shading import RenderOutput, render

__all__ = [
    "DEFAULT_SIZES",
    "KINDS",
    "KITTI_CAMERA",
    "MAX_DEPTH",
    "NYU_CAMERA",
    "RANGE_LABELS",
    "Camera",
    "DirectionalLight",
    "Material",
    "PointLight",
    "PostFX",
    "ProceduralDataset",
    "ProceduralSample",
    "RenderOutput",
    "Scene",
    "Sky",
    "Tex",
    "build_indoor_scene",
    "build_outdoor_scene",
    "camera_from_angles",
    "default_intrinsics",
    "focal_scale_of",
    "lidar_mask",
    "render",
    "render_scene",
]
