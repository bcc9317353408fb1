"""side_ros: robust single-image depth estimation (DS-SIDENet + scene understanding) for ROS 2.

Everything outside `side_ros.ros` works without ROS installed.
"""

__version__ = "0.1.0"
