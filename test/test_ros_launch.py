"""Launch files, parameter files and RViz configs, checked without ROS: what the real launch cannot show (the
files the launch files name exist in the repository, the YAML files against the node's parameter table, the RViz
templates and their rendering). test_ros_cli.py runs the launch files with the real `ros2 launch`."""

import ast
from pathlib import Path

import pytest
import yaml

from side_ros import rviz_config
from side_ros.ros.params import DEFAULTS, SPEC_BY_NAME

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "launch"
CONFIG = REPO / "config"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)
    ]


def _const(node: ast.AST):
    return node.value if isinstance(node, ast.Constant) else None


def _share_paths(tree: ast.AST) -> list[str]:
    """PathJoinSubstitution([FindPackageShare('side_ros') variable, 'dir', 'file']) -> 'dir/file'."""
    out = []
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = call.args[0].elts
        strings = [_const(p) for p in parts[1:]]
        assert all(isinstance(s, str) for s in strings), ast.dump(call)
        out.append("/".join(strings))
    return out


@pytest.mark.parametrize("launch_file", ["depth.launch.py", "kitti.launch.py"])
def test_launch_files_point_at_files_that_exist(launch_file):
    tree = ast.parse((LAUNCH / launch_file).read_text())
    paths = _share_paths(tree)
    assert paths
    for rel in paths:
        assert (REPO / rel).is_file(), f"{launch_file} refers to share/side_ros/{rel}, missing in the repository"
    assert all(_const(c.args[0]) == "side_ros" for c in _calls(tree, "FindPackageShare"))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _params(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["/**"], "parameters for any namespace / node name the launch file gives"
    return _flatten(data["/**"]["ros__parameters"])


def test_depth_yaml_holds_every_parameter_with_its_default():
    params = _params(CONFIG / "depth.yaml")
    assert params == DEFAULTS


def test_kitti_yaml_is_valid_and_makes_the_big_image_subscription_reliable():
    params = _params(CONFIG / "kitti.yaml")
    node_params = {k: v for k, v in params.items() if not k.startswith("qos_overrides.")}
    assert set(node_params) == set(DEFAULTS)
    for name, value in node_params.items():
        assert SPEC_BY_NAME[name].check(value) is None, name
    assert params["qos_overrides./kitti/camera_color_left/image_raw.subscription.reliability"] == "reliable"


@pytest.mark.parametrize("rviz", ["side.rviz", "kitti.rviz"])
def test_rviz_template_shows_image_depth_colormap_and_points(rviz):
    config = yaml.safe_load((CONFIG / rviz).read_text())
    displays = {d["Name"]: d for d in config["Visualization Manager"]["Displays"]}
    topics = {d["Topic"]["Value"]: d["Class"] for d in displays.values() if "Topic" in d}
    assert topics["/side/depth"] == "rviz_default_plugins/Image"
    assert topics["/side/depth/colormap"] == "rviz_default_plugins/Image"
    assert topics["/side/points"] == "rviz_default_plugins/PointCloud2"
    assert displays["Points"]["Color Transformer"] == "RGB8"
    assert displays[rviz_config.CAMERA_DISPLAY]["Class"] == "rviz_default_plugins/Image"


@pytest.mark.parametrize(
    "namespace,image,expected_ns,expected_image",
    [
        ("side", "/camera/image_raw", "/side", "/camera/image_raw"),
        ("robot1/front", "camera/image_raw", "/robot1/front", "/robot1/front/camera/image_raw"),
        ("/arm/", "/arm_cam/color", "/arm", "/arm_cam/color"),
        ("", "image", "", "/image"),
    ],
)
def test_rviz_config_follows_namespace_and_image(tmp_path, namespace, image, expected_ns, expected_image):
    template = yaml.safe_load((CONFIG / "kitti.rviz").read_text())
    path = rviz_config.write_rendered(CONFIG / "kitti.rviz", namespace=namespace, image=image, directory=tmp_path)
    rendered = yaml.safe_load(path.read_text())
    topics = {d["Name"]: d["Topic"]["Value"] for d in rendered["Visualization Manager"]["Displays"] if "Topic" in d}
    assert topics == {
        "Camera": expected_image,
        "Depth": f"{expected_ns}/depth",
        "Depth colormap": f"{expected_ns}/depth/colormap",
        "Points": f"{expected_ns}/points",
        "Velodyne": "/kitti/velodyne_points",
    }  # not a side_ros topic: unchanged
    # everything but the topics is the template's
    for display in template["Visualization Manager"]["Displays"]:
        display.pop("Topic", None)
    for display in rendered["Visualization Manager"]["Displays"]:
        display.pop("Topic", None)
    assert rendered == template
    assert path.parent == tmp_path and path.suffix == ".rviz"


def test_rviz_render_refuses_a_file_that_is_not_an_rviz_config(tmp_path):
    (tmp_path / "x.rviz").write_text("a: 1\n")
    with pytest.raises(ValueError, match="not an RViz configuration"):
        rviz_config.write_rendered(tmp_path / "x.rviz", namespace="side", image="/img", directory=tmp_path)
