"""`rpbuild data refresh`: the compatibility data rebuilt from its live sources."""
