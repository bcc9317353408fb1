"""Console scripts that need no ROS graph: side-depth-images, side-depth-bag, side-eval-bag (and side-demo's
helpers). Each module's `run` is the entry point; `main(argv)` raises on bad input and `run` turns that into
one `error: ...` line and exit status 1."""
