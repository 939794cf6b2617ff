"""Compatibility data and the image matrix (YAML); shipped in the wheel as builder.images."""
