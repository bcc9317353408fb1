"""Frame accounting and the diagnostics level rule, without ROS (side_ros/ros/stats.py)."""

from side_ros.ros.stats import ERROR, OK, WARN, FrameStats, status_level


def test_snapshot_values_account_for_every_frame():
    stats = FrameStats()
    for _ in range(4):
        stats.received()
    stats.published({"total": 0.02, "depth": 0.01})
    stats.dropped("skipped_newer_frame", 2)
    stats.cloud(False, "no_camera_info")
    values = stats.snapshot().values()
    assert (
        values["frames_received"],
        values["frames_published"],
        values["frames_dropped"],
        values["frames_in_flight"],
    ) == (4, 1, 2, 1)
    assert values["dropped.skipped_newer_frame"] == 2 and values["clouds_dropped.no_camera_info"] == 1
    assert values["latency_ms.total"] == 20.0 and list(values)[:4] == [
        "frames_received",
        "frames_published",
        "frames_dropped",
        "frames_in_flight",
    ]


def test_status_level_puts_faults_before_state_before_readiness_before_recent_problems():
    args = {"recent": ["bad_encoding"], "rate_hz": 9.5, "device": "cpu (CPU)", "window_s": 5.0}
    assert status_level("active", "router needs coarse", "worker stalled", **args) == (ERROR, "worker stalled")
    assert status_level("inactive", None, None, **args) == (WARN, "inactive: not processing images")
    assert status_level("unconfigured", "not configured: no CUDA", None, **args) == (
        ERROR,
        "unconfigured: not processing images (not configured: no CUDA)",
    )
    assert status_level("active", "router needs coarse", None, **args) == (ERROR, "router needs coarse")
    assert status_level("active", None, None, **args) == (WARN, "in the last 5 s: bad_encoding")
    assert status_level("active", None, None, **{**args, "recent": []}) == (OK, "9.5 Hz on cpu")
