"""ROS 2 side of side_ros: the `side_depth` node (depth_node), its parameters, message building and image
conversion. The only subpackage that imports rclpy and ROS messages; everything else runs without ROS."""
