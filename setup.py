"""ament_python setup for side_ros: `colcon build` in a ROS 2 workspace, or `pip install .`."""

from glob import glob

from setuptools import find_packages, setup

package_name = "side_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={
        "side_ros": [
            "data/*.txt",
            "data/*.csv",
            "networks/DESIGN.md",
            "training/configs/*.yaml",
            "training/configs/ablations/*.yaml",
            "training/configs/calibration/*.yaml",
        ]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
        ("share/" + package_name + "/models", glob("models/*.pt") + glob("models/*.md")),
        ("share/" + package_name + "/data/sample/side_sample", glob("data/sample/side_sample/*")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "torch>=2.1",
        "pillow",
        "pyyaml",
        "tqdm",
        "rosbags>=0.11",
        "rosbags-image",
        "opencv-python-headless",
    ],
    extras_require={
        "ros": [
            "ros-rclpy",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-rosgraph-msgs",
            "ros-rmw-fastrtps-cpp",
        ],
        "bags": ["rosbags>=0.11", "rosbags-image", "opencv-python-headless", "kitti2mcap"],
        "train": ["tensorboard", "h5py", "scipy", "onnx", "onnxruntime"],
        "test": ["pytest", "ruff", "colcon-core", "colcon-ros"],
        "bench": ["transformers"],  # scripts/bench_speed.py: Depth-Anything-V2-Small's architecture, for comparison
    },
    zip_safe=True,
    maintainer="side_ros developers",
    maintainer_email="side-ros@example.com",
    description="Robust single-image depth estimation (DS-SIDENet + scene understanding) for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "depth_node = side_ros.ros.depth_node:main",
            "side-download-places365 = side_ros.routing.download:main",
            "side-depth-images = side_ros.cli.images:run",
            "side-depth-bag = side_ros.cli.bag:run",
            "side-eval-bag = side_ros.cli.eval_bag:run",
            "side-replay = side_ros.ros.replay:main",
            "side-demo = side_ros.demo:run",
            "side-train = side_ros.training.train:main",
            "side-eval = side_ros.training.evaluate:main",
            "side-export = side_ros.training.export:main",
        ],
    },
)
