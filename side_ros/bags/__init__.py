"""rosbag2 recordings without ROS: reading/writing (MCAP, sqlite3) with `rosbags`, camera/LiDAR topic detection,
the node's outputs as bag messages, depth over a bag, LiDAR evaluation, and KITTI raw drives (writer + kitti2mcap).

Modules: io (BagReader, BagWriter, BagError), messages (the node's messages as rosbags objects, headers, stamps,
camera_info, tf; reading payloads back is side_ros.payloads'), topics (detection), depth_bag (side-depth-bag),
tf (recorded transforms), lidar (side-eval-bag), kitti (drive writer, kitti2mcap), sample (the demo's sample
bag), testing (tiny inputs).
"""
