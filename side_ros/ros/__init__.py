"""ROS 2 side of side_ros: the `side_depth` lifecycle node (depth_node) and its ROS-free parts (camera_info,
worker, settings, params, stats), rclpy message building (messages), the bag replayer (replay), the demo's
recording (demo_session) and test helpers (testing). The only subpackage that imports rclpy and ROS messages;
everything else runs without ROS."""
