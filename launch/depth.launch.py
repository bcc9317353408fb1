"""Start the side_ros depth node on a camera: `ros2 launch side_ros depth.launch.py image:=/my/image_raw ...`.

Arguments:
  image        camera image topic (sensor_msgs/Image; with image_transport:=compressed in the params file,
               `<image>/compressed` is used)                               default /camera/image_raw
  camera_info  CameraInfo topic of that camera                             default /camera/camera_info
  params_file  node parameters                                             default share/side_ros/config/depth.yaml
  namespace    namespace of the node and its outputs                       default side
  use_sim_time use /clock (bag replay with `ros2 bag play --clock`)        default false
  rviz         also start RViz with config/side.rviz                       default false
  rviz_frame   RViz fixed frame (the camera's optical frame, or a TF frame) default camera_optical_frame
  rviz_config  RViz configuration                                          default share/side_ros/config/side.rviz
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("side_ros")
    arguments = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="Camera image topic (sensor_msgs/Image)"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="CameraInfo topic of the camera"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "depth.yaml"]),
                              description="YAML file with the depth node's parameters"),
        DeclareLaunchArgument("namespace", default_value="side",
                              description="Namespace of the node and of its topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use the /clock topic (bag replay with --clock)"),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz with config/side.rviz"),
        DeclareLaunchArgument("rviz_frame", default_value="camera_optical_frame",
                              description="RViz fixed frame"),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "config", "side.rviz"]),
                              description="RViz configuration file"),
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
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="side_rviz",
        arguments=["-d", LaunchConfiguration("rviz_config"), "-f", LaunchConfiguration("rviz_frame")],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return LaunchDescription([*arguments, depth_node, rviz])
