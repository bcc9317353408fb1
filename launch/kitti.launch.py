"""Depth on a KITTI bag from kitti2mcap: `ros2 launch side_ros kitti.launch.py` then
`ros2 bag play <drive>.mcap --clock`.

Uses kitti2mcap's topics (/kitti/camera_color_left/image_raw and .../camera_info), config/kitti.yaml (which
makes the image subscription reliable: KITTI frames are 1.4 MB and best-effort delivery of that size between
processes loses most of them) and simulated time from the bag. `rviz:=true` adds RViz in kitti2mcap's base_link
frame with the camera, depth, points and the Velodyne cloud (off by default: it needs a display and rviz2).

Arguments: image, camera_info, params_file, namespace, use_sim_time (default true), rviz (default false),
rviz_frame (default base_link), rviz_config (default config/kitti.rviz); see depth.launch.py.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("side_ros")
    arguments = [
        DeclareLaunchArgument(
            "image",
            default_value="/kitti/camera_color_left/image_raw",
            description="KITTI left colour camera (kitti2mcap)",
        ),
        DeclareLaunchArgument(
            "camera_info",
            default_value="/kitti/camera_color_left/camera_info",
            description="Its rectified CameraInfo (kitti2mcap)",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "kitti.yaml"]),
            description="YAML file with the depth node's parameters",
        ),
        DeclareLaunchArgument("namespace", default_value="side", description="Namespace of the node and of its topics"),
        DeclareLaunchArgument(
            "use_sim_time", default_value="true", description="Use the bag's /clock (play it with --clock)"
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            description="Also start RViz 2 with config/kitti.rviz (needs a display and rviz2)",
        ),
        DeclareLaunchArgument(
            "rviz_frame",
            default_value="base_link",
            description="RViz fixed frame (kitti2mcap publishes TF down from base_link)",
        ),
        DeclareLaunchArgument(
            "rviz_config",
            default_value=PathJoinSubstitution([share, "config", "kitti.rviz"]),
            description="RViz configuration template (camera, depth, points and the Velodyne "
            "cloud; topics follow namespace and image)",
        ),
    ]
    depth = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "depth.launch.py"])),
        launch_arguments={
            name: LaunchConfiguration(name)
            for name in (
                "image",
                "camera_info",
                "params_file",
                "namespace",
                "use_sim_time",
                "rviz",
                "rviz_frame",
                "rviz_config",
            )
        }.items(),
    )
    return LaunchDescription([*arguments, depth])
