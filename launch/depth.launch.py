"""Start the side_ros depth node on a camera: `ros2 launch side_ros depth.launch.py image:=/my/image_raw ...`.

Arguments:
  image        camera image topic (sensor_msgs/Image; with image_transport:=compressed in the params file,
               `<image>/compressed` is used)                               default /camera/image_raw
  camera_info  CameraInfo topic of that camera                             default /camera/camera_info
  params_file  node parameters                                             default share/side_ros/config/depth.yaml
  namespace    namespace of the node and its outputs                       default side
  use_sim_time use /clock (bag replay with `ros2 bag play --clock`)        default false
  rviz         also start RViz 2 (needs a display and the rviz2 package)  default false
  rviz_frame   RViz fixed frame (the camera's optical frame, or a TF frame) default camera_optical_frame
  rviz_config  RViz configuration template                                 default share/side_ros/config/side.rviz

With rviz:=true the launch first checks that rviz2 is installed; without it (headless robots, pip installs) it
stops with one line saying so before anything is started. The RViz configuration is generated at launch time from
the template (side_ros.rviz_config): its camera display shows `image` and its side_ros displays follow `namespace`.
"""

from pathlib import Path

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.conditions import IfCondition
from launch.event_handlers import OnShutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def _rviz(context: LaunchContext) -> list:
    """RViz 2 on a configuration generated for this namespace and image topic, or nothing (rviz:=false).

    Runs before the depth node is started: without rviz2 the launch fails here and leaves nothing running.
    """
    if not IfCondition(LaunchConfiguration("rviz")).evaluate(context):
        return []
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        raise RuntimeError(
            "rviz:=true but RViz 2 (package 'rviz2') is not installed here; install it "
            "(apt install ros-$ROS_DISTRO-rviz2) or launch with rviz:=false. Nothing was started."
        ) from None
    from side_ros.rviz_config import write_rendered

    config = write_rendered(
        LaunchConfiguration("rviz_config").perform(context),
        namespace=LaunchConfiguration("namespace").perform(context),
        image=LaunchConfiguration("image").perform(context),
    )
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    return [
        RegisterEventHandler(OnShutdown(on_shutdown=lambda *_: Path(config).unlink(missing_ok=True))),
        Node(
            package="rviz2",
            executable="rviz2",
            name="side_rviz",
            arguments=["-d", str(config), "-f", LaunchConfiguration("rviz_frame")],
            parameters=[{"use_sim_time": use_sim_time}],
            output="screen",
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("side_ros")
    arguments = [
        DeclareLaunchArgument(
            "image", default_value="/camera/image_raw", description="Camera image topic (sensor_msgs/Image)"
        ),
        DeclareLaunchArgument(
            "camera_info", default_value="/camera/camera_info", description="CameraInfo topic of the camera"
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "depth.yaml"]),
            description="YAML file with the depth node's parameters",
        ),
        DeclareLaunchArgument("namespace", default_value="side", description="Namespace of the node and of its topics"),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="Use the /clock topic (bag replay with --clock)"
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            description="Also start RViz 2 (needs a display and rviz2; false on headless machines)",
        ),
        DeclareLaunchArgument("rviz_frame", default_value="camera_optical_frame", description="RViz fixed frame"),
        DeclareLaunchArgument(
            "rviz_config",
            default_value=PathJoinSubstitution([share, "config", "side.rviz"]),
            description="RViz configuration template (topics follow namespace and image)",
        ),
    ]
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    depth_node = Node(
        package="side_ros",
        executable="depth_node",
        name="side_depth",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
        remappings=[("image", LaunchConfiguration("image")), ("camera_info", LaunchConfiguration("camera_info"))],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=_rviz), depth_node])
