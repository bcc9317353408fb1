"""Launch files, parameter files and RViz configs, checked without ROS's launch packages (not on PyPI):
the launch files are parsed with `ast`, the YAML files against the node's parameter table."""

import ast
from pathlib import Path

import pytest
import yaml

from side_ros.ros.params import DEFAULTS, SPEC_BY_NAME

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / "launch"
CONFIG = REPO / "config"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def _const(node: ast.AST):
    return node.value if isinstance(node, ast.Constant) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _arguments(tree: ast.AST) -> dict[str, ast.AST]:
    """DeclareLaunchArgument name -> default_value node."""
    return {_const(c.args[0]): _kw(c, "default_value") for c in _calls(tree, "DeclareLaunchArgument")}


def _share_paths(tree: ast.AST) -> list[str]:
    """PathJoinSubstitution([FindPackageShare('side_ros') variable, 'dir', 'file']) -> 'dir/file'."""
    out = []
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = call.args[0].elts
        strings = [_const(p) for p in parts[1:]]
        assert all(isinstance(s, str) for s in strings), ast.dump(call)
        out.append("/".join(strings))
    return out


@pytest.fixture(scope="module")
def depth_launch():
    return ast.parse((LAUNCH / "depth.launch.py").read_text())


@pytest.fixture(scope="module")
def kitti_launch():
    return ast.parse((LAUNCH / "kitti.launch.py").read_text())


def test_depth_launch_declares_the_arguments(depth_launch):
    args = _arguments(depth_launch)
    assert {"image", "camera_info", "params_file", "namespace", "use_sim_time", "rviz"} <= set(args)
    assert _const(args["namespace"]) == "side"
    assert _const(args["use_sim_time"]) == "false" and _const(args["rviz"]) == "false"
    assert [f.name for f in ast.walk(depth_launch) if isinstance(f, ast.FunctionDef)] == \
        ["generate_launch_description"]
    compile((LAUNCH / "depth.launch.py").read_text(), "depth.launch.py", "exec")


def test_depth_launch_starts_the_node_with_params_and_remappings(depth_launch):
    nodes = _calls(depth_launch, "Node")
    depth = next(n for n in nodes if _const(_kw(n, "executable")) == "depth_node")
    assert _const(_kw(depth, "package")) == "side_ros" and _const(_kw(depth, "name")) == "side_depth"
    remaps = {_const(t.elts[0]): t.elts[1] for t in _kw(depth, "remappings").elts}
    assert set(remaps) == {"image", "camera_info"}
    assert all(_const(v.args[0]) == k for k, v in remaps.items())  # LaunchConfiguration of the same name
    params = _kw(depth, "parameters").elts
    assert _const(params[0].args[0]) == "params_file"
    assert "use_sim_time" in [_const(k) for k in params[1].keys]
    rviz = next(n for n in nodes if _const(_kw(n, "package")) == "rviz2")
    condition = _kw(rviz, "condition")
    assert condition.func.id == "IfCondition" and _const(condition.args[0].args[0]) == "rviz"
    imported = {a.name for n in ast.walk(depth_launch) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"Node", "DeclareLaunchArgument", "LaunchConfiguration", "PathJoinSubstitution", "FindPackageShare",
            "IfCondition", "LaunchDescription"} <= imported


@pytest.mark.parametrize("launch_file", ["depth.launch.py", "kitti.launch.py"])
def test_launch_files_point_at_files_that_exist(launch_file):
    tree = ast.parse((LAUNCH / launch_file).read_text())
    paths = _share_paths(tree)
    assert paths
    for rel in paths:
        assert (REPO / rel).is_file(), f"{launch_file} refers to share/side_ros/{rel}, missing in the repository"
    assert all(_const(c.args[0]) == "side_ros" for c in _calls(tree, "FindPackageShare"))


def test_kitti_launch_uses_kitti2mcap_topics_and_sim_time(kitti_launch):
    args = _arguments(kitti_launch)
    assert _const(args["image"]) == "/kitti/camera_color_left/image_raw"
    assert _const(args["camera_info"]) == "/kitti/camera_color_left/camera_info"
    assert _const(args["use_sim_time"]) == "true"
    assert "launch/depth.launch.py" in _share_paths(kitti_launch)
    assert "config/kitti.yaml" in _share_paths(kitti_launch)


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
def test_rviz_config_shows_image_depth_colormap_and_points(rviz):
    config = yaml.safe_load((CONFIG / rviz).read_text())
    displays = {d["Name"]: d for d in config["Visualization Manager"]["Displays"]}
    topics = {d["Topic"]["Value"]: d["Class"] for d in displays.values() if "Topic" in d}
    assert topics["/side/depth"] == "rviz_default_plugins/Image"
    assert topics["/side/depth/colormap"] == "rviz_default_plugins/Image"
    assert topics["/side/points"] == "rviz_default_plugins/PointCloud2"
    assert displays["Points"]["Color Transformer"] == "RGB8"
    camera = displays["Camera"]["Topic"]["Value"]
    assert camera == ("/kitti/camera_color_left/image_raw" if rviz == "kitti.rviz" else "/camera/image_raw")
